"""Rule families: what a plasticity-rule search searches, as one object.

A :class:`RuleFamily` holds everything the workflows need to know about a family of rules, in one
place: the θ layout (:class:`Parameter`: names, units and the prior box), the metrics its simulator
reports, the plausibility groups the rounds filter and report by, hooks for the report (corner plot
groups, pair windows), and the batched simulator the sweep drives. :func:`jaxsnn.sweep.run_sweep`,
the store, the NPE rounds (:mod:`jaxsnn.sbi.rounds`), the report and the CLI take a family (or its
name, or a ``"module:attribute"`` import spec of one), so a family defined in a user's own module
runs through all of them without editing jaxsnn.

Writing one: subclass :class:`RuleFamily` and implement :meth:`RuleFamily.simulator`; a subclass
that leaves it out cannot be constructed (``TypeError``), in the style of diffrax's abstract solvers::

    class Toy(RuleFamily):
        def simulator(self, seed, **options):
            def simulate(theta, rule_index):  # [R, P] float64, [R] int64
                return ChunkResult({"m": theta[:, 0]}, np.full(len(theta), -1.0), np.zeros(len(theta), np.int64))
            return SweepSimulator(simulate, {"simulator": "toy", "seed": seed}, self.theta_size, self.metric_names, 1)

    TOY = Toy("toy", (Parameter("a", "", 0.0, 1.0),), ("m",), {"good": {"m": (0.0, 0.5)}})

The built-in families (``"polynomial"``, ``"mlp"``) are :data:`jaxsnn.fsbi.families.POLYNOMIAL` and
:data:`~jaxsnn.fsbi.families.MLP`. This module imports only numpy, so ``import jaxsnn.family`` stays
light; the prior (numpyro), the built-ins (the fSBI network) and the sweep types load when used.
"""

from __future__ import annotations

import abc
import importlib
import inspect
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .sbi.prior import BoxPrior
    from .sweep.runner import SweepSimulator

BUILTIN_FAMILIES: dict[str, str] = {
    "polynomial": "jaxsnn.fsbi.families:POLYNOMIAL",
    "mlp": "jaxsnn.fsbi.families:MLP",
}
"""Built-in family names and where each is defined (``module:attribute``)."""

RESERVED_FILTERS = ("finite", "plausible")
"""Acceptance filters of the rounds that are not plausibility groups (so no group may take these names)."""

_GROUP_NAMES: set[str] = set()  # plausibility groups of every family constructed (for Round's early check)

_PRIOR_STREAM = 0x5B1  # second word of the prior's seed sequence: the stream of jaxsnn.fsbi.sample_prior


@dataclass(frozen=True)
class Parameter:
    """One entry of θ: its ``name``, ``unit`` (``""`` for dimensionless) and prior interval
    ``[low, high]`` (finite, low < high). ``nuisance``: drawn from its interval in every round of a
    search and never inferred (fSBI's external rate r_ext); the posteriors are over the others."""

    name: str
    unit: str
    low: float
    high: float
    nuisance: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a parameter's name must be a non-empty string; got {self.name!r}")
        if not isinstance(self.unit, str):
            raise ValueError(f"parameter {self.name!r}: unit must be a string ('' if dimensionless); got {self.unit!r}")
        try:
            low, high = float(self.low), float(self.high)
        except (TypeError, ValueError):
            raise ValueError(f"parameter {self.name!r}: low and high must be numbers; got {self.low!r}, {self.high!r}") from None
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"parameter {self.name!r}: the prior box needs finite low < high; got low={low!r}, "
                             f"high={high!r}. Give an interval of positive width.")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "nuisance", bool(self.nuisance))


class FrozenMapping(Mapping):
    """A read-only, hashable mapping (so a family stays hashable, e.g. as a static argument of jit)."""

    def __init__(self, items: Mapping[str, Any]):
        self._items = dict(items)

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __repr__(self) -> str:
        return repr(self._items)


@dataclass(frozen=True)
class RuleFamily(abc.ABC):
    """A family of plasticity rules: θ layout, prior, metrics, plausibility, report hooks, simulator.

    Fields:
        name: label recorded in stores and reports (e.g. ``"polynomial"``).
        parameters: θ's entries in order (``[P]``): names, units and the prior box in one place.
        metric_names: every metric the simulator reports, in store column order.
        plausibility: group -> metric -> inclusive interval ``(low, high)`` of a plausible run (``±inf``
            for an open end). A run passes a group when every metric of it lies inside its interval; it
            is plausible when it passes every group. The rounds report these groups and may filter by
            them (``Round(accept=group)``).

    Subclasses implement :meth:`simulator`; the other hooks have defaults.
    """

    name: str
    parameters: tuple[Parameter, ...]
    metric_names: tuple[str, ...]
    plausibility: Mapping[str, Mapping[str, tuple[float, float]]] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a rule family's name must be a non-empty string; got {self.name!r}")
        parameters = tuple(self.parameters)
        if not parameters or not all(isinstance(p, Parameter) for p in parameters):
            raise ValueError(f"family {self.name!r}: parameters must be a non-empty sequence of jaxsnn.Parameter")
        names = [p.name for p in parameters]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"family {self.name!r}: parameter names must be unique; repeated: {repeated}")
        if all(p.nuisance for p in parameters):
            raise ValueError(f"family {self.name!r}: every parameter is a nuisance; at least one must be inferred")
        metrics = tuple(self.metric_names)
        if not metrics or not all(isinstance(m, str) and m for m in metrics) or len(set(metrics)) != len(metrics):
            raise ValueError(f"family {self.name!r}: metric_names must be unique non-empty strings; got {self.metric_names!r}")
        groups = {}
        for group, intervals in dict(self.plausibility).items():
            if group in RESERVED_FILTERS or not intervals:
                raise ValueError(f"family {self.name!r}: plausibility group {group!r} must name at least one metric "
                                 f"and not be one of {list(RESERVED_FILTERS)}")
            checked = {}
            for metric, interval in dict(intervals).items():
                if metric not in metrics:
                    raise ValueError(f"family {self.name!r}: plausibility group {group!r} names metric {metric!r}, "
                                     f"which is not among its metric_names {list(metrics)}")
                low, high = (float(v) for v in interval)
                if not low <= high:  # also refuses NaN
                    raise ValueError(f"family {self.name!r}: interval of {metric!r} in group {group!r} must have "
                                     f"low <= high; got {(low, high)}")
                checked[metric] = (low, high)
            groups[group] = FrozenMapping(checked)
        object.__setattr__(self, "parameters", parameters)
        object.__setattr__(self, "metric_names", metrics)
        object.__setattr__(self, "plausibility", FrozenMapping(groups))
        _GROUP_NAMES.update(groups)

    # ---- θ layout and prior ------------------------------------------------------------------

    @property
    def theta_size(self) -> int:
        """P, the number of entries of θ."""
        return len(self.parameters)

    @property
    def theta_names(self) -> tuple[str, ...]:
        """The ``[P]`` names of θ's entries, in order."""
        return tuple(p.name for p in self.parameters)

    @property
    def units(self) -> tuple[str, ...]:
        """The ``[P]`` units of θ's entries (``""``: dimensionless)."""
        return tuple(p.unit for p in self.parameters)

    @property
    def low(self) -> np.ndarray:
        """Lower corner of the prior box, ``[P]`` float64."""
        return np.asarray([p.low for p in self.parameters], np.float64)

    @property
    def high(self) -> np.ndarray:
        """Upper corner of the prior box, ``[P]`` float64."""
        return np.asarray([p.high for p in self.parameters], np.float64)

    @property
    def inferred(self) -> tuple[int, ...]:
        """Indices into θ of the inferred (non-nuisance) parameters: the columns the posteriors are over."""
        return tuple(i for i, p in enumerate(self.parameters) if not p.nuisance)

    @property
    def nuisance(self) -> tuple[int, ...]:
        """Indices into θ of the nuisance parameters (drawn from their interval in every round)."""
        return tuple(i for i, p in enumerate(self.parameters) if p.nuisance)

    def prior(self, nuisance: bool = True) -> BoxPrior:
        """The uniform prior box as a :class:`jaxsnn.sbi.prior.BoxPrior` over all ``P`` entries of θ, or,
        with ``nuisance=False``, over the inferred ones only (what the NPE posteriors are fitted over)."""
        from .sbi.prior import BoxPrior

        keep = list(range(self.theta_size)) if nuisance else list(self.inferred)
        return BoxPrior(self.low[keep], self.high[keep], tuple(self.theta_names[i] for i in keep))

    def sample_prior(self, n: int, seed: int) -> np.ndarray:
        """``n`` draws ``[n, P]`` float64 from the prior box, deterministic in ``seed`` (numpy's generator,
        so the draws do not depend on JAX's backend)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be an integer >= 1 (number of draws); got {n!r}")
        low, high = self.low, self.high
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), _PRIOR_STREAM]))
        return low + (high - low) * rng.random((int(n), low.size))

    def check_theta(self, theta: Any) -> np.ndarray:
        """θ as ``[R, P]`` float64 (a single ``[P]`` row becomes ``[1, P]``); ``ValueError`` naming the
        expected shape and the parameters when it has another shape."""
        array = np.asarray(theta, np.float64) if not isinstance(theta, np.ndarray) else theta.astype(np.float64, copy=False)
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != self.theta_size or array.shape[0] == 0:
            shown = ", ".join(self.theta_names[:4]) + (f", …, {self.theta_names[-1]}" if self.theta_size > 4 else "")
            raise ValueError(f"theta for family {self.name!r} must have shape [{self.theta_size}] or [R, {self.theta_size}] "
                             f"({self.theta_size} columns: {shown}); got shape {list(np.shape(theta))}")
        return array

    def in_prior(self, theta: Any) -> np.ndarray:
        """``[R]`` bool: which rows of θ ``[R, P]`` lie inside the prior box (bounds inclusive)."""
        theta = self.check_theta(theta)
        return np.all((theta >= self.low) & (theta <= self.high), axis=1)

    # ---- metrics and plausibility ------------------------------------------------------------

    def group_pass(self, metrics: Mapping[str, Any], group: str, *, skip: tuple[str, ...] = ()) -> np.ndarray:
        """Whether each run passes every interval of plausibility ``group`` (bool, the metrics' shape);
        metrics named in ``skip`` are left out. A NaN metric (a blown-up run) fails."""
        if group not in self.plausibility:
            raise ValueError(f"family {self.name!r} has no plausibility group {group!r}; its groups: {list(self.plausibility)}")
        checks = [np.asarray(True)]
        for metric, (low, high) in self.plausibility[group].items():
            if metric in skip:
                continue
            if metric not in metrics:
                raise ValueError(f"metric {metric!r} is needed for group {group!r} of family {self.name!r}; "
                                 f"got metrics {sorted(metrics)}")
            values = np.asarray(metrics[metric], np.float64)
            checks.append((values >= low) & (values <= high))
        return np.asarray(np.logical_and.reduce(np.broadcast_arrays(*checks)))

    def is_plausible(self, metrics: Mapping[str, Any], *, skip: tuple[str, ...] = ()) -> np.ndarray:
        """Whether each run passes every plausibility group (bool, the metrics' shape; all True when the
        family declares no group)."""
        passes = [np.asarray(True)] + [self.group_pass(metrics, g, skip=skip) for g in self.plausibility]
        return np.asarray(np.logical_and.reduce(np.broadcast_arrays(*passes)))

    def best_score(self, metrics: Mapping[str, Any]) -> np.ndarray:
        """``[N]`` score of each run for the report's "best rule" among those passing most groups (lower
        is better; NaN: never chosen). Default 0, NaN where any metric is NaN (a blown-up run)."""
        values = np.stack([np.asarray(metrics[m], np.float64) for m in self.metric_names if m in metrics])
        return np.where(np.isnan(values).any(axis=0), np.nan, 0.0)

    # ---- report hooks ------------------------------------------------------------------------

    def corner_groups(self) -> dict[str, list[int]]:
        """θ indices shown together in one corner plot of the report, by title. Default: the inferred
        parameters in consecutive groups of at most 6."""
        cols = list(self.inferred)
        return {f"parameters {i + 1}–{i + len(cols[i:i + 6])}": cols[i:i + 6] for i in range(0, len(cols), 6)}

    def pair_windows(self, theta_row: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
        """Pair windows of one rule θ ``[P]`` for the report, by projection: ``(Δt [K] s, Δw/η [K])`` with
        Δt = t_post − t_pre; None (default): the family draws none."""
        return None

    def raster_spikes(self, theta_row: np.ndarray, seed: int, **options: Any) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
        """Spikes (times s, neuron ids) per population of one rule θ ``[P]`` simulated again for the
        report's raster of the best rule; None (default): no raster."""
        return None

    # ---- simulation --------------------------------------------------------------------------

    def check_options(self, options: Mapping[str, Any]) -> None:
        """Refuse (``ValueError``) simulator options this family does not take, before anything runs.
        Default: the keywords :meth:`simulator` accepts."""
        try:
            inspect.signature(self.simulator).bind(0, **dict(options))
        except TypeError:
            params = [p.name for p in inspect.signature(self.simulator).parameters.values()
                      if p.kind is p.KEYWORD_ONLY or (p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "seed")]
            raise ValueError(f"family {self.name!r} takes no option(s) {sorted(options)}; allowed: {params}") from None

    def sweep_options(self, theta: np.ndarray, options: Mapping[str, Any]) -> dict[str, Any]:
        """The simulator options of a whole sweep of θ ``[N, P]`` (e.g. buffer sizes fixed from the
        largest rates, so every chunk shares one compiled program). Default: ``options`` unchanged."""
        return dict(options)

    @abc.abstractmethod
    def simulator(self, seed: int, **options: Any) -> SweepSimulator:
        """The batched simulator of this family for network/input ``seed`` and ``options``: a
        :class:`jaxsnn.sweep.SweepSimulator` whose ``simulate(theta [R, P], rule_index [R])`` returns a
        :class:`jaxsnn.sweep.ChunkResult` with every metric of :attr:`metric_names`."""

    def sweep_simulator(self, seed: int, **options: Any) -> SweepSimulator:
        """:meth:`simulator`, checked against the family (θ size, metric names), with the family's name
        and θ names added to its description (which the sweep's manifest stores)."""
        import dataclasses

        self.check_options(options)
        simulator = self.simulator(seed, **options)
        if simulator.theta_size != self.theta_size or tuple(simulator.metric_names) != self.metric_names:
            raise ValueError(f"the simulator of family {self.name!r} takes θ of size {simulator.theta_size} and "
                             f"reports {list(simulator.metric_names)}; the family declares {self.theta_size} and "
                             f"{list(self.metric_names)}")
        description = {**simulator.description, "family": self.name, "theta_names": list(self.theta_names)}
        return dataclasses.replace(simulator, description=description)


def known_plausibility_groups() -> tuple[str, ...]:
    """Names of the plausibility groups of every family constructed so far (sorted)."""
    return tuple(sorted(_GROUP_NAMES))


def get_family(family: RuleFamily | str, what: str = "family") -> RuleFamily:
    """The :class:`RuleFamily` named by ``family``: a family itself, a built-in name
    (:data:`BUILTIN_FAMILIES`), or a ``"module:attribute"`` import spec of a family defined anywhere
    (e.g. ``"my_rules:TRIPLET"``). ``what`` names the option in error messages."""
    if isinstance(family, RuleFamily):
        return family
    allowed = f"a RuleFamily, one of {list(BUILTIN_FAMILIES)}, or a 'module:attribute' import spec of a RuleFamily"
    if not isinstance(family, str):
        raise ValueError(f"{what} must be {allowed}; got {family!r}")
    spec = BUILTIN_FAMILIES.get(family, family)
    if ":" not in spec:
        raise ValueError(f"unknown rule family {family!r} ({what}); allowed: {allowed}")
    module_name, _, attribute = spec.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{what} {family!r}: cannot import {attribute!r} from module {module_name!r} ({error}); "
                         "give 'module:attribute' of a RuleFamily importable from here (is its folder on sys.path?)") from None
    if not isinstance(value, RuleFamily):
        raise ValueError(f"{what} {family!r} is a {type(value).__name__}, not a RuleFamily instance")
    return value


def resolve_family(family: RuleFamily | str | None, task: str | None = None) -> RuleFamily:
    """The rule family of a call taking ``family`` and its older name ``task`` (default
    ``"polynomial"``, the original's first search); when both are given they must name one family."""
    if family is None:
        return get_family("polynomial" if task is None else task, what="task")
    resolved = get_family(family)
    if task is not None and task != resolved.name and get_family(task, what="task") != resolved:
        raise ValueError(f"task={task!r} and family={resolved.name!r} name different rule families; give only family")
    return resolved


__all__ = ["BUILTIN_FAMILIES", "FrozenMapping", "Parameter", "RuleFamily", "get_family", "known_plausibility_groups",
           "resolve_family"]
