"""Surrogate spike functions: exact Heaviside forward, analytic surrogate derivative backward; escape noise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxsnn
from jaxsnn.surrogate import Arctan, EscapeNoise, FastSigmoid, Sigmoid, Triangle

X = np.concatenate([np.linspace(-0.02, 0.02, 101), [0.0, -1e-9, 1e-9]])


def _derivatives_float64(x, scale):
    """Independent float64 forms of each surrogate derivative."""
    s = 1.0 / (1.0 + np.exp(-scale * x))
    return {
        FastSigmoid: scale / (2.0 * (1.0 + scale * np.abs(x)) ** 2),
        Sigmoid: scale * s * (1.0 - s),
        Triangle: np.clip(scale * (1.0 - scale * np.abs(x)), 0.0, None),
        Arctan: scale / (2.0 * (1.0 + (np.pi * scale * x / 2.0) ** 2)),
    }


@pytest.mark.parametrize("shape", [FastSigmoid, Sigmoid, Triangle, Arctan])
@pytest.mark.parametrize("scale", [200.0, 1000.0])
def test_forward_is_heaviside_and_gradient_is_the_surrogate(shape, scale):
    spike = shape(scale=scale)
    x = jnp.asarray(X, jnp.float32)
    np.testing.assert_array_equal(spike(x), (X > 0).astype(np.float32))
    assert spike(x).dtype == jnp.float32
    grads = jax.vmap(jax.grad(spike))(x)
    expected = _derivatives_float64(np.asarray(x, np.float64), scale)[shape]
    np.testing.assert_allclose(grads, expected, rtol=2e-5, atol=1e-4 * scale)
    # forward mode gives the same derivative
    _, tangent = jax.jvp(spike, (x,), (jnp.ones_like(x),))
    np.testing.assert_allclose(tangent, grads, rtol=1e-6)


@pytest.mark.parametrize("shape", [FastSigmoid, Sigmoid, Triangle, Arctan])
def test_surrogates_integrate_to_one(shape):
    x = np.linspace(-2.0, 2.0, 400_001)  # scale 1000: the heavy tails beyond ±2 hold < 0.1 %
    density = np.asarray(jax.vmap(jax.grad(shape(scale=1000.0)))(jnp.asarray(x, jnp.float32)), np.float64)
    assert np.trapezoid(density, x) == pytest.approx(1.0, abs=2e-3)


def test_surrogate_as_lif_spike_function():
    """Same spikes as the exact model, but a non-zero gradient of the spike count w.r.t. the drive."""
    exact, smooth = jaxsnn.LIF(), jaxsnn.LIF(spike_fn=FastSigmoid(scale=1e3))

    def spike_count(model, current):
        def step(state, _):
            state, spikes = model.step(state, jaxsnn.NeuronInput(jnp.zeros(8), jnp.zeros(8), current), 1e-4)
            return state, spikes
        return jax.lax.scan(step, model.init(8), None, length=2000)[1].sum()

    current = jnp.linspace(1.5e-10, 4e-10, 8)  # from below rheobase (2e-10 A) to regular firing
    assert float(spike_count(exact, current)) == float(spike_count(smooth, current)) > 0
    assert np.all(np.asarray(jax.grad(spike_count, argnums=1)(exact, current)) == 0)
    assert float(jax.grad(spike_count, argnums=1)(smooth, current).sum()) > 0


def test_escape_noise_forward_gradient_and_mean():
    escape = EscapeNoise(scale=500.0)
    x = jnp.linspace(-0.01, 0.01, 9)
    u = jnp.full(9, 0.4)
    p = 1.0 / (1.0 + np.exp(-500.0 * np.asarray(x, np.float64)))
    np.testing.assert_array_equal(escape(x, u), (0.4 < p).astype(np.float32))
    grad = jax.grad(lambda x: escape(x, u).sum())(x)
    np.testing.assert_allclose(grad, 500.0 * p * (1 - p), rtol=1e-5)
    samples = jax.vmap(lambda k: escape.sample(k, x))(jax.random.split(jax.random.key(0), 20_000))
    np.testing.assert_allclose(samples.mean(0), p, atol=0.012)  # 4 sigma of 20k Bernoulli draws


def test_escape_noise_gradient_is_unbiased_for_the_mean_count():
    """Common random numbers: the finite difference of the mean count over many draws matches the
    straight-through gradient of its mean."""
    escape = EscapeNoise(scale=300.0)
    u = jax.random.uniform(jax.random.key(1), (400_000,))
    mean_count = lambda x0: escape(jnp.full(u.shape, x0), u).mean()  # noqa: E731
    h = 2e-3
    finite_difference = (mean_count(0.001 + h) - mean_count(0.001 - h)) / (2 * h)
    assert float(jax.grad(mean_count)(0.001)) == pytest.approx(float(finite_difference), rel=0.05)


def test_spike_functions_are_hashable_static_configuration():
    assert FastSigmoid(scale=100) == FastSigmoid(scale=100.0)
    assert hash(FastSigmoid(scale=100)) == hash(FastSigmoid(scale=100.0))
    assert FastSigmoid(scale=100.0) != Sigmoid(scale=100.0)
    with pytest.raises(ValueError, match="scale"):
        FastSigmoid(scale=-1.0)
    with pytest.raises(ValueError, match="scale"):
        EscapeNoise(scale=jnp.ones(3))
