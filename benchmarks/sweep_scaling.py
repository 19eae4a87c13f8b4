"""Sweep throughput: rules per hour against chunk size and (forced host) device count.

For each device count D a fresh process is started with ``XLA_FLAGS=--xla_force_host_platform_device_count=D``
(on a GPU machine, the real local devices are used and D is ignored). For each chunk size C it runs
``jaxsnn.sweep.run_sweep`` once on 2 × C rules to compile (timed as ``first_s``; two chunks, because
concurrent first calls on several devices may each compile, and one executable can be lost), then times a sweep of
``--rounds`` × C fresh rules into a new store (``sweep_s``), which includes writing the Parquet chunks.
Rules per hour = rules / sweep_s × 3600, for the small network given by the options (default 200 E +
50 I neurons, 1 s of biological time, metrics over [0.4, 1) s). Prints a table and, on the last line,
one JSON object ``{"config": ..., "rows": [...]}``.

With ``--dask W`` it compares instead, in one run and on the same θ, one process (the in-process sweep)
with a Dask ``LocalCluster`` of W worker processes × 1 thread (``run_sweep(client=...)``), at the first
``--chunks`` size: each is warmed up first (the in-process sweep on 2 chunks; the cluster on 2 × W
chunks, so every worker starts, imports jaxsnn and compiles: ``first_s``), then times ``--rounds``
chunks; the in-process sweep is timed again at the end, to show how much the busy machine drifted.
Each row also gives the CPU time per rule (this process and, for a cluster, every worker process, all
threads), the cores kept busy on average (CPU time / wall time) and the 1-minute load average after it:
on a shared machine, rules per hour show what was free, CPU-s per rule what each engine costs.
``--xla-single-thread`` adds a cluster whose workers run XLA on one thread (``XLA_FLAGS``), so W
workers use W threads rather than W × cores.

    python benchmarks/sweep_scaling.py                      # devices 1 2, chunks 2 4 8
    python benchmarks/sweep_scaling.py --devices 1 --chunks 4 16 --n-exc 400 --n-inh 100
    python benchmarks/sweep_scaling.py --dask 2 --chunks 4 --rounds 8   # 1 process vs 2 Dask workers
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def worker(args: argparse.Namespace) -> list[dict]:
    import jax

    from jaxsnn.fsbi import sample_prior
    from jaxsnn.sweep import run_sweep

    net = dict(n_exc=args.n_exc, n_inh=args.n_inh, duration=args.duration, record_start=args.record_start)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for chunk in args.chunks:
            t0 = time.perf_counter()
            run_sweep(sample_prior("polynomial", 2 * chunk, 10_000 + chunk), out=Path(tmp) / f"warm{chunk}", seed=0,
                      chunk_size=chunk, progress=False, **net)
            first = time.perf_counter() - t0
            n = args.rounds * chunk
            t0 = time.perf_counter()
            table = run_sweep(sample_prior("polynomial", n, chunk), out=Path(tmp) / f"timed{chunk}", seed=0,
                              chunk_size=chunk, progress=False, **net)
            wall = time.perf_counter() - t0
            rows.append({"devices": len(jax.local_devices()), "platform": jax.devices()[0].platform, "chunk": chunk,
                         "rules": n, "first_s": round(first, 2), "sweep_s": round(wall, 2),
                         "rules_per_hour": round(n / wall * 3600), "blown_up": int((table["status"] == "blown_up").sum())})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def dask_comparison(args: argparse.Namespace) -> list[dict]:
    """Rules per hour of one process and of a LocalCluster of ``args.dask`` workers × 1 thread, on the
    same θ (see the module docstring)."""
    from distributed import Client

    from jaxsnn.fsbi import sample_prior
    from jaxsnn.sweep import run_sweep
    from jaxsnn.sweep.cluster import local_cluster

    net = dict(n_exc=args.n_exc, n_inh=args.n_inh, duration=args.duration, record_start=args.record_start)
    chunk, workers = args.chunks[0], args.dask
    n = args.rounds * chunk
    theta = sample_prior("polynomial", n, 1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        def cpu_seconds(client) -> float:
            """CPU time (s) of this process and of every worker process, all threads."""
            return time.process_time() + (sum(client.run(time.process_time).values()) if client is not None else 0.0)

        def sweep(tag: str, client, rules: np.ndarray) -> tuple[float, object]:
            t0, cpu0 = time.perf_counter(), cpu_seconds(client)
            table = run_sweep(rules, out=Path(tmp) / tag, seed=0, chunk_size=chunk, progress=False, client=client, **net)
            sweep.cpu = cpu_seconds(client) - cpu0
            return time.perf_counter() - t0, table

        def row(engine: str, first: float | None, wall: float, table) -> dict:
            rows.append({"engine": engine, "chunk": chunk, "rules": n, "first_s": None if first is None else round(first, 2),
                         "sweep_s": round(wall, 2), "rules_per_hour": round(n / wall * 3600),
                         "cpu_s_per_rule": round(sweep.cpu / n, 4), "cores_busy": round(sweep.cpu / wall, 2),
                         "load_1min": os.getloadavg()[0], "blown_up": int((table["status"] == "blown_up").sum())})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            return rows[-1]

        first, _ = sweep("warm-local", None, sample_prior("polynomial", 2 * chunk, 10_000))
        wall, table = sweep("local", None, theta)
        row("1 process", first, wall, table)
        variants = [("", {})]
        if args.xla_single_thread:
            variants.append((", XLA 1 thread", {"XLA_FLAGS": SINGLE_THREAD_XLA}))
        for i, (label, env) in enumerate(variants):
            t0 = time.perf_counter()
            with local_cluster(workers, threads_per_worker=1, env=env) as cluster, Client(cluster) as client:
                sweep(f"warm-dask{i}", client, sample_prior("polynomial", 2 * workers * chunk, 10_001 + i))
                first = time.perf_counter() - t0
                wall, table = sweep(f"dask{i}", client, theta)
                row(f"LocalCluster {workers} workers x 1 thread{label}", first, wall, table)
        wall, table = sweep("local-again", None, theta)
        row("1 process (again)", None, wall, table)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, nargs="+", default=[1, 2], help="forced host device counts (CPU)")
    p.add_argument("--chunks", type=int, nargs="+", default=[2, 4, 8], help="chunk sizes")
    p.add_argument("--rounds", type=int, default=4, help="chunks per timed sweep")
    p.add_argument("--n-exc", type=int, default=200)
    p.add_argument("--n-inh", type=int, default=50)
    p.add_argument("--duration", type=float, default=1.0, help="biological seconds per rule")
    p.add_argument("--record-start", type=float, default=0.4, help="start of the metric window (s)")
    p.add_argument("--dask", type=int, metavar="W",
                   help="compare 1 process with a Dask LocalCluster of W workers x 1 thread instead (first --chunks size)")
    p.add_argument("--xla-single-thread", action="store_true",
                   help="with --dask: also time a cluster whose workers run XLA on one thread each")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.dask is not None:
        rows = dask_comparison(args)
        print(f"{'engine':>48} {'chunk':>5} {'rules':>5} {'first s':>8} {'sweep s':>8} {'rules/hour':>10} "
              f"{'CPU-s/rule':>10} {'cores busy':>10} {'load':>5}")
        for r in rows:
            first = "-" if r["first_s"] is None else r["first_s"]
            print(f"{r['engine']:>48} {r['chunk']:>5} {r['rules']:>5} {first:>8} {r['sweep_s']:>8} {r['rules_per_hour']:>10} "
                  f"{r['cpu_s_per_rule']:>10} {r['cores_busy']:>10} {r['load_1min']:>5.2f}")
        config = {k: getattr(args, k) for k in ("n_exc", "n_inh", "duration", "record_start", "rounds", "dask")}
        print(json.dumps({"config": config, "cpu_count": os.cpu_count(), "rows": rows}))
        return 0
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    rows = []
    for devices in args.devices:
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
        command = [sys.executable, __file__, "--worker", "--chunks", *map(str, args.chunks), "--rounds", str(args.rounds),
                   "--n-exc", str(args.n_exc), "--n-inh", str(args.n_inh), "--duration", str(args.duration),
                   "--record-start", str(args.record_start)]
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True)
        rows += json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{'devices':>7} {'chunk':>5} {'rules':>5} {'first s':>8} {'sweep s':>8} {'rules/hour':>10}")
    for r in rows:
        print(f"{r['devices']:>7} {r['chunk']:>5} {r['rules']:>5} {r['first_s']:>8} {r['sweep_s']:>8} {r['rules_per_hour']:>10}")
    config = {k: getattr(args, k) for k in ("n_exc", "n_inh", "duration", "record_start", "rounds")}
    print(json.dumps({"config": config, "cpu_count": os.cpu_count(), "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
