"""The fSBI metrics (docs/models/fsbi.md, "Metrics") from running statistics on the device (jittable, vmappable).

A sweep never needs to bring spikes to the host: the simulation carries a ``MetricsAccumulator`` in its
``lax.scan``, calls ``update_accumulator`` once per time step of the recording window, and calls
``finalize_metrics`` at the end. The numbers are those of ``jaxsnn.fsbi.metrics.compute_metrics`` (same
conventions, see its module docstring) in float32, for spikes at times ``t_start + k * dt``, where
``k`` is the step index within the window, read at ``resolution=dt``.

Bins: the bin of each step is looked up in a step -> bin table (int32 ``[n_steps]`` per bin width,
-1 for steps in no bin) computed once on the host by ``jaxsnn.fsbi.metrics.bin_index`` from the
step's time as ``compute_metrics`` reads it, so every spike lands in the bin it has there, edges
included (``np.histogram`` on ``np.arange`` edges by default; arithmetic ``k // steps_per_bin``
would put the spikes on 96 of the 98 interior 100 ms edges in the wrong bin). The tables are
constants of the compiled update (3 × 400 kB for the default window).

What the carry holds (``n_e`` recorded E neurons; bin counts of the default 10 s window at dt = 0.1 ms):

- per E neuron: spike count, first and last spike step, and the running sum of squared deviations of
  its ISIs (Welford; the running mean is ``(last - first) / #ISIs``, exact in integers);
- the pooled ISI histogram (99 bins on [0, 1] s) in a form that needs no scatter per step: the bin of
  each neuron's first ISI in each 10 ms block (int8 `[1000, n_e]`), and a count of the others (bin 0);
- per-neuron spike counts in 100 ms bins ``[99, n_e]`` (Fano factors) and in 10 ms bins
  ``[999, n_e]`` (auto_cov), stored as the narrowest integer type that holds the most steps of any
  bin (uint8 for 10 ms at 0.1 ms steps: 1 MB for 1000 neurons);
- the population spike count per 1 ms bin ``[9999]`` (fft, std_rate_temporal);
- the I spike total.

One update costs O(n_e + n_i): a row update of each bin array at the step's bin and elementwise
work; no scatter. Everything of size neurons × bins happens once, in
``finalize_metrics``. Steps with ``k`` outside ``[0, n_steps)`` change nothing, so the update may also
be called on every step of a longer run with ``k = step - first_window_step``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array

from .._validation import check_choice, check_int, check_positive, is_concrete, steps_of
from .metrics import (
    AUTOCOV_BIN,
    AUTOCOV_MAX_LAG,
    BINNINGS,
    AUTOCOV_MIN_STD,
    CV_MIN_ISIS,
    DRIFT_METRIC_NAMES,
    FANO_BIN,
    FANO_MIN_SPIKES,
    FFT_BIN,
    FINAL_WEIGHT_METRIC,
    KL_FALLBACK_RATE,
    KL_ISI_MAX,
    KL_LOW_RATE,
    KL_N_EDGES,
    METRIC_NAMES,
    PROJECTIONS,
    W_CREEP_MIN_SUM,
    WEIGHT_DIGITS,
    WEIGHT_DRIFT_METRIC,
    bin_index,
    n_bins,
    printed_interval,
    read_times,
)


@dataclass(frozen=True)
class StreamWindow:
    """Static description of the recording window (hashable; no array leaves).

    Attributes:
        t_start, t_stop: window (s). dt: time step (s). n_e, n_i: recorded E and I neurons.
        n_steps: steps in the window. steps_per_second: 1 s / dt.
        fano_bins, autocov_bins, fft_bins: number of 100 ms, 10 ms and 1 ms bins (``metrics.n_bins``).
        fano_steps, autocov_steps, fft_steps: steps per such bin.
        isi_blocks, isi_block_steps: the window cut into blocks of 10 ms (the last may be partial), in
            which the first ISI of each neuron is stored (see ``MetricsAccumulator.isi_first_bin``).
        low_rate_spikes: the largest E spike total whose rate is <= 0.1 Hz (kl_isi fallback), computed
            in float64 exactly as ``compute_metrics`` does.
        binning: the bin rule of ``compute_metrics`` (``"reference"`` or ``"exact"``); the step -> bin
            tables follow it (``step_bins``).
    """

    t_start: float
    t_stop: float
    dt: float
    n_e: int
    n_i: int
    n_steps: int
    steps_per_second: int
    fano_bins: int
    fano_steps: int
    autocov_bins: int
    autocov_steps: int
    fft_bins: int
    fft_steps: int
    isi_blocks: int
    isi_block_steps: int
    low_rate_spikes: int
    binning: str = "reference"


jax.tree_util.register_static(StreamWindow)


@functools.lru_cache(maxsize=32)
def step_bins(window: StreamWindow, width: float) -> np.ndarray:
    """int32 ``[n_steps]``: the bin of ``width`` (s) that each step of the window falls in, -1 for none.

    Step ``k`` is the spike time ``t_start + k * dt`` read as ``compute_metrics`` reads it
    (``read_times`` at ``resolution=dt``) and binned by ``bin_index`` with the window's rule, so the
    device counts equal the host counts on the same spikes, on the edges too. Computed once per window
    and width (cached; read-only)."""
    w = window
    times = read_times(w.t_start + np.arange(w.n_steps) * w.dt, w.dt)
    table = bin_index(times, w.t_start, w.t_stop, width, w.binning).astype(np.int32)
    table.flags.writeable = False
    return table


def _widest_bin(window: StreamWindow, width: float) -> int:
    table = step_bins(window, width)
    inside = table[table >= 0]
    return int(np.bincount(inside).max()) if inside.size else 1


class MetricsAccumulator(NamedTuple):
    """Running statistics of one run (a pytree; stack it along a leading axis for a batch of runs).

    Attributes:
        window: static ``StreamWindow``.
        e_count: int32 ``[n_e]`` spikes per E neuron in the window.
        i_count: int32 ``[]`` I spikes in the window.
        first_spike, last_spike: int32 ``[n_e]`` step of the first and latest spike (-1: none yet).
        isi_m2: float32 ``[n_e]`` sum of squared deviations of each neuron's ISIs from their mean (steps²).
        isi_first_bin: int8 ``[isi_blocks, n_e]`` pooled-ISI histogram bin (on linspace(0, 1 s, 100),
            ISIs clipped) of each neuron's first ISI ending in each 10 ms block; -1 where none.
        isi_short: int32 ``[]`` the other ISIs, all shorter than one block, hence in histogram bin 0.
        fano_counts: ``[fano_bins, n_e]`` spike counts in 100 ms bins.
        autocov_counts: ``[autocov_bins, n_e]`` spike counts in 10 ms bins.
        population_counts: int32 ``[fft_bins]`` E spikes of all neurons per 1 ms bin.
    """

    window: StreamWindow
    e_count: Array
    i_count: Array
    first_spike: Array
    last_spike: Array
    isi_m2: Array
    isi_first_bin: Array
    isi_short: Array
    fano_counts: Array
    autocov_counts: Array
    population_counts: Array


def _count_dtype(steps_in_bin: int) -> Any:
    """Narrowest integer type holding a bin's largest count (a spike per step of its widest bin)."""
    for dtype in (jnp.uint8, jnp.int16):
        if steps_in_bin <= jnp.iinfo(dtype).max:
            return dtype
    return jnp.int32


def _low_rate_spikes(n_e: int, duration: float) -> int:
    count = int(np.floor(KL_LOW_RATE * n_e * duration)) + 1
    while count > 0 and not count / n_e / duration <= KL_LOW_RATE:
        count -= 1
    return count


def make_window(
    n_e: int, n_i: int, *, t_start: float = 60.0, t_stop: float = 70.0, dt: float = 1e-4,
    binning: str = "reference",
) -> StreamWindow:
    """Validate the window and derive its static bin layout (see ``StreamWindow``)."""
    check_choice("binning", binning, BINNINGS)
    n_e = check_int("n_e", n_e, minimum=1)
    n_i = check_int("n_i", n_i, minimum=1)
    check_positive("dt", dt)
    if not (np.isfinite(t_start) and np.isfinite(t_stop) and t_stop > t_start):
        raise ValueError(f"need finite t_start < t_stop (s); got t_start={t_start}, t_stop={t_stop}")
    fft_steps = steps_of("the 1 ms bin of fft", FFT_BIN, dt)
    autocov_bins = n_bins(t_start, t_stop, AUTOCOV_BIN)
    if autocov_bins < AUTOCOV_MAX_LAG + 1:
        raise ValueError(
            f"the window [{t_start}, {t_stop}) s must hold at least {AUTOCOV_MAX_LAG + 1} bins of "
            f"{AUTOCOV_BIN} s for auto_cov; make it at least 0.52 s long"
        )
    duration = t_stop - t_start
    n_steps = steps_of("t_stop - t_start", duration, dt)
    # 10 ms < 1/99 s, so two ISIs of a neuron ending in one block cannot both leave histogram bin 0.
    isi_block_steps = steps_of("the 10 ms ISI block", AUTOCOV_BIN, dt)
    return StreamWindow(
        t_start=float(t_start),
        t_stop=float(t_stop),
        dt=float(dt),
        n_e=n_e,
        n_i=n_i,
        n_steps=n_steps,
        steps_per_second=round(1.0 / FFT_BIN) * fft_steps,
        fano_bins=n_bins(t_start, t_stop, FANO_BIN),
        fano_steps=steps_of("the 100 ms Fano bin", FANO_BIN, dt),
        autocov_bins=autocov_bins,
        autocov_steps=steps_of("the 10 ms auto_cov bin", AUTOCOV_BIN, dt),
        fft_bins=n_bins(t_start, t_stop, FFT_BIN),
        fft_steps=fft_steps,
        isi_blocks=-(-n_steps // isi_block_steps),
        isi_block_steps=isi_block_steps,
        low_rate_spikes=_low_rate_spikes(n_e, duration),
        binning=binning,
    )


def init_accumulator(
    n_e: int, n_i: int, *, t_start: float = 60.0, t_stop: float = 70.0, dt: float = 1e-4,
    binning: str = "reference",
) -> MetricsAccumulator:
    """Empty statistics for ``n_e`` E and ``n_i`` I recorded neurons over [t_start, t_stop) (s), step dt (s).

    dt must divide 1 ms and the window length. Raises ``ValueError`` otherwise, or when the window is
    shorter than the 51 bins of 10 ms that auto_cov reads. ``binning``: the bin rule of
    ``compute_metrics`` (default ``"reference"``, the original's).
    """
    w = make_window(n_e, n_i, t_start=t_start, t_stop=t_stop, dt=dt, binning=binning)
    none = jnp.full((w.n_e,), -1, jnp.int32)
    return MetricsAccumulator(
        window=w,
        e_count=jnp.zeros((w.n_e,), jnp.int32),
        i_count=jnp.zeros((), jnp.int32),
        first_spike=none,
        last_spike=none,
        isi_m2=jnp.zeros((w.n_e,), jnp.float32),
        isi_first_bin=jnp.full((w.isi_blocks, w.n_e), -1, jnp.int8),
        isi_short=jnp.zeros((), jnp.int32),
        fano_counts=jnp.zeros((w.fano_bins, w.n_e), _count_dtype(_widest_bin(w, FANO_BIN))),
        autocov_counts=jnp.zeros((w.autocov_bins, w.n_e), _count_dtype(_widest_bin(w, AUTOCOV_BIN))),
        population_counts=jnp.zeros((w.fft_bins,), jnp.int32),
    )


def _bin_of_step(w: StreamWindow, k: Array, width: float) -> tuple[Array, Array]:
    """Bin of width ``width`` of window step ``k`` (from the host's table) and whether it has one."""
    table = jnp.asarray(step_bins(w, width))
    index = lax.dynamic_index_in_dim(table, jnp.clip(k, 0, w.n_steps - 1), axis=0, keepdims=False)
    return jnp.maximum(index, 0), (index >= 0) & (k >= 0) & (k < w.n_steps)


def _add_to_row(counts: Array, spikes: Array, k: Array, w: StreamWindow, width: float) -> Array:
    """Add ``spikes`` ``[n]`` to the row of ``counts`` ``[bins, n]`` that holds step ``k``."""
    index, has_bin = _bin_of_step(w, k, width)
    row = lax.dynamic_index_in_dim(counts, index, axis=0, keepdims=False)
    row = row + (spikes & has_bin).astype(counts.dtype)
    return lax.dynamic_update_index_in_dim(counts, row, index, axis=0)


def update_accumulator(
    acc: MetricsAccumulator, e_spikes: Array, i_spikes: Array, step_in_window: Array
) -> MetricsAccumulator:
    """Fold one time step into the statistics.

    Args:
        acc: the statistics so far.
        e_spikes: ``[n_e]`` spikes of the recorded E neurons this step (bool, or float where > 0 is a spike).
        i_spikes: ``[n_i]`` the same for the recorded I neurons.
        step_in_window: int scalar ``k``; the step covers time ``t_start + k * dt``. Steps outside
            ``[0, n_steps)`` leave ``acc`` unchanged.
    """
    w = acc.window
    if is_concrete((e_spikes, i_spikes)):
        if jnp.shape(e_spikes) != (w.n_e,) or jnp.shape(i_spikes) != (w.n_i,):
            raise ValueError(
                f"e_spikes must have shape [{w.n_e}] and i_spikes [{w.n_i}]; "
                f"got {list(jnp.shape(e_spikes))} and {list(jnp.shape(i_spikes))}"
            )
    k = jnp.asarray(step_in_window, jnp.int32)
    in_window = (k >= 0) & (k < w.n_steps)
    e = (jnp.asarray(e_spikes) > 0) & in_window
    i = (jnp.asarray(i_spikes) > 0) & in_window

    # Welford update of the ISI sum of squares; a neuron with c spikes so far has c - 1 ISIs, and one
    # more after this spike, and its mean ISI is (last - first) / #ISIs.
    had_spike = acc.last_spike >= 0
    closes_isi = e & had_spike
    isi = (k - acc.last_spike).astype(jnp.float32)
    isis_before = jnp.maximum(acc.e_count - 1, 1).astype(jnp.float32)
    isis_after = jnp.maximum(acc.e_count, 1).astype(jnp.float32)
    mean_before = (acc.last_spike - acc.first_spike).astype(jnp.float32) / isis_before
    mean_after = (k - acc.first_spike).astype(jnp.float32) / isis_after
    isi_m2 = acc.isi_m2 + jnp.where(closes_isi, (isi - mean_before) * (isi - mean_after), 0.0)

    # ISI histogram bin floor(min(isi, 1 s) * 99 / 1 s) in integers; the closed last bin takes 1 s.
    # A scatter into the histogram every step would dominate the update. An ISI whose first spike lies
    # before the current 10 ms block is the neuron's first ISI ending in this block: its bin is stored
    # and histogrammed in finalize_metrics. Any other ISI is shorter than 10 ms < 1/99 s: bin 0.
    # (The stored row is read only by the write below, so XLA updates it in place.)
    sps = w.steps_per_second
    isi_steps = jnp.minimum(k - acc.last_spike, sps)
    isi_bin = jnp.minimum(isi_steps * (KL_N_EDGES - 1) // sps, KL_N_EDGES - 2)
    block = jnp.clip(k // w.isi_block_steps, 0, w.isi_blocks - 1)
    long_isi = closes_isi & (acc.last_spike < block * w.isi_block_steps)
    block_bins = lax.dynamic_index_in_dim(acc.isi_first_bin, block, axis=0, keepdims=False)
    block_bins = jnp.where(long_isi, isi_bin.astype(block_bins.dtype), block_bins)
    isi_first_bin = lax.dynamic_update_index_in_dim(acc.isi_first_bin, block_bins, block, axis=0)
    isi_short = acc.isi_short + jnp.sum(closes_isi & ~long_isi, dtype=jnp.int32)

    fft_index, fft_has_bin = _bin_of_step(w, k, FFT_BIN)
    n_spikes = jnp.sum(e, dtype=jnp.int32)
    return MetricsAccumulator(
        window=w,
        e_count=acc.e_count + e.astype(jnp.int32),
        i_count=acc.i_count + jnp.sum(i, dtype=jnp.int32),
        first_spike=jnp.where(e & ~had_spike, k, acc.first_spike),
        last_spike=jnp.where(e, k, acc.last_spike),
        isi_m2=isi_m2,
        isi_first_bin=isi_first_bin,
        isi_short=isi_short,
        fano_counts=_add_to_row(acc.fano_counts, e, k, w, FANO_BIN),
        autocov_counts=_add_to_row(acc.autocov_counts, e, k, w, AUTOCOV_BIN),
        population_counts=acc.population_counts.at[fft_index].add(jnp.where(fft_has_bin, n_spikes, 0)),
    )


def _fano(counts: Array, axis: int) -> Array:
    total = jnp.sum(counts, axis=axis, dtype=jnp.int32)
    x = counts.astype(jnp.float32)
    mean = jnp.mean(x, axis=axis)
    var = jnp.var(x, axis=axis)
    enough = total > FANO_MIN_SPIKES
    return jnp.where(enough, var / jnp.where(enough, mean, 1.0), 0.0)


def _cvs(acc: MetricsAccumulator) -> tuple[Array, Array, Array]:
    """Per-neuron CVs (0 below 3 ISIs), ISIs per neuron and their summed length (steps)."""
    isis = jnp.maximum(acc.e_count - 1, 0)
    span = (acc.last_spike - acc.first_spike).astype(jnp.float32)
    mean = span / jnp.maximum(isis, 1).astype(jnp.float32)
    enough = isis >= CV_MIN_ISIS
    std = jnp.sqrt(jnp.maximum(acc.isi_m2, 0.0) / jnp.maximum(isis, 1).astype(jnp.float32))
    return jnp.where(enough, std / jnp.where(enough, mean, 1.0), 0.0), isis, span


def _isi_histogram(acc: MetricsAccumulator) -> Array:
    """int32 ``[KL_N_EDGES - 1]`` pooled ISI histogram from the per-block first-ISI bins."""
    bins = acc.isi_first_bin.ravel().astype(jnp.int32)
    stored = bins >= 0
    hist = jnp.zeros((KL_N_EDGES - 1,), jnp.int32).at[jnp.where(stored, bins, 0)].add(stored.astype(jnp.int32))
    return hist.at[0].add(acc.isi_short)


def _kl_isi(acc: MetricsAccumulator, isis: Array, span: Array) -> Array:
    w = acc.window
    total = jnp.sum(isis)
    has_isis = total > 0
    mean_isi = jnp.where(has_isis, jnp.sum(span) * w.dt / jnp.maximum(total, 1).astype(jnp.float32), 1.0)
    low_rate = jnp.sum(acc.e_count) <= w.low_rate_spikes
    law_rate = jnp.where(low_rate, KL_FALLBACK_RATE, 1.0 / mean_isi)
    edges = jnp.asarray(np.linspace(0.0, KL_ISI_MAX, KL_N_EDGES), jnp.float32)
    log_q = -law_rate * edges[:-1] + jnp.log(-jnp.expm1(-law_rate * jnp.diff(edges)))
    p = _isi_histogram(acc).astype(jnp.float32) / jnp.maximum(total, 1).astype(jnp.float32)
    seen = p > 0
    terms = jnp.where(seen, p * (jnp.log(jnp.where(seen, p, 1.0)) - log_q), 0.0)
    return jnp.abs(jnp.sum(terms))


def _fft_length(minimum: int) -> int:
    """Smallest 2^a 3^b 5^c >= ``minimum`` (fast FFT sizes)."""
    length = minimum
    while True:
        rest = length
        for factor in (2, 3, 5):
            while rest % factor == 0:
                rest //= factor
        if rest == 1:
            return length
        length += 1


def _auto_cov(counts: Array) -> Array:
    x = counts.astype(jnp.float32)
    n_bin = x.shape[0]
    active = jnp.std(x, axis=0) > AUTOCOV_MIN_STD
    y = x - jnp.mean(x, axis=0)
    # Linear (not circular) correlation up to lag 50 through an FFT zero-padded past n_bin + 50.
    spectrum = jnp.fft.rfft(y, n=_fft_length(n_bin + AUTOCOV_MAX_LAG), axis=0)
    lags = jnp.fft.irfft(jnp.abs(spectrum) ** 2, n=_fft_length(n_bin + AUTOCOV_MAX_LAG), axis=0)
    lags = lags[: AUTOCOV_MAX_LAG + 1]
    normalised = jnp.abs(lags) / jnp.where(active, lags[0], 1.0)
    per_neuron = (normalised[0] + 2.0 * jnp.sum(normalised[1:], axis=0)) / (2 * AUTOCOV_MAX_LAG + 1)
    return jnp.mean(jnp.where(active, per_neuron, 1.0))


def _fft_and_std(acc: MetricsAccumulator) -> tuple[Array, Array]:
    population = acc.population_counts.astype(jnp.float32) / acc.window.n_e
    n_bin = population.shape[0]
    spectrum = 2.0 / n_bin * jnp.abs(jnp.fft.rfft(population)[1 : n_bin // 2])
    return jnp.sum(spectrum), jnp.std(population)


def _inside_samples(sample_times: np.ndarray, w: StreamWindow) -> np.ndarray:
    """Indices of the samples strictly inside (t_start, t_stop), times read at dt as ``compute_metrics``
    reads them."""
    times = read_times(sample_times, w.dt)
    return np.flatnonzero((times > w.t_start) & (times < w.t_stop))


def _float32_interval(lo: float, hi: float) -> tuple[np.float32, np.float32]:
    """float32 bounds with ``lo32 <= x <= hi32`` exactly when ``lo <= x <= hi``, for float32 ``x``."""
    lo32, hi32 = np.float32(lo), np.float32(hi)
    if float(lo32) < lo:
        lo32 = np.nextafter(lo32, np.float32(np.inf))
    if float(hi32) > hi:
        hi32 = np.nextafter(hi32, np.float32(-np.inf))
    return lo32, hi32


def _pinned(values: Array, w_max: float, digits: int | None) -> Array:
    """``metrics.pinned_weights`` for float32 weights: 0, or printed as w_max at ``digits`` digits."""
    if digits is None:
        return (values == 0.0) | (values == jnp.float32(w_max))
    lo, hi = printed_interval(w_max, digits)
    if np.isnan(lo):
        return values == 0.0
    lo32, hi32 = _float32_interval(lo, hi)
    return (values == 0.0) | ((values >= lo32) & (values <= hi32))


def _check_weight_samples(weight_samples: Mapping[str, Array], sample_times: Any, w: StreamWindow) -> np.ndarray:
    """Validate the weights (shapes only, so traced values pass) and return the sample times (s)."""
    n_samples = set()
    for name, values in weight_samples.items():
        if name not in PROJECTIONS:
            raise ValueError(f"weight_samples keys must be among {list(PROJECTIONS)}; got {name!r}")
        if jnp.ndim(values) != 2 or 0 in jnp.shape(values):
            raise ValueError(
                f"weight_samples[{name!r}] must be [S, n_monitored] with S, n_monitored >= 1; "
                f"got {list(jnp.shape(values))}"
            )
        n_samples.add(jnp.shape(values)[0])
    if not n_samples:
        return np.zeros(0)
    if len(n_samples) > 1:
        raise ValueError(f"every projection must have the same number of weight samples; got {sorted(n_samples)}")
    (count,) = n_samples
    times = w.t_start + 0.1 * np.arange(count) if sample_times is None else np.asarray(sample_times, np.float64)
    if times.shape != (count,):
        raise ValueError(
            f"sample_times must have shape [{count}] like the weight samples; got {list(times.shape)}"
        )
    if _inside_samples(times, w).size == 0:
        raise ValueError(f"no weight sample strictly inside ({w.t_start}, {w.t_stop}) s, so w_blow is undefined")
    return times


def _weight_metrics(
    weight_samples: Mapping[str, Array], sample_times: Any, w: StreamWindow, w_max: float, digits: int | None
) -> dict[str, Array]:
    blow, creep, finals = [], jnp.zeros((), jnp.float32), {}
    for name in PROJECTIONS:
        if name not in weight_samples:
            continue
        values = jnp.asarray(weight_samples[name], jnp.float32)
        window = values[_inside_samples(sample_times, w)]
        blow.append(jnp.mean(_pinned(window, w_max, digits)))
        start, end = jnp.mean(values[0]), jnp.mean(values[-1])
        total = start + end
        drift = jnp.where(total > W_CREEP_MIN_SUM, 2.0 * (end - start) / jnp.where(total > W_CREEP_MIN_SUM, total, 1.0), 0.0)
        creep = jnp.maximum(creep, jnp.abs(drift))
        finals[FINAL_WEIGHT_METRIC[name]] = end
        finals[WEIGHT_DRIFT_METRIC[name]] = drift
    w_blow = jnp.mean(jnp.stack(blow)) if blow else jnp.zeros((), jnp.float32)
    return {"w_blow": w_blow, "w_creep": creep, **finals}


def finalize_metrics(
    acc: MetricsAccumulator,
    weight_samples: Mapping[str, Array],
    *,
    w_max: float = 20.0,
    sample_times: Any = None,
    weight_digits: int | None = WEIGHT_DIGITS,
) -> dict[str, Array]:
    """The metrics of ``compute_metrics`` (float32 scalars, in ``METRIC_NAMES`` order).

    Args:
        acc: statistics after the last step of the window.
        weight_samples: plastic projection name (``"ee"``, ``"ei"``, ``"ie"``, ``"ii"``) ->
            ``[S, n_monitored]`` monitored weights (units of the leak conductance).
        w_max: upper weight bound of the rule.
        sample_times: ``[S]`` sample times (s), a static numpy array shared by every projection; by
            default ``t_start + 0.1 s * arange(S)``, the monitor of the fSBI protocol.
        weight_digits: as for ``compute_metrics``: a weight counts as w_max in w_blow when it prints as
            w_max with 7 significant digits (the original's files); ``None``: exact comparison.

    Returns:
        ``{name: float32 scalar}`` in ``METRIC_NAMES`` then ``DRIFT_METRIC_NAMES`` order (a jitted caller gets the keys sorted, as
        JAX flattens dicts); weef/weif/wief/wiif only for projections in ``weight_samples``.
    """
    check_positive("w_max", w_max)
    w = acc.window
    sample_times = _check_weight_samples(weight_samples, sample_times, w)
    duration = w.t_stop - w.t_start
    cvs, isis, span = _cvs(acc)
    fft, std_rate_temporal = _fft_and_std(acc)
    values = {
        "rate": jnp.sum(acc.e_count).astype(jnp.float32) / w.n_e / duration,
        "cv_isi": jnp.mean(cvs),
        "kl_isi": _kl_isi(acc, isis, span),
        "spatial_Fano": jnp.mean(_fano(acc.fano_counts, axis=1)),
        "temporal_Fano": jnp.mean(_fano(acc.fano_counts, axis=0)),
        "auto_cov": _auto_cov(acc.autocov_counts),
        "fft": fft,
        "std_rate_temporal": std_rate_temporal,
        "std_rate_spatial": jnp.std(acc.e_count.astype(jnp.float32) / duration),
        "std_cv": jnp.std(cvs),
        "rate_i": acc.i_count.astype(jnp.float32) / w.n_i / duration,
        **_weight_metrics(weight_samples, sample_times, w, w_max, weight_digits),
    }
    return {name: values[name].astype(jnp.float32) for name in METRIC_NAMES + DRIFT_METRIC_NAMES if name in values}
