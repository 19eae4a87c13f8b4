"""Stimuli, trial schedules and bump decoding against their formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.rate import (
    RateNetwork,
    cosine_bump,
    decode_bump,
    dual_task_trials,
    gaussian_bump,
    odr_trials,
    random_patterns,
    serial_bias_schedule,
    wrap_angle,
)

DT = 1e-3
NET = RateNetwork(sizes=(64, 16), projections=(), dt=DT)
THETA = 2 * np.pi * np.arange(64) / 64


def test_bump_shapes_match_formulas():
    got = np.asarray(cosine_bump(64, jnp.asarray([0.5, 2.0]), 3.0, 2.0))
    expected = 3.0 * np.maximum(1 + 2.0 * np.cos(THETA[None] - np.array([[0.5], [2.0]])), 0) / 3.0
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    d = (THETA - 6.0 + np.pi) % (2 * np.pi) - np.pi
    np.testing.assert_allclose(np.asarray(gaussian_bump(64, 6.0, 2.0, 0.4)), 2.0 * np.exp(-0.5 * (d / 0.4) ** 2), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("phase", [0.3, 2.5, -2.0, 3.1])
def test_decode_bump_recovers_fourier_moments(phase):
    rates = 4.0 + 1.5 * np.cos(THETA - phase)
    m0, m1, ph = decode_bump(jnp.asarray(rates, jnp.float32))
    assert float(m0) == pytest.approx(4.0, rel=1e-5)
    assert float(m1) == pytest.approx(1.5, rel=1e-5)
    assert float(wrap_angle(ph - phase)) == pytest.approx(0.0, abs=1e-5)


def test_odr_trials_random_delays_and_intervals():
    trials = odr_trials(jax.random.key(0), NET, 500, strength=2.0, footprint=1.0, stim_duration=0.25, delay=(0.5, 1.5), iti=(0.1, 0.3))
    onset = np.asarray(trials.schedule.onset[:, 0])
    assert onset.min() >= 100 and onset.max() <= 300 and len(np.unique(onset)) > 50
    np.testing.assert_array_equal(np.asarray(trials.stim_off) - onset, 250)
    delay = np.asarray(trials.readout - trials.stim_off)
    assert delay.min() >= 500 and delay.max() <= 1500 and abs(delay.mean() - 1000) < 30
    phase = np.asarray(trials.phase)
    assert phase.min() >= 0 and phase.max() < 2 * np.pi
    pattern = np.asarray(trials.schedule.pattern)
    assert pattern.shape == (500, 1, 80) and np.all(pattern[:, :, 64:] == 0)  # only the target population
    _, _, decoded = decode_bump(jnp.asarray(pattern[:, 0, :64]))
    np.testing.assert_allclose(np.asarray(wrap_angle(decoded - phase)), 0, atol=1e-4)
    fixed = odr_trials(jax.random.key(0), NET, 3, strength=1.0, footprint=0.5, stim_duration=0.1, delay=(1.0, 1.0), shape="gaussian", phase=jnp.asarray([0.0, 1.0, 2.0]))
    np.testing.assert_array_equal(np.asarray(fixed.readout), 1100)
    with pytest.raises(ValueError, match="delay must be"):
        odr_trials(jax.random.key(0), NET, 3, strength=1.0, footprint=1.0, stim_duration=0.1, delay=(1.0, 0.5))


def test_serial_bias_schedule_has_two_bumps_and_a_global_reset():
    sched = serial_bias_schedule(NET, jnp.asarray([1.0, 2.0]), 0.0, strength=5.0, footprint=1.0, reset_strength=7.0, times=(1.0, 1.5, 3.0, 3.5, 4.5, 5.0))
    np.testing.assert_array_equal(np.asarray(sched.onset), [[1000, 3000, 4500]] * 2)
    np.testing.assert_array_equal(np.asarray(sched.offset), [[1500, 3500, 5000]] * 2)
    p = np.asarray(sched.pattern)
    np.testing.assert_allclose(p[:, 1, :64], -7.0)
    _, _, ph1 = decode_bump(jnp.asarray(p[:, 0, :64]))
    _, _, ph2 = decode_bump(jnp.asarray(p[:, 2, :64]))
    np.testing.assert_allclose(np.asarray(ph1), [1.0, 2.0], atol=1e-5)
    np.testing.assert_allclose(np.asarray(ph2), 0.0, atol=1e-5)


def test_dual_task_labels_and_patterns():
    patterns = random_patterns(jax.random.key(1), 6, 64)
    trials = dual_task_trials(jax.random.key(2), NET, 400, patterns, strength=2.0)
    s, d, t = (np.asarray(x) for x in (trials.sample, trials.distractor, trials.test))
    np.testing.assert_array_equal(np.asarray(trials.dpa_label), (s == t).astype(float))
    np.testing.assert_array_equal(np.asarray(trials.gng_label), (d == 0).astype(float))
    assert 0.4 < np.mean(s) < 0.6 and 0.4 < np.mean(d) < 0.6
    p = np.asarray(trials.schedule.pattern)[:, :, :64]
    P = np.asarray(patterns) * 2.0
    np.testing.assert_allclose(p[:, 0], P[s], rtol=1e-6)
    np.testing.assert_allclose(p[:, 1], P[4 + d], rtol=1e-6)
    np.testing.assert_allclose(p[:, 2], P[2 + t], rtol=1e-6)
    assert trials.gng_window == (2000, 3000) and trials.dpa_window == (3500, 4500)
    with pytest.raises(ValueError, match="patterns must have shape"):
        dual_task_trials(jax.random.key(2), NET, 4, patterns[:4], strength=1.0)
