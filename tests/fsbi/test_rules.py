"""The MLP rule's fixed hidden layers are the original's numbers, read as the original reads them."""

import json
from importlib import resources

import jax.numpy as jnp
import numpy as np

from jaxsnn.fsbi.rules import MLPRule, load_mlp_hidden_layers


def _constant_part() -> np.ndarray:
    with resources.files("jaxsnn").joinpath("data/mlp_rule_constant_part.json").open("rb") as f:
        return np.asarray(json.load(f)["values"], np.float64)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + np.exp(-z))


def _forward_by_hand(c: np.ndarray, inputs: np.ndarray, last: np.ndarray) -> float:
    """T4wvceciMLPConnection::forward_pre/forward_post, index by index: Wh1[k + 6 i] at 4 + 6 i + k,
    Wh2[i + 50 j] at 304 + 50 j + i, then the linear last layer with its bias."""
    xh1 = [_sigmoid(sum(inputs[k] * c[4 + 6 * i + k] for k in range(6))) for i in range(50)]
    xh2 = [_sigmoid(sum(xh1[i] * c[304 + 50 * j + i] for i in range(50))) for j in range(4)]
    return sum(xh2[j] * last[j] for j in range(4)) + last[4]


def test_constant_part_is_the_released_one():
    c = _constant_part()
    assert c.shape == (504,)
    np.testing.assert_array_equal(c[:4], [0.01, 0.1, 0.01, 0.1])  # the four trace time constants
    assert c[4] == 0.330212086 and c[5] == 0.145547777  # Wh1[0], Wh1[1] as printed in the task config
    h1, h2 = load_mlp_hidden_layers()
    assert h1.shape == (50, 6) and h2.shape == (4, 50)
    assert h1[1, 0] == np.float32(c[10]) and h2[1, 0] == np.float32(c[354])


def test_mlp_forward_values_from_the_published_numbers():
    c = _constant_part()
    rng = np.random.default_rng(3)
    theta = np.concatenate([[0.5, 0.25], rng.uniform(-1, 1, 20), [10.0]])[None]
    rule, _ = MLPRule.from_theta(jnp.asarray(theta))
    # inputs as the rule builds them: 2 x_pre, 2 x_post, w, 15 V, 15 C_exc, 15 C_inh
    events = np.array([[2 * 0.3, 2 * 0.1, 0.5, 15 * -0.065, 15 * -0.002, 15 * 0.001],
                       [0.0, 2 * 1.2, 3.0, 15 * -0.050, 15 * -0.010, 15 * 0.004],
                       [2 * 2.0, 0.0, 19.0, 15 * -0.070, 0.0, 0.0]])
    for projection in (0, 1):
        for side in (0, 1):
            got = np.asarray(rule(projection, side, jnp.zeros(3, jnp.int32), jnp.asarray(events, jnp.float32)))
            last = theta[0, 2:22].reshape(2, 2, 5)[projection, side]
            eta = theta[0, projection]
            want = [eta * _forward_by_hand(c, e, last) for e in events]
            # float32 arithmetic over 6 + 50 + 4 terms of order 1: a few 1e-7 relative to the sum
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
