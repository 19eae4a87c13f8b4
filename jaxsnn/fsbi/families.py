"""The two rule families of filter-SBI (Confavreux et al. 2023) as :class:`jaxsnn.RuleFamily` objects.

:data:`POLYNOMIAL` (θ: 25 = per projection EE, EI, IE, II the six numbers τ_pre, τ_post, α, β, γ, κ,
then r_ext) and :data:`MLP` (θ: 23 = η_EE, η_IE, the 20 last-layer weights, then r_ext). Each holds
its θ layout and prior box (docs/models/fsbi.md), its metrics (the release's, then the signed weight drifts),
the plausibility groups restricted to its metrics, the blow-up rate limit and the plastic
projections; their simulator is the fSBI network (:func:`jaxsnn.fsbi.simulate`).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..family import Parameter, RuleFamily
from .metrics import DRIFT_METRIC_NAMES, METRIC_NAMES, MLP_DRIFT_METRIC_NAMES, MLP_METRIC_NAMES, PROJECTIONS
from .plausibility import PLAUSIBILITY_GROUPS
from .published import PUBLISHED_MLP_RULE, PUBLISHED_POLYNOMIAL_RULE
from .prior import R_EXT_BOUNDS

if TYPE_CHECKING:
    from ..neurons import NeuronModel
    from ..plasticity import PlasticityRule
    from ..sweep.runner import SweepSimulator

PAIR_WINDOW_DT = np.linspace(-0.1, 0.1, 401)
"""Δt = t_post − t_pre (s) at which the report draws pair windows."""


@dataclass(frozen=True, eq=False)
class FSBIFamily(RuleFamily):
    """A rule family simulated on the fSBI network (:func:`jaxsnn.fsbi.simulate` with ``task=`` the
    family or its name): the core :class:`jaxsnn.Network` of :func:`jaxsnn.networks.fsbi.fsbi_network`
    with the family's neuron model and, on each plastic projection, the rule θ gives. A subclass
    defines :meth:`neuron` and :meth:`rules`; θ's last entry is the external rate r_ext (Hz).

    Fields besides :class:`jaxsnn.RuleFamily`'s: ``blowup_rate`` (Hz; the E rate at which the guard
    stops a run, unless the configuration sets ``blowup_rate``), ``plastic`` (the plastic projections,
    among ``"ee", "ei", "ie", "ii"``), ``release_metric_names`` (the metric fields of the original
    release's ``.npy`` format, :mod:`jaxsnn.sweep.release`), ``published`` (a θ ``[P]`` the paper
    reports for this family, or None). Compared and hashed by identity.
    """

    blowup_rate: float = 100.0
    plastic: tuple[str, ...] = ()
    release_metric_names: tuple[str, ...] = ()
    published: Any = None

    def __post_init__(self):
        super().__post_init__()
        unknown = [p for p in self.plastic if p not in PROJECTIONS]
        if not self.plastic or unknown:
            raise ValueError(f"family {self.name!r}: plastic must name projections among {list(PROJECTIONS)}; "
                             f"got {self.plastic!r}")
        computed = METRIC_NAMES + DRIFT_METRIC_NAMES
        weight_metric = {f"w{pre}{post}f": f"{pre}{post}" for pre in "ei" for post in "ei"}
        weight_metric.update({f"w_drift_{p}": p for p in PROJECTIONS})
        bad = [m for m in self.metric_names if m not in computed or weight_metric.get(m, self.plastic[0]) not in self.plastic]
        if bad:
            raise ValueError(f"family {self.name!r}: metrics {bad} are not computed on the fSBI network with plastic "
                             f"{list(self.plastic)}; allowed: {[m for m in computed if weight_metric.get(m, self.plastic[0]) in self.plastic]}")
        missing = [m for m in self.release_metric_names if m not in self.metric_names]
        if missing:
            raise ValueError(f"family {self.name!r}: release metrics {missing} are not among its metric_names")

    # Simulation side: what the fSBI network is built from.

    @abc.abstractmethod
    def neuron(self, config: Any) -> NeuronModel:
        """The neuron model of both populations for ``config`` (an :class:`jaxsnn.fsbi.FSBIConfig`)."""

    @abc.abstractmethod
    def rules(self, theta: Any, config: Any) -> dict[str, PlasticityRule]:
        """The batched rules of θ ``[R, P]`` (float32), one per plastic projection (every array leaf with
        a leading axis R), bounded to [0, ``config.w_max``]."""

    def simulator(self, seed: int, **overrides: Any) -> SweepSimulator:
        """The fSBI network as a sweep simulator; ``overrides`` are :class:`jaxsnn.fsbi.FSBIConfig` fields
        (validated here, before anything runs)."""
        from ..sweep.runner import ChunkResult, SweepSimulator, fsbi_bytes_per_rule
        from .config import MODEL_VERSION, make_config
        from ..simulate import resolve_strategy
        from .run import compiled_bytes_per_rule
        from .run import simulate as fsbi_simulate

        config = make_config(self, **overrides)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0; got {seed!r}")
        seed = int(seed)

        def simulate(theta: np.ndarray, rule_index: np.ndarray) -> ChunkResult:
            result = fsbi_simulate(theta, task=self, seed=seed, rule_ids=rule_index, **overrides)
            return ChunkResult(result.metrics, result.blowup_time, result.overflow)

        return SweepSimulator(
            simulate=simulate,
            description={"simulator": "jaxsnn.fsbi.simulate", "model_version": MODEL_VERSION, "task": self.name,
                         "seed": seed, "config": dataclasses.asdict(config)},
            theta_size=self.theta_size,
            metric_names=self.metric_names,
            bytes_per_rule=fsbi_bytes_per_rule(config),
            # the static strategy (accelerators) measures its compiled chunk; the CPU kernel keeps the estimate
            measure_memory=(lambda: compiled_bytes_per_rule(self, seed=seed, **overrides))
            if resolve_strategy(config.strategy) == "static" else None,
        )

    def check_options(self, options: Mapping[str, Any]) -> None:
        """``FSBIConfig`` fields only; unknown names or invalid values raise ``ValueError``."""
        from .config import make_config

        make_config(self, **dict(options))

    def sweep_options(self, theta: np.ndarray, options: Mapping[str, Any]) -> dict[str, Any]:
        """One external-spike capacity for every chunk of a sweep, sized for the largest r_ext of the
        prior and of θ, so all chunks share one compiled program (the capacity only bounds the per-step
        draw and does not change the numbers)."""
        from .config import make_config
        from .simulator import default_ext_capacity

        if options.get("ext_capacity") is not None:
            return dict(options)
        config = make_config(self, **options)
        r_max = max(R_EXT_BOUNDS[1], float(theta[:, -1].max())) if theta.shape[1] == self.theta_size else R_EXT_BOUNDS[1]
        return {**options, "ext_capacity": default_ext_capacity(config, r_max)}

    def best_score(self, metrics: Mapping[str, Any]) -> np.ndarray:
        """w_blow + w_creep: the most stable rule is the best (NaN for a blown-up run)."""
        return np.asarray(metrics["w_blow"], np.float64) + np.asarray(metrics["w_creep"], np.float64)


def _r_ext() -> Parameter:
    return Parameter("r_ext", "Hz", *R_EXT_BOUNDS, nuisance=True)


@dataclass(frozen=True, eq=False)
class PolynomialFamily(FSBIFamily):
    """The polynomial rule on every projection (EE, EI, IE, II): per projection τ_pre, τ_post (s),
    α, β, γ, κ (dimensionless; Δw = η(α + κ x_post) on a presynaptic, η(β + γ x_pre) on a postsynaptic spike)."""

    def neuron(self, config: Any) -> NeuronModel:
        from ..neurons import ConductanceIF

        return ConductanceIF()

    def rules(self, theta: Any, config: Any) -> dict[str, PlasticityRule]:
        from ..networks.fsbi import polynomial_rules

        return polynomial_rules(theta, config)

    def check_theta(self, theta: Any) -> np.ndarray:
        """As :meth:`jaxsnn.RuleFamily.check_theta`, and the time constants must be > 0 s."""
        theta = super().check_theta(theta)
        taus = theta[:, :24].reshape(-1, 4, 6)[:, :, :2]
        if np.any(taus <= 0):
            raise ValueError("polynomial rule time constants tau_pre, tau_post (entries 0, 1 of each projection) must be > 0 s")
        return theta

    def corner_groups(self) -> dict[str, list[int]]:
        """Per projection: its (τ_pre, τ_post, α, β, γ, κ)."""
        return {f"projection {name.upper()}": list(range(6 * p, 6 * p + 6)) for p, name in enumerate(PROJECTIONS)}

    def pair_windows(self, theta_row: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per projection, Δw/η of one spike pair at :data:`PAIR_WINDOW_DT` (:func:`jaxsnn.fsbi.pair_window`)."""
        from . import pair_window

        row = self.check_theta(theta_row)[0]
        return {name.upper(): (PAIR_WINDOW_DT, pair_window(row[6 * p: 6 * p + 6], PAIR_WINDOW_DT))
                for p, name in enumerate(PROJECTIONS)}

    def raster_spikes(self, theta_row: np.ndarray, seed: int, **options: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The rule simulated again with spike recording: E and I spikes of the recorded neurons."""
        from .run import simulate

        result = simulate(theta_row, task=self.name, seed=seed, record_spikes=True, **options)
        return {p: result.spikes[p][0] for p in ("E", "I")}


@dataclass(frozen=True, eq=False)
class MLPFamily(FSBIFamily):
    """The MLP rule on EE and IE (EI, II static): learning rates η_EE, η_IE and the 20 last-layer weights
    (per projection EE, IE and side pre, post, 5 each) of the fixed-hidden-layer MLP."""

    def neuron(self, config: Any) -> NeuronModel:
        from ..neurons import CVAIF

        return CVAIF(traces=config.mlp_traces)

    def rules(self, theta: Any, config: Any) -> dict[str, PlasticityRule]:
        from ..networks.fsbi import mlp_rules

        return mlp_rules(theta, config)

    def corner_groups(self) -> dict[str, list[int]]:
        """The learning rates, then each (projection, side) last layer."""
        groups = {"learning rates": [0, 1]}
        for k, label in enumerate(("EE pre", "EE post", "IE pre", "IE post")):
            groups[f"last layer {label}"] = list(range(2 + 5 * k, 7 + 5 * k))
        return groups


def _groups_of(metrics: tuple[str, ...]) -> dict[str, dict[str, tuple[float, float]]]:
    """The fSBI plausibility groups restricted to the metrics a family reports (weif and wiif exist only
    where EI and II are plastic)."""
    return {group: {m: v for m, v in intervals.items() if m in metrics} for group, intervals in PLAUSIBILITY_GROUPS.items()}


_POLY_METRICS = METRIC_NAMES + DRIFT_METRIC_NAMES
_MLP_METRICS = MLP_METRIC_NAMES + MLP_DRIFT_METRIC_NAMES

POLYNOMIAL = PolynomialFamily(
    name="polynomial",
    parameters=tuple(
        Parameter(f"{proj}_{name}", unit, low, high)
        for proj in ("EE", "EI", "IE", "II")
        for name, unit, low, high in (("tau_pre", "s", 0.01, 0.1), ("tau_post", "s", 0.01, 0.1), ("alpha", "", -2.0, 2.0),
                                      ("beta", "", -2.0, 2.0), ("gamma", "", -2.0, 2.0), ("kappa", "", -2.0, 2.0))
    ) + (_r_ext(),),
    metric_names=_POLY_METRICS,
    plausibility=_groups_of(_POLY_METRICS),
    blowup_rate=100.0,
    plastic=("ee", "ei", "ie", "ii"),
    release_metric_names=METRIC_NAMES,
    published=PUBLISHED_POLYNOMIAL_RULE,
)
"""The polynomial family (25 θ entries; all four projections plastic; blow-up at 100 Hz)."""

MLP = MLPFamily(
    name="mlp",
    parameters=(Parameter("eta_EE", "", 0.0, 1.0), Parameter("eta_IE", "", 0.0, 1.0))
    # the order of θ is W_pre,EE, W_post,EE, W_pre,IE, W_post,IE
    + tuple(Parameter(f"W{side}_{proj}{k}", "", -1.0, 1.0) for proj in ("EE", "IE") for side in ("pre", "post") for k in range(5))
    + (_r_ext(),),
    metric_names=_MLP_METRICS,
    plausibility=_groups_of(_MLP_METRICS),
    blowup_rate=50.0,
    plastic=("ee", "ie"),
    release_metric_names=MLP_METRIC_NAMES,
    published=PUBLISHED_MLP_RULE,
)
"""The MLP family (23 θ entries; EE and IE plastic; blow-up at 50 Hz)."""

__all__ = ["FSBIFamily", "MLP", "MLPFamily", "PAIR_WINDOW_DT", "POLYNOMIAL", "PolynomialFamily"]
