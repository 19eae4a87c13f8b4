"""The ``jaxsnn`` command line.

``jaxsnn run`` runs the main job. Until the plasticity-rule search pipeline lands, the main job
simulates the COBA benchmark network and writes its rates, a raster and a population-rate plot to
``results/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def coba_job(out: Path, duration: float, seed: int) -> dict:
    """Simulate COBA for ``duration`` s and write ``coba_rates.json``, ``coba_raster.png`` and
    ``coba_rate.png`` into ``out``. Returns the summary written to the JSON file."""
    from .analysis import mean_cv_isi
    from .networks import run_coba
    from .plots import rate_trace, raster

    out.mkdir(parents=True, exist_ok=True)
    print(f"jaxsnn: simulating the COBA network (4000 neurons) for {duration} s ...", flush=True)
    t0 = time.perf_counter()
    net, res = run_coba(duration, seed=seed)
    wall = time.perf_counter() - t0
    summary = {"duration_s": duration, "seed": seed, "wall_s": round(wall, 2)}
    trains = {}
    for pop in ("E", "I"):
        ev = res.spikes[pop]
        times = ev.times(net.dt)
        trains[pop] = (times, ev.neuron)
        summary[f"rate_{pop.lower()}_hz"] = float(res.rates(pop)[0])
        summary[f"cv_isi_{pop.lower()}"] = mean_cv_isi(times, ev.neuron)
    (out / "coba_rates.json").write_text(json.dumps(summary, indent=2) + "\n")
    raster(out / "coba_raster.png", trains, t_max=min(duration, 1.0), title="COBA network, first second")
    rate_trace(out / "coba_rate.png", {p: (trains[p][0], net.population(p).size) for p in trains}, duration,
               title="COBA population rates")
    print(f"  E {summary['rate_e_hz']:.2f} Hz (CV {summary['cv_isi_e']:.2f}), "
          f"I {summary['rate_i_hz']:.2f} Hz (CV {summary['cv_isi_i']:.2f}); {wall:.1f} s wall")
    print(f"  wrote {out}/coba_rates.json, coba_raster.png, coba_rate.png")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxsnn", description="Spiking-network simulation and plasticity-rule search in JAX.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the main job (now: the COBA network, results in results/)")
    run.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results)")
    run.add_argument("--duration", type=float, default=10.0, help="simulated time in seconds (default: 10)")
    run.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    args = parser.parse_args(argv)
    if args.command == "run":
        if args.duration <= 0:
            parser.error(f"--duration must be > 0 s; got {args.duration}")
        coba_job(args.out, args.duration, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
