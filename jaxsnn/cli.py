"""The ``jaxsnn`` command line, a thin layer over the public API.

``jaxsnn run`` runs the main job: the filter-SBI search for plasticity rules at CPU scale (a built-in
pipeline of :data:`jaxsnn.sbi.CONFIGS`, default ``polynomial-small``), with a report and
``summary.json`` in ``results/``. ``jaxsnn coba`` simulates the COBA benchmark network and writes its
rates, a raster and a population-rate plot.

``jaxsnn sweep`` simulates many rules into a resumable results store (``jaxsnn.sweep.run_sweep``),
``jaxsnn simulate`` runs a few fSBI rules with recordings and plots, ``jaxsnn metrics`` recomputes metrics
from saved recordings, ``jaxsnn export`` writes a store in the original release's ``.npy`` format.

The filter-SBI workflow one step at a time (:mod:`jaxsnn.sbi.workflow`): ``jaxsnn fit`` trains an NPE
posterior on stores, run folders or release records, ``jaxsnn sample`` draws θ for target intervals from
it (a ``.npy`` that ``jaxsnn sweep --theta`` takes), ``jaxsnn report`` writes the report of ``jaxsnn run``
for any of them.

The rule family (``--family``) is a built-in one (``polynomial``, ``mlp``) or ``MODULE:ATTRIBUTE`` of a
:class:`jaxsnn.RuleFamily` defined in your own module (importable from the current directory); ``run
--config`` likewise takes ``MODULE:ATTRIBUTE`` of a :class:`jaxsnn.sbi.PipelineConfig`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
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


EXAMPLES = """examples:
  jaxsnn run                       # the main job: the CPU-scale polynomial filter-SBI pipeline -> results/
  jaxsnn coba --duration 10        # the COBA benchmark network -> results/coba_*.{json,png}
  jaxsnn sweep --family polynomial --n 64 --seed 0 --out sweeps/pi0 --n-exc 400 --n-inh 100 --duration 10 --record-start 6
  jaxsnn sweep --family my_rules:TRIPLET --n 64 --out sweeps/mine   # a RuleFamily defined in ./my_rules.py
  jaxsnn sweep --n 1000 --out sweeps/prior --workers 2                # 2 Dask worker processes on this machine
  jaxsnn sweep --n 1000 --out /shared/prior --scheduler tcp://head:8786  # workers of a running Dask scheduler
  jaxsnn sweep --n 354000 --out /shared/pi0 --chunk-size 64 --slurm --slurm-jobs 50 --queue cpu --cores 20 --memory 80GB --walltime 12:00:00
  jaxsnn simulate --n 2 --out results/simulate --n-exc 400 --n-inh 100 --duration 4 --record-start 2
  jaxsnn metrics results/simulate/rule-0.npz
  jaxsnn export sweeps/pi0 --out sweeps/pi0.npy
"""


def _network_options(parser: argparse.ArgumentParser) -> None:
    """The options that scale the fSBI network and protocol down for quick runs."""
    from .family import BUILTIN_FAMILIES

    group = parser.add_argument_group("network and protocol (defaults: the full model of Confavreux et al. 2023)")
    group.add_argument("--family", metavar="NAME|MODULE:ATTR",
                       help="rule family: polynomial (θ has 25 entries), mlp (23), or MODULE:ATTRIBUTE of a "
                            "jaxsnn.RuleFamily in your own module (importable from the current directory); "
                            "default polynomial")
    group.add_argument("--task", choices=tuple(BUILTIN_FAMILIES), help="a built-in rule family (older name of --family)")
    group.add_argument("--seed", type=int, default=0,
                       help="seed of the network connectivity and of the random input (default 0)")
    group.add_argument("--n-exc", type=int, metavar="NE", help="excitatory neurons (default 4096)")
    group.add_argument("--n-inh", type=int, metavar="NI", help="inhibitory neurons (default 1024)")
    group.add_argument("--duration", type=float, metavar="SECONDS", help="simulated time per rule, s (default 70)")
    group.add_argument("--record-start", type=float, metavar="SECONDS",
                       help="start of the metric window [record-start, duration), s (default 60); "
                            "the window must be at least 0.52 s long")


def _import_spec(spec: str) -> str:
    """Make ``MODULE:ATTRIBUTE`` specs resolve against the current directory, as ``python -m`` does
    (the ``jaxsnn`` console script does not put it on ``sys.path``)."""
    if ":" in spec and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
        importlib.invalidate_caches()
    return spec


def _family(args: argparse.Namespace):
    """The rule family of ``--family`` / ``--task`` (default polynomial)."""
    from .family import resolve_family

    return resolve_family(_import_spec(args.family) if args.family is not None else None, getattr(args, "task", None))


def _overrides(args: argparse.Namespace, family) -> dict:
    """Simulator options from the network options, checked before anything is simulated: fSBI
    :class:`~jaxsnn.fsbi.FSBIConfig` overrides; another family gets them only if its simulator takes them."""
    from .fsbi import make_config
    from .fsbi.families import FSBIFamily

    overrides = {}
    for name in ("n_exc", "n_inh"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be a positive number of neurons; got {value}")
            overrides[name] = value
    for name in ("duration", "record_start"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0; got {args.seed}")
    if not isinstance(family, FSBIFamily):
        family.check_options(overrides)
        return overrides
    config = make_config(family.name, **overrides)
    if config.duration - config.record_start < 0.52:
        raise ValueError(f"the metric window --duration - --record-start = {config.duration - config.record_start:g} s "
                         "is too short; auto_cov needs at least 0.52 s")
    return overrides


def _read_theta(path: Path):
    """θ [N, P] from a .npy file: a plain float array [N, P] (or [P]) or release records."""
    import numpy as np

    from .sweep import load_release

    if not path.exists():
        raise ValueError(f"--theta file {path} does not exist")
    data = np.load(path, allow_pickle=False)
    if data.dtype.names:
        data = load_release(path)["theta"]
    return np.atleast_2d(np.asarray(data, np.float64))


def _sweep_parser(sub) -> None:
    p = sub.add_parser(
        "sweep", help="simulate many rules into a resumable results store",
        description="Simulate N rules (prior samples or a θ file) of a rule family (default: the polynomial fSBI "
                    "rules) and write their metrics to a Parquet store in --out, chunk by chunk. Rerunning the same "
                    "command resumes an interrupted sweep; open the store in Python with jaxsnn.sweep.load(DIR).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--n", type=int, metavar="N", help="number of rules drawn from the prior of --family")
    source.add_argument("--theta", type=Path, metavar="FILE",
                        help=".npy file of θ: a float array [N, P] (P = 25 polynomial, 23 mlp, the family's θ size), "
                             "or release records")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="store folder (created if needed)")
    _network_options(p)
    p.add_argument("--chunk-size", type=int, metavar="C",
                   help="rules simulated together (default: from --memory-budget; on resume, the store's)")
    p.add_argument("--memory-budget", type=float, metavar="GIB",
                   help="device memory per device a chunk may use, GiB (default: half a GPU's memory, 2 on CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress line (for batch jobs)")
    _cluster_options(p)


def _cluster_options(p: argparse.ArgumentParser) -> None:
    """Where the chunks run: this process (default), Dask workers on this machine, a running Dask
    scheduler, or SLURM jobs (dask-jobqueue). The store must be on a file system every worker shares."""
    where = p.add_argument_group(
        "where the chunks run (default: in this process; give one of --workers/--gpus, --scheduler, --slurm to run "
        "each chunk as a Dask task; --out must then be on a file system every worker shares)")
    where.add_argument("--workers", type=int, metavar="N",
                       help="start N Dask worker processes on this machine (a LocalCluster), each its own JAX runtime")
    where.add_argument("--threads-per-worker", type=int, metavar="T",
                       help="with --workers: chunks each worker runs at once (default cores // N, so N × T <= cores)")
    where.add_argument("--memory-per-worker", type=float, metavar="GIB",
                       help="with --workers/--gpus: a worker past this is restarted and its chunk rerun elsewhere "
                            "(default: the machine's memory / N)")
    where.add_argument("--gpus", nargs="+", metavar="ID",
                       help="one Dask worker per GPU of these ids (each sees only its GPU through CUDA_VISIBLE_DEVICES)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="join a running Dask scheduler: tcp://HOST:PORT, or the path of its scheduler file (.json)")
    where.add_argument("--slurm", action="store_true",
                       help="start Dask workers as SLURM jobs (dask-jobqueue) with the options below; options left out "
                            "come from ~/.config/dask/jobqueue.yaml (jobqueue: slurm:)")
    slurm = p.add_argument_group("SLURM jobs (with --slurm)")
    slurm.add_argument("--slurm-jobs", type=int, default=1, metavar="J",
                       help="jobs kept running; a job that ends (walltime) is replaced (default 1)")
    slurm.add_argument("--queue", help="partition (#SBATCH -p)")
    slurm.add_argument("--account", help="account (#SBATCH -A)")
    slurm.add_argument("--cores", type=int, help="cores per job (#SBATCH --cpus-per-task)")
    slurm.add_argument("--processes", type=int,
                       help="worker processes per job, each with cores/processes threads (default: --cores, one "
                            "single-threaded worker per core)")
    slurm.add_argument("--memory", help="memory per job, e.g. 80GB (#SBATCH --mem), shared by its workers")
    slurm.add_argument("--walltime", help="per job, HH:MM:SS (#SBATCH -t); workers retire 5 min before it")
    slurm.add_argument("--job-extra", action="append", default=[], metavar="SBATCH_OPTION",
                       help="another #SBATCH option, e.g. --job-extra=--gres=gpu:1 (repeatable)")
    slurm.add_argument("--prologue", action="append", default=[], metavar="SHELL_LINE",
                       help="a shell line run before the workers start, e.g. 'source /shared/jaxsnn/.venv/bin/activate' "
                            "(repeatable)")
    slurm.add_argument("--python", metavar="PATH",
                       help="the workers' Python, with jaxsnn installed (default: the one running this command)")
    slurm.add_argument("--interface", metavar="NAME",
                       help="network interface the scheduler and workers talk over, e.g. ib0 (default: dask-jobqueue's)")
    slurm.add_argument("--print-job-script", action="store_true",
                       help="print the SLURM job script these options give and exit, submitting nothing")


_LOCAL_ONLY = ("threads_per_worker", "memory_per_worker")
_SLURM_ONLY = ("queue", "account", "cores", "processes", "memory", "walltime", "python", "interface", "print_job_script")


def _slurm_cluster(args: argparse.Namespace):
    from .sweep.cluster import slurm_cluster

    return slurm_cluster(queue=args.queue, account=args.account, cores=args.cores, processes=args.processes,
                         memory=args.memory, walltime=args.walltime, job_extra=args.job_extra, prologue=args.prologue,
                         python=args.python, interface=args.interface)


@contextlib.contextmanager
def _dask_client(args: argparse.Namespace):
    """The Dask client the cluster options ask for (None: run in this process), closed afterwards with
    any cluster started here."""
    local = args.workers is not None or args.gpus is not None
    chosen = [name for name, on in (("--workers/--gpus", local), ("--scheduler", args.scheduler is not None),
                                    ("--slurm", args.slurm)) if on]
    if len(chosen) > 1:
        raise ValueError(f"give only one of --workers/--gpus, --scheduler and --slurm; got {' and '.join(chosen)}")
    flag = lambda name: "--" + name.replace("_", "-")  # noqa: E731
    stray_local = [flag(o) for o in _LOCAL_ONLY if getattr(args, o) is not None]
    stray_slurm = [flag(o) for o in (*_SLURM_ONLY, "job_extra", "prologue") if getattr(args, o) not in (None, False, [])]
    if stray_local and not local:
        raise ValueError(f"{', '.join(stray_local)} apply only with --workers/--gpus")
    if stray_slurm and not args.slurm:
        raise ValueError(f"{', '.join(stray_slurm)} apply only with --slurm")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be >= 1; got {args.workers}")
    if args.slurm_jobs < 1:
        raise ValueError(f"--slurm-jobs must be >= 1; got {args.slurm_jobs}")
    if not chosen:
        yield None
        return
    from distributed import Client

    if args.scheduler is not None:
        from .sweep.cluster import connect

        client = connect(args.scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    if local:
        from .sweep.cluster import local_cluster

        memory = None if args.memory_per_worker is None else int(args.memory_per_worker * 2**30)
        if memory is not None and memory <= 0:
            raise ValueError(f"--memory-per-worker must be > 0 GiB; got {args.memory_per_worker}")
        cluster = local_cluster(args.workers, threads_per_worker=args.threads_per_worker, memory_limit=memory,
                                gpus=args.gpus)
    else:
        cluster = _slurm_cluster(args)
        cluster.adapt(minimum_jobs=args.slurm_jobs, maximum_jobs=args.slurm_jobs)  # replaces jobs that end
    with cluster, Client(cluster) as client:
        yield client


def _sweep(args: argparse.Namespace) -> None:
    from .sweep import run_sweep

    if args.print_job_script:
        if not args.slurm:
            raise ValueError("--print-job-script applies only with --slurm")
        cluster = _slurm_cluster(args)
        try:
            print(cluster.job_script())
        finally:
            cluster.close()
        return
    family = _family(args)
    overrides = _overrides(args, family)
    if args.n is not None and args.n < 1:
        raise ValueError(f"--n must be >= 1; got {args.n}")
    if args.chunk_size is not None and args.chunk_size < 1:
        raise ValueError(f"--chunk-size must be >= 1; got {args.chunk_size}")
    if args.memory_budget is not None and not args.memory_budget > 0:
        raise ValueError(f"--memory-budget must be > 0 GiB; got {args.memory_budget}")
    theta = _read_theta(args.theta) if args.theta is not None else None
    budget = args.memory_budget * 2**30 if args.memory_budget is not None else None
    try:
        with _dask_client(args) as client:
            table = run_sweep(theta, out=args.out, family=family, n=args.n, seed=args.seed, chunk_size=args.chunk_size,
                              memory_budget=budget, progress=not args.quiet, client=client, **overrides)
    except (ConnectionError, RuntimeError) as error:  # no scheduler, or chunks that failed on the workers
        raise SystemExit(f"jaxsnn sweep: {error}") from None
    counts = table["status"].value_counts().to_dict()
    plausible = int(family.is_plausible({c: table[c].to_numpy() for c in table.columns}).sum())
    print(f"{len(table)} rules in {args.out}: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("done", "blown_up", "overflow"))
          + f"; {plausible} plausible")


def _simulate_parser(sub) -> None:
    p = sub.add_parser(
        "simulate", help="simulate a few rules with recordings and plots",
        description="Simulate one or a few rules with spike recording; for each rule write its recording "
                    "(rule-K.npz, readable by `jaxsnn metrics`), a raster, population rates and weight traces "
                    "(PNG), and all metrics to metrics.json.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group()
    source.add_argument("--n", type=int, metavar="K", help="number of rules drawn from the prior (default 1)")
    source.add_argument("--theta", type=Path, metavar="FILE", help=".npy file of θ [K, P] or release records")
    p.add_argument("--rows", type=int, nargs="+", metavar="I", help="with --theta: only these rows")
    p.add_argument("--out", type=Path, default=Path("results/simulate"), metavar="DIR",
                   help="output folder (default results/simulate)")
    _network_options(p)


MAX_SIMULATE_RULES = 16


def _simulate(args: argparse.Namespace) -> None:
    import numpy as np

    from .fsbi import is_plausible, save_recording, simulate
    from .fsbi.families import FSBIFamily
    from .plots import raster, rate_trace, weight_traces

    family = _family(args)
    if not isinstance(family, FSBIFamily):
        raise ValueError(f"simulate records the fSBI network; family {family.name!r} is not an fSBI family "
                         "(use `jaxsnn sweep --family ...` for it)")
    overrides = _overrides(args, family)
    if args.theta is not None:
        theta = _read_theta(args.theta)
        if args.rows is not None:
            bad = [r for r in args.rows if not 0 <= r < len(theta)]
            if bad:
                raise ValueError(f"--rows {bad} are outside the {len(theta)} rows of {args.theta}")
            theta = theta[args.rows]
    else:
        if args.rows is not None:
            raise ValueError("--rows selects rows of --theta; give --theta FILE")
        n = 1 if args.n is None else args.n
        if not 1 <= n <= MAX_SIMULATE_RULES:
            raise ValueError(f"--n must be between 1 and {MAX_SIMULATE_RULES} for simulate (use `jaxsnn sweep` for more); got {n}")
        theta = family.sample_prior(n, args.seed)
    if len(theta) > MAX_SIMULATE_RULES:
        raise ValueError(f"simulate takes at most {MAX_SIMULATE_RULES} rules (use `jaxsnn sweep`); got {len(theta)}")
    family.check_theta(theta)
    print(f"jaxsnn: simulating {len(theta)} {family.name} rule(s) ...", flush=True)
    result = simulate(theta, task=family.name, seed=args.seed, record_spikes=True, **overrides)
    cfg = result.config
    args.out.mkdir(parents=True, exist_ok=True)
    plausible = is_plausible(result.metrics)
    summary = []
    for r in range(len(theta)):
        spikes = {p: result.spikes[p][r] for p in ("E", "I")}
        weights = {name: (times, values[r]) for name, (times, values) in result.weights.items()}
        metrics = {name: float(values[r]) for name, values in result.metrics.items()}
        meta = {"task": family.name, "seed": args.seed, "rule": r, "theta": theta[r], "r_ext_hz": float(theta[r, -1]),
                "t_start": cfg.record_start, "t_stop": cfg.duration, "n_e": cfg.recorded_e, "n_i": cfg.recorded_i,
                "w_max": cfg.w_max, "blowup_time": float(result.blowup_time[r]), "overflow": int(result.overflow[r]),
                "metrics": metrics}
        save_recording(args.out / f"rule-{r}.npz", *spikes["E"], *spikes["I"], weights, meta)
        title = f"rule {r} ({family.name}, r_ext = {theta[r, -1]:.2f} Hz)"
        raster(args.out / f"rule-{r}_raster.png", spikes, t_max=min(cfg.duration, cfg.record_start + 2.0), title=title)
        rate_trace(args.out / f"rule-{r}_rates.png",
                   {"E": (spikes["E"][0], cfg.recorded_e), "I": (spikes["I"][0], cfg.recorded_i)}, cfg.duration,
                   bin_width=0.01, title=title, t_start=cfg.record_start)
        weight_traces(args.out / f"rule-{r}_weights.png", weights, title=title)
        summary.append({"rule": r, "theta": theta[r].tolist(), "blowup_time": float(result.blowup_time[r]),
                        "overflow": int(result.overflow[r]), "plausible": bool(plausible[r]),
                        "metrics": {k: (v if np.isfinite(v) else None) for k, v in metrics.items()}})
        state = "blown up" if result.blowup_time[r] >= 0 else "plausible" if plausible[r] else "not plausible"
        print(f"  rule {r}: rate {metrics['rate']:.2f} Hz, rate_i {metrics['rate_i']:.2f} Hz, "
              f"cv_isi {metrics['cv_isi']:.2f}, {state}")
    (args.out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"  wrote {args.out}/rule-*.npz, rule-*_raster.png, rule-*_rates.png, rule-*_weights.png, metrics.json "
          f"({result.wall_s:.1f} s)")


def _metrics_parser(sub) -> None:
    p = sub.add_parser(
        "metrics", help="recompute the metrics of saved recordings",
        description="Recompute the metrics of Confavreux et al. 2023 (float64, numpy) from recordings written by "
                    "`jaxsnn simulate` or jaxsnn.fsbi.save_recording. Window, neuron counts and w_max come "
                    "from each recording's metadata unless given. Prints one JSON object per recording.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recordings", type=Path, nargs="+", metavar="FILE.npz")
    p.add_argument("--t-start", type=float, metavar="SECONDS", help="window start (s)")
    p.add_argument("--t-stop", type=float, metavar="SECONDS", help="window end (s)")
    p.add_argument("--n-e", type=int, help="recorded excitatory neurons")
    p.add_argument("--n-i", type=int, help="recorded inhibitory neurons")
    p.add_argument("--w-max", type=float, help="upper weight bound")
    p.add_argument("--out", type=Path, metavar="FILE.json", help="also write the results to this JSON file")


def _metrics(args: argparse.Namespace) -> None:
    import numpy as np

    from .fsbi import compute_metrics, load_recording

    results = []
    for path in args.recordings:
        if not path.exists():
            raise ValueError(f"recording {path} does not exist")
        rec = load_recording(path)
        meta = rec["meta"]
        options = {}
        for name, default in (("t_start", 60.0), ("t_stop", 70.0), ("n_e", 1000), ("n_i", 500), ("w_max", 20.0)):
            value = getattr(args, name)
            options[name] = value if value is not None else meta.get(name, default)
        metrics = compute_metrics(rec["e_times"], rec["e_ids"], rec["i_times"], rec["i_ids"], rec["weights"], **options)
        entry = {"file": str(path), "options": options, "metrics": metrics}
        if isinstance(meta.get("metrics"), dict):
            simulated = {k: v for k, v in meta["metrics"].items() if k in metrics and v is not None and np.isfinite(v)}
            if simulated:
                entry["max_abs_difference_to_simulation"] = max(abs(metrics[k] - v) for k, v in simulated.items())
        results.append(entry)
        print(json.dumps(entry))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


def _export_parser(sub) -> None:
    from .family import BUILTIN_FAMILIES

    p = sub.add_parser(
        "export", help="write a sweep store in the original release's .npy format",
        description="Write the rules of a sweep store as numpy structured records with the exact dtype of the "
                    "original release: seed (md5 id of θ), theta, one float64 per metric.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store", type=Path, metavar="DIR", help="sweep store folder")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.npy", help="output file")
    p.add_argument("--family", metavar="NAME", help="fSBI rule family, polynomial or mlp (default: the store's)")
    p.add_argument("--task", choices=tuple(BUILTIN_FAMILIES), help="the same (older name of --family)")
    p.add_argument("--plausible", action="store_true", help="only rules that pass every plausibility group")


def _export(args: argparse.Namespace) -> None:
    from .family import BUILTIN_FAMILIES
    from .sweep import load, read_manifest, save_release, to_release

    manifest = read_manifest(args.store)
    if manifest is None:
        raise ValueError(f"{args.store} is not a sweep store (no manifest.json)")
    simulator = manifest["simulator"]
    task = args.family or args.task or simulator.get("family") or simulator.get("task")
    if task is None:
        raise ValueError(f"the store {args.store} does not name its rule family; give --family")
    if task not in BUILTIN_FAMILIES:
        raise ValueError(f"the store {args.store} holds rules of family {task!r}; the release format exists only for "
                         f"the fSBI families {list(BUILTIN_FAMILIES)} (read the store with jaxsnn.sweep.load)")
    records = to_release(load(args.store, plausible=args.plausible), task)
    path = save_release(args.out, records)
    print(f"wrote {len(records)} {task} records to {path}")


WORKFLOW_EXAMPLES = """the fSBI workflow one step at a time, each reading what the last wrote:
  jaxsnn sweep --n 2000 --out sweeps/pi0 --n-exc 400 --n-inh 100 --duration 4 --record-start 2
  jaxsnn fit sweeps/pi0 --condition rate=1:50 --condition cv_isi=0.7:1.5 --accept stable_weights --out pi1.npz
  jaxsnn sample pi1.npz --n 1000 --out pi1-theta.npy            # the fit's intervals, or --interval rate=2:10 ...
  jaxsnn sweep --theta pi1-theta.npy --out sweeps/pi1 --n-exc 400 --n-inh 100 --duration 4 --record-start 2
  jaxsnn report sweeps/pi0 sweeps/pi1 --out report/             # or a run folder, or the release .npy
  jaxsnn fit all_polynomial_rules.npy --condition rate=1:50 --out pi1.npz   # the original release's records
"""


def _sources_argument(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("sources", type=Path, nargs="+", metavar="STORE_OR_NPY",
                   help=f"{what}: sweep store folders (jaxsnn sweep --out), run folders (jaxsnn run --out; one entry "
                        "per round) or .npy files of the original release's records")
    p.add_argument("--family", metavar="NAME|MODULE:ATTR",
                   help="rule family of the sources (default: the one they record; a family of your own is given as "
                        "MODULE:ATTRIBUTE)")
    p.add_argument("--no-std-cv", action="store_true",
                   help="leave std_cv out of the asynchronous-irregular plausibility group (as some original analyses do)")


def _workflow_family(args: argparse.Namespace, sources):
    from .sbi.workflow import source_family

    return source_family(sources, _import_spec(args.family) if args.family is not None else None)


def _fit_parser(sub) -> None:
    p = sub.add_parser(
        "fit", help="fit an NPE posterior q(θ | x) on simulated rules",
        description="Train an ensemble of conditional flows q(θ | x) on the rules of sweep stores, run folders or the "
                    "original release's .npy records, x = the metrics of --condition. The target intervals are saved "
                    "with the posterior and are what `jaxsnn sample` draws for unless given others.",
        epilog=WORKFLOW_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _sources_argument(p, "simulated rules to train on")
    p.add_argument("--condition", action="append", required=True, metavar="METRIC=LOW:HIGH",
                   help="a conditioning metric and its target interval, e.g. rate=1:50 (repeatable; order kept)")
    p.add_argument("--accept", action="append", metavar="FILTER",
                   help="train only on rules passing this filter: finite (default), plausible, or a plausibility "
                        "group of the family, e.g. stable_weights (repeatable: all must pass)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.npz", help="posterior file to write")
    model = p.add_argument_group("density estimator (defaults: the original's)")
    model.add_argument("--members", type=int, default=10, metavar="M", help="ensemble members (default 10)")
    model.add_argument("--flow", choices=("nsf", "maf"), default="nsf",
                       help="nsf: spline coupling flow with alternating masks (default); "
                            "maf: masked autoregressive spline flow")
    model.add_argument("--transforms", type=int, default=5, metavar="T", help="flow layers (default 5)")
    model.add_argument("--hidden", type=int, default=50, metavar="H", help="hidden units per layer (default 50)")
    model.add_argument("--batch-size", type=int, default=1000, metavar="B", help="minibatch size (default 1000)")
    model.add_argument("--learning-rate", type=float, default=5e-4, metavar="LR", help="Adam step size (default 5e-4)")
    model.add_argument("--max-epochs", type=int, default=1000, metavar="E", help="epoch limit (default 1000)")
    model.add_argument("--patience", type=int, default=20, metavar="E",
                       help="stop after this many epochs without a lower validation loss (default 20)")
    p.add_argument("--seed", type=int, default=0, help="initialisation, validation split and minibatch order (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress report")


def _fit(args: argparse.Namespace) -> None:
    from .sbi import FlowConfig, TrainConfig, save_posterior
    from .sbi.workflow import fit_posterior, parse_intervals, read_sources

    condition = parse_intervals(args.condition)
    if args.members < 1:
        raise ValueError(f"--members must be >= 1; got {args.members}")
    flow = FlowConfig(kind=args.flow, n_transforms=args.transforms, hidden=args.hidden)
    train = TrainConfig(batch_size=args.batch_size, learning_rate=args.learning_rate, max_epochs=args.max_epochs,
                        patience=args.patience, epochs_per_call=min(10, args.max_epochs))
    sources = read_sources(args.sources)
    family = _workflow_family(args, sources)
    accept = tuple(args.accept or ("finite",))
    posterior, counts = fit_posterior(sources, family, condition, accept=accept, include_std_cv=not args.no_std_cv,
                                      flow=flow, n_members=args.members, train=train, seed=args.seed,
                                      progress=not args.quiet, family_spec=args.family or family.name)
    path = save_posterior(args.out, posterior)
    print(f"fit {args.members} {args.flow} flow(s) of family {family.name} on {counts['n_training']} of "
          f"{counts['n_read']} rules ({counts['n_accepted']} pass {' & '.join(accept)}), x = {', '.join(condition)}; "
          f"wrote {path}")


def _sample_parser(sub) -> None:
    p = sub.add_parser(
        "sample", help="draw rules θ from a posterior for target intervals",
        description="Draw x uniformly inside the target intervals and one θ per x from the posterior, redrawing "
                    "until inside the prior box (the rejection rate is reported); nuisance parameters (fSBI: r_ext) "
                    "come from their prior interval. The .npy written is θ [N, P], ready for `jaxsnn sweep --theta`.",
        epilog=WORKFLOW_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("posterior", type=Path, metavar="POSTERIOR.npz", help="a posterior of `jaxsnn fit` or `jaxsnn run`")
    p.add_argument("--n", type=int, required=True, metavar="N", help="rules to draw")
    p.add_argument("--interval", action="append", metavar="METRIC=LOW:HIGH",
                   help="target interval of a conditioning metric (repeatable, one per metric; default: the fit's)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.npy", help="θ [N, P] float64")
    p.add_argument("--x-out", type=Path, metavar="FILE.npy", help="also write the drawn targets x [N, K]")
    p.add_argument("--family", metavar="NAME|MODULE:ATTR",
                   help="rule family, for posteriors that do not record their θ layout (those of `jaxsnn run`)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress report")


def _sample(args: argparse.Namespace) -> None:
    import numpy as np

    from .sbi import load_posterior
    from .sbi.workflow import parse_intervals, sample_theta

    if args.n < 1:
        raise ValueError(f"--n must be >= 1; got {args.n}")
    posterior = load_posterior(args.posterior)
    intervals = parse_intervals(args.interval) if args.interval else None
    family = _import_spec(args.family) if args.family is not None else None
    theta, x, info = sample_theta(posterior, args.n, intervals, seed=args.seed, family=family, progress=not args.quiet)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, theta, allow_pickle=False)
    if args.x_out is not None:
        args.x_out.parent.mkdir(parents=True, exist_ok=True)
        np.save(args.x_out, x, allow_pickle=False)
    print(f"sampled {args.n} rules (θ {theta.shape[1]} entries); rejection rate to the prior box "
          f"{info.rejection_rate:.3f} ({info.n_drawn} draws); wrote {args.out}")


def _report_parser(sub) -> None:
    p = sub.add_parser(
        "report", help="the report of `jaxsnn run` for any stores, runs or release records",
        description="Write report.md with pass fractions per plausibility group (one row per source or round), corner "
                    "plots of the plausible rules, pair windows, the best rule, and summary.json.",
        epilog=WORKFLOW_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _sources_argument(p, "what to report on")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="report folder (created if needed)")
    p.add_argument("--raster", action="store_true",
                   help="simulate the best rule again with its store's seed and network and draw its raster")


def _report(args: argparse.Namespace) -> None:
    from .sbi.workflow import read_sources, write_source_report

    sources = read_sources(args.sources)
    family = _workflow_family(args, sources)
    write_source_report(sources, family, args.out, include_std_cv=not args.no_std_cv, raster=args.raster)


def _pipeline_config(name: str, builtin: dict):
    """A built-in pipeline by name, or the ``PipelineConfig`` at ``MODULE:ATTRIBUTE``."""
    from .sbi import PipelineConfig

    if name in builtin:
        return builtin[name]
    if ":" not in name:
        raise ValueError(f"--config must be one of {sorted(builtin)} or MODULE:ATTRIBUTE of a PipelineConfig; got {name!r}")
    module_name, _, attribute = _import_spec(name).partition(":")
    try:
        value = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"--config {name!r}: cannot import {attribute!r} from {module_name!r} ({error})") from None
    if not isinstance(value, PipelineConfig):
        raise ValueError(f"--config {name!r} is a {type(value).__name__}, not a jaxsnn.sbi.PipelineConfig")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxsnn", description="Spiking-network simulation and plasticity-rule search in JAX.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the main job: the scaled-down filter-SBI pipeline (results in results/)")
    run.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results)")
    run.add_argument("--config", default="polynomial-small",
                     help="a built-in pipeline: polynomial-small (default, CPU), mlp-small, polynomial-full, mlp-full "
                          "(GPU); or MODULE:ATTRIBUTE of a jaxsnn.sbi.PipelineConfig in your own module")
    coba = sub.add_parser("coba", help="simulate the COBA benchmark network (results in results/)")
    coba.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results)")
    coba.add_argument("--duration", type=float, default=10.0, help="simulated time in seconds (default: 10)")
    coba.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    _sweep_parser(sub)
    _simulate_parser(sub)
    _metrics_parser(sub)
    _export_parser(sub)
    _fit_parser(sub)
    _sample_parser(sub)
    _report_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "run":
        from .sbi import CONFIGS, run_and_report

        try:
            config = _pipeline_config(args.config, CONFIGS)
        except ValueError as error:
            run.error(str(error))
        run_and_report(config, args.out)
        return 0
    if args.command == "coba":
        if args.duration <= 0:
            coba.error(f"--duration must be > 0 s; got {args.duration}")
        coba_job(args.out, args.duration, args.seed)
        return 0
    commands = {"sweep": _sweep, "simulate": _simulate, "metrics": _metrics, "export": _export, "fit": _fit,
                "sample": _sample, "report": _report}
    try:
        commands[args.command](args)
    except ValueError as error:  # invalid options or inputs: say what was wrong, no traceback
        sub.choices[args.command].error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
