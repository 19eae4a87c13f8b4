"""Figures and the Markdown report of a rounds pipeline: the per-round pass fractions (the
original's accumulation figure), a corner plot of the accepted rules, pair windows of plausible rules
and a raster of the best one. What the corner plots group, and whether pair windows and a raster are
drawn, is the rule family's (:meth:`jaxsnn.RuleFamily.corner_groups`, ``pair_windows``, ``raster_spikes``)."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..family import RuleFamily, get_family, resolve_family
from ..plots import plt, raster  # jaxsnn.plots selects the non-interactive backend
from .prior import BoxPrior
from .rounds import Round, RoundResult, _skip, accepted, metric_table, theta_columns

MAX_SCATTER = 5000
"""Most rules a scatter panel of a corner plot shows."""


def plot_fractions(path: str | Path, results: list[RoundResult]) -> Path:
    """Pass fraction of every plausibility group and of all of them, per round."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    rounds = np.arange(len(results))
    for group in [g for g in results[0].fractions if g != "plausible"] + ["plausible"]:
        ax.plot(rounds, [r.fractions[group] for r in results], "o-", lw=2.5 if group == "plausible" else 1.2,
                label=group.replace("_", " "))
    ax.set_xticks(rounds, [r.name for r in results])
    ax.set_ylabel("fraction of simulated rules")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("pass fractions per round")
    return _save(fig, path)


def plot_corner(path: str | Path, theta: np.ndarray, prior: BoxPrior, columns: list[int], *, title: str = "") -> Path:
    """Corner plot of θ ``[N, D]`` restricted to ``columns``: histograms on the diagonal, scatter below,
    axes spanning the prior box. Scatter panels show at most ``MAX_SCATTER`` rules (a fixed random
    subset; the histograms count all), so a release of 354 000 rules plots in seconds."""
    k = len(columns)
    shown = theta if len(theta) <= MAX_SCATTER else theta[np.random.default_rng(0).choice(len(theta), MAX_SCATTER, replace=False)]
    fig, axes = plt.subplots(k, k, figsize=(1.6 * k + 1, 1.6 * k + 1), squeeze=False)
    for i, ci in enumerate(columns):
        for j, cj in enumerate(columns):
            ax = axes[i, j]
            if j > i:
                ax.axis("off")
                continue
            if i == j:
                ax.hist(theta[:, ci], bins=15, range=(prior.low[ci], prior.high[ci]), color="tab:blue")
                ax.set_yticks([])
            else:
                ax.scatter(shown[:, cj], shown[:, ci], s=4, alpha=0.6)
                ax.set_ylim(prior.low[ci], prior.high[ci])
            ax.set_xlim(prior.low[cj], prior.high[cj])
            ax.tick_params(labelsize=6)
            if i == k - 1:
                ax.set_xlabel(prior.names[cj], fontsize=7)
            if j == 0 and i > 0:
                ax.set_ylabel(prior.names[ci], fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_pair_windows(path: str | Path, windows: list[dict[str, tuple[np.ndarray, np.ndarray]]], *,
                      labels: list[str]) -> Path:
    """Pair windows Δw/η(Δt) of each rule, one panel per projection: ``windows`` holds per rule the
    family's :meth:`~jaxsnn.RuleFamily.pair_windows` (projection -> (Δt [K] s, Δw/η [K]))."""
    names = list(windows[0])
    fig, axes = plt.subplots(1, len(names), figsize=(3 * len(names), 3), sharex=True, squeeze=False)
    axes = axes[0]
    for curves, label in zip(windows, labels):
        for ax, name in zip(axes, names):
            dt_pairs, dw = curves[name]
            ax.plot(np.asarray(dt_pairs) * 1e3, dw, lw=1, label=label)
            ax.set_title(name)
    for ax in axes:
        ax.axhline(0, color="0.6", lw=0.5)
        ax.axvline(0, color="0.6", lw=0.5)
        ax.set_xlabel("Δt = t_post − t_pre (ms)")
    axes[0].set_ylabel("Δw / η")
    axes[0].legend(fontsize=6)
    return _save(fig, path)


def best_rule(results: list[RoundResult], include_std_cv: bool = True,
              family: RuleFamily | str = "polynomial") -> tuple[np.ndarray, dict[str, float]] | None:
    """The rule of all rounds passing most plausibility groups, among those the one with the lowest
    :meth:`~jaxsnn.RuleFamily.best_score` (fSBI: the most stable, lowest w_blow + w_creep), and its
    metrics (None if every run blew up)."""
    family = get_family(family)
    best, best_key = None, None
    for res in results:
        metrics = metric_table(res.table, family)
        theta = theta_columns(res.table)
        n_groups = sum((family.group_pass(metrics, g, skip=_skip(include_std_cv)).astype(int) for g in family.plausibility),
                       np.zeros(len(theta), int))
        score = family.best_score(metrics)
        for i in np.flatnonzero(np.isfinite(score)):
            key = (-int(n_groups[i]), float(score[i]))
            if best_key is None or key < best_key:
                best_key, best = key, (theta[i], {m: float(v[i]) for m, v in metrics.items()})
    return best


def corner_groups(task: RuleFamily | str) -> dict[str, list[int]]:
    """θ columns shown together in one corner plot, by title (:meth:`jaxsnn.RuleFamily.corner_groups`):
    polynomial: per projection (τ_pre, τ_post, α, β, γ, κ); MLP: learning rates, then each
    (projection, side) last layer."""
    return get_family(task, what="task").corner_groups()


def write_report(out: Path, results: list[RoundResult], *, config_name: str, network: dict[str, Any],
                 raster_spikes: dict[str, tuple[np.ndarray, np.ndarray]] | None, best: Any, wall_s: float,
                 table: str, include_std_cv: bool = True, rounds: Sequence[Round] = (),
                 task: str | None = None, family: RuleFamily | str | None = None,
                 intro: Sequence[str] | None = None) -> Path:
    """Write the figures and ``report.md`` into ``out``; ``rounds`` (the pipeline's declarations) adds
    a section saying what each round conditioned on and which of its simulations it kept. ``family``
    (or its older name ``task``; default "polynomial") picks the corner-plot groups of θ and draws pair
    windows of plausible rules where it has them (polynomial). ``intro``: the report's title and first
    lines (Markdown; default: the pipeline's name, wall time and network)."""
    family = resolve_family(family, task)
    prior = family.prior()
    out = Path(out)
    plot_fractions(out / "fractions.png", results)
    thetas, plaus = [], []
    for res in results:
        metrics = metric_table(res.table, family)
        thetas.append(theta_columns(res.table))
        plaus.append(family.is_plausible(metrics, skip=_skip(include_std_cv)))
    theta_all, plaus_all = np.concatenate(thetas), np.concatenate(plaus)
    accepted_rules = theta_all[plaus_all] if plaus_all.sum() >= 2 else theta_all[np.concatenate(
        [(r.table["status"] == "done").to_numpy() for r in results])]
    which = "plausible" if plaus_all.sum() >= 2 else "non-blown-up"
    figures = ["fractions.png"]
    for name, columns in family.corner_groups().items():
        fname = "corner_" + name.lower().replace("projection ", "").replace(" ", "_") + ".png"
        plot_corner(out / fname, accepted_rules, prior, columns,
                    title=f"{which} rules ({len(accepted_rules)}), {name}")
        figures.append(fname)
    if intro is None:
        intro = [f"# fSBI pipeline `{config_name}`", "", f"Wall time: {wall_s:.0f} s. Network: `{network}`."]
    lines = [*intro, "",
             "## Fraction of simulated rules passing each plausibility group, per round", "", table, "",
             "![pass fractions](fractions.png)", ""]
    lines += _round_lines(rounds, results, include_std_cv, family)
    lines += [f"## Corner plots of the {which} rules of all rounds ({len(accepted_rules)})", ""]
    lines += [f"![{f}]({f})" for f in figures[1:]]
    windows = [family.pair_windows(row) for row in theta_all[plaus_all][:5]]
    if windows and windows[0] is not None:
        plot_pair_windows(out / "pair_windows.png", windows, labels=[f"rule {i}" for i in range(len(windows))])
        lines += ["", f"## Pair windows of {len(windows)} plausible rules", "", "![pair windows](pair_windows.png)"]
    if best is not None:
        theta_best, metrics_best = best
        lines += ["", "## Best rule", "", "θ = `" + np.array2string(theta_best, precision=4, max_line_width=200) + "`", "",
                  "| metric | value |", "|---|---|"] + [f"| {k} | {v:.4g} |" for k, v in metrics_best.items()]
        if raster_spikes is not None:
            raster(out / "raster_best.png", raster_spikes, title="best rule: recording window")
            lines += ["", "![raster of the best rule](raster_best.png)"]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _round_lines(rounds: Sequence[Round], results: list[RoundResult], include_std_cv: bool,
                 family: RuleFamily) -> list[str]:
    """Markdown lines: per round, its sampling distribution, condition and training-set filter."""
    if not rounds:
        return []
    lines = ["## Rounds", "", "| round | drawn from | conditioned on | rejection rate | joins later training sets |",
             "|---|---|---|---|---|"]
    for rnd, res in zip(rounds, results):
        condition = ", ".join(f"{m} ∈ [{lo:g}, {hi:g}]" for m, (lo, hi) in rnd.condition.items()) if rnd.condition else "–"
        source = "prior" if rnd.condition is None else "posterior"
        rejection = "–" if res.rejection_rate is None else f"{res.rejection_rate:.3f}"
        kept = int(accepted(res.table, rnd.accept, include_std_cv, family).sum())
        lines.append(f"| {rnd.name} | {source} | {condition} | {rejection} | {kept} ({rnd.accept}) |")
    return lines + [""]


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
