"""Connectivity generators against the reference's definitions."""

import jax
import numpy as np
import pytest

from jaxsnn import glm


def test_mexican_hat_matches_formula():
    net = glm.mexican_hat_connectivity(30, a=1.0015, sigma_1=6.98, sigma_2=7.0)
    w = net.dense()
    i, j = np.meshgrid(np.arange(30), np.arange(30), indexing="ij")
    d = np.minimum(abs(i - j), 30 - abs(i - j))
    expected = np.exp(-0.5 * (d / 6.98) ** 2) - 1.0015 * np.exp(-0.5 * (d / 7.0) ** 2)
    assert net.n_edges == 900  # every entry is non-zero, self-connections included
    np.testing.assert_allclose(w, expected, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_normal_generator_dale_law_and_sparsity(sparsity):
    n = 200
    net = glm.normal_connectivity(jax.random.key(0), n, std=5.0, sparsity=sparsity, glorot=True)
    w = net.dense()
    assert np.all(w[: n // 2] >= 0) and np.all(w[n // 2 :] <= 0)  # excitatory rows, inhibitory rows
    assert np.all(np.diag(w) == 0)
    density = net.n_edges / (n * n)
    assert density == pytest.approx(1.0 - sparsity, abs=0.01)
    # one N(0, 5/√n) draw per (pair, target): the E and I rows hold its two halves
    draws = w[: n // 2] + w[n // 2 :]
    np.testing.assert_allclose(draws[draws != 0].std(), 5.0 / np.sqrt(n), rtol=0.05)


def test_uniform_generator_range():
    net = glm.uniform_connectivity(jax.random.key(1), 40, low=-0.002289, high=0.0, sparsity=0.9)
    w = net.dense()
    assert np.all(w >= -0.002289) and np.all(w <= 0)
    assert np.all(w[:20] == 0)  # all weights negative: only the inhibitory half projects
    assert net.n_edges == pytest.approx(0.1 * 40 * 40, rel=0.35)


def test_generators_reject_bad_arguments():
    with pytest.raises(ValueError, match="even"):
        glm.normal_connectivity(jax.random.key(0), 7)
    with pytest.raises(ValueError, match="sparsity"):
        glm.normal_connectivity(jax.random.key(0), 8, sparsity=0.2)
    with pytest.raises(ValueError, match="low <= high"):
        glm.uniform_connectivity(jax.random.key(0), 8, low=1.0, high=0.0)


def test_load_dense(tmp_path):
    w = np.array([[0.0, 1.0], [-2.0, 0.0]])
    np.save(tmp_path / "w.npy", w)
    net = glm.load_dense(tmp_path / "w.npy")
    np.testing.assert_array_equal(net.dense(), w)
    assert net.n_edges == 2
