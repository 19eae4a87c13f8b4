"""Each transfer function against its formula, evaluated independently in float64 numpy/scipy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import erf

from jaxsnn.rate import TRANSFER_FUNCTIONS, brunel_2003, erf_transfer, gaussian_cdf, threshold_linear, transfer_function

X = np.linspace(-4.0, 6.0, 1001)


def brunel_reference(y):
    out = np.zeros_like(y)
    mid = (y >= 0) & (y < 1)
    out[mid] = y[mid] ** 2
    out[y >= 1] = np.sqrt(4 * y[y >= 1] - 3)
    return out


@pytest.mark.parametrize(
    "fn, reference, theta",
    [
        (threshold_linear, lambda x, t: np.maximum(x - t, 0.0), 0.7),
        (erf_transfer, lambda x, t: erf((x - t) / np.sqrt(2.0)), -0.3),
        (brunel_2003, lambda x, t: brunel_reference(x - t), 0.5),
        (gaussian_cdf, lambda x, t: t * 0.5 * (1 + erf(x / np.sqrt(2.0))), 40.0),
    ],
)
def test_transfer_matches_formula(fn, reference, theta):
    got = np.asarray(fn(jnp.asarray(X, jnp.float32), theta), np.float64)
    np.testing.assert_allclose(got, reference(X, theta), rtol=1e-5, atol=1e-5)


def test_brunel_is_continuous_with_finite_gradient():
    # y = 1 joins y^2 and sqrt(4y - 3): both are 1 with slope 2
    eps = 1e-3
    below, above = brunel_2003(jnp.float32(1 - eps)), brunel_2003(jnp.float32(1 + eps))
    assert abs(float(above - below)) < 5 * eps
    grads = jax.vmap(jax.grad(brunel_2003))(jnp.asarray([-1.0, 0.0, 0.5, 1.0, 3.0], jnp.float32))
    np.testing.assert_allclose(np.asarray(grads), [0.0, 0.0, 1.0, 2.0, 2.0 / 3.0], rtol=1e-5)


def test_transfer_registry_and_unknown_name():
    assert set(TRANSFER_FUNCTIONS) == {"relu", "erf", "brunel", "sigmoid"}
    assert transfer_function("erf") is erf_transfer
    with pytest.raises(ValueError, match="transfer must be one of"):
        transfer_function("tanh")
