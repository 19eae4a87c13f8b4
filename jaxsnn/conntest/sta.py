"""The reference's spike-triggered-average (STA) test with ISI-shuffled surrogates.

The STA of a train is the mean of ``V[s], …, V[s + window − 1]`` over its spikes ``s`` (windows that
run past the recording are left out). The statistic is the STA's peak-to-peak height. The null
distribution comes from ``n_surrogates`` copies of the same train with shuffled inter-spike
intervals; ``p`` = fraction of surrogates whose height is ≥ the real one, floored at
``1/n_surrogates``. The predicted sign is that of ``Σ_j (STA[j] − STA[0])``.

Each STA costs ``window`` additions per spike, so one train costs ``(n_surrogates + 1)·window``
additions per spike: the test is jitted and vmapped over surrogates and over a block of trains, and
the accumulation runs as one scan over spike index for the whole block.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._validation import check_int
from ._batch import map_trains
from .trains import SpikeTrains, shuffle_isis


class STAResult(NamedTuple):
    """Per train (host arrays).

    Attributes:
        p_value: ``[n_trains]`` shuffle-test p-value, in ``[1/n_surrogates, 1]`` (NaN for a train
            without a complete window).
        sign: ``[n_trains]`` +1 or −1, the sign of the area of the STA above its first value.
        peak_to_peak: ``[n_trains]`` height of the real STA (V).
        sta: float32 ``[n_trains, window]`` the real STAs (V).
        score: ``[n_trains]`` ``sign·(1 − p_value)``, for ROC curves.
    """

    p_value: np.ndarray
    sign: np.ndarray
    peak_to_peak: np.ndarray
    sta: np.ndarray
    score: np.ndarray


@partial(jax.jit, static_argnames=("window",))
def spike_triggered_averages(voltage: Array, steps: Array, counts: Array, window: int) -> Array:
    """STAs of several padded trains at once.

    Args:
        voltage: float32 ``[n_steps]`` (V).
        steps: int32 ``[rows, length]`` ascending step indices, padded past ``counts``.
        counts: int32 ``[rows]``.
        window: STA length (steps).
    Returns:
        float32 ``[rows, window]`` (NaN for a row without a complete window).
    """
    n_starts = voltage.shape[0] - window + 1
    valid = (jnp.arange(steps.shape[1]) < counts[:, None]) & (steps < n_starts)

    def add_spike(k, total):
        at, ok = steps[:, k], valid[:, k]
        windows = jax.vmap(lambda s: jax.lax.dynamic_slice(voltage, (s,), (window,)))(jnp.where(ok, at, 0))
        return total + jnp.where(ok[:, None], windows, 0.0)

    # Loop only up to the longest row: the padding of the bucketed shape costs nothing.
    total = jax.lax.fori_loop(0, jnp.max(counts), add_spike, jnp.zeros((steps.shape[0], window), jnp.float32))
    return total / jnp.sum(valid, axis=1)[:, None]


@partial(jax.jit, static_argnames=("window", "n_surrogates"))
def _sta_block(key, voltage, steps, counts, indices, window, n_surrogates):
    rows, length = steps.shape

    def surrogates(steps, count, index):
        keys = jax.random.split(jax.random.fold_in(key, index), n_surrogates)
        return jax.vmap(shuffle_isis, in_axes=(0, None, None))(keys, steps, count)

    shuffled = jax.vmap(surrogates)(steps, counts, indices)  # [rows, n_surrogates, length]
    all_steps = jnp.concatenate([steps[:, None], shuffled], axis=1).reshape(-1, length)
    all_counts = jnp.repeat(counts, n_surrogates + 1)
    stas = spike_triggered_averages(voltage, all_steps, all_counts, window).reshape(rows, n_surrogates + 1, window)
    height = jnp.max(stas, axis=2) - jnp.min(stas, axis=2)
    real, null = height[:, 0], height[:, 1:]
    p_value = jnp.maximum(jnp.sum(null >= real[:, None], axis=1), 1) / n_surrogates
    # Without a complete window there is no STA and no test (checked explicitly: reductions over
    # NaN are not reliable under XLA's CPU fast-math).
    tested = jnp.any((jnp.arange(length) < counts[:, None]) & (steps <= voltage.shape[0] - window), axis=1)
    p_value, real = jnp.where(tested, p_value, jnp.nan), jnp.where(tested, real, jnp.nan)
    sign = jnp.where(jnp.sum(stas[:, 0] - stas[:, 0, :1], axis=1) >= 0, 1.0, -1.0)
    return p_value, sign, real, stas[:, 0]


def sta_test(
    key: Array,
    voltage: Array | np.ndarray,
    trains: SpikeTrains,
    window: int = 1000,
    n_surrogates: int = 100,
    block_size: int = 4,
) -> STAResult:
    """The reference's STA shuffle test of every train in ``trains``.

    Args:
        key: PRNG key for the shuffles (train ``i`` uses ``fold_in(key, i)``, so results do not
            depend on blocking).
        voltage: float32 ``[n_steps]`` (V).
        trains: spike trains on the same grid.
        window: STA length (steps); 1000 = 100 ms at dt = 0.1 ms.
        n_surrogates: number of ISI-shuffled surrogates per train.
        block_size: trains per vmapped block (memory: block·(n_surrogates+1)·window floats).
    """
    window = check_int("window", window, minimum=2)
    n_surrogates = check_int("n_surrogates", n_surrogates, minimum=1)
    voltage = jnp.asarray(voltage, jnp.float32)
    if voltage.ndim != 1 or voltage.shape[0] != trains.n_steps:
        raise ValueError(f"voltage must have shape [{trains.n_steps}] (the trains' n_steps); got {list(voltage.shape)}")
    if window > trains.n_steps:
        raise ValueError(f"window ({window} steps) is longer than the recording ({trains.n_steps} steps)")
    block = partial(_sta_block, window=window, n_surrogates=n_surrogates)
    p_value, sign, height, sta = map_trains(block, trains, block_size, key, voltage)
    return STAResult(p_value, sign, height, sta, sign * (1.0 - p_value))
