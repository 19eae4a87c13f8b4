"""The metrics bin, select and compare exactly as the original analysis code does.

``original_metrics`` below transcribes the binning and the activity metrics of the original
``ComputeMetrics`` class (fSBI, fsbi/analyse.py): spike times as read from Auryn's ``"%f"`` text output
(step k -> the float64 nearest k / 10000), ``np.histogram`` on ``np.arange(t_start, t_stop, width)``
edges, per-neuron loops. Weights are compared after the round trip through Auryn's ``%.6e`` text.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.fft import fft as scipy_fft
from scipy.signal import correlate

from jaxsnn.fsbi.metrics import (
    _binned_counts,
    bin_index,
    compute_metrics,
    pinned_weights,
    printed_interval,
    read_times,
    step_times,
)
from jaxsnn.fsbi.metrics_stream import finalize_metrics, init_accumulator, step_bins, update_accumulator

T_START, T_STOP = 60, 70  # the original's t_start_rec / t_stop_rec (ints from the task yaml)
FIRST_STEP, N_STEPS = 600_000, 100_000
WIDTHS = (0.1, 0.01, 0.001)


def auryn_time(step: int) -> float:
    """Spike time as the original reads it: Auryn's ``"%f"`` of step * 1e-4, parsed by ``float``."""
    return float("%f" % (step * 1e-4))


def original_metrics(spiketimes: dict[str, np.ndarray], n: int) -> dict[str, float]:
    """The original's activity metrics (ComputeMetrics, bin sizes of the task yaml)."""
    ls = T_STOP - T_START

    def binned(width: float) -> np.ndarray:
        bins = np.arange(T_START, T_STOP, width)
        return np.array([np.histogram(spiketimes[str(j)], bins=bins)[0] for j in range(n)])

    def fano(counts: np.ndarray) -> float:
        return 0 if np.sum(counts) <= 3 else np.var(counts) / np.mean(counts)

    big, medium, small = binned(0.1), binned(0.01), binned(0.001)

    def autocov(x: np.ndarray) -> float:
        if np.std(x) > 0.05:
            xcorr = correlate(x - x.mean(), x - x.mean(), "full")
            xcorr = np.abs(xcorr[:]) / xcorr.max()
            return np.mean(xcorr[(xcorr.size // 2 - 50) : (xcorr.size // 2 + 51)])
        return 1

    isis = [np.diff(spiketimes[str(j)]) for j in range(n)]
    cvs = np.array([np.std(i) / np.mean(i) if len(i) > 2 else 0.0 for i in isis])
    n_ts = len(np.arange(T_START, T_STOP, 0.001)) - 1
    yf = 2.0 / n_ts * np.abs(scipy_fft(np.mean(small, axis=0))[0 : n_ts // 2])
    return {
        "rate": sum(t.shape[0] for t in spiketimes.values()) / n / ls,
        "cv_isi": np.mean(cvs),
        "std_cv": np.std(cvs),
        "spatial_Fano": np.mean([fano(big[:, i]) for i in range(big.shape[1])]),
        "temporal_Fano": np.mean([fano(big[i, :]) for i in range(n)]),
        "auto_cov": np.mean([autocov(medium[i]) for i in range(n)]),
        "fft": np.sum(yf[1:]),
        "std_rate_temporal": np.std(np.mean(small, axis=0)),
        "std_rate_spatial": np.std([len(spiketimes[str(j)]) / ls for j in range(n)]),
    }


def edge_heavy_raster(rng: np.random.Generator, n: int) -> np.ndarray:
    """[N_STEPS, n] spikes: neurons on every 100 ms, 10 ms and 1 ms edge, the rest Poisson at 2-40 Hz
    with extra spikes on random edges."""
    raster = rng.random((N_STEPS, n)) < rng.uniform(2, 40, n) * 1e-4
    raster[::1000, 0] = True
    raster[::100, 1] = True
    raster[::10, 2] = True
    raster[-10:, 3] = True  # the last 1 ms: 69.999 s lies past the last 1 ms edge
    for j in range(4, n):
        raster[rng.choice(N_STEPS // 10, 40, replace=False) * 10, j] = True
    return raster


def test_step_times_are_the_original_reading_of_auryn_output() -> None:
    steps = np.concatenate([np.arange(FIRST_STEP, FIRST_STEP + N_STEPS, 997), [FIRST_STEP + 3000, 699_999]])
    assert step_times(steps).tolist() == [auryn_time(int(k)) for k in steps]
    assert step_times([603_000])[0] == 60.3
    # times computed as t_start + k dt (not the nearest float64 to the decimal) are read the same way
    jaxsnn_times = 60.0 + (steps - FIRST_STEP) * 1e-4
    assert not np.array_equal(jaxsnn_times, step_times(steps))
    np.testing.assert_array_equal(read_times(jaxsnn_times), step_times(steps))


@pytest.mark.parametrize("width", WIDTHS)
def test_every_step_of_the_window_is_binned_as_np_histogram_does(width: float) -> None:
    times = step_times(np.arange(FIRST_STEP, FIRST_STEP + N_STEPS))
    edges = np.arange(T_START, T_STOP, width)
    index = bin_index(times, T_START, T_STOP, width)
    for j in np.flatnonzero(index >= 0)[:: max(1, N_STEPS // 2000)]:  # a spike alone, bin by bin
        assert np.histogram(times[j : j + 1], bins=edges)[0].argmax() == index[j]
    nominal_edges = np.arange(len(edges)) * round(width * 10_000)
    for j in nominal_edges[nominal_edges < N_STEPS]:  # every spike on an edge
        expected = np.histogram(times[j : j + 1], bins=edges)[0]
        assert (np.flatnonzero(expected).tolist() or [-1]) == [index[j]]
    np.testing.assert_array_equal(
        _binned_counts(times, np.zeros(N_STEPS, int), 1, T_START, T_STOP, width)[0], np.histogram(times, bins=edges)[0]
    )


def test_spikes_on_100ms_edges_mostly_go_to_the_earlier_bin() -> None:
    edges = np.arange(T_START, T_STOP, 0.1)
    on_edges = step_times(FIRST_STEP + 1000 * np.arange(1, 100))  # 60.1, ..., 69.9 s
    index = bin_index(on_edges, T_START, T_STOP, 0.1)
    # edges 60.1 and 60.2 equal their decimal value, the 96 other interior edges lie above it
    assert np.flatnonzero(edges[1:] == on_edges).tolist() == [0, 1]
    np.testing.assert_array_equal(index[:2], [1, 2])
    np.testing.assert_array_equal(index[2:98], np.arange(2, 98))  # edge j + 1 -> bin j
    assert index[98] == 98  # 69.9 s is below the closed last edge 69.90000000000015 s


def test_activity_metrics_equal_the_original_on_edge_heavy_spikes() -> None:
    rng = np.random.default_rng(11)
    n = 24
    raster = edge_heavy_raster(rng, n)
    steps, ids = np.nonzero(raster)
    spiketimes = {str(j): np.array([auryn_time(FIRST_STEP + int(k)) for k in steps[ids == j]]) for j in range(n)}
    expected = original_metrics(spiketimes, n)
    for times in (step_times(FIRST_STEP + steps), 60.0 + steps * 1e-4):  # the original's and jaxsnn's times
        m = compute_metrics(times, ids, np.zeros(0), np.zeros(0, int), {}, n_e=n)
        for name, value in expected.items():
            assert m[name] == pytest.approx(value, rel=1e-9, abs=1e-15), name
    exact = compute_metrics(step_times(FIRST_STEP + steps), ids, np.zeros(0), np.zeros(0, int), {}, n_e=n,
                            binning="exact")  # fmt: skip
    assert exact["spatial_Fano"] != pytest.approx(expected["spatial_Fano"], rel=1e-6)  # the edges matter


def run_stream(acc, e_raster, i_raster):
    def body(a, x):
        e, i, k = x
        return update_accumulator(a, e, i, k), None

    return jax.lax.scan(body, acc, (e_raster, i_raster, jnp.arange(e_raster.shape[0])))[0]


def test_stream_tables_and_counts_equal_the_host_bins() -> None:
    rng = np.random.default_rng(12)
    n_e, n_i = 16, 4
    e_raster = edge_heavy_raster(rng, n_e)
    i_raster = rng.random((N_STEPS, n_i)) < 5e-4
    acc = init_accumulator(n_e, n_i)
    times = step_times(np.arange(FIRST_STEP, FIRST_STEP + N_STEPS))
    for width in WIDTHS:
        np.testing.assert_array_equal(step_bins(acc.window, width), bin_index(times, T_START, T_STOP, width))
    acc = jax.jit(run_stream)(acc, e_raster, i_raster)
    steps, ids = np.nonzero(e_raster)
    spike_times = 60.0 + steps * 1e-4
    # the binned counts are integers: equal exactly, edges included
    for counts, width in ((acc.fano_counts, 0.1), (acc.autocov_counts, 0.01)):
        host = _binned_counts(read_times(spike_times), ids, n_e, T_START, T_STOP, width)
        np.testing.assert_array_equal(np.asarray(counts).T, host)
    host_small = _binned_counts(read_times(spike_times), ids, n_e, T_START, T_STOP, 0.001)
    np.testing.assert_array_equal(np.asarray(acc.population_counts), host_small.sum(axis=0))

    weights = {"ee": rng.uniform(0, 0.5, (100, 7)).astype(np.float32),
               "ie": np.where(rng.random((100, 5)) < 0.3, np.float32(19.999996), np.float32(19.999994))}  # fmt: skip
    stream = finalize_metrics(acc, {k: jnp.asarray(v) for k, v in weights.items()})
    i_steps, i_ids = np.nonzero(i_raster)
    sample_times = 60.0 + 0.1 * np.arange(100)
    ref = compute_metrics(spike_times, ids, 60.0 + i_steps * 1e-4, i_ids,
                          {k: (sample_times, v) for k, v in weights.items()}, n_e=n_e, n_i=n_i)  # fmt: skip
    assert set(stream) == set(ref)
    # Same integer counts, so what is left is float32 arithmetic in finalize_metrics: sums and
    # variances over at most 10^4 terms and an FFT of 9999 points, each term exact to 2^-24, give a
    # relative error of order sqrt(10^4) * 6e-8 = 6e-6 (a few times more where a metric is a small
    # difference, e.g. var = E[x^2] - E[x]^2 of near-constant counts); 2e-5 bounds it with margin.
    for name in ref:
        assert float(stream[name]) == pytest.approx(ref[name], rel=2e-5, abs=2e-6), name
    assert ref["w_blow"] == pytest.approx(np.mean(weights["ie"][1:] > 19.999995) / 2)


def printed_as(values: np.ndarray) -> np.ndarray:
    """Weights as the original reads them: Auryn's ``%.6e`` (std::scientific, precision 6), parsed."""
    return np.array([float("%.6e" % v) for v in np.asarray(values, np.float64).ravel()]).reshape(np.shape(values))


def test_weights_compare_with_w_max_at_7_significant_digits() -> None:
    values = np.array([20.0, 19.999996, 19.9999951, 19.9999949, 19.99999, 19.99995, 19.99994, 0.0, 1e-30, 20.000004])
    pinned = pinned_weights(values, 20.0)
    assert pinned.tolist() == [True, True, True, False, False, False, False, True, False, True]
    np.testing.assert_array_equal(pinned, (printed_as(values) == 0) | (printed_as(values) == 20.0))
    assert pinned_weights(values, 20.0, digits=None).tolist() == [True] + [False] * 6 + [True, False, False]
    lo, hi = printed_interval(20.0)
    assert "%.6e" % lo == "2.000000e+01" == "%.6e" % hi
    assert "%.6e" % np.nextafter(lo, 0) == "1.999999e+01" and "%.6e" % np.nextafter(hi, 99) == "2.000001e+01"
    # float32 weights near the bound, as the simulators hold them: the two float32 below 20 print as 20
    below = np.float32(20.0) - np.arange(0, 6, dtype=np.float32) * np.spacing(np.float32(19.0))
    np.testing.assert_array_equal(pinned_weights(below, 20.0), printed_as(below) == 20.0)
    assert pinned_weights(below, 20.0).tolist() == [True, True, True, False, False, False]


@pytest.mark.parametrize("w_max", [20.0, 10.0, 1.0 / 3.0])
def test_w_blow_rule_matches_the_printed_weights_on_host_and_device(w_max: float) -> None:
    rng = np.random.default_rng(13)
    near = np.float32(w_max) + rng.integers(-40, 40, (100, 50)).astype(np.float32) * np.spacing(np.float32(w_max))
    near[:, :5] = 0.0
    times = 60.0 + 0.1 * np.arange(100)
    literal = np.mean(((printed_as(near) == 0) | (printed_as(near) == w_max))[1:])
    host = compute_metrics(np.zeros(0), np.zeros(0, int), np.zeros(0), np.zeros(0, int), {"ee": (times, near)},
                           n_e=1, n_i=1, w_max=w_max)  # fmt: skip
    assert host["w_blow"] == literal
    acc = init_accumulator(1, 1)
    stream = finalize_metrics(acc, {"ee": jnp.asarray(near)}, w_max=w_max)
    assert float(stream["w_blow"]) == pytest.approx(literal, rel=1e-6)
