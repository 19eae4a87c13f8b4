"""fSBI throughput: CPU-seconds (and wall seconds) per simulated rule against batch size.

Two measurements, each run twice (the first call compiles; the second is timed):

- full network (4096 E + 1024 I, 5000 external sources), the published polynomial rule (or zero MLP
  rules with a small learning rate) tiled ``batch`` times, for ``--duration`` seconds of biological
  time, extrapolated to the 70 s protocol;
- optionally (``--scaled-batch R``) a scaled-down network (400 E + 100 I) on ``R`` rules drawn from
  the prior, for ``--scaled-duration`` s (recording the last 4 s), also extrapolated to 70 s.

The reference C++ simulator costs about 19 CPU-s per 70 s polynomial rule and 950 per MLP rule on one
core of this kind of machine. CPU time is the process's (all threads). The machines these figures are
taken on are shared, so timings are noisy: the load average is printed with each row.
Each row is timed with the network in the compiled CPU kernels (``synapse_kernel="cpu"``: whole blocks
of steps in one custom call, polynomial or MLP rules) and in XLA ops (``"xla"``), and the ratio printed.
``--single-thread`` runs XLA on one thread (its idle worker threads otherwise add CPU time while the
single-threaded kernel runs). The CPU time is split into the plastic phase and the recorded window
(streaming metrics cost extra per step). Short runs
(``--duration``, default 1.2 s with a 0.6 s window, ``--window``) are extrapolated to 70 s; they start
from rest, when activity is still low, and over-weight the window, so the honest figure is the whole
protocol: ``--duration 70 --window 10`` (no extrapolation).

``--json`` prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

from jaxsnn.fsbi.published import PUBLISHED_POLYNOMIAL_RULE

REFERENCE_RULE = PUBLISHED_POLYNOMIAL_RULE
PROTOCOL = 70.0


def timed(theta: np.ndarray, opts: dict, warm: bool = True) -> dict:
    """Compile (first call), then time a second call; CPU-s and wall-s extrapolated to 70 s per rule.
    ``warm=False``: one call, compilation included (for whole-protocol runs)."""
    from jaxsnn import fsbi

    t0 = time.perf_counter()
    if warm:
        fsbi.simulate(theta, **opts)
    first = time.perf_counter() - t0
    cpu0, t0 = time.process_time(), time.perf_counter()
    res = fsbi.simulate(theta, **opts)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    r = theta.shape[0]
    scale = PROTOCOL / opts["duration"]
    return {"plastic_cpu_s": res.phase_s["plastic_cpu"], "window_cpu_s": res.phase_s["window_cpu"],
            "synapse_kernel": opts.get("synapse_kernel", "auto"), "batch": r, "n_exc": opts["n_exc"], "n_inh": opts["n_inh"], "duration_s": opts["duration"],
            "wall_s": wall, "cpu_s": cpu, "compile_s": (first - wall) if warm else float("nan"),
            "cpu_s_per_rule_70s": cpu * scale / r, "wall_s_per_rule_70s": wall * scale / r,
            "rate_hz": float(np.nanmean(res.metrics["rate"])),
            "blown_up": int(np.sum(res.blowup_time >= 0)),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
            "load_avg_1min": os.getloadavg()[0]}


def report(label: str, row: dict) -> None:
    print(f"{label} batch {row['batch']:3d}: wall {row['wall_s']:6.1f} s, cpu {row['cpu_s']:6.1f} s for "
          f"{row['duration_s']} s -> {row['cpu_s_per_rule_70s']:7.1f} CPU-s / {row['wall_s_per_rule_70s']:7.1f} "
          f"wall-s per 70 s rule (compile {row['compile_s']:.0f} s, peak RSS {row['peak_rss_gb']:.1f} GB, "
          f"rate {row['rate_hz']:.1f} Hz, load {row['load_avg_1min']:.1f})"
          + f"; CPU-s plastic phase {row['plastic_cpu_s']:.1f}, window {row['window_cpu_s']:.1f}", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=("polynomial", "mlp"), default="polynomial")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16], help="full-network batch sizes")
    p.add_argument("--duration", type=float, default=1.2, help="biological seconds per timed run (>= 0.6)")
    p.add_argument("--n-exc", type=int, default=4096)
    p.add_argument("--n-inh", type=int, default=1024)
    p.add_argument("--scaled-batch", type=int, default=0, help="also time R prior rules on 400 E + 100 I (0: skip)")
    p.add_argument("--scaled-duration", type=float, default=10.0, help="biological seconds of the scaled run")
    p.add_argument("--kernels", nargs="+", choices=("cpu", "xla"), default=None,
                   help="synapse paths to time (default: cpu and xla)")
    p.add_argument("--window", type=float, default=0.6, help="recorded window at the end of each run (s, >= 0.52)")
    p.add_argument("--cold", action="store_true", help="one run per row, compilation included (long runs)")
    p.add_argument("--single-thread", action="store_true", help="XLA on one thread (set before jax is imported)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.single_thread:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    kernels = args.kernels or ["cpu", "xla"]
    from jaxsnn import fsbi

    if args.task == "polynomial":
        theta1 = REFERENCE_RULE
    else:
        theta1 = np.zeros(23)
        theta1[[0, 1]] = 0.001
        theta1[22] = 6.0
    rows = []
    for r in args.batches:
        by_kernel = {}
        for kern in kernels:
            opts = dict(task=args.task, n_exc=args.n_exc, n_inh=args.n_inh, duration=args.duration,
                        record_start=round(args.duration - args.window, 6), synapse_kernel=kern)
            row = timed(np.tile(theta1, (r, 1)), opts, warm=not args.cold)
            rows.append(row)
            by_kernel[kern] = row
            report(f"full {kern:3s}", row)
        if len(by_kernel) == 2:
            ratio = by_kernel["cpu"]["cpu_s"] / by_kernel["xla"]["cpu_s"]
            print(f"batch {r}: kernel / XLA CPU time {ratio:.2f}", flush=True)
    scaled = None
    if args.scaled_batch:
        theta = fsbi.sample_prior(args.task, args.scaled_batch, 0)
        opts = dict(task=args.task, n_exc=400, n_inh=100, duration=args.scaled_duration,
                    record_start=round(args.scaled_duration - 4.0, 6), n_rec_e=400, n_rec_i=100)
        scaled = timed(theta, opts)
        report("scaled", scaled)
    if args.json:
        print(json.dumps({"task": args.task, "rows": rows, "scaled": scaled}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
