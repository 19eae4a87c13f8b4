"""The regression test against a float64 least-squares fit of explicitly pooled windows."""

import numpy as np
import pytest
from scipy import stats

from jaxsnn.conntest import SpikeTrains, regression_test

from .synthetic import ar_noise, poisson_steps


def reference_t(v: np.ndarray, steps: np.ndarray, window: int) -> tuple[float, float]:
    """Independent float64 reference: build X = [1, j] and y from the windows, solve by lstsq."""
    starts = [s for s in steps if s + window <= len(v)]
    y = np.concatenate([v[s : s + window] for s in starts]).astype(np.float64)
    j = np.tile(np.arange(1, window + 1, dtype=np.float64), len(starts))
    X = np.stack([np.ones_like(j), j], axis=1)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    s2 = resid @ resid / (len(y) - 2)
    se = np.sqrt(s2 * np.linalg.inv(X.T @ X)[1, 1])
    return beta[1] / se, beta[1]


def test_t_statistic_matches_float64_least_squares():
    rng = np.random.default_rng(0)
    n_steps, window = 20_000, 100
    v = ar_noise(rng, n_steps)
    trains = [poisson_steps(rng, n_steps, p) for p in (0.002, 0.01, 0.03)]
    # Plant a ramp after the second train's spikes so one slope is far from zero.
    for s in trains[1]:
        v[s : s + window] += np.linspace(0, 2e-4, window)[: len(v[s : s + window])]
    # A spike near the end whose window does not fit must be left out, as in the reference.
    trains[0] = np.r_[trains[0][trains[0] < n_steps - window], n_steps - 10].astype(np.int32)
    result = regression_test(v.astype(np.float32), SpikeTrains.from_lists(trains, n_steps), window=window)
    for i, steps in enumerate(trains):
        t_ref, slope_ref = reference_t(v.astype(np.float32).astype(np.float64), steps, window)
        assert result.t[i] == pytest.approx(t_ref, rel=1e-4, abs=1e-5)
        assert result.slope[i] == pytest.approx(slope_ref, rel=1e-4, abs=1e-12)
        assert result.p_value[i] == pytest.approx(2 * stats.norm.sf(abs(t_ref)), rel=1e-3, abs=1e-12)
    assert result.n_windows[0] == np.sum(trains[0] + window <= n_steps)
    assert result.t[1] > 10


def test_window_length_is_a_parameter():
    rng = np.random.default_rng(1)
    n_steps = 5_000
    v = ar_noise(rng, n_steps)
    steps = poisson_steps(rng, n_steps, 0.01)
    result = regression_test(v.astype(np.float32), SpikeTrains.from_lists([steps], n_steps), window=37)
    t_ref, _ = reference_t(v.astype(np.float32).astype(np.float64), steps, 37)
    assert result.t[0] == pytest.approx(t_ref, rel=1e-4, abs=1e-5)


def test_rejects_wrong_voltage_length():
    trains = SpikeTrains.from_lists([[1, 5]], 100)
    with pytest.raises(ValueError, match="shape"):
        regression_test(np.zeros(99, np.float32), trains)


def test_a_train_without_complete_windows_is_not_tested():
    v = np.random.default_rng(2).normal(size=1_000).astype(np.float32)
    result = regression_test(v, SpikeTrains.from_lists([[950, 990], [10, 300]], 1_000), window=100)
    assert np.isnan(result.t[0]) and np.isnan(result.p_value[0]) and result.n_windows[0] == 0
    assert np.isfinite(result.t[1]) and result.n_windows[1] == 2
