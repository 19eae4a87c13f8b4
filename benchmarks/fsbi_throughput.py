"""fSBI throughput: CPU-seconds (and wall seconds) per simulated rule against batch size.

Runs the full-size network (4096 E + 1024 I, 5000 external sources) with the published polynomial
rule (or zero MLP rules with a small learning rate) for ``--duration`` seconds of biological time,
twice per batch size (the first run compiles), and extrapolates the warm run to the 70 s protocol.
The reference C++ simulator costs about 19 CPU-s per 70 s polynomial rule and 950 per MLP rule.
``--json`` prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np

REFERENCE_RULE = np.array([
    0.04660005, 0.02327882, 0.49659052, -0.35899994, -0.37540221, -1.278193,
    0.0707294, 0.07955258, 0.63596439, -1.72025657, 0.56049812, 0.06629736,
    0.03651253, 0.04398145, -0.31592822, -0.04090761, 1.60054791, 1.11010623,
    0.09858324, 0.04056259, -1.94945908, 1.7757206, 0.19681023, 1.9772824, 6.0])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=("polynomial", "mlp"), default="polynomial")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--duration", type=float, default=1.2, help="biological seconds per timed run (>= 0.6)")
    p.add_argument("--n-exc", type=int, default=4096)
    p.add_argument("--n-inh", type=int, default=1024)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    from jaxsnn import fsbi

    if args.task == "polynomial":
        theta1 = REFERENCE_RULE
    else:
        theta1 = np.zeros(23)
        theta1[[0, 1]] = 0.001
        theta1[22] = 6.0
    rows = []
    for r in args.batches:
        theta = np.tile(theta1, (r, 1))
        opts = dict(task=args.task, n_exc=args.n_exc, n_inh=args.n_inh, duration=args.duration,
                    record_start=round(args.duration - 0.6, 6))
        t0 = time.perf_counter()
        fsbi.simulate(theta, **opts)
        first = time.perf_counter() - t0
        cpu0, t0 = time.process_time(), time.perf_counter()
        res = fsbi.simulate(theta, **opts)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        scale = 70.0 / args.duration
        row = {"batch": r, "wall_s": wall, "cpu_s": cpu, "compile_s": first - wall,
               "cpu_s_per_rule_70s": cpu * scale / r, "wall_s_per_rule_70s": wall * scale / r,
               "rate_hz": float(np.nanmean(res.metrics["rate"])),
               "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}
        rows.append(row)
        print(f"batch {r:3d}: wall {wall:6.1f} s, cpu {cpu:6.1f} s for {args.duration} s -> "
              f"{row['cpu_s_per_rule_70s']:7.1f} CPU-s / {row['wall_s_per_rule_70s']:7.1f} wall-s per 70 s rule "
              f"(compile {row['compile_s']:.0f} s, peak RSS {row['peak_rss_gb']:.1f} GB)", flush=True)
    if args.json:
        print(json.dumps({"task": args.task, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
