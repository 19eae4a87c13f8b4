"""The filter-SBI rounds pipeline.

A pipeline is a list of :class:`Round` declarations. Round 0 draws θ from the prior box (optionally
restricted by the blow-up classifier); every later round trains an NPE ensemble q(θ | x) on the union
of the accepted simulations of all earlier rounds, with x = the round's conditioning metric(s), draws
x uniformly inside the round's target intervals, one θ per value (redrawn until inside the prior
box), appends the nuisance parameters drawn from their prior interval (fSBI: r_ext ~ U[5, 15] Hz), and
simulates. Simulations run through :func:`jaxsnn.sweep.run_sweep` into ``out/round_k/`` (resumable).
Every round reports the fraction of its rules passing each plausibility group and all of them.

What is searched is a rule family (:class:`jaxsnn.RuleFamily`): its prior, θ layout, metrics,
plausibility groups and simulator; the fSBI families are built in, and any other family works the same.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
import pandas as pd

from .. import fsbi
from .._validation import check_choice, check_int
from ..family import RESERVED_FILTERS, RuleFamily, get_family, known_plausibility_groups, resolve_family
from .classifier import RestrictionClassifier, train_restriction_classifier
from .npe import FlowConfig, Posterior, save_posterior, train_npe
from .training import TrainConfig

if TYPE_CHECKING:
    from ..sweep import SweepSimulator

ACCEPT_FILTERS = RESERVED_FILTERS + tuple(fsbi.PLAUSIBILITY_GROUPS)
"""Names of the acceptance filters of the fSBI families: "finite" (the run did not blow up),
"plausible" (all plausibility groups), or one plausibility group. Another family's groups are filters too."""


@dataclass(frozen=True)
class Round:
    """One round of the pipeline.

    name: label (e.g. "π1"); n_simulations: rules to simulate; condition: metric -> (low, high)
    target interval (None: draw from the prior); accept: which of this round's simulations join the
    training set of later rounds ("finite", "plausible" or a plausibility group of the family; checked
    against the family by :class:`PipelineConfig`).
    """

    name: str
    n_simulations: int
    condition: Mapping[str, tuple[float, float]] | None = None
    accept: str = "finite"

    def __post_init__(self):
        check_int("n_simulations", self.n_simulations, minimum=1)
        # the family is not known here: any family's group passes, PipelineConfig checks it against its own
        check_choice("accept", self.accept, tuple(dict.fromkeys(ACCEPT_FILTERS + known_plausibility_groups())))
        if self.condition is not None:
            if not self.condition:
                raise ValueError(f"round {self.name}: condition needs at least one metric (or None for the prior)")
            for metric, (low, high) in self.condition.items():
                if not (np.isfinite(low) and np.isfinite(high) and low <= high):
                    raise ValueError(f"round {self.name}: interval of {metric} must be finite with low <= high; got {(low, high)}")


@dataclass(frozen=True)
class PipelineConfig:
    """A whole search: the rule ``family`` (a :class:`jaxsnn.RuleFamily`, a built-in name
    "polynomial"/"mlp" or a "module:attribute" spec; ``task`` is its older name and, after
    construction, holds the family's name while ``family`` holds the family itself), the ``rounds``,
    the simulator options ``network`` (fSBI: :class:`jaxsnn.fsbi.FSBIConfig` overrides), the density
    estimator (``flow``, ``n_members``, ``train``), ``restrict`` (train the round-0 blow-up classifier
    and screen later draws with it), ``include_std_cv`` (std_cv in the plausibility test, where the
    family has it), ``seed`` (network, inputs, sampling) and ``chunk_size`` (rules per compiled
    simulation call; None: the sweep's default)."""

    name: str
    family: RuleFamily | str | None = None
    rounds: tuple[Round, ...] = ()
    network: Mapping[str, Any] = field(default_factory=dict)
    flow: FlowConfig = FlowConfig()
    n_members: int = 10
    train: TrainConfig = TrainConfig()
    restrict: bool = False
    include_std_cv: bool = True
    seed: int = 0
    chunk_size: int | None = None
    task: str | None = None

    def __post_init__(self):
        family = resolve_family(self.family, self.task)
        object.__setattr__(self, "family", family)
        object.__setattr__(self, "task", family.name)
        if not self.rounds or self.rounds[0].condition is not None:
            raise ValueError("the first round must draw from the prior (condition=None)")
        family.check_options(dict(self.network))  # validates the simulator options before anything runs
        filters = RESERVED_FILTERS + tuple(family.plausibility)
        for rnd in self.rounds:
            if rnd.accept not in filters:
                raise ValueError(f"round {rnd.name}: accept={rnd.accept!r} is no filter of family {family.name!r}; "
                                 f"allowed: {list(filters)}")
            unknown = [m for m in (rnd.condition or {}) if m not in family.metric_names]
            if unknown:
                raise ValueError(f"round {rnd.name}: condition on {unknown}, which family {family.name!r} does not "
                                 f"report; its metrics: {list(family.metric_names)}")
        check_int("n_members", self.n_members, minimum=1)


@dataclass
class RoundResult:
    """What one round produced: its table of simulations (the sweep store's columns), the
    per-group pass fractions, the posterior it sampled from (None for prior rounds) and the
    rejection rate of that sampling."""

    name: str
    table: pd.DataFrame
    fractions: dict[str, float]
    posterior: Posterior | None
    rejection_rate: float | None
    wall_s: float

    @property
    def n_simulated(self) -> int:
        return len(self.table)

    @property
    def n_blown_up(self) -> int:
        return int((self.table["status"] == "blown_up").sum())

    @property
    def fraction_plausible(self) -> float:
        return self.fractions["plausible"]

    def summary(self) -> dict[str, Any]:
        """The round's entry of summary.json."""
        groups = {k: v for k, v in self.fractions.items() if k != "plausible"}
        return {"name": self.name, "n_simulated": self.n_simulated, "n_blown_up": self.n_blown_up,
                "fraction_plausible": self.fraction_plausible, "fractions": groups}


def metric_table(table: pd.DataFrame, family: RuleFamily | str | None = None) -> dict[str, np.ndarray]:
    """The metric columns of a sweep table as name -> ``[N]`` float64 (NaN for blown-up runs): those of
    ``family`` present in the table, or (None) every column that is not an index, id, θ or status column."""
    if family is not None:
        names = [m for m in get_family(family).metric_names if m in table.columns]
    else:
        fixed = {"index", "rule_id", "release_id", "seed", "status", "blowup_time", "overflow"}
        names = [c for c in table.columns if c not in fixed and not c.startswith("theta_")]
    return {name: table[name].to_numpy(np.float64) for name in names}


def _skip(include_std_cv: bool) -> tuple[str, ...]:
    """Metrics left out of the plausibility test: std_cv unless included (as some of the original analyses do)."""
    return () if include_std_cv else ("std_cv",)


def pass_fractions(table: pd.DataFrame, include_std_cv: bool = True,
                   family: RuleFamily | str = "polynomial") -> dict[str, float]:
    """Fraction of the rows passing each plausibility group of ``family`` and all of them ("plausible")."""
    family = get_family(family)
    metrics = metric_table(table, family)
    out = {g: float(np.mean(family.group_pass(metrics, g, skip=_skip(include_std_cv)))) for g in family.plausibility}
    out["plausible"] = float(np.mean(family.is_plausible(metrics, skip=_skip(include_std_cv))))
    return out


def accepted(table: pd.DataFrame, accept: str, include_std_cv: bool = True,
             family: RuleFamily | str = "polynomial") -> np.ndarray:
    """``[N]`` bool: rows of a round's table that pass the acceptance filter ``accept`` ("finite",
    "plausible" or a plausibility group of ``family``)."""
    family = get_family(family)
    check_choice("accept", accept, RESERVED_FILTERS + tuple(family.plausibility))
    done = (table["status"] == "done").to_numpy()
    if accept == "finite":
        return done
    metrics = metric_table(table, family)
    if accept == "plausible":
        return done & family.is_plausible(metrics, skip=_skip(include_std_cv))
    return done & family.group_pass(metrics, accept, skip=_skip(include_std_cv))


def theta_columns(table: pd.DataFrame) -> np.ndarray:
    """θ ``[N, P]`` (with r_ext last) from a sweep table's theta_0 … theta_{P−1} columns."""
    cols = sorted((c for c in table.columns if c.startswith("theta_")), key=lambda c: int(c.split("_")[1]))
    return table[cols].to_numpy(np.float64)


def theta_layout(family: RuleFamily) -> dict[str, Any]:
    """The θ layout a posterior records so that sampling needs no family: every entry's name, unit and
    prior interval, and which entries are inferred (the posterior's) or nuisance."""
    return {"names": list(family.theta_names), "units": list(family.units), "low": family.low.tolist(),
            "high": family.high.tolist(), "inferred": list(family.inferred), "nuisance": list(family.nuisance)}


def simulate_rules(theta: np.ndarray, out: Path, config: PipelineConfig, progress: bool,
                   simulator: SweepSimulator | None = None) -> pd.DataFrame:
    """Simulate θ ``[N, P]`` through the sweep runner into the store ``out``; the store's table.
    ``simulator``: another sweep simulator than the family's of ``config`` (e.g. a test model)."""
    from ..sweep import run_sweep

    network = dict(config.network) if simulator is None else {}
    return run_sweep(theta, out=out, family=config.family, seed=config.seed, chunk_size=config.chunk_size,
                     progress=progress, simulator=simulator, **network)


def run_pipeline(config: PipelineConfig, out: str | Path, *, progress: bool = True,
                 simulator: SweepSimulator | None = None) -> list[RoundResult]:
    """Run every round of ``config``; stores, posteriors (``posterior_k.npz``) and ``rounds.json``
    go to ``out``. Returns one :class:`RoundResult` per round. ``simulator`` replaces the family's
    simulator by another :class:`jaxsnn.sweep.SweepSimulator` (same θ size and metrics)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    family: RuleFamily = config.family
    prior = family.prior(nuisance=False)  # posteriors are over the inferred parameters
    inferred, nuisance = list(family.inferred), list(family.nuisance)
    n_low, n_high = family.low[nuisance], family.high[nuisance]
    key = jax.random.key(config.seed)
    results: list[RoundResult] = []
    classifier: RestrictionClassifier | None = None
    for k, rnd in enumerate(config.rounds):
        t0 = time.perf_counter()
        round_key = jax.random.fold_in(key, k)
        theta_key, r_key, sample_key = jax.random.split(round_key, 3)
        accept_fn = classifier.accept if classifier is not None else None
        posterior, rejection = None, None
        if rnd.condition is None:
            if progress:
                print(f"[{config.name}] round {rnd.name}: {rnd.n_simulations} rules from the prior"
                      f"{' (restricted)' if accept_fn else ''}", flush=True)
            rule = _prior_draws(prior, theta_key, rnd.n_simulations, accept_fn)
        else:
            metrics = tuple(rnd.condition)
            train_theta, train_x = _training_set(results, config, metrics)
            if progress:
                print(f"[{config.name}] round {rnd.name}: training on {len(train_theta)} accepted simulations, "
                      f"x = {', '.join(metrics)}", flush=True)
            posterior, _ = train_npe(
                train_theta, train_x, prior, x_names=metrics, flow=config.flow, n_members=config.n_members,
                train=config.train, seed=config.seed + k, progress=progress,
                metadata={"pipeline": config.name, "family": family.name, "round": k, "round_name": rnd.name,
                          "condition": {m: list(v) for m, v in rnd.condition.items()},
                          "trained_on_rounds": [r.name for r in results], "pipeline_seed": config.seed,
                          "n_training": len(train_theta), "theta_layout": theta_layout(family),
                          "training_filters": {r.name: r.accept for r in config.rounds[:k]},
                          "network": dict(config.network)})
            save_posterior(out / f"posterior_{k}.npz", posterior)
            rule, _, info = posterior.sample_intervals(sample_key, rnd.condition, rnd.n_simulations, accept=accept_fn,
                                                       progress=progress)
            rejection = info.rejection_rate
            if progress:
                print(f"[{config.name}] round {rnd.name}: sampled {rnd.n_simulations} rules, "
                      f"rejection rate {rejection:.3f} ({info.n_drawn} draws)", flush=True)
        theta = np.empty((rnd.n_simulations, family.theta_size))
        theta[:, inferred] = rule
        # nuisance parameters (fSBI: r_ext) from their prior interval, one uniform per rule and parameter
        u = np.asarray(jax.random.uniform(r_key, (rnd.n_simulations, len(nuisance))), np.float64)
        theta[:, nuisance] = n_low + (n_high - n_low) * u
        table = simulate_rules(theta, out / f"round_{k}", config, progress, simulator)
        result = RoundResult(rnd.name, table, pass_fractions(table, config.include_std_cv, family), posterior,
                             rejection, time.perf_counter() - t0)
        results.append(result)
        if progress:
            print(format_table(results), flush=True)
        if k == 0 and config.restrict:
            classifier = _restriction(table, config, progress)
    (out / "rounds.json").write_text(json.dumps(
        {"config": _config_record(config), "rounds": [dict(r.summary(), rejection_rate=r.rejection_rate, wall_s=r.wall_s)
                                                      for r in results]}, indent=2) + "\n")
    return results


def _prior_draws(prior, key: jax.Array, n: int, accept_fn) -> np.ndarray:
    """``n`` prior draws (without r_ext), redrawn where ``accept_fn`` rejects them."""
    rule = prior.sample(key, n)
    if accept_fn is None:
        return rule
    for i in range(1000):
        bad = ~np.asarray(accept_fn(rule), bool)
        if not bad.any():
            return rule
        rule[bad] = prior.sample(jax.random.fold_in(key, i + 1), int(bad.sum()))
    raise RuntimeError("the restriction classifier rejected nearly every prior draw")


def _training_set(results: list[RoundResult], config: PipelineConfig, metrics: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    thetas, xs = [], []
    for res, rnd in zip(results, config.rounds):
        keep = accepted(res.table, rnd.accept, config.include_std_cv, config.family)
        x = res.table[list(metrics)].to_numpy(np.float64)
        keep &= np.all(np.isfinite(x), axis=1)
        thetas.append(theta_columns(res.table)[keep][:, list(config.family.inferred)])
        xs.append(x[keep])
    theta, x = np.concatenate(thetas), np.concatenate(xs)
    if len(theta) < 10:
        raise RuntimeError(f"only {len(theta)} accepted simulations with finite {list(metrics)} to train on; "
                           "simulate more rules in the earlier rounds")
    return theta, x


def _restriction(table: pd.DataFrame, config: PipelineConfig, progress: bool) -> RestrictionClassifier | None:
    blown = (table["status"] != "done").to_numpy()
    if blown.all() or not blown.any():
        if progress:
            print(f"[{config.name}] restriction classifier skipped: round 0 has {int(blown.sum())} of {len(blown)} blow-ups")
        return None
    clf, _ = train_restriction_classifier(theta_columns(table)[:, list(config.family.inferred)], blown, seed=config.seed)
    if progress:
        print(f"[{config.name}] restriction classifier: threshold {clf.threshold:.3f}, rejects "
              f"{clf.true_rejection_rate:.0%} of blow-ups and {clf.false_negative_rate:.1%} of good rules (validation)")
    return clf


def _config_record(config: PipelineConfig) -> dict[str, Any]:
    record = {f.name: getattr(config, f.name) for f in fields(config)}
    record["family"] = config.family.name  # the name: a family object is not JSON
    record["flow"], record["train"] = asdict(config.flow), asdict(config.train)
    record["rounds"] = [dict(asdict(r), condition={k: list(v) for k, v in r.condition.items()} if r.condition else None)
                        for r in config.rounds]
    record["network"] = dict(config.network)
    return record


def format_table(results: list[RoundResult]) -> str:
    """The per-round table (Markdown): simulations, blow-ups and the pass fraction of every group."""
    groups = [g for g in results[0].fractions if g != "plausible"] + ["plausible"] if results else ["plausible"]
    head = "| round | simulated | blown up | " + " | ".join(groups) + " |"
    rule = "|" + "---|" * (3 + len(groups))
    rows = [f"| {r.name} | {r.n_simulated} | {r.n_blown_up} | " + " | ".join(f"{r.fractions[g]:.3f}" for g in groups) + " |"
            for r in results]
    return "\n".join([head, rule] + rows)
