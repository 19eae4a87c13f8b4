"""GLM models: stationary rates of uncoupled networks against closed forms and an exact Markov chain
(float64 numpy), and the coupling/refractory input against a dense numpy re-implementation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn import glm

EMPTY = glm.from_edges([], [], [], 200)


def _mean_rate(model, network, n_steps, seed, stimulus=None):
    record = glm.simulate(model, network, n_steps, jax.random.key(seed), stimulus=stimulus)
    assert not bool(record.count_overflow)
    return glm.firing_rates(record.spikes, float(model.dt))


def _bernoulli_stationary_rate(theta, r, ref, dt):
    """Exact stationary rate (Hz) of an uncoupled Bernoulli GLM neuron: a Markov chain over its last T spikes."""
    n_lags = len(ref)
    n_states = 2**n_lags
    history = (np.arange(n_states)[:, None] >> np.arange(n_lags)) & 1  # bit τ: spike at lag τ
    p = dt / (1.0 + np.exp(-(r * history @ ref - theta)))
    older = (np.arange(n_states) << 1) & (n_states - 1)  # shift the history by one step
    distribution = np.full(n_states, 1.0 / n_states)
    for _ in range(20_000):  # power iteration over the two transitions of each state
        distribution = (np.bincount(older, distribution * (1 - p), n_states)
                        + np.bincount(older | 1, distribution * p, n_states))
    return float(distribution @ p) * 1000.0 / dt


def _reference_self_kernel(n_lags, abs_scale, abs_strength, rel_scale, rel_strength, beta, dt):
    lag = np.arange(n_lags, dtype=np.float64)
    kernel = np.zeros(n_lags)
    kernel[lag < abs_scale] = abs_strength
    rel = (lag >= abs_scale) & (lag < abs_scale + rel_scale)
    kernel[rel] = rel_strength * np.exp(-beta * (lag[rel] - abs_scale) * dt)
    return kernel


def test_bernoulli_glm_rate_matches_markov_chain():
    thetas = (5.0, 3.0)
    # One vmapped run over two parameter sets (models stack like any pytree).
    models = jax.tree.map(lambda *a: jnp.stack(a), *[glm.BernoulliGLM(theta=t) for t in thetas])
    run = jax.vmap(lambda m, k: glm.simulate(m, EMPTY, 10_000, k).spikes)
    spikes = run(models, jax.random.split(jax.random.key(1), 2))
    ref = _reference_self_kernel(10, 3, -100.0, 7, -30.0, 0.5, 1.0)
    for theta, member in zip(thetas, spikes):
        expected = _bernoulli_stationary_rate(theta, 1.0, ref, 1.0)
        # 12k-45k spikes; refractoriness makes counts sub-Poisson, so 3.5 % is > 4 sigma.
        assert glm.firing_rates(member, 1.0).mean() == pytest.approx(expected, rel=0.035)


def test_bernoulli_kernels_match_reference_definition():
    model = glm.BernoulliGLM(alpha=0.3, beta=0.7, rel_strength=-20.0, coupling_window=6, abs_scale=2, rel_scale=5)
    lag = np.arange(7)
    np.testing.assert_allclose(model.coupling_kernel(), np.exp(-0.3 * lag) * (lag < 6), rtol=1e-6)
    np.testing.assert_allclose(model.self_kernel(), _reference_self_kernel(7, 2, -100.0, 5, -20.0, 0.7, 1.0),
                               rtol=1e-6)


def test_poisson_glm_rate_matches_closed_form():
    model = glm.PoissonGLM()
    expected = 1000.0 / 15.9 * math.exp(10 * 0.001)  # (dt/α) e^{βb} per step * 1000/dt
    assert _mean_rate(model, EMPTY, 10_000, seed=2).mean() == pytest.approx(expected, rel=0.04)


def test_rectified_lnp_rate_with_constant_input_matches_closed_form():
    n = 300
    model = glm.RectifiedLNP(lambda_0=50.0, theta=1e-4)
    levels = jnp.repeat(jnp.array([0.002, 0.0, -0.002]), n // 3)  # above, at, below threshold with b = 0.001
    drive = glm.FunctionStimulus(lambda t, p: p, levels, np.ones(n, bool))
    rates = _mean_rate(model, glm.from_edges([], [], [], n), 10_000, seed=3, stimulus=drive)
    driven = 50.0 * (0.001 + 0.002 - 1e-4) * 1000.0  # λ0 [b + E - θ]_+ in Hz
    undriven = 50.0 * (0.001 - 1e-4) * 1000.0
    assert rates[:100].mean() == pytest.approx(driven, rel=0.03)
    assert rates[100:200].mean() == pytest.approx(undriven, rel=0.04)
    assert rates[200:].max() == 0.0  # rectified: no spikes at all below threshold


def test_rectified_sam_rate_matches_closed_form():
    model = glm.RectifiedSAM()
    expected = 1.0861 * (0.001 + 0.0137) * 1000.0
    assert _mean_rate(model, EMPTY, 20_000, seed=5).mean() == pytest.approx(expected, rel=0.04)


def _threshold_sam_spike_probability(noise_exponent, b=0.001, theta=1.378e-3, sigma=0.3, rho=0.07):
    """Spike probability per step of an uncoupled threshold-SAM neuron: the mask is on (ρ) and the
    background b (1 + n^k) exceeds θ, n ~ N(0, σ): n > θ/b - 1 (k = 1) or |n| > sqrt(θ/b - 1) (k = 2)."""
    excess = theta / b - 1.0
    if noise_exponent == 1:
        return rho * 0.5 * math.erfc(excess / (sigma * math.sqrt(2)))
    return rho * math.erfc(math.sqrt(excess) / (sigma * math.sqrt(2)))


@pytest.mark.parametrize("noise_exponent, expected_hz", [(2, 28.30), (1, 72.68)])
def test_threshold_sam_rate_matches_closed_form(noise_exponent, expected_hz):
    """Default (k = 2, spikeometric's code b (1 + n² m)) fires at 28.3 Hz with the reference's test
    parameters, the linear form (k = 1) at 72.7 Hz. Uncoupled neurons spike independently with
    probability p per step, so the count is binomial: the tolerance is 4 binomial SDs."""
    p = _threshold_sam_spike_probability(noise_exponent)
    assert p * 1000.0 / 0.1 == pytest.approx(expected_hz, abs=0.01)
    model = glm.ThresholdSAM(noise_exponent=noise_exponent)
    n_steps = 20_000
    n_draws = n_steps * EMPTY.n_neurons
    rate = _mean_rate(model, EMPTY, n_steps, seed=6).mean()
    assert rate == pytest.approx(expected_hz, rel=4.0 * math.sqrt((1 - p) / (p * n_draws)))


def test_threshold_sam_is_spikeometric_by_default():
    assert glm.ThresholdSAM().noise_exponent == 2


@pytest.mark.parametrize("noise_exponent, expected", [
    (2, [1.25e-3, 1.25e-3, 1.0e-3, 5.0e-3, 1.0e-3]),  # b (1 + n² m): spikeometric's code
    (1, [1.5e-3, 0.5e-3, 1.0e-3, 3.0e-3, 1.0e-3]),  # b (1 + n m)
])
def test_threshold_sam_background_by_hand(noise_exponent, expected):
    model = glm.ThresholdSAM(b=1e-3, noise_exponent=noise_exponent)
    noise = jnp.array([0.5, -0.5, 0.3, 2.0, 0.0])
    mask = jnp.array([1.0, 1.0, 0.0, 1.0, 1.0])
    np.testing.assert_allclose(model.background(noise, mask), expected, rtol=1e-6)


def test_threshold_sam_input_and_spikes_by_hand():
    """g = r Σ_j W0_ji s_j + b (1 + n² m) + E and x = [g > θ], with the draws that ``drive`` makes
    (noise σ N(0, 1) from the first half of its key, mask Bernoulli(ρ) from the second)."""
    n = 8
    net = glm.normal_connectivity(jax.random.key(20), n, std=0.01).materialise()
    model = glm.ThresholdSAM(r=0.5, b=0.002, sigma=0.4, rho=0.5, theta=2.2e-3)
    state = glm.ActivationState(jax.random.uniform(jax.random.key(21), (n,)))
    external = jnp.linspace(-1e-3, 1e-3, n)
    key = jax.random.key(22)
    key_noise, key_mask = jax.random.split(key)
    noise = 0.4 * np.asarray(jax.random.normal(key_noise, (n,)), np.float64)
    mask = np.asarray(jax.random.bernoulli(key_mask, 0.5, (n,)), np.float64)
    expected = (0.5 * net.dense().T.astype(np.float64) @ np.asarray(state.activation, np.float64)
                + 0.002 * (1.0 + noise**2 * mask) + np.asarray(external, np.float64))
    g = model.drive(net, state, external, key)
    np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-8)
    np.testing.assert_array_equal(model.emit(g, key), (np.asarray(g) > 2.2e-3).astype(np.float32))


def _dense_history_input(w, history, kernel):
    """g_i from an explicit history [lag, n] (lag 0 = previous step): Σ_τ Σ_j w[j, i] x_j(τ) kernel(τ)."""
    return np.einsum("ji,tj,t->i", w, history, kernel)


@pytest.mark.parametrize("layout", ["sparse", "dense"])
def test_history_models_input_matches_dense_computation(layout):
    key = jax.random.key(7)
    n = 12
    generated = glm.normal_connectivity(key, n, std=1.0, sparsity=0.6)
    net = glm.from_edges(generated.pre, generated.post, generated.weight, n, layout=layout).materialise()
    w = net.dense().astype(np.float64)
    model = glm.RectifiedLNP(T=6, tau=3.0, r=0.5, b=0.2)
    spikes = np.random.default_rng(8).poisson(0.7, (9, n)).astype(np.float64)  # 9 > T: buffer wraps
    state = model.init(jax.random.key(9), n)
    state, _ = jax.lax.scan(lambda st, x: (model.advance(st, x), None), state, jnp.asarray(spikes, jnp.float32))
    history = spikes[::-1][:6]
    kernel = np.exp(-0.1 * np.arange(6) / 3.0)
    external = np.linspace(-1, 1, n)
    g = model.drive(net, state, jnp.asarray(external, jnp.float32), key)
    np.testing.assert_allclose(g, 0.5 * _dense_history_input(w, history, kernel) + 0.2 + external, rtol=1e-5,
                               atol=1e-6)


def test_bernoulli_input_ignores_self_edges_and_adds_refractory_kernel():
    n = 6
    w = np.random.default_rng(10).normal(size=(n, n))
    net = glm.from_dense(w)  # includes self-edges, which the Bernoulli GLM replaces by its self kernel
    model = glm.BernoulliGLM(r=0.7)
    spikes = (np.random.default_rng(11).random((13, n)) < 0.3).astype(np.float64)
    state = model.init(jax.random.key(12), n)
    state, _ = jax.lax.scan(lambda st, x: (model.advance(st, x), None), state, jnp.asarray(spikes, jnp.float32))
    history = spikes[::-1][:10]
    lag = np.arange(10)
    coupling = np.exp(-0.2 * lag) * (lag < 5)
    ref = _reference_self_kernel(10, 3, -100.0, 7, -30.0, 0.5, 1.0)
    w_no_self = w - np.diag(np.diag(w))
    expected = 0.7 * (_dense_history_input(w_no_self, history, coupling) + history.T @ ref)
    g = model.drive(model.prepare(net).materialise(), state, jnp.zeros(n), jax.random.key(0))
    np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-5)


def test_sam_input_and_activation_update_match_dense_computation():
    n = 10
    net = glm.normal_connectivity(jax.random.key(13), n, glorot=True).materialise()
    model = glm.RectifiedSAM(r=0.3, b=0.01, tau=4.0, dt=0.5)
    state = model.init(jax.random.key(14), n)
    s0 = np.asarray(state.activation, np.float64)
    g = model.drive(net, state, jnp.zeros(n), jax.random.key(0))
    np.testing.assert_allclose(g, 0.3 * net.dense().T @ s0 + 0.01, rtol=1e-5, atol=1e-7)
    x = np.arange(n) % 3
    advanced = model.advance(state, jnp.asarray(x, jnp.float32)).activation
    np.testing.assert_allclose(advanced, s0 * (1 - 0.5 / 4.0) + x * 0.5, rtol=1e-6)


def test_invalid_parameters_are_rejected():
    with pytest.raises(ValueError, match="dt"):
        glm.BernoulliGLM(dt=2.0)  # p = σ dt would not be a probability
    with pytest.raises(ValueError, match="tau"):
        glm.PoissonGLM(tau=-1.0)
    with pytest.raises(ValueError, match="rho"):
        glm.ThresholdSAM(rho=1.5)
    with pytest.raises(ValueError, match=r"noise_exponent must be one of \[2, 1\]"):
        glm.ThresholdSAM(noise_exponent=3)
    with pytest.raises(ValueError, match="n_steps"):
        glm.simulate(glm.PoissonGLM(), EMPTY, 0, jax.random.key(0))
