"""Stimuli: their shapes in time, masks, loading, tunable parameters, and their effect in a simulation."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn import glm

MASK = np.array([True, False, True, False])


def _trace(stimulus, n_steps):
    return np.asarray(jax.vmap(stimulus)(jnp.arange(n_steps)))  # [n_steps, n_neurons]


def test_regular_stimulus_pulses_and_mask():
    stim = glm.RegularStimulus(strength=2.5, mask=MASK, period=10, tau=3, start=5, stop=35)
    trace = _trace(stim, 50)
    t = np.arange(50)
    on = (t >= 5) & (t < 35) & ((t - 5) % 10 < 3)
    np.testing.assert_array_equal(trace[:, 0], 2.5 * on)
    np.testing.assert_array_equal(trace[:, 2], 2.5 * on)
    assert np.all(trace[:, [1, 3]] == 0)


def test_poisson_stimulus_intervals_are_exponential_and_pulses_last_tau():
    stim = glm.PoissonStimulus(1.0, MASK, mean_interval=40.0, tau=3, n_steps=200_000, key=jax.random.key(0))
    active = np.asarray(stim.active)
    onsets = np.flatnonzero(np.diff(active.astype(int), prepend=0) == 1)
    assert onsets[0] == 0  # the first pulse starts at `start`
    gaps = np.diff(onsets)
    # pulses overlapping or touching merge into one run: the gaps between runs are the intervals > tau
    long_gaps = gaps[gaps > 3]
    assert len(onsets) > 4000
    # exponential intervals floored to steps: E[gap | gap > tau] = tau + 1 + mean - 1/2 + O(1/mean)
    assert long_gaps.mean() == pytest.approx(3 + 40.0 + 0.5, rel=0.05)
    lengths = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], active.astype(int), [0]])) != 0))[::2]
    assert lengths.min() >= 3
    same = glm.PoissonStimulus(1.0, MASK, mean_interval=40.0, tau=3, n_steps=200_000, key=jax.random.key(0))
    np.testing.assert_array_equal(same.active, stim.active)
    assert np.all(_trace(stim, 100)[:, 1] == 0) and np.all(_trace(stim, 300)[:, 0] == np.asarray(stim.active[:300]))


def test_sin_stimulus_matches_formula():
    stim = glm.SinStimulus(amplitude=2.0, period=7.0, mask=MASK, dt=0.5, phase=0.3, baseline=0.1, start=4, stop=60)
    t = np.arange(80)
    expected = (2.0 * np.sin(2 * np.pi * (t - 4) * 0.5 / 7.0 + 0.3) + 0.1) * ((t >= 4) & (t < 60))
    np.testing.assert_allclose(_trace(stim, 80)[:, 0], expected, atol=1e-5)


def test_loaded_stimulus_from_file_lays_out_networks_like_disjoint_union(tmp_path):
    values = np.random.default_rng(0).normal(size=(3, 20, 2)).astype(np.float32)  # [n, steps, networks]
    np.save(tmp_path / "stim.npy", values)
    stim = glm.load_stimulus(tmp_path / "stim.npy")
    trace = _trace(stim, 25)
    np.testing.assert_array_equal(trace[:20, :3], values[:, :, 0].T)
    np.testing.assert_array_equal(trace[:20, 3:], values[:, :, 1].T)
    assert np.all(trace[20:] == 0)  # nothing after the loaded steps


def test_function_stimulus_is_differentiable_in_its_parameters():
    stim = glm.FunctionStimulus(lambda t, p: p["a"] * jnp.exp(-t / p["k"]), {"a": 2.0, "k": 50.0}, MASK)
    np.testing.assert_allclose(stim(jnp.array(10))[0], 2.0 * np.exp(-0.2), rtol=1e-6)
    grad = eqx.filter_grad(lambda s: s(jnp.array(10)).sum())(stim)
    np.testing.assert_allclose(grad.params["a"], 2 * np.exp(-0.2), rtol=1e-5)  # two target neurons
    np.testing.assert_allclose(grad.params["k"], 2 * 2.0 * np.exp(-0.2) * 10 / 50.0**2, rtol=1e-5)


def test_stimulus_drives_target_neurons_during_pulses():
    """Rectified LNP, uncoupled: during pulses target neurons fire at λ0 [b + s - θ]_+, otherwise at
    λ0 [b - θ]_+."""
    n = 200
    model = glm.RectifiedLNP(lambda_0=50.0, theta=1e-4)
    stim = glm.RegularStimulus(strength=0.004, mask=np.arange(n) < 100, period=20, tau=10)
    spikes = np.asarray(glm.simulate(model, glm.from_edges([], [], [], n), 10_000, jax.random.key(1),
                                     stimulus=stim).spikes, np.float64)
    on = np.arange(10_000) % 20 < 10
    hz = 1000.0 / 0.1
    assert spikes[:100, on].mean() * hz == pytest.approx(50 * (0.001 + 0.004 - 1e-4) * 1000, rel=0.03)
    assert spikes[:100, ~on].mean() * hz == pytest.approx(50 * (0.001 - 1e-4) * 1000, rel=0.07)
    assert spikes[100:, on].mean() * hz == pytest.approx(50 * (0.001 - 1e-4) * 1000, rel=0.07)


def test_stimulus_mask_must_cover_the_network():
    stim = glm.RegularStimulus(strength=1.0, mask=MASK, period=2, tau=1)
    with pytest.raises(ValueError, match="mask covers 4 neurons"):
        glm.simulate(glm.PoissonGLM(), glm.from_edges([], [], [], 5), 10, jax.random.key(0), stimulus=stim)
    with pytest.raises(ValueError, match="boolean"):
        glm.RegularStimulus(strength=1.0, mask=[1, 0], period=2, tau=1)
