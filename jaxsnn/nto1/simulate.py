"""The N-to-1 network: one AdEx neuron driven by N Poisson inputs, its voltage recorded every step.

The neuron runs as a ``lax.scan`` over time in chunks; each chunk's voltage is copied to a host
numpy array as soon as it is done, so device memory does not grow with the duration. Several seeds
run together as a population of independent neurons (one per seed) in the same scan.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._validation import check_int, check_positive, steps_of
from ..conntest.trains import SpikeTrains
from ..neurons import AdEx, NeuronInput
from ..neurons.base import NeuronModel
from .inputs import (
    conductance_increments,
    conductance_jumps,
    input_rates,
    n_excitatory,
    poisson_spikes,
    spike_capacity,
)

#: Default steps per scan chunk: 2^18 steps (26 s of biological time) keep the chunk's voltage
#: buffer at 1 MiB per neuron.
CHUNK_STEPS = 1 << 18


class VoltageRun(NamedTuple):
    """What :func:`run_voltage` returns (host numpy arrays).

    Attributes:
        voltage: float32 ``[batch, n_steps]`` membrane potential after each step (V), after the
            reset on spiking steps (as the reference records it).
        spike_count: int64 ``[batch]`` output spikes.
        finite: bool ``[batch]`` False if the voltage ever became NaN or infinite.
    """

    voltage: np.ndarray
    spike_count: np.ndarray
    finite: np.ndarray


@partial(jax.jit, static_argnames=("dt",))
def _run_chunk(model: NeuronModel, state, exc: Array, inh: Array, dt: float):
    """Scan ``model`` over a chunk; ``exc``/``inh`` are ``[steps, batch]`` conductance jumps (S)."""
    current = jnp.zeros(exc.shape[1:], jnp.float32)

    def step(carry, jumps):
        state, n_spikes, finite = carry
        state, spikes = model.step(state, NeuronInput(jumps[0], jumps[1], current), dt)
        return (state, n_spikes + spikes.astype(jnp.int32), finite & jnp.isfinite(state.v)), state.v

    (state, n_spikes, finite), v = jax.lax.scan(
        step, (state, jnp.zeros(exc.shape[1:], jnp.int32), jnp.ones(exc.shape[1:], bool)), (exc, inh), unroll=4
    )
    return state, n_spikes, finite, v.T


def run_voltage(
    model: NeuronModel, exc: Array, inh: Array, dt: float, chunk_steps: int = CHUNK_STEPS
) -> VoltageRun:
    """Run ``batch`` independent neurons of ``model`` on given conductance jumps, in chunks.

    Args:
        model: neuron model (e.g. :class:`jaxsnn.neurons.AdEx`); its ``init`` sets the start state.
        exc, inh: float32 ``[batch, n_steps]`` conductance jumps arriving at each step (model units;
            S for AdEx).
        dt: time step (s).
        chunk_steps: steps per scan chunk. The state crosses chunk boundaries exactly, so the spikes
            do not depend on it; the voltage may differ by a few float32 ulp per step (XLA compiles
            loops of other lengths with other fusions), less than float32 differs from float64.
    """
    check_positive("dt", dt)
    chunk_steps = check_int("chunk_steps", chunk_steps, minimum=1)
    if exc.ndim != 2 or exc.shape != inh.shape:
        raise ValueError(f"exc and inh must both have shape [batch, n_steps]; got {exc.shape} and {inh.shape}")
    batch, n_steps = exc.shape
    voltage = np.empty((batch, n_steps), np.float32)
    state = model.init(batch)
    spike_count = np.zeros(batch, np.int64)
    finite = np.ones(batch, bool)
    for start in range(0, n_steps, chunk_steps):
        stop = min(start + chunk_steps, n_steps)
        state, n_spikes, ok, v = _run_chunk(model, state, exc[:, start:stop].T, inh[:, start:stop].T, dt)
        voltage[:, start:stop] = np.asarray(v)
        spike_count += np.asarray(n_spikes)
        finite &= np.asarray(ok)
    return VoltageRun(voltage, spike_count, finite)


class Nto1Result(NamedTuple):
    """One N-to-1 simulation.

    Attributes:
        voltage: float32 ``[n_steps]`` membrane potential after each step (V).
        trains: the N input spike trains (step indices), inputs ``< n_exc`` excitatory.
        rates: float32 ``[N]`` the inputs' drawn rates (Hz).
        n_exc: number of excitatory inputs.
        dg_exc, dg_inh: conductance jump per input spike (S).
        dt: time step (s).
        output_spikes: number of output spikes.
    """

    voltage: np.ndarray
    trains: SpikeTrains
    rates: np.ndarray
    n_exc: int
    dg_exc: float
    dg_inh: float
    dt: float
    output_spikes: int

    @property
    def is_excitatory(self) -> np.ndarray:
        """bool ``[N]``: which inputs are excitatory."""
        return np.arange(self.trains.n_trains) < self.n_exc


@partial(jax.jit, static_argnames=("n_inputs",))
def _draw_rates(keys: Array, n_inputs: int, median: float, gsd: float) -> tuple[Array, Array]:
    rate_keys, spike_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
    rates = jax.vmap(input_rates, in_axes=(0, None, None, None))(rate_keys, n_inputs, median, gsd)
    return rates, spike_keys


@partial(jax.jit, static_argnames=("n_steps", "dt", "capacity", "n_exc"))
def _draw_inputs(spike_keys, rates, n_steps, dt, capacity, n_exc, dg_exc, dg_inh):
    spikes = jax.vmap(poisson_spikes, in_axes=(0, 0, None, None, None))(spike_keys, rates, n_steps, dt, capacity)
    exc, inh = jax.vmap(conductance_increments, in_axes=(0, None, None, None, None))(
        spikes, n_exc, dg_exc, dg_inh, n_steps
    )
    return spikes, exc, inh


def _to_trains(step: np.ndarray, count: np.ndarray, n_steps: int) -> SpikeTrains:
    """Compact one network's slot buffer to :class:`SpikeTrains` (slots are grouped by input)."""
    steps = step[step < n_steps]
    offsets = np.concatenate([[0], np.cumsum(count, dtype=np.int64)])
    return SpikeTrains(steps.astype(np.int32), offsets, n_steps)


def simulate_nto1_seeds(
    keys: Array,
    n_inputs: int,
    duration: float,
    *,
    model: NeuronModel | None = None,
    dt: float = 1e-4,
    scaling: float | None = None,
    median_rate: float = 4.0,
    rate_gsd: float = 2.0,
    exc_fraction: float = 0.8,
    inh_ratio: float = 4.0,
    g_total: float = 60e-9,
    chunk_steps: int = CHUNK_STEPS,
) -> list[Nto1Result]:
    """Simulate one N-to-1 network per key in ``keys`` (``[batch]`` PRNG keys), all in one run.

    Args:
        keys: ``[batch]`` PRNG keys, one network each (different rates and spikes).
        n_inputs: N.
        duration: recording length (s), a whole number of steps.
        model: the neuron; default ``AdEx()`` (a = +0.8 nS as the notebook ran; pass
            ``AdEx(a=-0.8e-9)`` for Naud's table).
        dt: time step (s), 0.1 ms in the reference.
        scaling: f of Δg_e = g_total/(f·N); default from the reference table
            (:data:`jaxsnn.nto1.SCALING`).
        median_rate, rate_gsd: input rates ~ LogNormal(median (Hz), geometric SD).
        exc_fraction: share of excitatory inputs (the first ones), 0.8 for E:I = 4:1.
        inh_ratio: Δg_i / Δg_e.
        g_total: 60 nS (S).
        chunk_steps: steps per scan chunk (memory bound; results do not depend on it).

    Raises:
        RuntimeError: if an input train outgrew its buffer (spikes would have been lost) or the
            voltage became non-finite.
    """
    model = AdEx() if model is None else model
    n_inputs = check_int("n_inputs", n_inputs, minimum=1)
    n_steps = steps_of("duration", duration, dt)
    if not 0 < n_steps < 2**30:
        raise ValueError(f"duration must span between 1 and 2^30 steps of dt; got {n_steps} steps")
    check_positive("median_rate", median_rate)
    check_positive("rate_gsd", rate_gsd)
    keys = _typed_keys(keys)
    if keys.ndim != 1:
        raise ValueError(f"keys must be a [batch] array of PRNG keys (jax.random.split); got shape {keys.shape}")
    dg_exc, dg_inh = conductance_jumps(n_inputs, scaling, g_total, inh_ratio)
    n_exc = n_excitatory(n_inputs, exc_fraction)

    rates, spike_keys = _draw_rates(keys, n_inputs, median_rate, rate_gsd)
    capacity = spike_capacity(np.asarray(rates), n_steps, dt)
    spikes, exc, inh = _draw_inputs(spike_keys, rates, n_steps, dt, capacity, n_exc, dg_exc, dg_inh)
    overflow = np.asarray(spikes.overflow)
    if overflow.any():
        raise RuntimeError(f"{overflow.sum()} input trains filled their spike buffer; spikes would be lost")
    run = run_voltage(model, exc, inh, dt, chunk_steps)
    if not run.finite.all():
        raise RuntimeError("the membrane potential became non-finite; check the model parameters and dt")

    step, count, rates = np.asarray(spikes.step), np.asarray(spikes.count), np.asarray(rates)
    return [
        Nto1Result(
            voltage=run.voltage[b],
            trains=_to_trains(step[b], count[b], n_steps),
            rates=rates[b],
            n_exc=n_exc,
            dg_exc=dg_exc,
            dg_inh=dg_inh,
            dt=dt,
            output_spikes=int(run.spike_count[b]),
        )
        for b in range(len(keys))
    ]


def simulate_nto1(key: Array, n_inputs: int, duration: float, **kwargs) -> Nto1Result:
    """One N-to-1 network; see :func:`simulate_nto1_seeds` for the arguments."""
    return simulate_nto1_seeds(_typed_keys(key)[None], n_inputs, duration, **kwargs)[0]


def _typed_keys(keys: Array) -> Array:
    """Accept new-style keys (``jax.random.key``) and raw uint32 ones (``jax.random.PRNGKey``)."""
    keys = jnp.asarray(keys)
    return keys if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key) else jax.random.wrap_key_data(keys)
