"""Expected-rate tuning of GLM networks, verified by fresh simulations with new seeds."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxsnn import glm

RING = glm.mexican_hat_connectivity(100, a=1.0015, sigma_1=6.98, sigma_2=7.0)


def _verified_rate(model, network, seed, stimulus=None, n_steps=5_000):
    spikes = glm.simulate(model, network, n_steps, jax.random.key(seed), stimulus=stimulus).spikes
    return glm.firing_rates(spikes, float(model.dt))


def test_expected_rate_gradient_is_the_analytic_one():
    """Uncoupled rectified LNP above threshold: predicted rate λ0 [b - θ]_+ 1000 Hz, d/dθ = -1000 λ0."""
    model = glm.RectifiedLNP(lambda_0=30.0)
    empty = glm.from_edges([], [], [], 50)

    @jax.jit
    def predicted(theta):
        rates, _ = glm.expected_rates(glm.RectifiedLNP(lambda_0=30.0, theta=theta), empty, 100, jax.random.key(0))
        return rates.mean()

    assert float(predicted(1e-4)) == pytest.approx(30.0 * (0.001 - 1e-4) * 1000, rel=1e-5)
    assert float(jax.grad(predicted)(jnp.float32(1e-4))) == pytest.approx(-30.0 * 1000, rel=1e-5)
    _, realised = jax.jit(lambda m: glm.expected_rates(m, empty, 100, jax.random.key(0)))(model)
    assert realised.shape == (50,)
    assert realised.mean() == pytest.approx(30.0 * (0.001 - 1e-4) * 1000, rel=0.2)  # ~450 spikes


def test_rectified_lnp_ring_tunes_to_target_within_5_percent():
    model = glm.RectifiedLNP()  # the tutorial's listed parameters (T = 20 steps, r = 0.0025): ~87 Hz on the ring
    schedule = optax.exponential_decay(2e-5, transition_steps=150, decay_rate=0.05)
    result = glm.tune_rate(model, RING, 62.5, jax.random.key(1), tunable=("theta",), learning_rate=schedule,
                           n_epochs=150)
    assert float(result.model.theta) != pytest.approx(1e-4)
    np.testing.assert_array_equal(result.model.lambda_0, model.lambda_0)  # untouched parameters
    assert _verified_rate(result.model, RING, seed=2).mean() == pytest.approx(62.5, rel=0.05)
    predicted, realised = result.history.aux_history
    assert predicted.shape == (150,) and realised.shape == (150,)


def test_bernoulli_glm_per_network_targets_in_one_disjoint_graph():
    """Two networks as one graph, one target each (15 Hz, 30 Hz): a shared θ cannot meet both, so each
    network gets its own constant input level (a function stimulus) and the levels are tuned."""
    nets = [glm.normal_connectivity(jax.random.key(k), 50, std=1.0, glorot=True) for k in (3, 4)]
    union = glm.disjoint_union(nets)
    groups = np.repeat([0, 1], 50)
    stim = glm.FunctionStimulus(lambda t, p: p["level"][groups], {"level": jnp.zeros(2)}, np.ones(100, bool))
    result = glm.tune_rate(glm.BernoulliGLM(), union, jnp.array([15.0, 30.0]), jax.random.key(5),
                           tunable=("stimulus",), stimulus=stim, groups=groups, n_epochs=150, n_steps=100)
    rates = _verified_rate(result.model, union, seed=6, stimulus=result.stimulus)
    assert rates[:50].mean() == pytest.approx(15.0, rel=0.05)
    assert rates[50:].mean() == pytest.approx(30.0, rel=0.05)


def test_vmapped_tuning_over_targets():
    """One compiled call tunes θ of a Bernoulli GLM for four targets at once."""
    empty = glm.from_edges([], [], [], 100)
    targets = jnp.array([5.0, 10.0, 20.0, 40.0])
    tune = jax.vmap(lambda target: glm.tune_rate(glm.BernoulliGLM(), empty, target, jax.random.key(7),
                                                 tunable=("theta",), n_epochs=150).model)
    models = tune(targets)
    assert models.theta.shape == (4,)
    for k, target in enumerate(np.asarray(targets)):
        member = glm.BernoulliGLM(theta=models.theta[k])
        assert _verified_rate(member, empty, seed=8 + k).mean() == pytest.approx(target, rel=0.05)


def test_untunable_requests_are_rejected():
    with pytest.raises(ValueError, match="ThresholdSAM cannot be tuned"):
        glm.tune_rate(glm.ThresholdSAM(), RING, 10.0, jax.random.key(0))
    with pytest.raises(ValueError, match="no tunable parameter 'T'"):
        glm.tune_rate(glm.RectifiedLNP(), RING, 10.0, jax.random.key(0), tunable=("T",))
    with pytest.raises(ValueError, match="groups"):
        glm.tune_rate(glm.RectifiedLNP(), RING, jnp.array([1.0, 2.0]), jax.random.key(0))
