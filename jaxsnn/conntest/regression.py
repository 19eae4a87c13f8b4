"""The reference's regression test: a straight line through the pooled post-spike voltage windows.

For one input train, cut the voltage into windows of ``window`` steps starting at each of its
spikes (``V[s], …, V[s + window − 1]``; windows that run past the recording are dropped), pool
them, and fit ``V = β0 + β1·j`` (``j`` = 1 … window, the step within the window) by least squares.
The t-statistic of β1 uses the pooled residual variance with ``n − 2`` degrees of freedom (n =
windows × window); the two-sided p-value is taken from the normal distribution, as in the
reference (n is in the hundreds of thousands). ``p < α`` → excitatory if β1 > 0, else inhibitory.

Every window's contribution to the least-squares sums is a fixed linear or quadratic functional of
the voltage at its start, so those are computed once for the whole recording (three moving sums),
and each train only gathers them at its spikes. That is the same fit, at the cost of one gather per
spike instead of one per window sample.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr
from jaxtyping import Array

from .._validation import check_int
from ._batch import map_trains
from .trains import SpikeTrains


class RegressionResult(NamedTuple):
    """Per train (host arrays ``[n_trains]``).

    Attributes:
        t: t-statistic of the slope (NaN for a train without complete windows).
        p_value: two-sided p-value of the slope.
        slope: fitted slope β1 (V/step).
        n_windows: windows that fitted in the recording.
    """

    t: np.ndarray
    p_value: np.ndarray
    slope: np.ndarray
    n_windows: np.ndarray


@partial(jax.jit, static_argnames=("window",))
def window_sums(voltage: Array, window: int) -> tuple[Array, Array, Array, Array]:
    """Least-squares sums of every window of the recording.

    Args:
        voltage: float32 ``[n_steps]`` (V).
        window: window length (steps).
    Returns:
        ``(level, s1, st, s2)``: ``level`` the recording mean (V) subtracted to keep float32 sums
        accurate; then, for each window start ``s`` in ``[0, n_steps − window]``,
        ``s1 = Σ_j y``, ``st = Σ_j (j − j̄)·y``, ``s2 = Σ_j y²`` with ``y = V[s + j] − level``.
    """
    level = jnp.mean(voltage)
    y = voltage - level
    j = jnp.arange(window, dtype=jnp.float32) - (window - 1) / 2
    kernel = jnp.zeros((3, 2, window), jnp.float32).at[0, 0].set(1.0).at[1, 0].set(j).at[2, 1].set(1.0)
    sums = jax.lax.conv_general_dilated(
        jnp.stack([y, y * y])[None], kernel, (1,), "VALID", dimension_numbers=("NCH", "OIH", "NCH")
    )[0]
    return level, sums[0], sums[1], sums[2]


def slope_t_statistic(n_windows: Array, s1: Array, st: Array, s2: Array, window: int) -> tuple[Array, Array]:
    """(β1, t) of the pooled fit from the sums over a train's windows (elementwise over trains)."""
    m = n_windows.astype(jnp.float32)
    n = m * window
    stt = window * (window**2 - 1) / 12.0  # Σ_j (j − j̄)² within one window
    slope = st / (m * stt)
    rss = s2 - s1 * s1 / n - slope * st
    dof = n - 2.0
    t = slope / jnp.sqrt(rss / dof / (m * stt))
    return slope, t


@partial(jax.jit, static_argnames=("window",))
def _regression_block(sums, steps, counts, indices, window):
    _, s1, st, s2 = sums
    n_starts = s1.shape[0]

    def one_train(steps, count):
        fits = (jnp.arange(steps.shape[0]) < count) & (steps < n_starts)
        at = jnp.where(fits, steps, 0)
        total = [jnp.sum(jnp.where(fits, x[at], 0.0)) for x in (s1, st, s2)]
        n_windows = jnp.sum(fits)
        slope, t = slope_t_statistic(n_windows, *total, window)
        tested = n_windows > 0  # explicit: NaN propagation is not reliable under CPU fast-math
        t, slope = jnp.where(tested, t, jnp.nan), jnp.where(tested, slope, jnp.nan)
        return t, jnp.where(tested, 2.0 * ndtr(-jnp.abs(t)), jnp.nan), slope, n_windows

    return jax.vmap(one_train)(steps, counts)


def regression_test(voltage: Array | np.ndarray, trains: SpikeTrains, window: int = 100, block_size: int = 512) -> RegressionResult:
    """The reference's window-pooled regression test of every train in ``trains``.

    Args:
        voltage: float32 ``[n_steps]`` membrane potential (V), one value per step.
        trains: spike trains on the same grid.
        window: window length (steps); 100 = 10 ms at dt = 0.1 ms.
        block_size: trains per vmapped block.
    """
    window = check_int("window", window, minimum=3)
    voltage = jnp.asarray(voltage, jnp.float32)
    if voltage.ndim != 1 or voltage.shape[0] != trains.n_steps:
        raise ValueError(f"voltage must have shape [{trains.n_steps}] (the trains' n_steps); got {list(voltage.shape)}")
    if window > trains.n_steps:
        raise ValueError(f"window ({window} steps) is longer than the recording ({trains.n_steps} steps)")
    sums = window_sums(voltage, window)
    t, p, slope, n_windows = map_trains(partial(_regression_block, window=window), trains, block_size, sums)
    return RegressionResult(t, p, slope, n_windows)
