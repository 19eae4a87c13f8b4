"""STA shuffle test: STAs against a direct average, p-values with and without a planted effect."""

import jax
import numpy as np
import pytest

from jaxsnn.conntest import SpikeTrains, shuffle_isis, spike_triggered_averages, sta_test

from .synthetic import ar_noise, poisson_steps


def test_sta_is_the_mean_of_complete_windows():
    rng = np.random.default_rng(2)
    n_steps, window = 3_000, 50
    v = rng.normal(size=n_steps).astype(np.float32)
    steps = np.r_[poisson_steps(rng, n_steps - 100, 0.02), n_steps - 20].astype(np.int32)  # last one does not fit
    padded = np.full((1, len(steps) + 5), n_steps, np.int32)
    padded[0, : len(steps)] = steps
    sta = np.asarray(spike_triggered_averages(v, padded, np.array([len(steps)], np.int32), window))[0]
    fits = steps[steps + window <= n_steps]
    expected = np.mean([v[s : s + window].astype(np.float64) for s in fits], axis=0)
    np.testing.assert_allclose(sta, expected, rtol=1e-5, atol=1e-6)


def test_shuffle_keeps_intervals_count_and_last_spike():
    steps = np.array([3, 10, 11, 40, 90, 0, 0], np.int32)  # 5 real spikes, then padding
    out = np.asarray(shuffle_isis(jax.random.key(0), steps, np.int32(5)))
    isis = np.diff(np.r_[0, steps[:5]])
    assert sorted(np.diff(np.r_[0, out[:5]])) == sorted(isis)
    assert out[4] == 90 and np.all(np.diff(out[:5]) > 0)
    np.testing.assert_array_equal(out[5:], steps[5:])


def test_planted_effect_is_detected_with_its_sign_and_unconnected_is_not():
    rng = np.random.default_rng(3)
    n_steps, window = 40_000, 200
    v = ar_noise(rng, n_steps, phi=0.9, sd=2e-4)
    exc = poisson_steps(rng, n_steps - window, 0.01)
    inh = poisson_steps(rng, n_steps - window, 0.01)
    unconnected = poisson_steps(rng, n_steps - window, 0.01)
    psp = 4e-4 * np.exp(-np.arange(window) / 40.0) * (1 - np.exp(-np.arange(window) / 5.0))
    for s in exc:
        v[s : s + window] += psp
    for s in inh:
        v[s : s + window] -= psp
    trains = SpikeTrains.from_lists([exc, inh, unconnected], n_steps)
    result = sta_test(jax.random.key(1), v.astype(np.float32), trains, window=window, n_surrogates=100)
    assert result.p_value[0] == pytest.approx(0.01)  # floored at 1/n_surrogates
    assert result.p_value[1] == pytest.approx(0.01)
    assert result.sign[0] == 1 and result.sign[1] == -1
    assert result.p_value[2] > 0.05
    assert result.score[0] == pytest.approx(0.99) and result.score[1] == pytest.approx(-0.99)
    assert result.sta.shape == (3, window)


def test_p_values_of_unconnected_trains_are_roughly_uniform():
    rng = np.random.default_rng(4)
    n_steps, window = 20_000, 100
    v = ar_noise(rng, n_steps, phi=0.9, sd=2e-4).astype(np.float32)
    trains = SpikeTrains.from_lists([poisson_steps(rng, n_steps, 0.005) for _ in range(40)], n_steps)
    result = sta_test(jax.random.key(2), v, trains, window=window, n_surrogates=50)
    assert np.all((result.p_value >= 1 / 50) & (result.p_value <= 1))
    assert 0.3 < np.mean(result.p_value) < 0.7
    assert np.mean(result.p_value < 0.05) < 0.2


def test_a_train_without_complete_windows_is_not_tested():
    v = np.random.default_rng(5).normal(size=2_000).astype(np.float32)
    trains = SpikeTrains.from_lists([[1_950, 1_990], [10, 500, 900]], 2_000)
    result = sta_test(jax.random.key(3), v, trains, window=100, n_surrogates=20)
    assert np.isnan(result.p_value[0]) and np.isnan(result.score[0])
    assert 0.05 <= result.p_value[1] <= 1
