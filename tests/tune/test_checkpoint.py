"""Checkpointed scans: the same values and gradients as lax.scan, with less memory for the backward pass."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.tune import checkpoint_step, checkpointed_scan


def _leaky_step(carry, x):
    """A small recurrent 'membrane': v <- tanh(W v + x); outputs the mean of v."""
    v, w = carry
    v = jnp.tanh(w @ v + x)
    return (v, w), v.mean()


def _loss(w, xs, scan):
    (v, _), ys = scan(_leaky_step, (jnp.zeros(16), w), xs)
    return (ys**2).sum() + v.sum()


W = 0.3 * jax.random.normal(jax.random.key(0), (16, 16))
XS = jax.random.normal(jax.random.key(1), (103, 16))  # 103 = prime: exercises the partial last chunk


def _plain(f, c, xs):
    return jax.lax.scan(f, c, xs)


@functools.cache
def _plain_results():
    """Loss, gradient and outputs of the plain scan (computed once for all chunk sizes)."""
    return _loss(W, XS, _plain), jax.grad(_loss)(W, XS, _plain), _plain(_leaky_step, (jnp.zeros(16), W), XS)[1]


@pytest.mark.parametrize("chunk_size", [None, 7, 200])  # ceil(√103) = 11 and 7 leave partial chunks; 200 > 103
def test_checkpointed_scan_matches_scan(chunk_size):
    chunked = lambda f, c, xs: checkpointed_scan(f, c, xs, chunk_size=chunk_size)  # noqa: E731
    loss, grad, ys = _plain_results()
    np.testing.assert_allclose(_loss(W, XS, chunked), loss, rtol=1e-6)
    np.testing.assert_allclose(jax.grad(_loss)(W, XS, chunked), grad, rtol=1e-5, atol=1e-6)
    _, ys_chunked = chunked(_leaky_step, (jnp.zeros(16), W), XS)
    assert ys_chunked.shape == (103,)
    np.testing.assert_allclose(ys_chunked, ys, rtol=1e-6)


def test_checkpoint_step_matches_scan():
    remat = lambda f, c, xs: jax.lax.scan(checkpoint_step(f), c, xs)  # noqa: E731
    np.testing.assert_allclose(jax.grad(_loss)(W, XS, remat), _plain_results()[1], rtol=1e-5, atol=1e-6)


def test_scan_without_xs_needs_length():
    step = lambda c, _: (c * 0.9, c)  # noqa: E731
    carry, ys = checkpointed_scan(step, jnp.float32(1.0), length=12, chunk_size=5)
    np.testing.assert_allclose(ys, 0.9 ** np.arange(12), rtol=1e-6)
    with pytest.raises(ValueError, match="length"):
        checkpointed_scan(step, jnp.float32(1.0))


def test_chunked_remat_reduces_backward_memory():
    """Compiled temporary memory of the gradient of a long scan whose step has large residuals."""
    n_steps, width = 2000, 256

    def step(v, x):
        h = jnp.tanh(jnp.outer(v, x))  # a [width, width] residual per step
        return jnp.tanh(h.mean(axis=1) + x), None

    def loss(x0, scan):
        v, _ = scan(step, x0, jnp.ones((n_steps, width)) * 0.01)
        return v.sum()

    def temp_bytes(scan):
        compiled = jax.jit(jax.grad(lambda x0: loss(x0, scan))).lower(jnp.ones(width)).compile()
        analysis = compiled.memory_analysis()
        if analysis is None:
            pytest.skip("this backend reports no memory analysis")
        return analysis.temp_size_in_bytes

    plain = temp_bytes(lambda f, c, xs: jax.lax.scan(f, c, xs))
    chunked = temp_bytes(lambda f, c, xs: checkpointed_scan(f, c, xs))
    assert plain > 200 * 2**20  # 2000 steps x 256 KiB of residuals
    assert chunked < plain / 10
