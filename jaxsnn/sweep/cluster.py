"""Sweeps on Dask distributed: one task per chunk, the store as the single truth.

``run_sweep(..., client=...)`` hands each unfinished chunk to a Dask scheduler as one task
(:func:`simulate_chunk`). A worker process rebuilds the family's simulator from picklable inputs (the
family or its name, the seed and the sweep's options; built once per worker and reused, so each worker
compiles once), simulates the chunk over its own devices and writes the chunk file into the store
itself, atomically. The client only submits, counts progress and reads the store at the end.

Why this cannot add or lose a row:

- A chunk file exists only complete (temporary file + ``os.replace``) and its rows depend only on
  (seed, global rule index, θ), so a task that runs twice (its worker died after writing, Dask ran it
  again) writes the same file again.
- The client checks that every finished task's file is visible to it (allowing
  :data:`VISIBILITY_GRACE_S` for a network file system's caches): a worker writing to a disk the client
  cannot see (no shared file system) is an error, not a silent hole.
- A worker that dies mid-chunk (killed, out of memory: the nanny kills a worker past its memory limit)
  writes nothing for it; the scheduler runs the chunk on another worker. A chunk that kills more than
  ``distributed.scheduler.allowed-failures`` workers (default 3) is reported as failed once every other
  chunk is done, naming the likely fix; the finished chunks stay, and rerunning resumes.
- A killed client loses only its place in the queue: rerunning the same command resumes from the chunk
  files on disk.

Clusters: :func:`local_cluster` (N worker processes on this machine, or one per GPU),
:func:`slurm_cluster` (workers as SLURM jobs through dask-jobqueue), or any running scheduler by its
address (:func:`connect`). Worker processes must import the same jaxsnn and the family's module (for a
``"module:attribute"`` family, have its folder on the workers' ``PYTHONPATH``).

Call :func:`run_sweep` with a local cluster from a script under ``if __name__ == "__main__":``: the
worker processes are started by re-importing the script (multiprocessing's "spawn").
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import dask
import dask.utils
import numpy as np
from distributed import Client, KilledWorker, LocalCluster, Nanny, Scheduler, SpecCluster, as_completed

from ..family import BUILTIN_FAMILIES, RuleFamily, get_family
from .store import MANIFEST, chunk_path, read_manifest, record_run, update_run

VISIBILITY_GRACE_S = 120.0
"""Seconds the client waits for a chunk file a worker reported written to show up (network file systems
such as NFS may cache a directory's listing for up to a minute) before calling the store unshared."""
WORKERS_POLL_S = 1.0
"""Seconds between two asks of the scheduler for the number of workers alive (for the progress line)."""


# ---- what travels to a worker, and what it does there ----------------------------------------------


@dataclass(frozen=True)
class ChunkTask:
    """One chunk as a Dask task: everything a worker needs, all picklable, no closures.

    out: absolute store folder (on a file system the workers share). chunk: chunk number.
    family: a built-in family's name, or the :class:`jaxsnn.RuleFamily` itself (pickled by reference
        to its module, which the worker imports). seed: the sweep seed. options: the sweep's simulator
        options (:meth:`jaxsnn.RuleFamily.sweep_options`). description: the simulator description the
        client stored in the manifest; the worker's must equal it.
    index: ``[R]`` int64 global rule indices. theta: ``[R, P]`` float64 rules.
    """

    out: str
    chunk: int
    family: RuleFamily | str
    seed: int
    options: Mapping[str, Any]
    description: Mapping[str, Any]
    index: np.ndarray
    theta: np.ndarray


class ChunkReport(NamedTuple):
    """What a worker returns for a chunk it wrote: rules, how many blew up, where (``host:pid``) and
    how long it took (s, simulation and writing)."""

    chunk: int
    rules: int
    blown_up: int
    worker: str
    seconds: float


_SIMULATORS: dict[Any, Any] = {}  # per worker process: (family, seed, options) -> SweepSimulator
_SIMULATORS_LOCK = threading.Lock()


def worker_simulator(family: RuleFamily | str, seed: int, options: Mapping[str, Any],
                     description: Mapping[str, Any] | None = None) -> Any:
    """The family's sweep simulator for (seed, options), built once per process and reused, so every
    chunk a worker runs shares one compiled program. With ``description``, a simulator whose
    description differs from it (another jaxsnn or family version on this worker) is refused."""
    family = get_family(family)
    options_key = json.dumps(dict(options), sort_keys=True, default=repr)
    try:
        key: Any = (family, seed, options_key)
        hash(key)
    except TypeError:  # an unhashable family: its class and name stand for it
        key = (type(family).__module__, type(family).__qualname__, family.name, seed, options_key)
    with _SIMULATORS_LOCK:
        simulator = _SIMULATORS.get(key)
        if simulator is None:
            simulator = family.sweep_simulator(seed, **dict(options))
            if description is not None and _normal(simulator.description) != _normal(description):
                raise RuntimeError(
                    f"worker {_where()} builds another simulator than the client's: {_normal(simulator.description)} "
                    f"here, {_normal(description)} on the client. Install the same jaxsnn (and the family's module) "
                    "on every worker")
            _SIMULATORS[key] = simulator
    return simulator


def simulate_chunk(task: ChunkTask) -> ChunkReport:
    """Run on a Dask worker: simulate one chunk over this process's devices and write its file into the
    store (atomically); returns a :class:`ChunkReport`. A store the worker cannot see raises
    ``FileNotFoundError`` naming the fix."""
    import jax

    from .runner import simulate_into_store

    t0 = time.perf_counter()
    out = Path(task.out)
    if not (out / MANIFEST).exists():
        raise FileNotFoundError(
            f"worker {_where()} cannot see the sweep store {out} (no {MANIFEST} there): the store must be on a "
            "file system shared by the client and every worker; give --out/out= a path on it")
    simulator = worker_simulator(task.family, task.seed, task.options, task.description)
    result = simulate_into_store(simulator, out, task.chunk, task.theta, task.index, task.seed, jax.local_devices())
    blown = int(np.sum(np.asarray(result.blowup_time) >= 0))
    return ChunkReport(task.chunk, len(task.index), blown, _where(), time.perf_counter() - t0)


def _where() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=repr))  # tuples vs lists, as in the manifest


def family_for_workers(family: RuleFamily) -> RuleFamily | str:
    """What a task carries to name ``family``: a built-in's name (cheap, and the worker's own copy), else
    the family object, which must pickle (``ValueError`` naming the fix otherwise)."""
    if BUILTIN_FAMILIES.get(family.name) and get_family(family.name) is family:
        return family.name
    from distributed.protocol.pickle import dumps

    try:
        dumps(family)
    except Exception as error:
        raise ValueError(f"family {family.name!r} cannot be sent to Dask workers ({type(error).__name__}: {error}); "
                         "define it at module level in an importable module and pass it or its "
                         "'module:attribute'") from None
    return family


# ---- the client side ---------------------------------------------------------------------------------


def connect(address: str, timeout: float | None = None) -> Client:
    """A client of the running Dask scheduler at ``address`` (``"tcp://host:8786"``, or a scheduler
    file's path ending in ``.json``, waited for until it appears). ``timeout`` (s) defaults to Dask's
    ``distributed.comm.timeouts.connect`` (30 s). An unreachable scheduler raises ``ConnectionError``
    naming the address and the fix."""
    if not isinstance(address, str) or not address:
        raise ValueError(f"a Dask scheduler address must be a non-empty string like 'tcp://host:8786'; got {address!r}")
    if timeout is None:
        timeout = dask.utils.parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), default="s")
    try:
        if address.endswith(".json"):
            # Dask's client would wait forever for a scheduler file that never comes (a wrong path)
            deadline = time.monotonic() + timeout
            while not os.path.exists(address):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no scheduler file {address} appeared")
                time.sleep(0.1)
            return Client(scheduler_file=address, timeout=timeout)
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as error:
        waited = f"{timeout:g} s"
        raise ConnectionError(
            f"cannot reach the Dask scheduler at {address} (waited {waited}; {type(error).__name__}: {error}). "
            "Start one (`dask scheduler`, or --workers N / --slurm to have jaxsnn start a cluster) and give the "
            "address it prints") from None


class DaskSession:
    """The client side of a sweep on Dask: submits chunk tasks, follows them, records the cluster.

    Built by :meth:`open` from a ``distributed.Client`` (kept open at :meth:`close`) or a scheduler
    address (connected here, closed at :meth:`close`).
    """

    def __init__(self, client: Client, owned: bool):
        self.client, self.owned = client, owned
        self._workers, self._polled = 0, -float("inf")

    @classmethod
    def open(cls, client: Any) -> DaskSession:
        if isinstance(client, Client):
            if client.asynchronous:
                raise ValueError("run_sweep needs a synchronous distributed.Client (asynchronous=False)")
            return cls(client, owned=False)
        if isinstance(client, str):
            return cls(connect(client), owned=True)
        raise ValueError(f"client must be a distributed.Client or a scheduler address string; got {type(client).__name__}")

    def n_workers(self) -> int:
        """Workers alive now (asked of the scheduler at most every :data:`WORKERS_POLL_S`)."""
        now = time.monotonic()
        if now - self._polled >= WORKERS_POLL_S:
            self._workers, self._polled = len(self.client.nthreads()), now
        return self._workers

    def shape(self) -> dict[str, Any]:
        """The cluster now, for the manifest: scheduler address, workers, threads and memory limit."""
        info = self.client.scheduler_info(n_workers=-1)
        workers = info.get("workers", {}).values()
        return {"engine": "dask", "scheduler": info.get("address"), "workers": len(workers),
                "threads": int(sum(w.get("nthreads", 0) for w in workers)),
                "hosts": len({w.get("host") for w in workers}),
                "memory_limit_bytes": sorted({int(w.get("memory_limit") or 0) for w in workers})}

    def run_chunks(self, out: Path, chunks: Sequence[int], theta: np.ndarray, size: int, family: RuleFamily,
                   seed: int, options: Mapping[str, Any], description: Mapping[str, Any], bar: Any) -> None:
        """Submit ``chunks`` (chunk numbers; ``size`` rules each, θ ``[N, P]``) as tasks and wait for them,
        updating ``bar`` (a :class:`jaxsnn.sweep.Progress`) per finished chunk. Records the run in the
        manifest. Raises once every chunk has finished or failed when any failed (see the module
        docstring); the first error that is not a worker's death cancels the rest at once."""
        name = family_for_workers(family)
        run = record_run(out, {**self.shape(), "chunks_todo": len(chunks)})
        # One key per (store, sweep, chunk): a chunk submitted again by a second client of the same sweep
        # joins the task already queued instead of running twice.
        token = hashlib.sha256(f"{out}|{read_manifest(out)['theta_sha256']}|{seed}|{size}".encode()).hexdigest()[:16]
        futures = {}
        for chunk in chunks:
            index = np.arange(chunk * size, min((chunk + 1) * size, theta.shape[0]), dtype=np.int64)
            task = ChunkTask(str(out), chunk, name, seed, dict(options), dict(description), index, theta[index])
            futures[self.client.submit(simulate_chunk, task, key=f"jaxsnn-sweep-{token}-chunk-{chunk:06d}")] = chunk
        failed: dict[int, KilledWorker] = {}
        unseen: dict[int, str] = {}
        workers_seen: set[str] = set()
        finished = False
        try:
            for future in as_completed(futures):
                chunk = futures[future]
                try:
                    report: ChunkReport = future.result()
                except KilledWorker as error:  # it killed every worker it ran on: report it with the others
                    failed[chunk] = error
                    continue
                except Exception as error:
                    error.add_note(f"(in chunk {chunk} of the sweep into {out}, on a Dask worker; the chunks finished "
                                   "so far are in the store, and rerunning the same sweep resumes)")
                    raise
                if not chunk_path(out, chunk).exists():
                    unseen[chunk] = report.worker  # checked again at the end: NFS may show a new file late
                workers_seen.add(report.worker)
                bar.update(report.rules, report.blown_up, workers=self.n_workers())
            finished = True
        finally:
            if not finished:
                self.client.cancel(list(futures))
            update_run(out, run, chunks_run=len(chunks) - len(failed), chunks_failed=sorted(failed),
                       worker_processes_used=len(workers_seen))
        deadline = time.monotonic() + VISIBILITY_GRACE_S
        while unseen and time.monotonic() < deadline:
            time.sleep(1.0)
            unseen = {c: w for c, w in unseen.items() if not chunk_path(out, c).exists()}
        if unseen:
            chunk, worker = next(iter(unseen.items()))
            raise RuntimeError(
                f"worker {worker} wrote chunk {chunk} into {out} ({len(unseen)} chunk(s) in all), but this client does "
                f"not see the file after {VISIBILITY_GRACE_S:g} s: the store must be on a file system shared by the "
                "client and every worker")
        if failed:
            first = min(failed)
            limit = dask.config.get("distributed.scheduler.allowed-failures")
            raise RuntimeError(
                f"{len(failed)} chunk(s) {sorted(failed)[:10]} of the sweep into {out} killed every worker that ran "
                f"them ({limit + 1} in a row; Dask's distributed.scheduler.allowed-failures = {limit}). A worker "
                "process that dies is most often out of memory (its nanny kills it past its memory limit): lower "
                "--chunk-size/chunk_size or give each worker more memory (--memory-per-worker, --memory of a "
                f"SLURM job). The other chunks are in the store; rerun the same sweep to retry these. First: "
                f"{failed[first]}")

    def close(self) -> None:
        if self.owned:
            self.client.close()


# ---- clusters ------------------------------------------------------------------------------------------


def local_cluster(workers: int | None = None, *, threads_per_worker: int | None = None,
                  memory_limit: str | float | None = None, gpus: Sequence[str] | None = None,
                  env: Mapping[str, str] | None = None) -> SpecCluster:
    """Dask worker processes on this machine (each its own JAX runtime), with a scheduler in this process.

    Args:
        workers: number of worker processes (default: one per core, or one per GPU of ``gpus``).
        threads_per_worker: chunks a worker runs at once (default ``cores // workers``, at least 1, so
            workers × threads never exceed the cores); more than ``cores // workers`` is refused.
        memory_limit: per worker, bytes or a string like ``"4GiB"``; past it the worker's nanny kills
            and restarts it and the chunk runs again elsewhere (default: the machine's memory / workers).
        gpus: GPU ids (e.g. ``["0", "1"]``): one worker per GPU, each seeing only its GPU
            (``CUDA_VISIBLE_DEVICES``), with one thread; ``workers`` must then be None or their number.
        env: environment variables set in every worker process before it starts (e.g. ``XLA_FLAGS``, read
            when JAX starts there).
    """
    cores = os.cpu_count() or 1
    limit: Any = "auto" if memory_limit is None else memory_limit
    if gpus is not None:
        gpus = [str(g) for g in gpus]
        if not gpus or (workers is not None and workers != len(gpus)):
            raise ValueError(f"gpus must name at least one GPU, and workers (if given) must equal their number; "
                             f"got gpus={gpus}, workers={workers}")
        return SpecCluster(workers=gpu_worker_specs(gpus, limit, env),
                           scheduler={"cls": Scheduler, "options": {"dashboard_address": None}})
    workers = cores if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1 (worker processes); got {workers!r}")
    threads = max(1, cores // workers) if threads_per_worker is None else threads_per_worker
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads_per_worker must be an integer >= 1; got {threads!r}")
    if workers * threads > max(cores, workers):
        raise ValueError(f"{workers} workers × {threads} threads exceed this machine's {cores} cores; give fewer "
                         f"threads per worker (at most {max(1, cores // workers)})")
    return LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True, memory_limit=limit,
                        dashboard_address=None, worker_dashboard_address=None, env=dict(env or {}))


def gpu_worker_specs(gpus: Sequence[str], memory_limit: str | float = "auto",
                     env: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """``SpecCluster`` worker specs: one single-threaded worker process per GPU id, which sees only that
    GPU (``CUDA_VISIBLE_DEVICES``, over ``env``), so each JAX runtime owns one device."""
    return {f"gpu-{g}": {"cls": Nanny, "options": {"nthreads": 1, "memory_limit": memory_limit,
                                                   "env": {**dict(env or {}), "CUDA_VISIBLE_DEVICES": str(g)},
                                                   "dashboard_address": None}}
            for g in gpus}


def slurm_cluster(*, queue: str | None = None, account: str | None = None, cores: int | None = None,
                  processes: int | None = None, memory: str | None = None, walltime: str | None = None,
                  python: str | None = None, job_extra: Sequence[str] = (), prologue: Sequence[str] = (),
                  log_directory: str | None = None, interface: str | None = None, **options: Any) -> Any:
    """A dask-jobqueue ``SLURMCluster``: each SLURM job runs ``processes`` single-threaded worker
    processes on ``cores`` cores. Nothing is submitted until ``cluster.scale(jobs=J)`` or
    ``cluster.adapt(minimum_jobs=J, maximum_jobs=J)`` (the latter resubmits jobs that reach their
    walltime, so workers arrive and leave as jobs start and end).

    Args mirror ``#SBATCH`` lines: ``queue`` (-p), ``account`` (-A), ``cores`` (--cpus-per-task),
    ``memory`` (--mem, e.g. ``"16GB"``, shared by the job's workers), ``walltime`` (-t, ``"HH:MM:SS"``;
    workers retire 5 minutes before it, so no chunk is cut by the job's end unless it is longer than
    that), ``job_extra`` (more ``#SBATCH`` options, e.g. ``["--gres=gpu:1"]``), ``prologue`` (shell lines
    before the worker starts, e.g. ``module load`` or ``source .venv/bin/activate``), ``python`` (the
    workers' interpreter; default the one running this), ``log_directory``, ``interface`` (the network
    interface scheduler and workers use, e.g. ``"ib0"``; the compute nodes must reach the scheduler). A value left None comes from Dask's
    configuration (``~/.config/dask/jobqueue.yaml``, section ``jobqueue.slurm``). ``processes``
    defaults to ``cores`` (one single-threaded worker, one JAX runtime, per core). ``options`` go to
    ``SLURMCluster`` as they are.
    """
    from dask_jobqueue import SLURMCluster

    extra_args = list(options.pop("worker_extra_args", []))
    job_walltime = walltime if walltime is not None else dask.config.get("jobqueue.slurm.walltime", None)
    if job_walltime is not None:
        seconds = _walltime_seconds(job_walltime)
        if seconds > 600:
            extra_args += ["--lifetime", f"{(seconds - 300) // 60}m", "--lifetime-stagger", "2m"]
    if cores is not None and processes is None:
        processes = cores
    given = {"queue": queue, "account": account, "cores": cores, "processes": processes, "memory": memory,
             "walltime": walltime, "log_directory": log_directory, "interface": interface}
    given.update(python=python, job_extra_directives=list(job_extra) or None, job_script_prologue=list(prologue) or None,
                 worker_extra_args=extra_args or None)
    kwargs = {k: v for k, v in given.items() if v is not None}  # left out: dask-jobqueue's configuration decides
    try:
        return SLURMCluster(**kwargs, **options)
    except ValueError as error:
        raise ValueError(f"{error} (give cores= and memory=, --cores and --memory on the command line, or set them "
                         "in ~/.config/dask/jobqueue.yaml under jobqueue: slurm:)") from None


def _walltime_seconds(walltime: str) -> int:
    """``"[D-]HH:MM:SS"``, ``"HH:MM"`` or ``"MM"`` (SLURM's forms) in seconds."""
    days, _, clock = walltime.rpartition("-")
    try:
        parts = [int(p) for p in clock.split(":")]
        day_count = int(days) if days else 0
    except ValueError:
        raise ValueError(f"walltime must look like 'HH:MM:SS' or 'D-HH:MM:SS'; got {walltime!r}") from None
    if len(parts) == 1:
        h, m, s = (parts[0], 0, 0) if days else (0, parts[0], 0)
    elif len(parts) == 2:
        h, m, s = (parts[0], parts[1], 0) if days else (0, parts[0], parts[1])
    elif len(parts) == 3:
        h, m, s = parts
    else:
        raise ValueError(f"walltime must look like 'HH:MM:SS' or 'D-HH:MM:SS'; got {walltime!r}")
    return ((day_count * 24 + h) * 60 + m) * 60 + s


__all__ = ["ChunkReport", "ChunkTask", "DaskSession", "connect", "family_for_workers", "gpu_worker_specs",
           "local_cluster", "simulate_chunk", "slurm_cluster", "worker_simulator"]
