"""Long validations (pytest -m slow): the reference tutorial and the bias of the expected-rate gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxsnn import glm

from .test_models import _bernoulli_stationary_rate, _reference_self_kernel
from .test_reference_tutorial import RUN_SD_HZ, TUTORIAL_INITIAL_HZ, tutorial_batch, tutorial_model

pytestmark = pytest.mark.slow


def _rates(model, batch, seed, n_seeds=4):
    run = jax.jit(jax.vmap(lambda key: glm.simulate(model, batch, 10_000, key).spikes.mean(dtype=np.float32)))
    return np.asarray(run(jax.random.split(jax.random.key(seed), n_seeds)), np.float64) * 1000.0 / 0.1


def test_tutorial_rings_without_self_connections_do_not_give_the_printed_rate():
    """The printed 33.886 Hz needs the self-connections the generator had then: the rings of
    spikeometric 1.0.x (zero diagonal) give 34.23 Hz, outside the fast test's 3.4-SD band."""
    rates = _rates(tutorial_model(), tutorial_batch(self_connections=False), seed=4)
    tolerance = 3.4 * RUN_SD_HZ * np.sqrt(1.0 / rates.size + 1.0)
    assert rates.mean() - TUTORIAL_INITIAL_HZ > tolerance, rates


def test_tutorial_tuning_from_the_printed_initial_rate():
    """spikeometric's tutorial as it ran (T = 200 steps, r = 0.025, rings with self-connections):
    33.9 Hz, tuned on θ to 62.27 Hz for a 62.5 Hz target. Here: within 2 % of the target on fresh runs
    (seed-to-seed SD of one run ~0.1 Hz, so 2 % measures the tuner, not the verification)."""
    model, batch = tutorial_model(), tutorial_batch()
    tuned = glm.tune_rate(model, batch, 62.5, jax.random.key(2), tunable=("theta",), n_epochs=200,
                          equilibration_steps=5 * model.T,
                          learning_rate=optax.exponential_decay(5e-5, transition_steps=200, decay_rate=0.05))
    assert _rates(tuned.model, batch, seed=3, n_seeds=2).mean() == pytest.approx(62.5, rel=0.02)


@pytest.mark.parametrize("theta, max_ratio", [(5.0, 1.15), (3.0, 1.6)])
def test_expected_rate_gradient_has_the_right_sign_and_overestimates_with_refractoriness(theta, max_ratio):
    """Uncoupled Bernoulli GLM: the exact d(rate)/dθ from the Markov chain (finite difference, float64)
    against the expected-rate estimator. Holding the spike history fixed ignores that a higher rate brings
    more refractoriness, so the estimator has the right sign but a larger magnitude (6 % at θ = 5, ~45 % at
    θ = 3); tuning still converges where the predicted rate equals the target, which is the true rate."""
    ref = _reference_self_kernel(10, 3, -100.0, 7, -30.0, 0.5, 1.0)
    h = 1e-3
    exact = (_bernoulli_stationary_rate(theta + h, 1.0, ref, 1.0)
             - _bernoulli_stationary_rate(theta - h, 1.0, ref, 1.0)) / (2 * h)
    empty = glm.from_edges([], [], [], 1000)
    estimate = jax.jit(jax.grad(lambda t: glm.expected_rates(glm.BernoulliGLM(theta=t), empty, 2000, jax.random.key(0),
                                                             equilibration_steps=100)[0].mean()))(jnp.float32(theta))
    ratio = float(estimate) / exact
    assert exact < 0
    assert 1.0 <= ratio <= max_ratio
