"""The project's main job: the scaled-down polynomial filter-SBI pipeline, end to end on a CPU."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .configs import POLYNOMIAL_SMALL
from .report import best_rule, write_report
from .rounds import PipelineConfig, format_table, run_pipeline


def run_and_report(config: PipelineConfig, out: str | Path = "results", *, progress: bool = True) -> dict[str, Any]:
    """Run ``config`` (stores and posteriors in ``out/pipeline``), write ``out/report.md`` with its
    figures and ``out/summary.json``; returns the summary::

        {"rounds": [{"name", "n_simulated", "n_blown_up", "fraction_plausible", "fractions": {group: f}}],
         "wall_s": float}
    """
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = run_pipeline(config, out / "pipeline", progress=progress)
    table = format_table(results)
    best = best_rule(results, config.include_std_cv, config.family)
    spikes = None
    if best is not None:  # the family decides whether it records a raster (polynomial: yes)
        spikes = config.family.raster_spikes(best[0], config.seed, **dict(config.network))
        if progress and spikes is not None:
            print(f"[{config.name}] simulated the best rule again, recording spikes, for the raster", flush=True)
    wall = time.perf_counter() - t0
    report = write_report(out, results, config_name=config.name, network=dict(config.network), raster_spikes=spikes,
                          best=best, wall_s=wall, table=table, include_std_cv=config.include_std_cv,
                          rounds=config.rounds, family=config.family)
    summary = {"rounds": [r.summary() for r in results], "wall_s": round(time.perf_counter() - t0, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if progress:
        print(f"\n[{config.name}] fraction of simulated rules passing each plausibility group, per round:\n{table}\n"
              f"[{config.name}] {summary['wall_s']:.0f} s; wrote {report}, {out / 'summary.json'}", flush=True)
    return summary


def main_job(out: str | Path = "results", *, progress: bool = True) -> dict[str, Any]:
    """The main job (``make run`` / ``jaxsnn run``): the scaled-down polynomial pipeline
    :data:`jaxsnn.sbi.configs.POLYNOMIAL_SMALL` on a CPU, reported in ``out`` (see :func:`run_and_report`)."""
    return run_and_report(POLYNOMIAL_SMALL, out, progress=progress)
