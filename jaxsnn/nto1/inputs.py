"""Inputs of the N-to-1 network: lognormal rates, Poisson trains on the time grid, conductance jumps.

A train is a Poisson process seen at the simulation's resolution ``dt``: each step holds a spike
with probability ``p = 1 − exp(−r·dt)``, independently. It is drawn the fast way, from exponential
inter-spike intervals rounded up to whole steps (``ceil(Exp(r)/dt)`` is geometric with exactly this
``p``), summed per train. The probability that a continuous Poisson train at 5 Hz puts two spikes
into one 0.1 ms step is 1e-7, so this grid process is what the continuous one looks like to the
neuron.

All trains of a network share one flat buffer of ``capacity`` slots; train ``i`` owns a run of
slots long enough for its expected count plus 8 standard deviations. A train that fills its run is
counted in ``overflow`` (it may have lost spikes); the host wrapper turns that into an error.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._validation import check_int, check_positive, check_probability

#: The reference's (N, f) table: each input spike adds Δg_e = 60 nS / (f·N) (and Δg_i = 4·Δg_e), f
#: chosen per N so that the output neuron fires at a similar rate for every N.
SCALING: dict[int, float] = {5: 2.4, 20: 1.3, 100: 0.8, 400: 0.6, 1600: 0.5, 6500: 0.5}


def scaling_for(n_inputs: int) -> float:
    """The factor f of the reference's table for ``n_inputs``; raises for an N not in the table."""
    if n_inputs not in SCALING:
        raise ValueError(
            f"no scaling factor f in the reference table for N = {n_inputs}; the table has N in "
            f"{sorted(SCALING)}; pass scaling=f explicitly for another N"
        )
    return SCALING[n_inputs]


def conductance_jumps(
    n_inputs: int, scaling: float | None = None, g_total: float = 60e-9, inh_ratio: float = 4.0
) -> tuple[float, float]:
    """(Δg_e, Δg_i) in S: ``Δg_e = g_total / (f·N)``, ``Δg_i = inh_ratio·Δg_e``.

    Args:
        n_inputs: N, number of inputs.
        scaling: f; default from :data:`SCALING`.
        g_total: 60 nS in the reference (S).
        inh_ratio: Δg_i / Δg_e, 4 in the reference.
    """
    n_inputs = check_int("n_inputs", n_inputs, minimum=1)
    f = scaling_for(n_inputs) if scaling is None else scaling
    check_positive("scaling", f)
    check_positive("g_total", g_total)
    check_positive("inh_ratio", inh_ratio)
    dg_exc = g_total / (f * n_inputs)
    return dg_exc, inh_ratio * dg_exc


def n_excitatory(n_inputs: int, exc_fraction: float = 0.8) -> int:
    """Number of excitatory inputs: the first ``round(exc_fraction·N)`` inputs are excitatory."""
    check_probability("exc_fraction", exc_fraction)
    return int(round(exc_fraction * n_inputs))


def input_rates(key: Array, n_inputs: int, median: float = 4.0, gsd: float = 2.0) -> Array:
    """Firing rates ~ LogNormal(median, geometric SD): ``median·gsd^z``, z standard normal.

    Returns float32 ``[n_inputs]`` rates (Hz). Vmappable over ``key``.
    """
    z = jax.random.normal(key, (n_inputs,), jnp.float32)
    return median * jnp.exp(jnp.log(gsd) * z)


def _spike_probability(rates: Array, dt: float) -> Array:
    return -jnp.expm1(-rates * dt)


def _train_capacities(expected: Array | np.ndarray, xp=jnp):
    """Slots per train: expected count + 8 SD + 16 (a Poisson count exceeds it with probability < 1e-12)."""
    return xp.ceil(expected + 8.0 * xp.sqrt(expected) + 16.0).astype(xp.int32)


def spike_capacity(rates: Array | np.ndarray, n_steps: int, dt: float) -> int:
    """Slots that :func:`poisson_spikes` needs for trains of these ``rates`` (Hz) over ``n_steps``.

    ``rates`` may carry leading batch axes (one network per seed): the result covers the largest.
    """
    rates = np.asarray(rates, dtype=np.float64)
    expected = n_steps * -np.expm1(-rates * dt)
    return int(_train_capacities(expected, np).astype(np.int64).sum(axis=-1).max())


class InputSpikes(NamedTuple):
    """Spikes of all inputs in one flat buffer (device arrays).

    Attributes:
        step: int32 ``[capacity]`` step of each spike (spike in ``[step·dt, (step+1)·dt)``);
            ``n_steps`` in unused slots.
        train: int32 ``[capacity]`` input index of each slot, slots of one input contiguous and in
            time order; ``n_inputs`` in slots that belong to no input.
        count: int32 ``[n_inputs]`` spikes per input.
        overflow: int32 ``[]`` number of inputs whose run of slots filled up (possibly lost spikes).
    """

    step: Array
    train: Array
    count: Array
    overflow: Array


def poisson_spikes(key: Array, rates: Array, n_steps: int, dt: float, capacity: int) -> InputSpikes:
    """Independent Poisson trains on the grid (see the module docstring). Pure; vmappable over
    ``key`` and ``rates`` with static ``n_steps``, ``dt``, ``capacity``.

    Args:
        key: PRNG key.
        rates: float32 ``[n]`` rates (Hz).
        n_steps: number of steps; must be < 2^30 (int32 step arithmetic).
        dt: time step (s).
        capacity: total slots, from :func:`spike_capacity`.
    """
    check_positive("rates", rates, allow_zero=True)
    n = rates.shape[0]
    expected = n_steps * _spike_probability(rates, dt)
    slots = _train_capacities(expected)
    ends = jnp.cumsum(slots)
    starts = ends - slots
    slot = jnp.arange(capacity, dtype=jnp.int32)
    train = jnp.searchsorted(ends, slot, side="right").astype(jnp.int32)
    in_train = train < n
    rate_dt = jnp.where(in_train, rates[jnp.minimum(train, n - 1)] * dt, 1.0)
    # -log(1 - p) = r·dt, so ceil(Exp(1) / (r·dt)) is geometric with success probability p (in
    # float32, so intervals above 2^24 steps are rounded to a few steps).
    # An interval beyond the recording ends the train, so capping it at n_steps + 1 changes no spike;
    # the cap is applied in integers, where n_steps + 1 is exact.
    isi = jnp.ceil(jnp.minimum(jax.random.exponential(key, (capacity,)) / rate_dt, 2.0**30))
    isi = jnp.clip(isi.astype(jnp.int32), 1, n_steps + 1)
    # One running sum over all slots; it wraps around int32 for long buffers, but differences
    # within a train are exact in two's-complement arithmetic up to 2^31.
    total = jnp.cumsum(isi)
    before_start = jnp.where(starts > 0, total[jnp.clip(starts - 1, 0, capacity - 1)], 0)
    step = total - before_start[jnp.minimum(train, n - 1)] - 1
    # A train's spikes are the slots before its first one past the end: later slots could have
    # wrapped around (e.g. many capped intervals of a silent train) and must not count.
    past_end = in_train & ~((step >= 0) & (step < n_steps))
    first_past_end = jax.ops.segment_min(jnp.where(past_end, slot, capacity), train, num_segments=n + 1)
    valid = in_train & (slot < first_past_end[train])
    step = jnp.where(valid, step, n_steps)
    count = jax.ops.segment_sum(valid.astype(jnp.int32), train, num_segments=n + 1)[:n]
    last_slot_used = valid[jnp.clip(ends - 1, 0, capacity - 1)]
    overflow = jnp.sum(last_slot_used | (ends > capacity)).astype(jnp.int32)
    return InputSpikes(step, jnp.where(in_train, train, n), count, overflow)


def conductance_increments(
    spikes: InputSpikes, n_exc: int, dg_exc: float, dg_inh: float, n_steps: int
) -> tuple[Array, Array]:
    """Per-step conductance jumps (S) that the inputs deliver to the neuron.

    A spike in step ``k`` reaches the neuron at the start of step ``k + 1`` (as in the reference,
    where spikes with time < t are applied before the update that ends at t + dt); spikes of the
    last step arrive after the recording and are not applied.

    Returns:
        (exc, inh): float32 ``[n_steps]`` each; inputs ``< n_exc`` are excitatory.
    """
    arrival = spikes.step + 1  # unused slots hold n_steps, so they land out of range and drop
    is_exc = spikes.train < n_exc
    ones = jnp.ones_like(arrival, dtype=jnp.float32)
    n_e = jnp.zeros((n_steps,), jnp.float32).at[jnp.where(is_exc, arrival, n_steps)].add(ones, mode="drop")
    n_i = jnp.zeros((n_steps,), jnp.float32).at[jnp.where(is_exc, n_steps, arrival)].add(ones, mode="drop")
    return n_e * dg_exc, n_i * dg_inh
