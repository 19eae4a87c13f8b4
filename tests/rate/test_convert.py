"""Rate-to-LIF conversion against an independent float64 numpy/scipy evaluation of the spec's
equations; the balance condition, the reported fallback, both simulators and the decay-time
measure."""

import jax
import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import erf, erfcx, zeta

from jaxsnn.convert import (
    autocovariance,
    decay_time,
    ei_gaussian_weights,
    rate_to_lif,
    simulate_lif_ei,
    simulate_rate_ei,
)


def reference_conversion(W, n_exc, g, dr_exc, dr_inh, bias_exc, bias_inh):
    """The spec's conversion written out in float64 numpy, root by scipy's brentq (smallest root)."""
    n = W.shape[0]
    gamma = n_exc / (n - n_exc)
    dv_e, dv_i, du_e, du_i, vth = dr_exc, dr_inh, 7 * dr_exc, 7 * dr_inh, 1.0
    if bias_exc >= bias_inh:
        be, bi = 5 * vth * dv_e * bias_exc / bias_inh, 5 * vth * dv_i
    else:
        be, bi = 5 * vth * dv_e, 5 * vth * dv_i * bias_inh / bias_exc
    b = (be / dv_e + bi / dv_i) / 2
    nu = (b - vth) / (gamma * g - 1)
    w_rate = W[:, :n_exc].mean()
    d = np.sqrt(2) * abs(zeta(0.5)) * np.sqrt(dv_e / du_e) / 2

    def response(w):
        mu = n_exc * (1 - gamma * g) * w * nu + b
        sigma = np.sqrt(n_exc * (1 + gamma * g**2) * w**2 * nu)
        yt, yr = (vth - mu) / sigma + d, -mu / sigma + d
        f = lambda y: np.exp(y * y) * (1 + erf(y)) if y > 0 else erfcx(-y)
        alpha = np.sqrt(np.pi) * nu**2 * (f(yt) - f(yr)) / sigma
        beta = np.sqrt(np.pi) * nu**2 * (f(yt) * yt - f(yr) * yr) / (2 * sigma**2)
        return alpha * w + beta * w * w

    grid = w_rate * np.exp(np.linspace(-30, 10, 4001))
    values = np.array([response(w) for w in grid]) - w_rate
    i = int(np.argmax(values >= 0))
    w = brentq(lambda x: response(x) - w_rate, grid[i - 1], grid[i], xtol=1e-300, rtol=1e-14)
    lif = W * (w / w_rate)
    lif[:, :n_exc] *= du_e
    lif[:, n_exc:] *= du_i
    return dict(w=w, scale=w / w_rate, nu=nu, bias_exc=be, bias_inh=bi, du_exc=du_e, du_inh=du_i, weights=lif)


@pytest.mark.parametrize(
    "q, biases, drs",
    [(1.0, (0.1, 0.1), (0.01, 0.01)), (np.sqrt(400 / 6), (0.1, 0.1), (0.01, 0.01)), (1.0, (0.2, 0.1), (0.01, 0.02)), (2.0, (0.1, 0.3), (0.02, 0.01))],
)
def test_conversion_matches_independent_float64_evaluation(q, biases, drs):
    W = ei_gaussian_weights(jax.random.key(4), 400, n_exc=320, q=q, g=4.5)
    conv = rate_to_lif(W, n_exc=320, g=4.5, dr_exc=drs[0], dr_inh=drs[1], bias_exc=biases[0], bias_inh=biases[1])
    ref = reference_conversion(W, 320, 4.5, drs[0], drs[1], biases[0], biases[1])
    assert conv.converged, conv.message
    assert conv.w_lif == pytest.approx(ref["w"], rel=1e-9)
    assert conv.weight_scale == pytest.approx(ref["scale"], rel=1e-9)
    assert conv.rate_estimate == pytest.approx(ref["nu"], rel=1e-12)
    for name in ("bias_exc", "bias_inh", "du_exc", "du_inh"):
        assert getattr(conv, name) == pytest.approx(ref[name], rel=1e-12), name
    assert (conv.dv_exc, conv.dv_inh, conv.v_th) == (drs[0], drs[1], 1.0)
    np.testing.assert_allclose(conv.weights, ref["weights"], rtol=1e-9, atol=1e-15)


def test_unbalanced_network_is_rejected_with_the_condition():
    W = ei_gaussian_weights(jax.random.key(0), 100, n_exc=50, g=0.8)
    with pytest.raises(ValueError, match=r"gamma \* g = \(N_E / N_I\) \* g = 1 \* 0.8 = 0.8 <= 1.*requires gamma \* g > 1"):
        rate_to_lif(W, n_exc=50, g=0.8)
    with pytest.raises(ValueError, match="square"):
        rate_to_lif(W[:, :10], n_exc=5, g=4.5)
    with pytest.raises(ValueError, match="n_exc must be < N"):
        rate_to_lif(W, n_exc=100, g=4.5)


def test_theory_failure_falls_back_to_unscaled_weights_and_says_so():
    # a rate weight beyond the LIF network's largest linear response has no solution
    W = ei_gaussian_weights(jax.random.key(0), 100, n_exc=80, g=4.5) * 1e20
    conv = rate_to_lif(W, n_exc=80, g=4.5)
    assert not conv.converged and conv.weight_scale == 1.0 and np.isnan(conv.w_lif)
    assert "theory failed" in conv.message
    np.testing.assert_allclose(conv.weights[:, :80], W[:, :80] * 0.07)
    np.testing.assert_allclose(conv.weights[:, 80:], W[:, 80:] * 0.07)


def test_simulators_match_numpy_loops():
    n, n_exc, steps = 30, 24, 60
    W = ei_gaussian_weights(jax.random.key(1), n, n_exc=n_exc, q=2.0, g=4.5)
    activity = np.asarray(simulate_rate_ei(W, n_exc=n_exc, steps=steps, key=jax.random.key(2), dr_inh=0.02, bias_inh=0.05))
    r = np.zeros(n)
    dr = np.where(np.arange(n) < n_exc, 0.01, 0.02)
    bias = np.where(np.arange(n) < n_exc, 0.1, 0.05)
    expected = []
    for _ in range(steps):
        r = (1 - dr) * r + dr * (W @ erf(r)) + bias
        expected.append(r.mean())
    np.testing.assert_allclose(activity, expected, rtol=1e-4)

    conv = rate_to_lif(W * 30, n_exc=n_exc, g=4.5)
    pop, counts = simulate_lif_ei(conv, n_exc=n_exc, steps=steps, key=jax.random.key(3))
    v = np.asarray(jax.random.uniform(jax.random.key(3), (n,), minval=0.0, maxval=1.0), np.float64)
    u, s, total = np.zeros(n), np.zeros(n), np.zeros(n)
    expected_pop = []
    for _ in range(steps):
        u = u * (1 - conv.du_exc) + conv.weights @ s
        v = v * (1 - conv.dv_exc) + u + conv.bias_exc
        s = (v > 1.0).astype(float)
        v[s > 0] = 0
        total += s
        expected_pop.append(s.sum())
    np.testing.assert_array_equal(np.asarray(pop), expected_pop)
    np.testing.assert_array_equal(np.asarray(counts), total)
    assert total.sum() > 0


def test_decay_time_of_an_ar1_process():
    # x_t = a x_{t-1} + noise has auto-correlation a^l: 1/e decay after -1/ln(a) steps
    a, steps = 0.95, 200_000
    noise = np.random.default_rng(0).normal(size=steps)
    x = np.zeros(steps)
    for t in range(1, steps):
        x[t] = a * x[t - 1] + noise[t]
    acov = autocovariance(x, 100)
    assert acov[0] == 1.0
    assert decay_time(acov, 1e-3) == pytest.approx(-1e-3 / np.log(a), rel=0.05)
    assert decay_time(np.ones(10), 1.0) == float("inf")
