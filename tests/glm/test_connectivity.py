"""Connectivity generators against the reference's definitions."""

import jax
import numpy as np
import pytest

from jaxsnn import glm


def _mexican_hat(n, a, sigma_1, sigma_2):
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    d = np.minimum(abs(i - j), n - abs(i - j))
    return np.exp(-0.5 * (d / sigma_1) ** 2) - a * np.exp(-0.5 * (d / sigma_2) ** 2)


def test_mexican_hat_matches_formula_with_zero_diagonal():
    """spikeometric's MexicanHatGenerator (1.0.x) sets the diagonal to zero."""
    net = glm.mexican_hat_connectivity(30, a=1.0015, sigma_1=6.98, sigma_2=7.0)
    w = net.dense()
    expected = _mexican_hat(30, 1.0015, 6.98, 7.0)
    np.fill_diagonal(expected, 0.0)
    assert np.all(np.diag(w) == 0)
    assert net.n_edges == 900 - 30  # every off-diagonal entry is non-zero
    np.testing.assert_allclose(w, expected, rtol=1e-5, atol=1e-9)


def test_mexican_hat_can_keep_self_connections():
    net = glm.mexican_hat_connectivity(30, a=1.0015, sigma_1=6.98, sigma_2=7.0, self_connections=True)
    assert net.n_edges == 900
    np.testing.assert_allclose(np.diag(net.dense()), 1.0 - 1.0015, rtol=1e-5)
    np.testing.assert_allclose(net.dense(), _mexican_hat(30, 1.0015, 6.98, 7.0), rtol=1e-5, atol=1e-9)


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


def test_uniform_generator_symmetric_range_uses_dale_layout():
    """low == -high: spikeometric's Dale's-law branch (one draw per (pair, target), E rows its positive
    part, I rows its negative part, kept with probability 2 (1 - sparsity))."""
    n, sparsity = 200, 0.8
    net = glm.uniform_connectivity(jax.random.key(2), n, low=-0.5, high=0.5, sparsity=sparsity)
    w = net.dense()
    assert np.all(w[: n // 2] >= 0) and np.all(w[n // 2 :] <= 0)
    assert np.all(np.diag(w) == 0)
    assert np.all(np.abs(w) <= 0.5)
    assert np.count_nonzero(w[: n // 2]) > 0 and np.count_nonzero(w[n // 2 :]) > 0
    draws = w[: n // 2] + w[n // 2 :]
    assert np.all((w[: n // 2] == 0) | (w[n // 2 :] == 0))  # one of the two halves of each draw is zero
    # kept draws: Binomial(n/2 * n, 2 (1 - s)) less the ~n diagonal ones; 4 binomial SDs
    p = 2 * (1 - sparsity)
    mean, sd = p * n * n / 2, np.sqrt(p * (1 - p) * n * n / 2)
    assert abs(np.count_nonzero(draws) - mean) < 4 * sd + n


@pytest.mark.parametrize("low, high", [(-0.002289, 0.0), (0.5, 1.0), (-1.0, 0.5)])
def test_uniform_generator_other_ranges_have_no_dale_layout(low, high):
    """Any other range: spikeometric draws all n x n weights on [low, high) and keeps each with
    probability 1 - sparsity (diagonal zero), with no E/I split; e.g. spikeometric's ThresholdSAM test
    network [-0.002289, 0) has inhibitory weights on every row."""
    n, sparsity = 201, 0.9  # odd n and any sparsity are fine without the E/I split
    net = glm.uniform_connectivity(jax.random.key(1), n, low=low, high=high, sparsity=sparsity)
    w = net.dense().astype(np.float64)
    assert np.all(np.diag(w) == 0)
    kept = w[w != 0]
    assert np.all((kept >= low) & (kept < high))
    # both halves of the rows hold kept weights of both signs the range allows
    for rows in (w[: n // 2], w[n // 2 :]):
        assert np.any(rows < 0) == (low < 0) and np.any(rows > 0) == (high > 0)
    # kept pairs: Binomial(n (n - 1), 1 - s); uniform draws: mean (low + high) / 2, SD (high - low)/sqrt(12)
    p, pairs = 1 - sparsity, n * (n - 1)
    assert abs(kept.size - p * pairs) < 4 * np.sqrt(p * (1 - p) * pairs)
    assert abs(kept.mean() - (low + high) / 2) < 4 * (high - low) / np.sqrt(12 * kept.size)


def test_uniform_generator_spikeometric_threshold_sam_network():
    """spikeometric's test network UniformGenerator(20, low=-0.002289, high=0, sparsity=0.9): ~38 edges of
    380 off-diagonal pairs, all inhibitory, on both halves."""
    nets = [glm.uniform_connectivity(jax.random.key(s), 20, low=-0.002289, high=0.0, sparsity=0.9)
            for s in range(20)]
    counts = np.array([net.n_edges for net in nets])
    assert abs(counts.mean() - 38.0) < 4 * np.sqrt(380 * 0.1 * 0.9 / len(nets))
    assert sum(np.count_nonzero(net.dense()[:10]) for net in nets) > 0


def test_generators_reject_bad_arguments():
    with pytest.raises(ValueError, match="even"):
        glm.normal_connectivity(jax.random.key(0), 7)
    with pytest.raises(ValueError, match="sparsity"):
        glm.normal_connectivity(jax.random.key(0), 8, sparsity=0.2)
    with pytest.raises(ValueError, match="low <= high"):
        glm.uniform_connectivity(jax.random.key(0), 8, low=1.0, high=0.0)
    with pytest.raises(ValueError, match="even"):  # the Dale's-law layout of symmetric ranges
        glm.uniform_connectivity(jax.random.key(0), 7, low=-1.0, high=1.0)
    with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\]"):
        glm.uniform_connectivity(jax.random.key(0), 7, low=0.0, high=1.0, sparsity=1.5)


def test_load_dense(tmp_path):
    w = np.array([[0.0, 1.0], [-2.0, 0.0]])
    np.save(tmp_path / "w.npy", w)
    net = glm.load_dense(tmp_path / "w.npy")
    np.testing.assert_array_equal(net.dense(), w)
    assert net.n_edges == 2
