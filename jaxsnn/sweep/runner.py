"""``run_sweep``: simulate N rules in chunks, spread over the local devices, resumable, into a store.

How a sweep runs:

- θ ``[N, P]`` is cut into chunks of ``chunk_size`` consecutive rules (the last may be shorter). The chunk
  size is given, or sized from a memory budget per device and the simulator's estimate of the device
  memory one rule needs.
- Each chunk's batch axis is split over the local devices (``jax.local_devices()``): the split is the
  one of a ``NamedSharding`` over a 1-D ``Mesh`` of those devices, and each device simulates its
  sub-batch concurrently (one host thread per device, the simulator running under
  ``jax.default_device``). A chunk whose size is not a multiple of the device count is padded with
  copies of its last rule, whose results are dropped.
- Rule ``i`` of the sweep always gets random stream ``(seed, i)``, whatever its chunk, device or batch,
  so a resumed sweep gives the same table as an uninterrupted one, bit for bit. A sweep re-sharded
  over another device count simulates sub-batches of another size: statuses and blow-up times are
  the same and the metrics agree to float32 rounding (XLA vectorises the final arithmetic differently
  for another batch size; measured relative differences ~1e-7).
- A finished chunk is written atomically to the store (see :mod:`jaxsnn.sweep.store`); a rerun of the
  same command skips chunks already on disk. Inputs that differ from the manifest's are refused.
- Several processes or machines: give ``client`` (a ``distributed.Client`` or a scheduler address) and
  each chunk becomes one Dask task that a worker process simulates and writes into the store itself
  (:mod:`jaxsnn.sweep.cluster`): Dask balances the chunks over the workers as they free up, and runs a
  chunk again elsewhere when its worker dies. Without a client the sweep runs in this process.
  Each worker still splits its chunk over its own devices as above: that part Dask does not do (it
  schedules whole tasks). ``jax.distributed`` is no longer used for sweeps: its static split of chunks
  and final barrier stopped every process when one died, and a sweep's rules are independent, so no
  program needs to span hosts; ``run_sweep`` refuses to run under several ``jax.distributed`` processes.
- What is simulated is a rule family's (:class:`jaxsnn.RuleFamily`; built-in ``"polynomial"`` and
  ``"mlp"``, or any family defined elsewhere): its prior, θ layout and simulator; the manifest records
  the family's name and θ names. Options fixed for a whole sweep come from the family
  (:meth:`~jaxsnn.RuleFamily.sweep_options`): fSBI sweeps fix the external-spike capacity (from the largest
  r_ext of the prior and of θ) unless ``ext_capacity`` is given, so every chunk of one shape reuses one
  compiled program.
- Early exit: ``jaxsnn.fsbi.simulate`` advances the time before the recording window in blocks of
  ``chunk_duration`` and stops as soon as every rule of its batch has blown up; a blown-up rule is frozen
  by a mask (its metrics are NaN) for the rest of the run.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import pandas as pd

from .._validation import check_int, check_positive
from ..family import RuleFamily, get_family, resolve_family
from ..fsbi.config import FSBIConfig
from ..fsbi.metrics_stream import init_accumulator
from ..fsbi.prior import rule_id
from .store import (
    STORE_FORMAT_VERSION, chunk_table, completed_chunks, load, read_manifest, record_run, remove_stale_temporaries,
    theta_hash, update_run, write_chunk, write_manifest,
)

DEFAULT_CPU_BUDGET = 2 * 2**30
"""Memory budget per device (bytes) when none is given and the device does not report its memory."""
MAX_DEFAULT_CHUNK = 1024
"""Largest chunk per device chosen from a budget, so progress and resume stay fine-grained."""


class ChunkResult(NamedTuple):
    """What a batched simulator returns for ``R`` rules: metrics name -> ``[R]`` float64 (NaN where the
    run blew up), ``blowup_time`` ``[R]`` (s, -1 if never), ``overflow`` ``[R]`` lost events."""

    metrics: dict[str, np.ndarray]
    blowup_time: np.ndarray
    overflow: np.ndarray


@dataclass(frozen=True)
class SweepSimulator:
    """A batched simulator the sweep can drive.

    simulate: ``(theta [R, P] float64, rule_index [R] int64) -> ChunkResult``, running on JAX's default
        device; ``rule_index`` names each rule's random stream.
    description: JSON-serialisable record of everything that determines the results (task, seed,
        options); stored in the manifest, and a resume must match it.
    theta_size: P. metric_names: the metric columns, in store order.
    bytes_per_rule: estimate of the device memory one rule of a batch needs (bytes).
    measure_memory: optional ``() -> (bytes per rule, fixed bytes)`` read off the compiled program on the
        default device (e.g. :func:`jaxsnn.fsbi.compiled_bytes_per_rule`); when given, a sweep that sizes
        its own chunks calls it once and uses it instead of ``bytes_per_rule``.
    """

    simulate: Callable[[np.ndarray, np.ndarray], ChunkResult]
    description: dict[str, Any]
    theta_size: int
    metric_names: tuple[str, ...]
    bytes_per_rule: int
    measure_memory: Callable[[], tuple[int, int]] | None = None


def fsbi_bytes_per_rule(config: FSBIConfig) -> int:
    """Estimate (bytes) of the device memory one rule of an fSBI batch needs: plastic weights, neuron
    state, traces and delay ring, the streaming metric statistics and the weight samples, times 3 for
    the copies a scan carry and its temporaries hold."""
    sizes = {"E": config.n_exc, "I": config.n_inh}
    pre_post = {"ee": ("E", "E"), "ei": ("E", "I"), "ie": ("I", "E"), "ii": ("I", "I")}
    synapses = sum(config.p_conn * sizes[pre_post[p][0]] * sizes[pre_post[p][1]] for p in config.plastic)
    neurons = config.n_exc + config.n_inh
    per_neuron_floats = 8 + 4 + config.delay_steps + 2  # state, traces, ring, pending conductances
    accumulator = init_accumulator(config.recorded_e, config.recorded_i, t_start=config.record_start,
                                   t_stop=config.duration, dt=config.dt)
    accumulator_bytes = sum(x.nbytes for x in jax.tree_util.tree_leaves(accumulator) if hasattr(x, "nbytes"))
    periods = round((config.duration - config.record_start) / config.weight_sample_period)
    samples = periods * len(config.plastic) * config.n_monitored
    return int(3 * (4 * synapses + 4 * per_neuron_floats * neurons + accumulator_bytes + 4 * samples))


def fsbi_simulator(task: str = "polynomial", seed: int = 0, **overrides: Any) -> SweepSimulator:
    """The fSBI network (``jaxsnn.fsbi.simulate``) of rule family ``task`` as a sweep simulator
    (:meth:`jaxsnn.RuleFamily.sweep_simulator`); ``overrides`` are :class:`jaxsnn.fsbi.FSBIConfig`
    fields (validated here, before anything runs)."""
    return get_family(task, what="task").sweep_simulator(seed, **overrides)


def default_memory_budget(device: jax.Device) -> int:
    """Half the memory a device reports (GPU), else :data:`DEFAULT_CPU_BUDGET` (bytes)."""
    try:
        stats = device.memory_stats() or {}
    except Exception:  # backends without memory statistics (CPU) raise or return None
        stats = {}
    limit = stats.get("bytes_limit")
    return int(limit // 2) if limit else DEFAULT_CPU_BUDGET


def chunk_size_for_budget(bytes_per_rule: int, memory_budget: float, n_devices: int, fixed_bytes: int = 0) -> int:
    """Rules per chunk so each of ``n_devices`` devices holds at most ``memory_budget`` bytes, a batch of
    R rules taking ``fixed_bytes + R * bytes_per_rule`` (at least one rule per device, at most
    :data:`MAX_DEFAULT_CHUNK` per device)."""
    check_positive("memory_budget", memory_budget)
    check_int("bytes_per_rule", bytes_per_rule, minimum=1)
    check_int("fixed_bytes", fixed_bytes, minimum=0)
    per_device = max(1, min(MAX_DEFAULT_CHUNK, int((memory_budget - fixed_bytes) // bytes_per_rule)))
    return per_device * n_devices


def device_slices(n_rules: int, devices: Sequence[jax.Device]) -> list[tuple[jax.Device, slice]]:
    """How a batch of ``n_rules`` (a multiple of the device count) splits over ``devices``: the shards
    of a ``NamedSharding`` of the batch axis over a 1-D mesh of the devices."""
    mesh = jax.sharding.Mesh(np.asarray(devices), ("rules",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("rules"))
    shards = sharding.devices_indices_map((n_rules,))
    return sorted(((d, index[0]) for d, index in shards.items()), key=lambda item: item[1].start or 0)


def _on_device(simulator: SweepSimulator, device: jax.Device, theta: np.ndarray, index: np.ndarray) -> ChunkResult:
    with jax.default_device(device):
        return simulator.simulate(theta, index)


def run_chunk(simulator: SweepSimulator, theta: np.ndarray, index: np.ndarray,
              devices: Sequence[jax.Device]) -> ChunkResult:
    """Simulate one chunk (θ ``[R, P]``, global indices ``[R]``) with its batch split over ``devices``."""
    n_rules = theta.shape[0]
    if len(devices) == 1:  # no device context: the jit cache key includes it, so plain calls share programs
        return _checked(simulator, simulator.simulate(theta, index), n_rules)
    padded = -(-n_rules // len(devices)) * len(devices)
    fill = np.arange(padded).clip(max=n_rules - 1)  # pad with copies of the last rule
    theta_p, index_p = theta[fill], index[fill]
    with ThreadPoolExecutor(len(devices)) as pool:
        parts = [pool.submit(_on_device, simulator, d, theta_p[s], index_p[s]) for d, s in device_slices(padded, devices)]
        parts = [p.result() for p in parts]
    merged = ChunkResult(
        metrics={name: np.concatenate([p.metrics[name] for p in parts])[:n_rules] for name in simulator.metric_names},
        blowup_time=np.concatenate([p.blowup_time for p in parts])[:n_rules],
        overflow=np.concatenate([p.overflow for p in parts])[:n_rules],
    )
    return _checked(simulator, merged, n_rules)


def simulate_into_store(simulator: SweepSimulator, out: str | os.PathLike, chunk: int, theta: np.ndarray,
                        index: np.ndarray, seed: int, devices: Sequence[jax.Device]) -> ChunkResult:
    """Simulate chunk number ``chunk`` (θ ``[R, P]``, global indices ``[R]``) over ``devices`` and write its
    table into the store ``out`` atomically; returns the simulator's result. The in-process loop and
    each Dask task (:func:`jaxsnn.sweep.cluster.simulate_chunk`) both go through here, so both write the
    same rows."""
    result = run_chunk(simulator, theta, index, devices)
    table = chunk_table(index, [rule_id(row, printed_as="bytes") for row in theta], seed, theta,
                        result.blowup_time, result.overflow, result.metrics, simulator.metric_names)
    write_chunk(out, chunk, table)
    return result


def _checked(simulator: SweepSimulator, result: ChunkResult, n_rules: int) -> ChunkResult:
    missing = [m for m in simulator.metric_names if m not in result.metrics]
    if missing:
        raise ValueError(f"the simulator returned no metrics {missing}")
    arrays = [result.blowup_time, result.overflow, *(result.metrics[m] for m in simulator.metric_names)]
    if any(np.shape(a) != (n_rules,) for a in arrays):
        raise ValueError(f"the simulator must return [{n_rules}] arrays for a batch of {n_rules} rules")
    return result


class Progress:
    """A progress report on stderr: rules done, rules per second, blow-ups and ETA. A live tqdm bar on
    a terminal, one line per chunk otherwise; silent when ``quiet``."""

    def __init__(self, total: int, already_done: int, quiet: bool, stream=None):
        self.total, self.done, self.quiet = total, already_done, quiet
        self.stream = stream or sys.stderr
        self.new = 0
        self.blown_up = 0
        self.start = time.perf_counter()
        self.inline = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.bar = _live_bar(total, already_done, self.stream) if self.inline and not quiet else None

    def update(self, n_rules: int, n_blown_up: int, workers: int | None = None) -> str:
        """Count a finished chunk and print (unless quiet) the report line, which is returned;
        ``workers``: Dask workers alive now (shown when given)."""
        self.done += n_rules
        self.new += n_rules
        self.blown_up += n_blown_up
        elapsed = time.perf_counter() - self.start
        rate = self.new / elapsed if elapsed > 0 else float("inf")
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        line = (f"sweep: {self.done}/{self.total} rules ({100 * self.done / max(self.total, 1):.1f} %) | "
                f"{rate:.2f} rules/s | {self.blown_up} blown up | ETA {_duration(eta)}")
        if workers is not None:
            line += f" | {workers} workers"
        if self.bar is not None:  # a terminal: tqdm's live bar
            self.bar.update(n_rules, f"{self.blown_up} blown up" + (f", {workers} workers" if workers is not None else ""))
            if self.done >= self.total:
                self.bar.close()
        elif not self.quiet:  # a log: one line per chunk
            print(line, file=self.stream, flush=True)
        return line


def _live_bar(total: int, already_done: int, stream):
    """The live progress bar of a sweep on a terminal (:class:`jaxsnn.progress.ProgressReport`)."""
    from ..progress import ProgressReport

    return ProgressReport(total, "sweep", "rules", stream=stream, live=True, initial=already_done)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s" if hours else f"{rest // 60}m{rest % 60:02d}s"


def _prepare_theta(theta: Any, n: int | None, family: RuleFamily, seed: int) -> np.ndarray:
    if (theta is None) == (n is None):
        raise ValueError("give either theta ([N, P] parameter sets) or n (number of prior samples), not both or neither")
    if theta is None:
        return family.sample_prior(check_int("n", n, minimum=1), seed)
    theta = np.asarray(theta, np.float64)
    if theta.ndim != 2 or theta.shape[0] == 0:
        raise ValueError(f"theta must have shape [N, P] with N >= 1; got {list(theta.shape)}")
    if not np.all(np.isfinite(theta)):
        raise ValueError("theta must be finite")
    return theta


def _manifest(simulator: SweepSimulator, theta: np.ndarray, seed: int, chunk_size: int) -> dict[str, Any]:
    return {
        "format_version": STORE_FORMAT_VERSION,
        "simulator": simulator.description,
        "seed": seed,
        "n_rules": int(theta.shape[0]),
        "theta_size": int(theta.shape[1]),
        "theta_sha256": theta_hash(theta),
        "metric_names": list(simulator.metric_names),
        "chunk_size": chunk_size,
        "n_chunks": -(-theta.shape[0] // chunk_size),
    }


def _check_resume(out: Path, existing: dict[str, Any], wanted: dict[str, Any], explicit_chunk: bool) -> None:
    """Refuse to continue a store with different inputs; name what differs."""
    normal = lambda value: json.loads(json.dumps(value, sort_keys=True))  # noqa: E731  (tuples vs lists)
    existing = _with_family_keys(existing, wanted)
    keys = ["simulator", "seed", "n_rules", "theta_size", "theta_sha256", "metric_names"]
    if explicit_chunk:
        keys.append("chunk_size")
    differ = [k for k in keys if normal(existing.get(k)) != normal(wanted[k])]
    if differ:
        details = "; ".join(f"{k}: store has {existing.get(k)!r}, this call {wanted[k]!r}"
                            for k in differ if k not in ("simulator",))
        if "simulator" in differ:
            details = f"simulator/task/options differ ({_diff(existing.get('simulator'), wanted['simulator'])}); " + details
        raise ValueError(f"{out} holds a different sweep, so it cannot be resumed: {details}. "
                         "Use a new --out folder or remove this one, or rerun with exactly the original inputs.")


def _with_family_keys(existing: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """``existing`` with the rule family's keys of ``wanted``'s simulator filled in where a store written
    before rule families lacks them, but only when its ``task`` names that family: such stores hold the
    same sweep (their θ layout is the family's), so they resume."""
    old, new = existing.get("simulator"), wanted["simulator"]
    if not (isinstance(old, dict) and isinstance(new, dict)) or "family" in old or "family" not in new:
        return existing
    if old.get("task") != new["family"]:
        return existing
    return {**existing, "simulator": {**old, "family": new["family"], "theta_names": new.get("theta_names")}}


def _diff(old: Any, new: Any, prefix: str = "") -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        parts = [_diff(old.get(k), new.get(k), f"{prefix}{k}.") for k in sorted(set(old) | set(new))]
        return ", ".join(p for p in parts if p)
    return "" if old == new else f"{prefix.rstrip('.')}: {old!r} -> {new!r}"


def run_sweep(theta: np.ndarray | None = None, *, out: str | os.PathLike, task: str | None = None,
              family: RuleFamily | str | None = None, n: int | None = None, seed: int = 0,
              chunk_size: int | None = None, memory_budget: float | None = None, progress: bool = True,
              simulator: SweepSimulator | None = None, client: Any = None, **overrides: Any) -> pd.DataFrame:
    """Simulate every rule of θ (or ``n`` prior samples) into the store ``out``; returns ``load(out)``.

    Args:
        theta: ``[N, P]`` rules to simulate (P: the family's θ size, 25 polynomial, 23 MLP, last entry
            r_ext in Hz there), or None to draw ``n`` samples from the family's prior
            (:meth:`jaxsnn.RuleFamily.sample_prior`).
        out: store folder (created if needed). Rerunning the same call skips finished chunks; a call
            with different inputs (θ, family, seed, options, explicit chunk size) is refused. With a
            ``client`` it must be on a file system the workers share.
        family: the rule family: a :class:`jaxsnn.RuleFamily`, a built-in name (``"polynomial"``,
            ``"mlp"``) or a ``"module:attribute"`` import spec; default ``"polynomial"``.
        task: the same as ``family`` (its older name); give one of the two.
        n: number of prior samples (only without ``theta``).
        seed: network connectivity and random input; rule ``i`` gets stream ``(seed, i)``.
        chunk_size: rules per chunk (a multiple of the local device count keeps every device busy).
            Default: from ``memory_budget``; with a ``client`` also at most N / (4 × workers), so every
            worker gets several chunks; on resume, the store's.
        memory_budget: bytes of device memory per device a chunk may use (default: half of what a GPU
            reports, 2 GiB on CPU); ignored when ``chunk_size`` is given.
        progress: print a progress line (rules done, rules/s, blow-ups, ETA, and Dask workers alive) to
            stderr.
        simulator: another batched simulator (see :class:`SweepSimulator`) in place of the family's
            (its description is stored as given); default :meth:`jaxsnn.RuleFamily.sweep_simulator`
            with ``overrides``. In-process only: Dask workers build the family's simulator themselves.
        client: run the chunks on Dask workers (:mod:`jaxsnn.sweep.cluster`): a ``distributed.Client``
            (kept open) or a scheduler address such as ``"tcp://host:8786"`` (connected to and closed
            again). Each worker rebuilds the family's simulator from (family, seed, options), so the
            family must be importable there. None (default): simulate in this process.
        **overrides: options of the family's simulator; for the fSBI families :class:`jaxsnn.fsbi.FSBIConfig`
            fields, e.g. ``n_exc``, ``n_inh``, ``duration`` (s), ``record_start`` (s): metrics are
            computed over [record_start, duration).
    Returns:
        The store as a DataFrame (see :func:`jaxsnn.sweep.load`), one row per rule sorted by index.
    """
    family = resolve_family(family, task)
    seed = check_int("seed", seed)
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, minimum=1)
    if memory_budget is not None:
        check_positive("memory_budget", memory_budget)
    theta = _prepare_theta(theta, n, family, seed)
    options: dict[str, Any] = {}
    if simulator is None:
        family.check_theta(theta)
        options = family.sweep_options(theta, overrides)
        simulator = family.sweep_simulator(seed, **options)
    elif client is not None:
        raise ValueError("simulator= runs in this process only: Dask workers cannot be sent its closures. Give "
                         "family= (a RuleFamily whose simulator(seed, **options) builds it) to run on a client")
    elif overrides:
        raise ValueError(f"options {sorted(overrides)} apply to the family's own simulator; configure a custom simulator itself")
    if theta.shape[1] != simulator.theta_size:
        raise ValueError(f"theta must have {simulator.theta_size} columns for this simulator; got {theta.shape[1]}")
    if jax.process_count() > 1:
        raise ValueError(f"run_sweep does not split a sweep over jax.distributed processes (this is process "
                         f"{jax.process_index()} of {jax.process_count()}); run it in one process with client= a Dask "
                         "client or scheduler address, and start Dask workers where the other processes ran")
    devices = jax.local_devices()
    out = Path(out).resolve()  # workers may run in another directory
    out.mkdir(parents=True, exist_ok=True)

    session = None
    if client is not None:
        from . import cluster

        session = cluster.DaskSession.open(client)
    try:
        existing = read_manifest(out)
        if chunk_size is None and existing is not None:
            size = existing["chunk_size"]
        elif chunk_size is None:
            budget = memory_budget if memory_budget is not None else default_memory_budget(devices[0])
            per_rule, fixed = (simulator.measure_memory() if simulator.measure_memory is not None
                               else (simulator.bytes_per_rule, 0))
            size = min(theta.shape[0], chunk_size_for_budget(per_rule, budget, len(devices), fixed))
            if session is not None:  # several chunks per worker, so Dask can balance and retry small pieces
                size = min(size, max(1, -(-theta.shape[0] // (4 * max(1, session.n_workers())))))
        else:
            size = chunk_size
        manifest = _manifest(simulator, theta, seed, size)
        if existing is None:
            write_manifest(out, manifest)
        else:
            _check_resume(out, existing, manifest, explicit_chunk=chunk_size is not None)

        started = time.time()
        if session is None:  # no other writer can be at work: temporaries are leftovers of a killed run
            remove_stale_temporaries(out)
        done = completed_chunks(out)
        todo = [c for c in range(manifest["n_chunks"]) if c not in done]
        bar = Progress(total=theta.shape[0], already_done=sum(_chunk_rows(c, size, theta.shape[0]) for c in done),
                       quiet=not progress)
        if progress and done:
            print(f"sweep: resuming {out}: {bar.done}/{bar.total} rules already done", file=sys.stderr, flush=True)
        if session is None:
            run = record_run(out, {"engine": "in-process", "host": socket.gethostname(), "devices": len(devices),
                                   "platform": devices[0].platform, "chunks_todo": len(todo)})
            for chunk in todo:
                index = np.arange(chunk * size, min((chunk + 1) * size, theta.shape[0]), dtype=np.int64)
                result = simulate_into_store(simulator, out, chunk, theta[index], index, seed, devices)
                bar.update(len(index), int(np.sum(np.asarray(result.blowup_time) >= 0)))
            update_run(out, run, chunks_run=len(todo))
        else:
            session.run_chunks(out, todo, theta, size, family, seed, options, simulator.description, bar)
            remove_stale_temporaries(out, older_than=started)
    finally:
        if session is not None:
            session.close()
    return load(out)


def _chunk_rows(chunk: int, size: int, n_rules: int) -> int:
    return max(0, min(size, n_rules - chunk * size))
