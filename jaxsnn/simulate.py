"""Run a network for a duration and record what the caller asks for.

Time runs as a ``lax.scan`` of record periods, each a ``lax.scan`` of time steps; long runs are cut
into chunks of whole periods, each chunk one call of a compiled function whose outputs are moved to
the host, so device memory does not grow with duration. Step keys derive from (member key, global
step), so results do not depend on how the run is chunked.

Besides spikes, counts and neuron state, a :class:`Record` can ask for the weights of plastic
projections and for streaming metrics (:mod:`jaxsnn.metrics`: the fSBI metric set by population and
projection names, or a user's own), computed on the device while the run goes on.
"""

from __future__ import annotations

import math
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._validation import check_choice, check_int, check_positive, steps_of
from .metrics import RunInfo, StreamingMetric
from .propagation import index_spikes, walk_spike_blocks
from .network import (
    Network, NetworkParams, NetworkState, batch_size_of, broadcast_params, network_step, static_capacity,
)
from .sources import RenewalSources


@dataclass(frozen=True)
class Record:
    """What to record.

    spikes: population -> neuron indices (``None``: all) recorded as spike events (step, neuron id).
    counts: population -> neuron indices (``None``: all) whose spikes are counted per ``period``.
    state: population -> {state field name -> neuron indices}, sampled at the end of every ``period``.
    weights: plastic projection -> synapse indices (in its connectivity's stored order; ``None``: all)
        whose weights are sampled at the end of every ``period``.
    metrics: a :class:`jaxsnn.metrics.StreamingMetric` (e.g. :class:`jaxsnn.metrics.FSBIMetrics`) or a
        tuple of them, computed on the device during the run; their names must not clash.
    period: bin width of counts and sampling interval of state and weights (s), a whole number of steps.
    max_rate: sizes the event buffers: a chunk holds up to ``max_rate * chunk duration`` spikes per
        recorded neuron on average (Hz). Spikes beyond it are counted as overflow and reported. Not
        used for spikes recorded as bit masks.
    spike_format: how spikes are gathered on the device: ``"bitmask"`` (one bit per recorded neuron
        and step, one fused op per step, cannot overflow), ``"events"`` (buffers of (step, id) sized
        by ``max_rate``, memory proportional to the spikes), or ``"auto"``: bit masks where one chunk's
        masks of a population fit in ``BITMASK_LIMIT`` bytes, else events.
    """

    spikes: Mapping[str, Sequence[int] | None] = field(default_factory=dict)
    counts: Mapping[str, Sequence[int] | None] = field(default_factory=dict)
    state: Mapping[str, Mapping[str, Sequence[int]]] = field(default_factory=dict)
    weights: Mapping[str, Sequence[int] | None] = field(default_factory=dict)
    metrics: StreamingMetric | tuple[StreamingMetric, ...] = ()
    period: float = 1e-3
    max_rate: float = 200.0
    spike_format: str = "auto"


class SpikeEvents(NamedTuple):
    """Recorded spikes of one population over a batch: parallel arrays of equal length.

    member: batch member; step: time step (time = step * dt); neuron: index into the recorded
    neurons' list (equal to the population index when all neurons are recorded); all int64.
    overflow: number of spikes that did not fit the buffers (0 means nothing was lost).
    """

    member: np.ndarray
    step: np.ndarray
    neuron: np.ndarray
    overflow: int

    def times(self, dt: float) -> np.ndarray:
        """Spike times (s)."""
        return self.step * dt

    def of_member(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """``(step, neuron)`` arrays of batch member ``b``."""
        sel = self.member == b
        return self.step[sel], self.neuron[sel]


@dataclass
class SimulationResult:
    """Outputs of :func:`simulate`. Every array has the batch axis first.

    spikes: population -> :class:`SpikeEvents`.
    counts: population -> ``[B, n_periods, n_recorded]`` int32 spike counts per period.
    state: population -> field -> ``[B, n_periods, n_indices]`` samples at the end of each period.
    final_state: the network state after the last step (to continue a run).
    weights: plastic projection -> ``[B, n_periods, n_indices]`` float32 weights at the end of each period.
    metrics: metric name -> ``[B]`` float64, NaN for members stopped by the blow-up guard.
    alive: ``[B]`` bool, members the blow-up guard (:class:`jaxsnn.RateGuard`) has not stopped; None
        for a network without a guard.
    blowup_step: ``[B]`` int64, the step after which a member stopped (it stopped at time
        ``blowup_step * dt``), -1 for one still running; None without a guard.

    A run cut short because every member had stopped (``simulate(..., early_exit=True)``) has zero
    counts and NaN state and weight samples for the periods it did not simulate.
    """

    dt: float
    duration: float
    batch: int
    recorded: dict[str, np.ndarray]
    spikes: dict[str, SpikeEvents]
    counts: dict[str, np.ndarray]
    state: dict[str, dict[str, np.ndarray]]
    final_state: NetworkState
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    alive: np.ndarray | None = None
    blowup_step: np.ndarray | None = None

    def rates(self, population: str) -> np.ndarray:
        """``[B]`` mean firing rate (Hz) of the recorded neurons of ``population``."""
        if population in self.counts:
            c = self.counts[population]
            return c.sum(axis=(1, 2)) / (c.shape[2] * self.duration)
        ev = self.spikes[population]
        n = len(self.recorded[population])
        return np.bincount(ev.member, minlength=self.batch) / (n * self.duration)

    def cv_isi(self, population: str, *, min_spikes: int = 3) -> np.ndarray:
        """``[B]`` mean coefficient of variation of interspike intervals over recorded neurons with at
        least ``min_spikes`` spikes (NaN for a member without any such neuron)."""
        ev = self.spikes[population]
        out = np.full(self.batch, np.nan)
        for b in range(self.batch):
            steps, ids = ev.of_member(b)
            order = np.lexsort((steps, ids))
            steps, ids = steps[order], ids[order]
            cvs = []
            for ids_run in np.split(np.arange(ids.size), np.flatnonzero(np.diff(ids)) + 1):
                if ids_run.size >= min_spikes:
                    isi = np.diff(steps[ids_run]) * self.dt
                    cvs.append(isi.std() / isi.mean())
            if cvs:
                out[b] = float(np.mean(cvs))
        return out


def _indices(net: Network, pop: str, idx: Sequence[int] | None) -> np.ndarray:
    n = net.population(pop).size
    if idx is None:
        return np.arange(n, dtype=np.int32)
    idx = np.asarray(idx)
    if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= n)):
        raise ValueError(f"recorded indices of {pop!r} must be a 1-D list within [0, {n}); got {idx!r}")
    return idx.astype(np.int32)


def _synapse_indices(net: Network, proj: str, idx: Sequence[int] | None) -> np.ndarray:
    """Synapse indices of plastic projection ``proj`` whose weights are recorded."""
    plastic = [p.name for p in net.plastic]
    if proj not in plastic:
        raise ValueError(f"Record weights: {proj!r} is not a plastic projection of the network; plastic "
                         f"projections: {plastic}")
    n = next(p for p in net.plastic if p.name == proj).connectivity.n_synapses
    if idx is None:
        return np.arange(n, dtype=np.int32)
    idx = np.asarray(idx)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer) or (idx.size and (idx.min() < 0 or idx.max() >= n)):
        raise ValueError(f"recorded synapse indices of {proj!r} must be a 1-D integer list within [0, {n}); got {idx!r}")
    return idx.astype(np.int32)


def _metrics_of(record: Record, net: Network) -> tuple[StreamingMetric, ...]:
    """The streaming metrics of ``record`` as a tuple, checked: each a StreamingMetric, hashable, names unique."""
    metrics = record.metrics if isinstance(record.metrics, (tuple, list)) else (record.metrics,)
    seen: dict[str, str] = {}
    for m in metrics:
        if not isinstance(m, StreamingMetric):
            raise ValueError(f"Record metrics must be jaxsnn.metrics.StreamingMetric instances (e.g. FSBIMetrics); "
                             f"got {type(m).__name__}")
        try:
            hash(m)
        except TypeError:
            raise ValueError(f"{type(m).__name__} must be hashable (a frozen dataclass with tuple fields): the "
                             "compiled program is cached per recording") from None
        for name in m.names(net):
            if name in seen:
                raise ValueError(f"metric {name!r} is reported by both {seen[name]} and {type(m).__name__}; "
                                 "record each metric once")
            seen[name] = type(m).__name__
    return tuple(metrics)


class EventBuffer(NamedTuple):
    """Spike events of one population over the whole batch in one flat buffer.

    gid: ``[capacity + block]`` global ids ``b * n_rec + i``; step: the step of each event;
    count: valid entries; overflow: events that did not fit.
    """

    gid: Array
    step: Array
    count: Array
    overflow: Array


RECORD_BLOCK = 32
#: Largest size (bytes) of one chunk's spike bit masks of one population; larger recordings use
#: event buffers. Bit masks cost one fused op per step instead of a loop over the step's spikes.
BITMASK_LIMIT = 64 * 2**20


def pack_spikes(spikes: Array) -> Array:
    """``[B, n]`` 0/1 spikes -> ``[B, ceil(n / 32)]`` uint32 words, neuron ``32 w + j`` in bit ``j`` of word ``w``."""
    b, n = spikes.shape
    bits = jnp.pad(spikes > 0, ((0, 0), (0, (-n) % 32))).reshape(b, -1, 32).astype(jnp.uint32)
    return jnp.sum(bits << jnp.arange(32, dtype=jnp.uint32), axis=2, dtype=jnp.uint32)


def unpack_spikes(words: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events of ``[T, B, n_words]`` packed masks (:func:`pack_spikes`) as (step within the array,
    member, neuron), sorted by step, member, neuron. Only nonzero words are unpacked."""
    t, b, w = np.nonzero(words)
    bits = np.unpackbits(words[t, b, w].astype("<u4").view(np.uint8).reshape(-1, 4), axis=1, bitorder="little")
    row, j = np.nonzero(bits)
    neuron = w[row] * 32 + j
    keep = neuron < n
    return t[row][keep], b[row][keep], neuron[keep]


def write_events(buf: EventBuffer, spikes: Array, step: Array, capacity: int) -> EventBuffer:
    """Append this step's spikes ``[B, n_rec]`` to the buffer, one block of 32 spikes per loop turn
    (cost proportional to the step's spikes)."""
    index = index_spikes(spikes)

    def body(i, gid, bufs):
        gid_buf, step_buf = bufs
        at = jnp.minimum(buf.count + i * RECORD_BLOCK, capacity)
        gid_buf = jax.lax.dynamic_update_slice(gid_buf, gid, (at,))
        step_buf = jax.lax.dynamic_update_slice(step_buf, jnp.full((RECORD_BLOCK,), step, jnp.int32), (at,))
        return gid_buf, step_buf

    gid_buf, step_buf = walk_spike_blocks(index, RECORD_BLOCK, body, (buf.gid, buf.step))
    new_count = jnp.minimum(buf.count + index.count, capacity)
    return EventBuffer(gid_buf, step_buf, new_count, buf.overflow + (buf.count + index.count - new_count))


def _select(values: Array, idx: np.ndarray) -> Array:
    """``values[:, idx]``, without a gather when ``idx`` is every neuron in order."""
    if idx.size == values.shape[1] and np.array_equal(idx, np.arange(idx.size)):
        return values
    return values[:, idx]


_RUNNERS: "weakref.WeakKeyDictionary[Network, dict]" = weakref.WeakKeyDictionary()


def _chunk_runner(net: Network, indices: dict, period_steps: int, n_periods: int, capacity: dict,
                  metrics: tuple[StreamingMetric, ...], run: RunInfo | None, slots: dict[str, int] | None = None):
    """The compiled chunk program for this network and recording layout, built once and reused."""
    layout = (
        period_steps,
        n_periods,
        tuple((p, ix.tobytes()) for p, ix in indices["spikes"].items()),
        tuple((p, ix.tobytes()) for p, ix in indices["counts"].items()),
        tuple((p, tuple((f, ix.tobytes()) for f, ix in fields.items())) for p, fields in indices["state"].items()),
        tuple((p, ix.tobytes()) for p, ix in indices["weights"].items()),
        tuple(sorted(capacity.items())),
        metrics,
        run,  # None without metrics: only metrics read it, and a continued plain run keeps its program
        None if slots is None else tuple(sorted(slots.items())),
    )
    cache = _RUNNERS.setdefault(net, {})
    if layout not in cache:
        cache[layout] = _make_chunk_runner(net, indices, period_steps, n_periods, capacity, metrics, run, slots)
    return cache[layout]


def _make_chunk_runner(net: Network, indices: dict, period_steps: int, n_periods: int, capacity: dict,
                       metrics: tuple[StreamingMetric, ...], run: RunInfo | None, slots: dict[str, int] | None):
    """A jitted function advancing a batch by ``n_periods`` record periods; the metric carries go in
    and come out (one per metric of ``metrics``). ``slots``: spike capacities of the static strategy
    (None: the event strategy)."""

    def run_chunk(structure, params, state, member_keys, carries):
        batch = member_keys.shape[0]

        def step_body(carry, _):
            state, events, counts, carries = carry
            keys = jax.vmap(lambda k: jax.random.fold_in(k, state.step))(member_keys)
            step = state.step
            state, spikes = network_step(net, structure, params, state, keys, member_keys, slots)
            counts = {p: counts[p] + _select(spikes[p], indices["counts"][p]).astype(jnp.int32) for p in counts}
            events = {
                p: write_events(events[p], _select(spikes[p], indices["spikes"][p]), step, capacity[p]) for p in events
            }
            carries = tuple(m.update(c, step, spikes, state, run) for m, c in zip(metrics, carries))
            masks = {p: pack_spikes(_select(spikes[p], indices["spikes"][p])) for p in indices["spikes"] if p not in capacity}
            return (state, events, counts, carries), masks

        def period_body(carry, _):
            state, events, carries = carry
            counts0 = {p: jnp.zeros((batch, len(ix)), jnp.int32) for p, ix in indices["counts"].items()}
            (state, events, counts, carries), masks = jax.lax.scan(
                step_body, (state, events, counts0, carries), None, length=period_steps)
            samples = {
                p: {f: getattr(state.neurons[p], f)[:, ix] for f, ix in fields.items()}
                for p, fields in indices["state"].items()
            }
            weights = {p: _select(state.weights[p], ix) for p, ix in indices["weights"].items()}
            # the samples are taken before the weights go on: without the barrier XLA keeps a copy of every
            # sampled weight array alive across the next period
            state_weights, weights = jax.lax.optimization_barrier((state.weights, weights))
            state = state._replace(weights=state_weights)
            carries = tuple(m.on_period(c, state, run) for m, c in zip(metrics, carries))
            return (state, events, carries), (counts, samples, weights, masks)

        events0 = {
            p: EventBuffer(
                jnp.zeros((capacity[p] + RECORD_BLOCK,), jnp.int32),
                jnp.zeros((capacity[p] + RECORD_BLOCK,), jnp.int32),
                jnp.int32(0),
                jnp.int32(0),
            )
            for p in capacity
        }
        (state, events, carries), (counts, samples, weights, masks) = jax.lax.scan(
            period_body, (state, events0, carries), None, length=n_periods)
        return state, events, counts, samples, weights, masks, carries

    # state and metric carries donated: updated in place, not held twice
    return jax.jit(run_chunk, donate_argnums=(2, 4))


def _finalizer(net: Network, metrics: tuple[StreamingMetric, ...], run: RunInfo):
    """The compiled finalization of ``metrics`` (one program per layout: op by op it takes seconds)."""
    key = ("finalize", metrics, run)
    cache = _RUNNERS.setdefault(net, {})
    if key not in cache:
        cache[key] = jax.jit(lambda carries: tuple(m.finalize(c, run) for m, c in zip(metrics, carries)))
    return cache[key]


def _chunk_periods(total_periods: int, max_periods: int) -> int:
    """Largest divisor of ``total_periods`` not above ``max_periods`` (equal chunks: one compilation)."""
    best = 1
    for d in range(1, int(math.isqrt(total_periods)) + 1):
        if total_periods % d == 0:
            for c in (d, total_periods // d):
                if c <= max_periods:
                    best = max(best, c)
    return best


STRATEGIES = ("auto", "event", "static")


def resolve_strategy(strategy: str) -> str:
    """``"auto"`` -> ``"static"`` on an accelerator backend (GPU, TPU), ``"event"`` on a CPU."""
    check_choice("strategy", strategy, STRATEGIES)
    if strategy != "auto":
        return strategy
    return "event" if jax.default_backend() == "cpu" else "static"


def static_slots(net: Network, params: NetworkParams, batch: int, given: dict[str, int] | None = None) -> dict[str, int]:
    """Spike slots per step of the static strategy, shared by the ``batch`` members: ``given`` where
    named, else :func:`jaxsnn.network.static_capacity` of each population (50 Hz) and Bernoulli Poisson
    input (its largest rate in ``params``) over the whole batch (B times its size). Sharing the slots
    needs headroom for the batch's total, not for every member: at B = 1024 members of 4096 E neurons
    that is 22 slots per member instead of 65, and a silent or stopped member takes none."""
    given = dict(given or {})
    names = [p.name for p in net.populations] + [i.name for i in net.poisson_inputs]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ValueError(f"spike_capacity names {unknown}; the network's populations and inputs are {names}")
    slots = {p.name: given.get(p.name, static_capacity(batch * p.size, net.dt)) for p in net.populations}
    for inp in net.poisson_inputs:
        if not isinstance(inp.sources, RenewalSources):  # renewal sources draw ids into their own capacity
            rate = float(np.max(np.asarray(params.rates[inp.name])))
            slots[inp.name] = given.get(inp.name, static_capacity(batch * inp.n_sources, net.dt, rate))
    for name, value in slots.items():
        check_int(f"spike_capacity[{name!r}]", value, minimum=1)
    return slots


def grow_slots(net: Network, slots: dict[str, int], batch: int) -> dict[str, int]:
    """Twice the slots, at most every neuron (or source) of the ``batch`` members."""
    sizes = {p.name: p.size for p in net.populations} | {i.name: i.n_sources for i in net.poisson_inputs}
    return {name: min(batch * sizes[name], 2 * value) for name, value in slots.items()}


def slots_for_live_members(net: Network, params: NetworkParams, slots: dict[str, int], sized_for: int,
                           alive: int) -> tuple[dict[str, int], int]:
    """Smaller slots once the members still running (``alive``) are at most half of those the ``slots``
    were sized for (``sized_for``): scaled by the ratio of :func:`static_slots` for the two counts,
    keeping any growth after overflow. Stopped (blown-up) members emit no spikes, so the slots they had
    would only cost padded work. Returns the slots and the member count they are now sized for
    (unchanged while more than half still run: at most a log2(B) of recompilations)."""
    if alive < 1 or 2 * alive > sized_for:
        return slots, sized_for
    now, before = static_slots(net, params, alive), static_slots(net, params, sized_for)
    return {k: min(v, max(1, math.ceil(v * now[k] / before[k]))) for k, v in slots.items()}, alive


def run_until_no_overflow(run: Callable[..., tuple], net: Network, slots: dict[str, int], args: tuple,
                          donated: bool = True) -> tuple[tuple, dict[str, int]]:
    """One chunk of the static strategy, rerun until no spike was lost: ``run(slots, *args)``, whose
    first argument and first output are states with ``overflow [B]`` (spikes that did not fit, per
    member). While some member's count grew during the chunk, the chunk is run again from its start
    with twice the slots (:func:`grow_slots`): the same inputs and random keys give the same result, so
    nothing is dropped. ``donated``: ``run`` donates its inputs, so the start is kept as a host copy
    (the device holds the state once) and put back for a rerun. Returns the outputs and the slots used.
    """
    before = np.asarray(args[0].overflow)
    start = jax.device_get(args) if donated else args
    out = run(slots, *args)
    while bool(np.any(np.asarray(out[0].overflow) > before)):
        slots = grow_slots(net, slots, before.shape[0])
        out = run(slots, *(jax.device_put(start) if donated else start))
    return out, slots


def flat_index_span(net: Network) -> int:
    """Flat indices one network occupies in the batched event loops (spikes of all populations and
    Poisson sources, fused into one index space; synapses are addressed as (member, synapse) pairs): a
    batch of ``b`` networks needs ``b * flat_index_span(net) < 2**31`` for int32 indices."""
    return sum(p.size for p in net.populations) + sum(i.n_sources for i in net.poisson_inputs) + 1


def simulate(
    net: Network,
    duration: float,
    key: Array,
    *,
    params: NetworkParams | None = None,
    batch: int | None = None,
    record: Record | None = None,
    state: NetworkState | None = None,
    chunk_duration: float = 1.0,
    on_overflow: str = "warn",
    early_exit: bool = False,
    strategy: str = "auto",
    spike_capacity: dict[str, int] | None = None,
) -> SimulationResult:
    """Simulate a batch of networks for ``duration`` seconds.

    Args:
        net: the network structure (and default values).
        duration: simulated time (s), a whole number of record periods.
        key: PRNG key; member b uses ``fold_in(key, b)``, and step t of member b
            ``fold_in(fold_in(key, b), t)``.
        params: values; unbatched (broadcast to ``batch``, default 1) or batched with a leading axis
            on every leaf (see ``broadcast_params``/``stack_params``).
        record: what to record (default: nothing but the final state).
        state: a state to continue from (e.g. ``result.final_state``); fresh from the models' ``init``
            otherwise.
        chunk_duration: longest stretch of time (s) run in one compiled call; outputs move to the host
            between chunks.
        on_overflow: ``"warn"``, ``"raise"`` or ``"ignore"`` when event buffers overflowed.
        early_exit: for a network with a blow-up guard, skip the remaining chunks once every member
            has stopped (their metrics are NaN whatever follows; see :class:`SimulationResult` for
            what the skipped periods hold). The final state's clock is still advanced to the end.
        strategy: how spikes propagate: ``"event"`` (loops over each step's spikes: cost in proportion
            to activity, the CPU's choice), ``"static"`` (every shape fixed per step, no loop whose trip
            count depends on the data: the accelerators' choice; spikes compacted into
            ``spike_capacity`` slots per step shared by the batch), or ``"auto"``: static on GPU/TPU, else event.
            Both give the same spikes; a chunk in which some member's spikes did not fit the static
            capacity is rerun from its start with the capacities doubled (same random numbers, same
            result), so nothing is dropped.
        spike_capacity: static strategy: slots per step for the whole batch by population (and Bernoulli
            Poisson input) name; default :func:`static_slots` (50 Hz on average over the batch, with
            headroom).
    Returns:
        :class:`SimulationResult`.
    """
    record = record or Record()
    if on_overflow not in ("warn", "raise", "ignore"):
        raise ValueError(f"on_overflow must be 'warn', 'raise' or 'ignore'; got {on_overflow!r}")
    check_positive("record.max_rate", record.max_rate)
    if record.spike_format not in ("auto", "bitmask", "events"):
        raise ValueError(f"record.spike_format must be 'auto', 'bitmask' or 'events'; got {record.spike_format!r}")
    check_positive("chunk_duration", chunk_duration)
    check_choice("strategy", strategy, STRATEGIES)
    n_steps = steps_of("duration", duration, net.dt)
    period_steps = steps_of("record.period", record.period, net.dt)
    if period_steps == 0:
        raise ValueError("record.period must be at least one step")
    if n_steps % period_steps:
        raise ValueError(f"duration ({duration} s) must be a whole number of record periods ({record.period} s)")
    total_periods = n_steps // period_steps
    chunk_periods = _chunk_periods(total_periods, max(1, int(chunk_duration / record.period + 1e-9)))

    params = net.default_params() if params is None else params
    unbatched = net.default_params()
    same_rank = all(
        jnp.ndim(a) == jnp.ndim(b)
        for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(unbatched))
    )
    if same_rank:
        params = broadcast_params(params, batch or 1)
    b = batch_size_of(params)
    if batch is not None and batch != b:
        raise ValueError(f"batch = {batch} does not match the params' batch axis of {b}")
    per_member = flat_index_span(net)
    if b * per_member >= 2**31 - 1:
        raise ValueError(f"a batch of {b} networks of this size exceeds the int32 index range of the event loops "
                         f"({per_member} neuron and source indices per network); simulate at most "
                         f"{(2**31 - 2) // per_member} networks per call")

    indices = {
        "spikes": {p: _indices(net, p, ix) for p, ix in record.spikes.items()},
        "counts": {p: _indices(net, p, ix) for p, ix in record.counts.items()},
        "state": {p: {f: _indices(net, p, ix) for f, ix in fields.items()} for p, fields in record.state.items()},
        "weights": {p: _synapse_indices(net, p, ix) for p, ix in record.weights.items()},
    }
    for p, fields in indices["state"].items():
        known = type(net.population(p).model.init(1))._fields
        unknown = [f for f in fields if f not in known]
        if unknown:
            raise ValueError(f"Record state of {p!r}: no state field(s) {unknown}; its model has {list(known)}")
    metrics = _metrics_of(record, net)
    chunk_time = chunk_periods * period_steps * net.dt
    chunk_steps = chunk_periods * period_steps
    capacity = {  # event buffers for recordings too large for bit masks
        p: max(64, int(math.ceil(record.max_rate * chunk_time * len(ix) * b)))
        for p, ix in indices["spikes"].items()
        if record.spike_format == "events"
        or (record.spike_format == "auto" and chunk_steps * b * 4 * ((len(ix) + 31) // 32) > BITMASK_LIMIT)
    }
    member_keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(b))
    structure = net.structure()
    if state is None:
        state = net.init_state(params, b)
    start_step = first_step = int(state.step)  # first_step: of the next chunk
    run = RunInfo(net, start_step, n_steps, period_steps, b) if metrics else None
    carries = tuple(m.init(state, run) for m in metrics)  # validates names, on the host, before tracing
    slots = static_slots(net, params, b, spike_capacity) if resolve_strategy(strategy) == "static" else None
    sized_for = b  # the members the slots are sized for
    if slots is not None and state.overflow is None:
        state = state._replace(overflow=jnp.zeros((b,), jnp.int32))
    # the chunks donate state and carries: copies with a buffer per leaf, so the caller's arrays (a state
    # passed in, or shared by init) stay valid
    state, carries = jax.tree_util.tree_map(lambda x: jnp.array(x) if isinstance(x, jax.Array) else x, (state, carries))
    runner = _chunk_runner(net, indices, period_steps, chunk_periods, capacity, metrics, run, slots)

    spikes_parts = {p: [] for p in indices["spikes"]}
    overflow = {p: 0 for p in indices["spikes"]}
    counts_parts = {p: [] for p in indices["counts"]}
    state_parts = {p: {f: [] for f in fields} for p, fields in indices["state"].items()}
    weight_parts = {p: [] for p in indices["weights"]}
    n_chunks = total_periods // chunk_periods
    for done_chunks in range(n_chunks):
        if early_exit and state.guard is not None and not bool(np.any(np.asarray(state.guard.alive))):
            # every member has stopped: the remaining periods hold no spikes, and NaN samples
            left = (n_chunks - done_chunks) * chunk_periods
            for p, ix in indices["counts"].items():
                counts_parts[p].append(np.zeros((b, left, len(ix)), np.int32))
            for p, fields in indices["state"].items():
                for f, ix in fields.items():
                    state_parts[p][f].append(np.full((b, left, len(ix)), np.nan, np.float32))
            for p, ix in indices["weights"].items():
                weight_parts[p].append(np.full((b, left, len(ix)), np.nan, np.float32))
            state = state._replace(step=jnp.int32(start_step + n_steps))
            break
        if slots is None:
            out = runner(structure, params, state, member_keys, carries)
        else:
            if spike_capacity is None and state.guard is not None:  # stopped members give their slots back
                slots, sized_for = slots_for_live_members(net, params, slots, sized_for,
                                                          int(np.sum(np.asarray(state.guard.alive))))
            out, slots = run_until_no_overflow(
                lambda sl, st, ca: _chunk_runner(net, indices, period_steps, chunk_periods, capacity, metrics, run, sl)(
                    structure, params, st, member_keys, ca), net, slots, (state, carries))
        state, events, counts, samples, weights, masks, carries = out
        for p, words in masks.items():
            words = np.asarray(words).reshape(chunk_steps, b, -1)
            step, member, neuron = unpack_spikes(words, len(indices["spikes"][p]))
            spikes_parts[p].append((member, step.astype(np.int64) + first_step, neuron))
        first_step += chunk_steps
        for p, ev in events.items():
            count = int(ev.count)
            gid = np.asarray(ev.gid)[:count]  # slice on the host: a device slice per count would compile each time
            n_rec = len(indices["spikes"][p])
            spikes_parts[p].append((gid // n_rec, np.asarray(ev.step)[:count], gid % n_rec))
            overflow[p] += int(ev.overflow)
        for p, c in counts.items():
            counts_parts[p].append(np.moveaxis(np.asarray(c), 0, 1))
        for p, fields in samples.items():
            for f, v in fields.items():
                state_parts[p][f].append(np.moveaxis(np.asarray(v), 0, 1))
        for p, v in weights.items():
            weight_parts[p].append(np.moveaxis(np.asarray(v), 0, 1))

    spikes = {}
    for p, parts in spikes_parts.items():
        empty = np.zeros(0, np.int64)
        member, step, neuron = (np.concatenate(x) for x in zip(*parts)) if parts else (empty, empty, empty)
        order = np.lexsort((neuron, step, member))
        # one dtype whichever buffer recorded them (bit masks unpack to int64, event buffers hold int32)
        spikes[p] = SpikeEvents(member[order].astype(np.int64), step[order].astype(np.int64),
                                neuron[order].astype(np.int64), overflow[p])
        if overflow[p] and on_overflow != "ignore":
            msg = (f"spike recording of {p!r} overflowed: {overflow[p]} spikes were not recorded; "
                   f"raise Record.max_rate (now {record.max_rate} Hz)")
            if on_overflow == "raise":
                raise RuntimeError(msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
    alive = blowup_step = None
    if state.guard is not None:
        alive = np.asarray(state.guard.alive, bool)
        blowup_step = np.asarray(state.guard.stop_step, np.int64)
    values: dict[str, np.ndarray] = {}
    if metrics:
        for m, out in zip(metrics, _finalizer(net, metrics, run)(carries)):
            names = m.names(net)
            if set(out) != set(names):
                raise ValueError(f"{type(m).__name__}.finalize returned {sorted(out)}; its names() are {list(names)}")
            for name in names:  # in the metric's order (a jitted dict comes back sorted)
                v = np.asarray(out[name], np.float64)
                if v.shape != (b,):
                    raise ValueError(f"{type(m).__name__}.finalize: metric {name!r} has shape {list(v.shape)}; "
                                     f"it must be [{b}] (one value per member)")
                values[name] = v if alive is None else np.where(alive, v, np.nan)
    return SimulationResult(
        dt=net.dt,
        duration=duration,
        batch=b,
        recorded={**{p: ix for p, ix in indices["spikes"].items()}, **{p: ix for p, ix in indices["counts"].items()}},
        spikes=spikes,
        counts={p: np.concatenate(v, axis=1) for p, v in counts_parts.items()},
        state={p: {f: np.concatenate(v, axis=1) for f, v in fields.items()} for p, fields in state_parts.items()},
        final_state=state,
        weights={p: np.concatenate(v, axis=1) for p, v in weight_parts.items()},
        metrics=values,
        alive=alive,
        blowup_step=blowup_step,
    )


def integrate(
    net: Network,
    params: NetworkParams,
    state: NetworkState,
    member_keys: Array,
    n_steps: int,
    structure: dict[str, Any] | None = None,
) -> tuple[NetworkState, dict[str, Array]]:
    """Advance a batch by ``n_steps`` steps and count spikes: a pure function of arrays.

    It can be jitted (``net`` and ``n_steps`` static), vmapped over params, states and keys (for
    example over several batches), and differentiated (with the dense propagation path and a
    surrogate spike function). Keys follow the same scheme as :func:`simulate`, so both give the same
    spikes for the same member keys.

    Args:
        params: batched values (leading axis ``B`` on every leaf).
        state: batched state (from ``net.init_state``).
        member_keys: ``[B]`` keys, one per member.
    Returns:
        ``(final_state, counts)`` with ``counts[pop]`` of shape ``[B, n]`` (float32 spike counts).
    """
    structure = net.structure() if structure is None else structure

    def body(carry, _):
        state, counts = carry
        keys = jax.vmap(lambda k: jax.random.fold_in(k, state.step))(member_keys)
        state, spikes = network_step(net, structure, params, state, keys, member_keys)
        return (state, {p: counts[p] + spikes[p] for p in counts}), None

    batch = member_keys.shape[0]
    counts0 = {p.name: jnp.zeros((batch, p.size), jnp.float32) for p in net.populations}
    (state, counts), _ = jax.lax.scan(body, (state, counts0), None, length=n_steps)
    return state, counts
