"""Prewhitened-voltage test: AR fit, calibration under no connection, detection of planted jumps."""

import numpy as np
import pytest

from jaxsnn.conntest import SpikeTrains, innovations, whitened_test

from .synthetic import poisson_steps

A1, A2 = 0.9, -0.2


def voltage_from_increments(rng, n_steps, kicks=()):
    """V with AR(2) increments (known coefficients) plus jumps in the increment at given steps."""
    shocks = rng.normal(0.0, 1e-6, n_steps - 1)
    for steps, size in kicks:
        shocks[steps] += size
    d = np.zeros(n_steps - 1)
    for k in range(n_steps - 1):
        d[k] = shocks[k] + (A1 * d[k - 1] if k >= 1 else 0.0) + (A2 * d[k - 2] if k >= 2 else 0.0)
    return (-0.055 + np.r_[0.0, np.cumsum(d)]).astype(np.float32)


def test_ar_coefficients_are_recovered():
    rng = np.random.default_rng(5)
    v = voltage_from_increments(rng, 60_000)
    innov = innovations(v, ar_order=2, v_max=1.0)
    np.testing.assert_allclose(np.asarray(innov.coefficients), [A1, A2], atol=0.02)
    assert float(innov.sigma) == pytest.approx(1e-6, rel=0.05)
    e = np.asarray(innov.e)[np.asarray(innov.usable)]
    assert e.std() == pytest.approx(1.0, rel=0.01)
    assert abs(np.corrcoef(e[1:], e[:-1])[0, 1]) < 0.02  # whitened


def test_unconnected_trains_give_standard_normal_z():
    rng = np.random.default_rng(6)
    n_steps = 60_000
    v = voltage_from_increments(rng, n_steps)
    trains = SpikeTrains.from_lists([poisson_steps(rng, n_steps, 0.01) for _ in range(200)], n_steps)
    result = whitened_test(v, trains, v_max=1.0)
    assert abs(np.mean(result.z)) < 0.25
    assert 0.8 < np.std(result.z) < 1.2
    assert np.mean(result.p_value < 0.05) < 0.12


def test_planted_jumps_are_detected_with_their_sign():
    rng = np.random.default_rng(7)
    n_steps = 60_000
    exc = poisson_steps(rng, n_steps - 1, 0.005)
    inh = poisson_steps(rng, n_steps - 1, 0.005)
    unconnected = poisson_steps(rng, n_steps - 1, 0.005)
    v = voltage_from_increments(rng, n_steps, kicks=[(exc, 3e-7), (inh, -3e-7)])
    result = whitened_test(v, SpikeTrains.from_lists([exc, inh, unconnected], n_steps), v_max=1.0)
    assert result.z[0] > 5 and result.z[1] < -5
    assert abs(result.z[2]) < 3.5
    assert result.p_value[0] < 1e-6 and result.p_value[1] < 1e-6


def test_samples_above_v_max_are_left_out():
    rng = np.random.default_rng(8)
    n_steps = 60_000
    connected = poisson_steps(rng, n_steps - 1, 0.005)
    v = voltage_from_increments(rng, n_steps, kicks=[(connected, 5e-7)])
    # Output-spike-like excursions: one step at 0 V, then back.
    excursions = poisson_steps(rng, n_steps - 5, 0.002)
    v[excursions + 1] = 0.0
    innov = innovations(v, ar_order=2, v_max=-0.050)
    usable = np.asarray(innov.usable)
    assert not usable[excursions].any() and not usable[excursions + 1].any()
    unconnected = [poisson_steps(rng, n_steps, 0.01) for _ in range(100)]
    trains = SpikeTrains.from_lists([connected] + unconnected, n_steps)
    z = whitened_test(v, trains).z
    assert z[0] > 5 and 0.75 < np.std(z[1:]) < 1.25
    # Keeping the excursions swamps the innovations and hides the connection: that is what v_max is for.
    assert whitened_test(v, trains, v_max=1.0).z[0] < 2
    # A train whose every sample is excluded has no statistic.
    assert np.isnan(whitened_test(v, SpikeTrains.from_lists([excursions], n_steps)).z[0])


def test_rejects_bad_parameters():
    trains = SpikeTrains.from_lists([[1, 5]], 100)
    with pytest.raises(ValueError, match="ar_order"):
        whitened_test(np.zeros(100, np.float32), trains, ar_order=0)
