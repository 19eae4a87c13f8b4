"""``jaxsnn.fsbi.simulate``: run a batch of rules through the fSBI protocol and compute their metrics."""

from __future__ import annotations

import math
import threading
import time
import warnings
import weakref
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._validation import steps_of
from ..simulate import RECORD_BLOCK, EventBuffer, write_events
from .config import FSBIConfig, make_config
from .metrics import step_times
from .metrics_stream import finalize_metrics, init_accumulator, update_accumulator
from ..network import Network, NetworkParams, NetworkState, network_step
from ..simulate import resolve_strategy, run_until_no_overflow, slots_for_live_members, static_slots
from ..networks.fsbi import fsbi_network, fsbi_params, unbatched
from .simulator import FSBIStructure, build_structure, default_ext_capacity, external_draws, external_uniforms

#: Steps per call of the block kernels (jaxsnn.fsbi.kernel.polynomial_block, mlp_block). Long blocks keep
#: one rule's weights in cache for longer: its on-post updates reuse cache lines that earlier steps fetched.
KERNEL_BLOCK = 1000


@dataclass
class FSBIResult:
    """Outcome of :func:`simulate` for ``R`` rules.

    theta: ``[R, P]`` the simulated θ. metrics: metric name -> ``[R]`` (NaN where the run blew up).
    blowup_time: ``[R]`` time (s) the blow-up guard stopped the run, -1 if it never did.
    overflow: ``[R]`` lost events: steps whose external-spike draw hit its capacity plus spikes that did
    not fit the spike recording buffers (0 means nothing was lost).
    weights: projection -> (sample times ``[S]`` in s, values ``[R, S, n_monitored]``).
    spikes: with ``record_spikes``: "E"/"I" -> list over rules of (times in s, neuron ids).
    wall_s: wall-clock time of the call (s). config: the configuration used.
    phase_s: wall and process CPU seconds of the plastic phase and of the recorded window
    (``plastic_wall``, ``plastic_cpu``, ``window_wall``, ``window_cpu``; compilation included).
    """

    theta: np.ndarray
    metrics: dict[str, np.ndarray]
    blowup_time: np.ndarray
    overflow: np.ndarray
    weights: dict[str, tuple[np.ndarray, np.ndarray]]
    spikes: dict[str, list[tuple[np.ndarray, np.ndarray]]] | None
    wall_s: float
    config: FSBIConfig
    phase_s: dict[str, float] = field(default_factory=dict)


_STRUCTURES: dict[tuple[FSBIConfig, int], FSBIStructure] = {}
_PROGRAMS: "weakref.WeakKeyDictionary[FSBIStructure, dict]" = weakref.WeakKeyDictionary()
_NETWORKS: "weakref.WeakKeyDictionary[FSBIStructure, dict]" = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.RLock()


def get_structure(config: FSBIConfig, seed: int) -> FSBIStructure:
    """The network of ``config`` drawn from ``seed``, built once per (structure options, seed)."""
    key = (_structure_key(config), seed)
    with _CACHE_LOCK:  # sweeps call simulate from one thread per device
        if key not in _STRUCTURES:
            if len(_STRUCTURES) > 8:
                _STRUCTURES.clear()
            _STRUCTURES[key] = build_structure(config, seed)
        return _STRUCTURES[key]


def _structure_key(config: FSBIConfig) -> tuple:
    return (config.task, config.n_exc, config.n_inh, config.p_conn, config.n_ext, config.p_ext, config.n_monitored,
            config.connectivity)


def _validate_theta(theta: Any, config: FSBIConfig) -> np.ndarray:
    """θ ``[R, P]`` float64 for the config's family (shape and the family's own checks), finite, with an
    external rate (last entry) in [0, 1/dt] Hz."""
    theta = config.family.check_theta(theta)
    if not np.all(np.isfinite(theta)):
        raise ValueError("theta must be finite")
    r_ext = theta[:, -1]
    if np.any(r_ext < 0) or np.any(r_ext * config.dt > 1):
        raise ValueError(f"r_ext (last entry of theta) must lie in [0, 1/dt] Hz; got {r_ext[(r_ext < 0) | (r_ext * config.dt > 1)][:5]}")
    return theta


def _window_samples(parts: list[np.ndarray], n_rules: int, n_periods: int, n_monitored: int) -> np.ndarray:
    """Weight samples ``[R, n_periods, n_monitored]`` of the window, NaN for periods not simulated
    because every rule had blown up."""
    values = np.full((n_rules, n_periods, n_monitored), np.nan, np.float32)
    if parts:
        done = np.concatenate(parts, axis=1)
        values[:, : done.shape[1]] = done
    return values


def _default_block(n_rules: int) -> int:
    """Spikes per event-loop turn: small for few rules (padding costs), larger for big batches."""
    return 4 if n_rules <= 2 else 8 if n_rules <= 8 else 16 if n_rules <= 32 else 32


class _Programs:
    """The compiled pieces for one (structure, R, block, capacity): advance without recording, and
    advance one chunk of the recording window."""

    def __init__(self, structure: FSBIStructure, network: Network, kernel: Any, ext_capacity: int,
                 periods_per_chunk: int, slots: dict[str, int] | None = None, donate: bool = False):
        cfg = structure.config
        self.period_steps = steps_of("weight_sample_period", cfg.weight_sample_period, cfg.dt)
        window_steps = steps_of("duration", cfg.duration, cfg.dt) - steps_of("record_start", cfg.record_start, cfg.dt)
        self.window_start = steps_of("record_start", cfg.record_start, cfg.dt)
        n_e, n_i = cfg.recorded_e, cfg.recorded_i
        capacity = {
            "E": max(64, math.ceil(cfg.spike_buffer_rate * n_e * periods_per_chunk * cfg.weight_sample_period)),
            "I": max(64, math.ceil(cfg.spike_buffer_rate * n_i * periods_per_chunk * cfg.weight_sample_period)),
        }
        self.capacity = capacity
        del window_steps

        use_kernel = kernel is not None
        net = network  # stepped by jaxsnn.network_step, or by the kernel that covers it

        def step(inputs, rule_keys, state):
            keys = jax.vmap(lambda k: jax.random.fold_in(k, state.step))(rule_keys)
            return network_step(net, inputs["structure"], inputs["params"], state, keys, rule_keys, slots)

        def run_blocks(inputs, rule_keys, state, n_steps, record=None):
            """``n_steps`` steps in the block kernel, one custom call per block of ``KERNEL_BLOCK`` steps (or
            a divisor of it); with ``record`` also the spikes of the recorded neurons ``[n_steps, R, n]``."""
            from .kernel import _call_block

            rule, r_ext, decays, conns = inputs["rule"], inputs["r_ext"], inputs["decays"], inputs["conns"]
            neuron = net.population("E").model

            def part(s, start, length):
                uniforms = external_uniforms(rule_keys, start - cfg.delay_steps, length, ext_capacity)
                ext_ids, ext_over, ext_next = external_draws(uniforms, s.ext_next, start, r_ext, cfg)
                return _call_block(kernel, cfg, neuron, conns, rule, decays, ext_ids, ext_over,
                                   s._replace(ext_next=ext_next), record, True)

            return _in_blocks(part, state, state.step, n_steps, KERNEL_BLOCK)

        def advance(inputs, rule_keys, state, n_steps):
            if use_kernel:  # no XLA op per step: whole blocks of steps in the compiled kernel
                return run_blocks(inputs, rule_keys, state, n_steps)[0]
            return jax.lax.scan(lambda s, _: (step(inputs, rule_keys, s)[0], None), state, None, length=n_steps)[0]

        # donated state (and accumulator): XLA updates them in place instead of holding a second copy
        self.advance = jax.jit(advance, static_argnums=3, donate_argnums=(2,) if donate else ())

        def record(inputs, rule_keys, state, acc, monitored):
            def take(acc, events, e, i, k):
                """Fold the spikes ``[R, n_rec]`` of window step ``k`` into the metrics (and events)."""
                acc = jax.vmap(update_accumulator, in_axes=(0, 0, 0, None))(acc, e > 0, i > 0, k)
                if cfg.record_spikes:
                    events = {p: jax.vmap(lambda b, x: write_events(b, x[None], k, capacity[p]))(events[p], sp)
                              for p, sp in (("E", e), ("I", i))}
                return acc, events

            def step_body(carry, _):
                s, acc, events = carry
                k = s.step - self.window_start
                s, spikes = step(inputs, rule_keys, s)
                acc, events = take(acc, events, spikes["E"][:, :n_e], spikes["I"][:, :n_i], k)
                return (s, acc, events), None

            def advance_recorded(carry, n_steps):
                """``n_steps`` steps with their recorded spikes through ``take``."""
                s, acc, events = carry
                if not use_kernel:
                    return jax.lax.scan(step_body, carry, None, length=n_steps)[0]
                k0 = s.step - self.window_start
                s, spikes = run_blocks(inputs, rule_keys, s, n_steps, (n_e, n_i))

                def take_step(c, x):
                    acc, events, k = c
                    return take(acc, events, x[0], x[1], k) + (k + 1,), None

                (acc, events, _), _ = jax.lax.scan(take_step, (acc, events, k0), (spikes["E"], spikes["I"]))
                return s, acc, events

            def period_body(carry, _):
                # the original samples the weights after the step whose clock is a multiple of the period
                carry = advance_recorded(carry, 1)
                s = carry[0]
                samples = {name: s.weights[name][:, idx] for name, idx in monitored.items()}
                # the samples are taken before the weights go on: without the barrier XLA keeps a whole
                # copy of every weight array alive for the gather (as much memory as the weights)
                weights, samples = jax.lax.optimization_barrier((s.weights, samples))
                carry = (s._replace(weights=weights),) + carry[1:]
                return advance_recorded(carry, self.period_steps - 1), samples

            r = rule_keys.shape[0]
            events = {}
            if cfg.record_spikes:
                events = {p: EventBuffer(jnp.zeros((r, capacity[p] + RECORD_BLOCK), jnp.int32),
                                         jnp.zeros((r, capacity[p] + RECORD_BLOCK), jnp.int32),
                                         jnp.zeros((r,), jnp.int32), jnp.zeros((r,), jnp.int32)) for p in ("E", "I")}
            (state, acc, events), samples = jax.lax.scan(period_body, (state, acc, events), None, length=periods_per_chunk)
            return state, acc, events, samples

        self.record = jax.jit(record, donate_argnums=(2, 3) if donate else ())

        # compiled once: run op by op, the metrics of a batch took seconds per call
        finalize_compiled = {}

        def finalize(acc, samples, sample_times):
            key = np.asarray(sample_times, np.float64).tobytes()
            if key not in finalize_compiled:
                times = np.asarray(sample_times, np.float64)
                finalize_compiled[key] = jax.jit(lambda acc, samples: jax.vmap(
                    lambda a, s: finalize_metrics(a, s, w_max=cfg.w_max, sample_times=times))(acc, samples))
            return finalize_compiled[key](acc, samples)

        self.finalize = finalize


def _alive(state: Any) -> np.ndarray:
    return np.asarray(state.guard.alive if isinstance(state, NetworkState) else state.alive)


def _stop_time(state: Any, dt: float) -> np.ndarray:
    """``[R]`` float64 time (s) the guard stopped each rule, -1 if never (as the float32 ``(k + 1) dt``)."""
    if isinstance(state, NetworkState):
        steps = np.asarray(state.guard.stop_step)
        return np.where(steps >= 0, (steps.astype(np.float32) * np.float32(dt)).astype(np.float64), -1.0)
    return np.asarray(state.stop_time, np.float64)


def _ext_overflow(state: Any) -> np.ndarray:
    return np.asarray(state.sources["ext"].overflow if isinstance(state, NetworkState) else state.ext_overflow)


def _in_blocks(part, carry, first_step, n_steps: int, block: int):
    """``carry, ys = part(carry, start, length)`` over ``n_steps`` steps from ``first_step``: a scan over
    whole blocks of ``block`` steps, then one part for the remainder. Returns the carry and the ``ys``
    (a pytree of ``[length, ...]`` arrays, or None) joined along their first axis."""
    n_full, rest = divmod(n_steps, block)
    pieces = []
    if n_full:
        carry, ys = jax.lax.scan(lambda c, b: part(c, first_step + b * block, block), carry,
                                 jnp.arange(n_full, dtype=jnp.int32))
        pieces.append(jax.tree_util.tree_map(lambda x: x.reshape((n_full * x.shape[1],) + x.shape[2:]), ys))
    if rest:
        carry, ys = part(carry, first_step + n_full * block, rest)
        pieces.append(ys)
    return carry, jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *pieces)


_KERNEL_WARNED: set[str] = set()


def uses_synapse_kernel(cfg: FSBIConfig) -> bool:
    """Whether ``cfg`` runs in the compiled CPU kernels of :mod:`jaxsnn.fsbi.kernel` (see ``synapse_kernel``):
    whole blocks of steps in :func:`~jaxsnn.fsbi.kernel.polynomial_block` or
    :func:`~jaxsnn.fsbi.kernel.mlp_block`."""
    if cfg.synapse_kernel == "xla":
        return False
    if jax.default_backend() != "cpu":
        if cfg.synapse_kernel == "cpu":
            raise ValueError(f"synapse_kernel='cpu' runs on the CPU backend only; the default backend is "
                             f"{jax.default_backend()!r} (use 'auto' or 'xla')")
        return False
    from .kernel import available

    ok, reason = available()
    if not ok:
        if cfg.synapse_kernel == "cpu":
            raise ValueError(f"synapse_kernel='cpu' asked for, but the kernel is not available: {reason}")
        if reason not in _KERNEL_WARNED:
            _KERNEL_WARNED.add(reason)
            warnings.warn(f"fSBI synapse kernel not available, using XLA ops (slower): {reason}", RuntimeWarning,
                          stacklevel=3)
    return ok


def _kernel_of(config: FSBIConfig, net: Network, params: NetworkParams):
    """The compiled CPU kernel that steps this network (:func:`jaxsnn.fsbi.kernel.kernel_for`) when
    ``synapse_kernel`` and the backend allow it, else None (the core engine's XLA step)."""
    if not uses_synapse_kernel(config):
        return None
    from .kernel import kernel_for

    kernel, reason = kernel_for(config, net, params)
    if kernel is None and config.synapse_kernel == "cpu":
        raise ValueError(f"synapse_kernel='cpu' asked for, but no kernel covers this network: {reason}")
    return kernel


def _largest_divisor_at_most(n: int, limit: int) -> int:
    best = 1
    for d in range(1, int(math.isqrt(n)) + 1):
        if n % d == 0:
            for c in (d, n // d):
                if c <= limit:
                    best = max(best, c)
    return best


def _batch(config: FSBIConfig, theta: np.ndarray, seed: int) -> tuple:
    """(structure, network, params, block, ext_capacity, n_periods, periods_per_chunk) for θ ``[R, P]``."""
    n_rules = theta.shape[0]
    structure = get_structure(config, seed)
    # the network's structure is shared; the rest of the config (durations, ...) may differ per call
    structure = FSBIStructure(config, structure.conns, structure.monitored) if structure.config != config else structure
    # neuron and source ids are flat over the batch (int32); synapses are addressed as (rule, synapse)
    largest = max(max(c.n_pre, c.n_post) for c in structure.conns.values())
    if n_rules * (largest + 1) >= 2**31 - 1:
        raise ValueError(f"{n_rules} rules x {largest} neurons exceed the int32 index range; "
                         f"simulate at most {(2**31 - 2) // (largest + 1)} rules per call")
    block = config.block or _default_block(n_rules)
    ext_capacity = config.ext_capacity or default_ext_capacity(config, float(theta[:, -1].max()))
    period = config.weight_sample_period
    n_periods = round((config.duration - config.record_start) / period)
    periods_per_chunk = _largest_divisor_at_most(n_periods, max(1, int(config.chunk_duration / period + 1e-9)))

    family = config.family
    theta32 = jnp.asarray(theta, jnp.float32)
    rules = family.rules(theta32, config)
    with _CACHE_LOCK:
        networks = _NETWORKS.setdefault(structure, {})
        net_key = (block, ext_capacity)
        if net_key not in networks:
            networks[net_key] = fsbi_network(config, structure.conns, family.neuron(config), unbatched(rules),
                                             ext_capacity=ext_capacity, block=block)
        net = networks[net_key]
    params = fsbi_params(net, rules, theta32[:, -1])
    return structure, net, params, block, ext_capacity, n_periods, periods_per_chunk


def _programs(structure: FSBIStructure, net: Network, kernel: Any, n_rules: int, block: int, ext_capacity: int,
              periods_per_chunk: int, slots: dict[str, int] | None, donate: bool) -> _Programs:
    """The cached :class:`_Programs` of one batch shape."""
    key = (n_rules, block, ext_capacity, periods_per_chunk, None if kernel is None else kernel.task,
           None if slots is None else tuple(sorted(slots.items())), donate)
    with _CACHE_LOCK:
        cache = _PROGRAMS.setdefault(structure, {})
        if key not in cache:
            cache[key] = _Programs(structure, net, kernel, ext_capacity, periods_per_chunk, slots, donate)
        return cache[key]


def _rule_keys(seed: int, rule_ids: np.ndarray) -> jax.Array:
    """One key per rule ``[R]``: rule i's random stream depends on (seed, rule id) only."""
    base = jax.random.fold_in(jax.random.key(seed), 0xF5B1)
    return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.asarray(rule_ids, jnp.uint32))


def _initial_accumulator(config: FSBIConfig, n_rules: int) -> Any:
    """The streaming-metric statistics of ``n_rules`` rules, one buffer per leaf (the chunks donate them)."""
    acc0 = init_accumulator(config.recorded_e, config.recorded_i, t_start=config.record_start, t_stop=config.duration,
                            dt=config.dt)
    return jax.tree_util.tree_map(lambda x: jnp.array(jnp.broadcast_to(x, (n_rules,) + x.shape)), acc0)


def _initial_state(net: Network, params: NetworkParams, n_rules: int, static: bool, donate: bool) -> NetworkState:
    state = net.init_state(params, n_rules)
    if static:
        state = state._replace(overflow=jnp.zeros((n_rules,), jnp.int32))
    if donate:  # init shares buffers between some leaves (zeros, initial weights); donation needs one per leaf
        state = jax.tree_util.tree_map(jnp.array, state)
    return state


def simulate(theta: Any, *, task: Any = "polynomial", seed: int = 0, rule_ids: Any = None,
             progress: bool = False, **overrides: Any) -> FSBIResult:
    """Simulate rules θ on the fSBI network and compute their metrics.

    Args:
        theta: ``[P]`` or ``[R, P]``: ``[25]`` polynomial θ, ``[23]`` for ``task="mlp"``, the family's θ
            size for another family; the last entry is the external rate r_ext (Hz).
        task: the rule family: ``"polynomial"``, ``"mlp"``, any :class:`jaxsnn.fsbi.families.FSBIFamily`
            (e.g. one defined in a user's module), or its ``"module:attribute"`` spec.
        seed: fixes the connectivity (shared by the batch) and, with ``rule_ids``, the random input.
        rule_ids: ``[R]`` integers naming each rule's random stream (default 0..R-1); a rule simulated
            with the same seed and id gets the same input whatever batch it is in.
        progress: print a line per simulated chunk.
        **overrides: any field of :class:`FSBIConfig`, e.g. ``duration`` (s, default 70.0),
            ``record_start`` (s, 60.0), ``n_exc`` (4096), ``n_inh`` (1024); recorded neuron counts are
            capped at the population sizes.
    Returns:
        :class:`FSBIResult`.
    """
    t0 = time.perf_counter()
    config = make_config(task, **overrides)
    theta = _validate_theta(theta, config)
    n_rules = theta.shape[0]
    rule_ids = np.arange(n_rules) if rule_ids is None else np.asarray(rule_ids)
    if rule_ids.shape != (n_rules,):
        raise ValueError(f"rule_ids must have shape [{n_rules}]; got {list(rule_ids.shape)}")
    structure, net, params, block, ext_capacity, n_periods, periods_per_chunk = _batch(config, theta, seed)
    period = config.weight_sample_period
    static = resolve_strategy(config.strategy) == "static"
    kernel = None if static else _kernel_of(config, net, params)
    slots = static_slots(net, params, n_rules) if static else None
    # the XLA path donates its state: one copy of the weights on the device, not two; a rerun after
    # overflow starts from a host copy of the chunk's first state
    donate = kernel is None

    def programs_for(slots: dict[str, int] | None) -> _Programs:
        return _programs(structure, net, kernel, n_rules, block, ext_capacity, periods_per_chunk, slots, donate)

    programs = programs_for(slots)
    sized_for = [n_rules]  # the rules the slots are sized for

    def run_chunk(call, *args):
        """``call(programs, *args)`` (``args[0]`` the state); with the static strategy, rerun until no
        rule's spikes were lost (:func:`jaxsnn.simulate.run_until_no_overflow`)."""
        nonlocal programs, slots
        if not static:
            return call(programs, *args)

        def run(sl, *a):
            nonlocal programs
            if sl != slots:
                programs = programs_for(sl)
            out = call(programs, *a)
            return (out,) if isinstance(out, NetworkState) else out  # a bare state: advance's output

        # blown-up rules emit no spikes: give their slots back once half of the rules have stopped
        smaller, sized_for[0] = slots_for_live_members(net, params, slots, sized_for[0], int(np.sum(_alive(args[0]))))
        if smaller != slots:
            programs = programs_for(smaller)
            slots = smaller
        out, slots = run_until_no_overflow(run, net, slots, args, donate)
        return out[0] if len(out) == 1 else out

    rule_keys = _rule_keys(seed, rule_ids)
    state = _initial_state(net, params, n_rules, static, donate)
    if kernel is None:
        inputs = {"params": params, "structure": net.structure()}
    else:  # the same network and state in the kernel's layout
        from .kernel import kernel_rule, kernel_state

        rule, decays = kernel_rule(kernel, params, config.dt)
        inputs = {"rule": rule, "r_ext": params.rates["ext"], "decays": decays, "conns": structure.conns}
        state = kernel_state(kernel, config, net, params, state)

    # before the window: chunks of unrecorded steps, stopping early once every rule has blown up
    pre_steps = programs.window_start
    chunk = _largest_divisor_at_most(pre_steps, max(1, steps_of("chunk_duration", round(config.chunk_duration / config.dt) * config.dt, config.dt))) if pre_steps else 0
    done = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while done < pre_steps and bool(np.any(_alive(state))):
        state = run_chunk(lambda prog, s: prog.advance(inputs, rule_keys, s, chunk), state)
        done += chunk
        if progress:
            print(f"  t = {done * config.dt:6.1f} s, {int(np.sum(_alive(state)))}/{n_rules} rules running", flush=True)
    if done < pre_steps:  # every rule stopped: fast-forward the clock, nothing else changes
        state = state._replace(step=jnp.int32(pre_steps))

    phase_s = {"plastic_wall": time.perf_counter() - wall0, "plastic_cpu": time.process_time() - cpu0}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    acc = _initial_accumulator(config, n_rules)
    monitored = {k: jnp.asarray(v) for k, v in structure.monitored.items()}
    samples_parts, spike_parts = [], []
    overflow = np.zeros(n_rules, np.int64)
    for _ in range(n_periods // periods_per_chunk):
        if not np.any(_alive(state)):  # every rule has blown up: the rest of the window is skipped
            break
        state, acc, events, samples = run_chunk(lambda prog, s, a: prog.record(inputs, rule_keys, s, a, monitored),
                                                state, acc)
        samples_parts.append({k: np.moveaxis(np.asarray(v), 0, 1) for k, v in samples.items()})
        if config.record_spikes:
            spike_parts.append({p: (np.asarray(ev.gid), np.asarray(ev.step), np.asarray(ev.count)) for p, ev in events.items()})
            overflow += sum(np.asarray(ev.overflow) for ev in events.values())
        if progress:
            print(f"  t = {float(state.step) * config.dt:6.1f} s (recording), "
                  f"{int(np.sum(_alive(state)))}/{n_rules} rules running", flush=True)
    phase_s.update(window_wall=time.perf_counter() - wall0, window_cpu=time.process_time() - cpu0)
    weight_values = {k: _window_samples([p[k] for p in samples_parts], n_rules, n_periods, len(v))
                     for k, v in structure.monitored.items()}
    sample_times = config.record_start + period * np.arange(n_periods)
    metrics = programs.finalize(acc, {k: jnp.asarray(v) for k, v in weight_values.items()}, sample_times)
    alive = _alive(state)
    metrics = {name: np.where(alive, np.asarray(metrics[name], np.float64), np.nan) for name in config.family.metric_names}
    overflow += _ext_overflow(state)
    spikes = None
    if config.record_spikes:
        spikes = {}
        for p in ("E", "I"):
            per_rule = []
            for r in range(n_rules):
                ids = np.concatenate([part[p][0][r, : part[p][2][r]] for part in spike_parts] or [np.zeros(0, np.int32)])
                steps = np.concatenate([part[p][1][r, : part[p][2][r]] for part in spike_parts] or [np.zeros(0, np.int32)])
                # times as the original writes and reads them: the float64 nearest k dt for absolute step k
                per_rule.append((step_times(programs.window_start + steps.astype(np.int64), config.dt), ids))
            spikes[p] = per_rule
    return FSBIResult(
        theta=theta,
        metrics=metrics,
        blowup_time=_stop_time(state, config.dt),
        overflow=overflow,
        weights={k: (sample_times, v) for k, v in weight_values.items()},
        spikes=spikes,
        wall_s=time.perf_counter() - t0,
        config=config,
        phase_s=phase_s,
    )


def compiled_bytes(task: Any = "polynomial", n_rules: int = 8, *, seed: int = 0, **overrides: Any) -> int:
    """Device memory (bytes) of the static strategy's recording chunk for ``n_rules`` rules of a family,
    read off the compiled program (``memory_analysis``: arguments + outputs + temporaries − donated
    aliases) on JAX's default device; the chunk before the window needs less. Compiles, runs nothing."""
    memory = _static_record_program(task, n_rules, seed, overrides).compile().memory_analysis()
    if memory is None:
        raise RuntimeError(f"the {jax.default_backend()} backend reports no memory analysis of compiled programs; "
                           "give the sweep a chunk_size")
    return int(memory.argument_size_in_bytes + memory.output_size_in_bytes + memory.temp_size_in_bytes
               - memory.alias_size_in_bytes)


def _static_record_program(task: Any, n_rules: int, seed: int, overrides: dict) -> Any:
    """The lowered recording chunk of the static strategy for ``n_rules`` copies of the family's published rule."""
    config = make_config(task, **{**overrides, "strategy": "static"})
    theta = np.tile(np.asarray(config.family.published, np.float64), (n_rules, 1))
    structure, net, params, block, ext_capacity, _, periods_per_chunk = _batch(config, theta, seed)
    slots = static_slots(net, params, n_rules)
    programs = _programs(structure, net, None, n_rules, block, ext_capacity, periods_per_chunk, slots, True)
    state = _initial_state(net, params, n_rules, True, False)
    monitored = {k: jnp.asarray(v) for k, v in structure.monitored.items()}
    inputs = {"params": params, "structure": net.structure()}
    return programs.record.lower(inputs, _rule_keys(seed, np.arange(n_rules)), state,
                                 _initial_accumulator(config, n_rules), monitored)


def compiled_bytes_per_rule(task: Any = "polynomial", *, seed: int = 0, rules: tuple[int, int] = (8, 16),
                            **overrides: Any) -> tuple[int, int]:
    """(bytes per rule, fixed bytes) of the static strategy's compiled chunk on JAX's default device,
    from :func:`compiled_bytes` at two batch sizes (the fixed part is the shared connectivity and
    program constants). A batch of R rules needs about ``fixed + R * per_rule`` bytes."""
    small, large = rules
    if not 0 < small < large:
        raise ValueError(f"rules must be two batch sizes 0 < a < b; got {rules}")
    a = compiled_bytes(task, small, seed=seed, **overrides)
    b = compiled_bytes(task, large, seed=seed, **overrides)
    per_rule = max(1, math.ceil((b - a) / (large - small)))
    return per_rule, max(0, a - small * per_rule)
