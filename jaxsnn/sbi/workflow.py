"""The filter-SBI workflow one step at a time, each step reading what the last wrote.

The original fSBI came as notebooks: fit a posterior, sample from it, simulate the samples, compute
metrics, analyse. :func:`jaxsnn.sbi.run_pipeline` runs those steps in one call; this module exposes each
of them on files, for the command line (``jaxsnn fit``, ``jaxsnn sample``, ``jaxsnn report``) and for
scripts:

1. :func:`read_sources` reads simulated rules: sweep stores (``jaxsnn sweep``), the rounds of a run
   (``jaxsnn run``) or the original release's ``.npy`` records.
2. :func:`fit_posterior` trains an NPE ensemble q(θ | x) on them, x = the conditioning metrics, and
   records the target intervals, the θ layout and the sources in the posterior's metadata.
3. :func:`sample_theta` draws rules for target intervals (by default those of the fit), redrawing
   outside the prior box, and adds the nuisance parameters (fSBI: r_ext) from their prior interval, so
   the θ it returns can be swept as it is (``jaxsnn sweep --theta``).
4. :func:`write_source_report` writes the report of :func:`jaxsnn.sbi.run_and_report` for any sources.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd

from ..family import BUILTIN_FAMILIES, RESERVED_FILTERS, RuleFamily, get_family
from .npe import FlowConfig, Posterior, SamplingInfo, train_npe
from .rounds import Round, RoundResult, accepted, format_table, pass_fractions, theta_columns, theta_layout
from .training import TrainConfig

INTERVAL = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*=\s*([^:]+):(.+)$")


def parse_interval(text: str) -> tuple[str, tuple[float, float]]:
    """``"rate=1:50"`` -> ``("rate", (1.0, 50.0))``: a metric and its inclusive target interval.

    ``ValueError`` naming the form expected when ``text`` is not ``METRIC=LOW:HIGH`` with finite
    ``LOW <= HIGH``."""
    match = INTERVAL.match(text)
    if match is None:
        raise ValueError(f"an interval is METRIC=LOW:HIGH, e.g. rate=1:50; got {text!r}")
    name, low, high = match.group(1), match.group(2), match.group(3)
    try:
        low_value, high_value = float(low), float(high)
    except ValueError:
        raise ValueError(f"interval {text!r}: LOW and HIGH must be numbers, e.g. rate=1:50") from None
    if not (np.isfinite(low_value) and np.isfinite(high_value) and low_value <= high_value):
        raise ValueError(f"interval {text!r}: LOW and HIGH must be finite with LOW <= HIGH")
    return name, (low_value, high_value)


def parse_intervals(texts: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Several ``METRIC=LOW:HIGH`` texts as one mapping; a metric named twice is refused."""
    out: dict[str, tuple[float, float]] = {}
    for text in texts:
        name, interval = parse_interval(text)
        if name in out:
            raise ValueError(f"metric {name!r} is given two intervals; give one METRIC=LOW:HIGH per metric")
        out[name] = interval
    return out


@dataclass
class Source:
    """Simulated rules read from one place.

    name: label (a round's name, or the store's folder or file name); path: where it was read;
    kind: ``"store"``, ``"round"`` (a store of a run's round) or ``"release"``; table: one row per rule,
    the sweep store's columns (:func:`jaxsnn.sweep.load`); family_name: the rule family the source
    says wrote it (None where it does not say); round: the round's declaration (runs only);
    rejection_rate: the round's rejection rate of posterior sampling (runs only); options: the
    simulator options the rules were simulated with (seed and network), where known.
    """

    name: str
    path: Path
    kind: str
    table: pd.DataFrame
    family_name: str | None
    round: Round | None = None
    rejection_rate: float | None = None
    options: dict[str, Any] = field(default_factory=dict)


def _store_source(path: Path, name: str | None = None, kind: str = "store") -> Source:
    from ..sweep import load, read_manifest

    manifest = read_manifest(path)
    table = load(path)
    simulator = manifest["simulator"]
    options = {"seed": int(manifest.get("seed", simulator.get("seed", 0)))}
    if isinstance(simulator.get("config"), Mapping):  # fSBI: the FSBIConfig fields of the network simulated
        options["network"] = dict(simulator["config"])
    return Source(name or path.name, path, kind, table, simulator.get("family", simulator.get("task")), options=options)


def _run_sources(path: Path) -> list[Source]:
    """The rounds of a run folder (``jaxsnn run --out DIR``: ``DIR/pipeline/rounds.json``) or of its
    pipeline folder (``rounds.json`` beside ``round_0`` …)."""
    folder = path / "pipeline" if (path / "pipeline" / "rounds.json").exists() else path
    record = json.loads((folder / "rounds.json").read_text())
    config, summaries = record["config"], record["rounds"]
    sources = []
    for k, (declared, summary) in enumerate(zip(config["rounds"], summaries)):
        store = folder / f"round_{k}"
        if not (store / "manifest.json").exists():
            raise ValueError(f"{folder}/rounds.json names round {declared['name']!r}, but {store} is not a sweep store; "
                             "was the run folder moved in parts?")
        condition = {m: tuple(v) for m, v in declared["condition"].items()} if declared["condition"] else None
        source = _store_source(store, declared["name"], "round")
        source.round = Round(declared["name"], declared["n_simulations"], condition, declared["accept"])
        source.rejection_rate = summary.get("rejection_rate")
        source.options["network"] = dict(config.get("network", {}))
        source.family_name = source.family_name or config.get("family") or config.get("task")
        sources.append(source)
    return sources


def read_sources(paths: Sequence[str | os.PathLike]) -> list[Source]:
    """Simulated rules from each path: a sweep store folder (with ``manifest.json``), a run folder of
    ``jaxsnn run`` / :func:`jaxsnn.sbi.run_and_report` (one source per round), or a ``.npy`` file of the
    original release's records (:mod:`jaxsnn.sweep.release`). ``ValueError`` naming the forms allowed
    for anything else."""
    from ..sweep import from_release, load_release, release_dtype

    if not paths:
        raise ValueError("give at least one source: a sweep store folder, a run folder or a release .npy file")
    sources: list[Source] = []
    for item in paths:
        path = Path(item)
        if path.is_dir() and (path / "manifest.json").exists():
            sources.append(_store_source(path))
        elif path.is_dir() and ((path / "rounds.json").exists() or (path / "pipeline" / "rounds.json").exists()):
            sources.extend(_run_sources(path))
        elif path.is_file() and path.suffix == ".npy":
            records = load_release(path)
            table = from_release(records)
            family = next(name for name in BUILTIN_FAMILIES if records.dtype == release_dtype(name))
            sources.append(Source(path.stem, path, "release", table, family))
        else:
            what = "does not exist" if not path.exists() else "is neither a sweep store, a run folder nor a .npy file"
            raise ValueError(f"source {path} {what}; a source is a sweep store folder (jaxsnn sweep --out), a run folder "
                             "(jaxsnn run --out, with pipeline/rounds.json) or the original release's .npy records")
    return sources


def source_family(sources: Sequence[Source], family: RuleFamily | str | None = None) -> RuleFamily:
    """The rule family of ``sources``: ``family`` if given (then every source that names its family must
    name this one), else the one family they name, which must be a built-in one (a family of your own
    is given by its ``module:attribute``). Checks that every table has the family's θ columns."""
    named = sorted({s.family_name for s in sources if s.family_name is not None})
    if family is not None:
        resolved = get_family(family)
        other = [n for n in named if n != resolved.name]
        if other:
            raise ValueError(f"the sources hold rules of family {other}, not of {resolved.name!r} (given); "
                             "give the family that simulated them")
    else:
        if len(named) != 1:
            raise ValueError("the sources name " + (f"several rule families {named}" if named else "no rule family")
                             + "; give the family (--family NAME|MODULE:ATTRIBUTE)")
        if named[0] not in BUILTIN_FAMILIES:
            raise ValueError(f"the sources hold rules of family {named[0]!r}, which is not built in; give it as "
                             "--family MODULE:ATTRIBUTE (family=...) of the RuleFamily that simulated them")
        resolved = get_family(named[0])
    for s in sources:
        n_theta = sum(c.startswith("theta_") for c in s.table.columns)
        if n_theta != resolved.theta_size:
            raise ValueError(f"source {s.path} has θ of {n_theta} entries; family {resolved.name!r} has "
                             f"{resolved.theta_size} ({', '.join(resolved.theta_names[:3])}, …)")
    return resolved


def training_set(sources: Sequence[Source], family: RuleFamily, metrics: Sequence[str],
                 accept: Sequence[str] = ("finite",), include_std_cv: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """θ ``[N, D]`` (the inferred entries) and x ``[N, K]`` (``metrics``) of the rules that pass every
    filter in ``accept`` ("finite", "plausible" or a plausibility group of ``family``), have finite x
    and lie inside the prior box; with counts of the rows read and kept."""
    unknown = [m for m in metrics if m not in family.metric_names]
    if unknown:
        raise ValueError(f"family {family.name!r} reports no metric(s) {unknown}; condition on some of {list(family.metric_names)}")
    filters = RESERVED_FILTERS + tuple(family.plausibility)
    bad = [a for a in accept if a not in filters]
    if bad:
        raise ValueError(f"accept filter(s) {bad} are not filters of family {family.name!r}; allowed: {list(filters)}")
    table = pd.concat([s.table for s in sources], ignore_index=True)
    missing = [m for m in metrics if m not in table.columns]
    if missing:
        raise ValueError(f"the sources have no column(s) {missing} (the release format lacks the weight drifts); "
                         "condition on metrics they hold")
    keep = np.ones(len(table), bool)
    for name in accept or ("finite",):
        keep &= accepted(table, name, include_std_cv, family)
    x = table[list(metrics)].to_numpy(np.float64)
    theta = theta_columns(table)
    counts = {"n_read": len(table), "n_accepted": int(keep.sum())}
    keep &= np.all(np.isfinite(x), axis=1)
    counts["n_finite"] = int(keep.sum())
    keep &= family.in_prior(theta) if len(theta) else keep
    counts["n_training"] = int(keep.sum())
    return theta[keep][:, list(family.inferred)], x[keep], counts


def fit_posterior(sources: Sequence[Source], family: RuleFamily, condition: Mapping[str, tuple[float, float]], *,
                  accept: Sequence[str] = ("finite",), include_std_cv: bool = True, flow: FlowConfig = FlowConfig(),
                  n_members: int = 10, train: TrainConfig = TrainConfig(), seed: int = 0,
                  progress: bool = True, family_spec: str | None = None) -> tuple[Posterior, dict[str, int]]:
    """Train an NPE ensemble q(θ | x) on ``sources`` (θ: the inferred entries of ``family``; x: the
    metrics of ``condition``, in its order) and record in its metadata the target intervals
    (``condition``, the default of :func:`sample_theta`), the filters, the θ layout
    (:func:`theta_layout`), the family (name and ``family_spec``, how to import it) and the sources.

    Returns the posterior and the counts of :func:`training_set`. ``ValueError`` when fewer than 10 rules
    remain to train on."""
    if not condition:
        raise ValueError("give at least one conditioning metric and its target interval (--condition METRIC=LOW:HIGH)")
    metrics = tuple(condition)
    theta, x, counts = training_set(sources, family, metrics, accept, include_std_cv)
    if counts["n_training"] < 10:
        raise ValueError(f"only {counts['n_training']} of {counts['n_read']} rules pass {list(accept)} with finite "
                         f"{list(metrics)} inside the prior box; NPE needs at least 10: simulate more rules or relax --accept")
    metadata = {"family": family.name, "family_spec": family_spec or family.name, "theta_layout": theta_layout(family),
                "condition": {m: list(v) for m, v in condition.items()}, "accept": list(accept),
                "include_std_cv": include_std_cv, "sources": [str(s.path) for s in sources],
                "source_names": [s.name for s in sources], **counts}
    posterior, _ = train_npe(theta, x, family.prior(nuisance=False), x_names=metrics, flow=flow, n_members=n_members,
                             train=train, seed=seed, progress=progress, metadata=metadata)
    return posterior, counts


def _layout(posterior: Posterior, family: RuleFamily | str | None) -> dict[str, Any]:
    """The θ layout of ``posterior``: from its metadata, else from ``family`` (or the family it names)."""
    layout = posterior.metadata.get("theta_layout")
    if family is None and layout is not None:
        return layout
    name = family if family is not None else posterior.metadata.get("family_spec", posterior.metadata.get("family"))
    if name is None:
        raise ValueError("the posterior names no rule family; give the family that it was fitted for (--family)")
    try:
        resolved = get_family(name)
    except ValueError as error:
        raise ValueError(f"{error}; give the posterior's family as --family MODULE:ATTRIBUTE (family=...)") from None
    layout = theta_layout(resolved)
    inferred = [layout["names"][i] for i in layout["inferred"]]
    if tuple(inferred) != tuple(posterior.prior.names):
        raise ValueError(f"family {resolved.name!r} infers {inferred}; the posterior is over {list(posterior.prior.names)}")
    return layout


def sample_theta(posterior: Posterior, n: int, intervals: Mapping[str, tuple[float, float]] | None = None, *,
                 seed: int = 0, family: RuleFamily | str | None = None,
                 progress: bool = False) -> tuple[np.ndarray, np.ndarray, SamplingInfo]:
    """``n`` rules θ ``[n, P]`` for target ``intervals`` (metric -> (low, high); default: the intervals
    the posterior was fitted with): x drawn uniformly inside them, one θ per x from a uniformly chosen
    member, redrawn until inside the prior box; nuisance entries (fSBI: r_ext) drawn uniformly from
    their prior interval. Returns θ (all P entries, ready for :func:`jaxsnn.sweep.run_sweep`), x
    ``[n, K]`` and the :class:`SamplingInfo` (rejection rate to the prior box)."""
    if intervals is None:
        stored = posterior.metadata.get("condition")
        if not stored:
            raise ValueError(f"the posterior records no target intervals; give one per conditioning metric "
                             f"{list(posterior.x_names)} (--interval METRIC=LOW:HIGH)")
        intervals = {m: tuple(v) for m, v in stored.items()}
    missing = [m for m in posterior.x_names if m not in intervals]
    extra = [m for m in intervals if m not in posterior.x_names]
    if missing or extra:
        raise ValueError(f"the posterior is conditioned on {list(posterior.x_names)}: give exactly one interval per metric "
                         f"(missing {missing}, not conditioned on {extra})")
    layout = _layout(posterior, family)
    key = jax.random.key(seed)
    sample_key, nuisance_key = jax.random.split(key)
    rule, x, info = posterior.sample_intervals(sample_key, {m: intervals[m] for m in posterior.x_names}, n,
                                               progress=progress)
    theta = np.empty((n, len(layout["names"])))
    theta[:, layout["inferred"]] = rule
    nuisance = layout["nuisance"]
    if nuisance:
        low, high = np.asarray(layout["low"])[nuisance], np.asarray(layout["high"])[nuisance]
        u = np.asarray(jax.random.uniform(nuisance_key, (n, len(nuisance))), np.float64)
        theta[:, nuisance] = low + (high - low) * u
    return theta, x, info


def source_results(sources: Sequence[Source], family: RuleFamily, include_std_cv: bool = True) -> list[RoundResult]:
    """One :class:`RoundResult` per source (its pass fractions; the rejection rate where a run recorded it)."""
    return [RoundResult(s.name, s.table, pass_fractions(s.table, include_std_cv, family), None, s.rejection_rate, 0.0)
            for s in sources]


def write_source_report(sources: Sequence[Source], family: RuleFamily, out: str | os.PathLike, *,
                        include_std_cv: bool = True, raster: bool = False, progress: bool = True) -> dict[str, Any]:
    """The report of :func:`jaxsnn.sbi.run_and_report` for any ``sources`` (one row per source): pass
    fractions per plausibility group, corner plots of the plausible rules, pair windows (where the family
    draws them), the best rule and, with ``raster``, its raster (the rule simulated again with the
    source's seed and network). Writes ``report.md``, its figures and ``summary.json`` into ``out``;
    returns the summary."""
    from .report import best_rule, write_report

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = source_results(sources, family, include_std_cv)
    table = format_table(results)
    best = best_rule(results, include_std_cv, family)
    spikes = None
    network = sources[0].options.get("network", {})
    if raster and best is not None:
        owner = next(s for s in sources if any(np.array_equal(best[0], row) for row in theta_columns(s.table)))
        options = _raster_options(family, owner.options.get("network", {}))
        if progress:
            print(f"report: simulating the best rule of {owner.name} again for its raster", flush=True)
        spikes = family.raster_spikes(best[0], owner.options.get("seed", 0), **options)
    rounds = tuple(s.round for s in sources) if all(s.round is not None for s in sources) else ()
    intro = [f"# Report on {len(sources)} source(s) of rule family `{family.name}`", "",
             "| source | kind | path | rules |", "|---|---|---|---|"]
    intro += [f"| {s.name} | {s.kind} | `{s.path}` | {len(s.table)} |" for s in sources]
    if network:
        intro += ["", f"Network: `{network}`."]
    path = write_report(out, results, config_name=family.name, network=network, raster_spikes=spikes, best=best,
                        wall_s=time.perf_counter() - t0, table=table, include_std_cv=include_std_cv, rounds=rounds,
                        family=family, intro=intro)
    summary: dict[str, Any] = {
        "family": family.name, "sources": [str(s.path) for s in sources],
        "rounds": [dict(r.summary(), rejection_rate=r.rejection_rate) for r in results],
        "best_rule": None if best is None else {"theta": best[0].tolist(),
                                                "metrics": {k: (v if np.isfinite(v) else None) for k, v in best[1].items()}},
        "wall_s": round(time.perf_counter() - t0, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if progress:
        print(f"{table}\nreport: wrote {path}, {out / 'summary.json'}", flush=True)
    return summary


def _raster_options(family: RuleFamily, network: Mapping[str, Any]) -> dict[str, Any]:
    """The network options of a store's simulator that the family's raster simulation takes."""
    import inspect

    from ..fsbi.families import FSBIFamily

    if isinstance(family, FSBIFamily):
        from ..fsbi import FSBIConfig

        fields = set(inspect.signature(FSBIConfig).parameters)
        return {k: v for k, v in network.items() if k in fields and k != "task"}
    return dict(network)


__all__ = ["Source", "fit_posterior", "parse_interval", "parse_intervals", "read_sources", "sample_theta",
           "source_family", "source_results", "theta_layout", "training_set", "write_source_report"]
