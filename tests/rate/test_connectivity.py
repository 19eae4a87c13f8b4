"""Connectivity profiles and builders against their formulas: degree statistics, ring tuning,
rank of low-rank blocks, the edge-list form and its mapping onto the core's representation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import i0

from jaxsnn import connectivity as core_connectivity
from jaxsnn.rate import (
    BlockSpec,
    Cosine,
    Dense,
    Gaussian,
    LowRank,
    LowRankProfile,
    Sparse,
    Uniform,
    VonMises,
    all_to_all,
    build_blocks,
    ring_angles,
    sample_low_rank_vectors,
    sparse,
    weak_cosine,
)

KEY = jax.random.key(3)


def test_sparse_uniform_degree_statistics_and_balanced_weight():
    n_post, n_pre, k = 2000, 1000, 100
    block = sparse(KEY, Uniform(), n_post, n_pre, k)
    deg = block.in_degrees()
    p = k / n_pre
    # mean in-degree K, variance K (1 - K/N) (binomial), within 5 standard errors
    assert abs(deg.mean() - k) < 5 * np.sqrt(k * (1 - p) / n_post)
    assert abs(deg.var() / (k * (1 - p)) - 1) < 5 * np.sqrt(2 / n_post)
    # out-degrees: binomial(n_post, p)
    assert abs(block.out_degrees().mean() - n_post * p) < 5 * np.sqrt(n_post * p * (1 - p) / n_pre)
    np.testing.assert_allclose(np.asarray(block.weight), 1 / np.sqrt(k), rtol=1e-6)
    assert block.pre.dtype == jnp.int32 and block.post.dtype == jnp.int32 and block.weight.dtype == jnp.float32
    assert np.all(np.diff(np.asarray(block.post)) >= 0), "edges are sorted by postsynaptic index"


def _connection_probability_by_offset(block, n_bins):
    """Fraction of (post, pre) pairs connected, binned by the ring offset theta_post - theta_pre."""
    d = (ring_angles(block.n_post)[np.asarray(block.post)] - ring_angles(block.n_pre)[np.asarray(block.pre)]) % (2 * np.pi)
    counts = np.histogram(d, bins=n_bins, range=(0, 2 * np.pi))[0]
    all_d = (ring_angles(block.n_post)[:, None] - ring_angles(block.n_pre)[None, :]) % (2 * np.pi)
    pairs = np.histogram(all_d, bins=n_bins, range=(0, 2 * np.pi))[0]
    centers = (np.arange(n_bins) + 0.5) * 2 * np.pi / n_bins
    return centers, counts / pairs, pairs


@pytest.mark.parametrize("kappa, phase", [(0.8, 0.0), (0.5, 1.0)])
def test_sparse_cosine_ring_tuning(kappa, phase):
    n, k = 1000, 200
    block = sparse(KEY, Cosine(kappa, phase), n, n, k)
    centers, p_hat, pairs = _connection_probability_by_offset(block, 16)
    # the bin average of 1 + kappa cos(d - phase) over a bin of width w is scaled by sinc(w/2)
    w = 2 * np.pi / 16
    expected = k / n * (1 + kappa * np.sinc(w / 2 / np.pi) * np.cos(centers - phase))
    se = np.sqrt(expected * (1 - expected) / pairs)
    assert np.all(np.abs(p_hat - expected) < 5 * se)
    # first Fourier mode of the in-degree-weighted offsets gives kappa and the phase
    d = (ring_angles(n)[np.asarray(block.post)] - ring_angles(n)[np.asarray(block.pre)])
    mode = np.mean(np.exp(1j * d))
    assert abs(2 * abs(mode) - kappa) < 0.03
    assert abs(np.angle(mode * np.exp(-1j * phase))) < 0.05


def test_weak_cosine_scales_kappa():
    profile = weak_cosine(2.0, k=400, phase=0.3)
    assert profile.kappa == pytest.approx(2.0 / 20.0) and profile.phase == 0.3


def test_all_to_all_cosine_is_exact_rank3_factors():
    n_post, n_pre, kappa, phase = 60, 40, 1.3, 0.7
    block = all_to_all(Cosine(kappa, phase), n_post, n_pre)
    assert isinstance(block, LowRank) and block.rank == 3
    d = ring_angles(n_post)[:, None] - ring_angles(n_pre)[None, :]
    expected = (1 + kappa * np.cos(d - phase)) / n_pre
    np.testing.assert_allclose(np.asarray(block.dense()), expected, atol=1e-6)
    r = np.random.default_rng(0).random(n_pre)
    np.testing.assert_allclose(np.asarray(block.apply(jnp.asarray(r, jnp.float32))), expected @ r, rtol=1e-5, atol=1e-6)


def test_all_to_all_uniform_is_rank_one_mean():
    block = all_to_all(Uniform(), 30, 50)
    assert isinstance(block, LowRank) and block.rank == 1
    np.testing.assert_allclose(np.asarray(block.dense()), 1 / 50, rtol=1e-6)


@pytest.mark.parametrize("paired", [False, True])
def test_low_rank_profile_rank_and_formula(paired):
    n, kappa, k = 200, 2.0, 100.0
    cov = np.eye(4) + 0.5 * (np.eye(4, k=1) + np.eye(4, k=-1))
    xi = sample_low_rank_vectors(KEY, n, np.zeros(4), cov)
    assert xi.shape == (4, n)
    np.testing.assert_allclose(np.cov(xi), cov, atol=0.25)
    profile = LowRankProfile.paired(kappa, xi, k) if paired else LowRankProfile.symmetric(kappa, xi, k)
    lr = xi[0::2].T @ xi[1::2].T.T if paired else xi.T @ xi
    expected = (1 + kappa * lr / np.sqrt(k)) / n
    block = all_to_all(profile, n, n)
    assert isinstance(block, LowRank)
    rank = 2 if paired else 4
    assert block.rank == rank + 1  # the uniform term plus the low-rank vectors, kept as factors
    np.testing.assert_allclose(np.asarray(block.dense()), expected, rtol=1e-4, atol=1e-6)
    assert np.linalg.matrix_rank(expected - 1 / n) == rank


def test_von_mises_profile_formula_and_normalisation():
    n, kappa = 90, 3.0
    block = all_to_all(VonMises(kappa), n, n)
    assert isinstance(block, Dense)
    d = ring_angles(n)[:, None] - ring_angles(n)[None, :]
    expected = np.exp(kappa * np.cos(d)) / (2 * np.pi * i0(kappa)) / n
    np.testing.assert_allclose(np.asarray(block.matrix), expected, rtol=1e-5)
    # a density on the ring: the Riemann sum of P over pre angles is 1
    np.testing.assert_allclose(np.asarray(block.matrix).sum(1) * 2 * np.pi, 1.0, rtol=1e-5)
    # large kappa stays finite (I0 overflows in float64 near kappa = 710)
    assert np.all(np.isfinite(VonMises(800.0).rows(np.arange(3), 10, 10, None)))


def test_gaussian_profile_statistics():
    n = 600
    block = all_to_all(Gaussian(), n, n, key=KEY)
    w = np.asarray(block.matrix) * np.sqrt(n)
    assert abs(w.mean()) < 5 / n and abs(w.std() - 1) < 0.01
    with pytest.raises(ValueError, match="needs a key"):
        all_to_all(Gaussian(), 5, 5)
    # sparse Gaussian: connection probability clip(K/N * z, 0, 1) with z ~ N(0, 1): E = K/N * E[max(z, 0)]
    sp = sparse(KEY, Gaussian(), n, n, 100)
    assert abs(sp.n_edges / n**2 - 100 / n / np.sqrt(2 * np.pi)) < 0.004


def test_sparse_apply_matches_dense_and_batches():
    block = sparse(KEY, Cosine(0.5), 120, 90, 30)
    rates = np.random.default_rng(1).random((90, 3)).astype(np.float32)
    dense = np.asarray(block.dense())
    np.testing.assert_allclose(np.asarray(block.apply(jnp.asarray(rates))), dense @ rates, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(block.apply(jnp.asarray(rates[:, 0]))), dense @ rates[:, 0], rtol=1e-5, atol=1e-6)


def test_edges_map_onto_core_connectivity():
    block = sparse(KEY, Uniform(), 50, 40, 10)
    pre, post, weight = (np.asarray(a) for a in block.to_edges())
    conn = core_connectivity.from_edges(pre, post, 40, 50)
    stored = weight[core_connectivity.edge_order(pre, post)]
    np.testing.assert_allclose(np.asarray(conn.dense(stored)).T, np.asarray(block.dense()), rtol=1e-6)
    # and back: the core's (pre-sorted) edges rebuild the same block
    back = Sparse.from_edges(conn.pre, conn.post, stored, 40, 50)
    np.testing.assert_allclose(np.asarray(back.dense()), np.asarray(block.dense()), rtol=1e-6)
    with pytest.raises(ValueError, match="sorted by post"):
        Sparse(conn.pre, conn.post, jnp.asarray(stored), n_pre=40, n_post=50)


def test_build_blocks_is_deterministic_and_validates():
    specs = {(0, 0): BlockSpec("sparse", Cosine(0.3), 20), (1, 0): BlockSpec("all_to_all", Uniform()), (0, 1): BlockSpec("all_to_all", VonMises(1.0))}
    a = build_blocks(KEY, (100, 50), specs)
    b = build_blocks(KEY, (100, 50), specs)
    assert isinstance(a[(0, 0)], Sparse) and np.array_equal(np.asarray(a[(0, 0)].pre), np.asarray(b[(0, 0)].pre))
    assert (a[(1, 0)].n_post, a[(1, 0)].n_pre) == (50, 100)
    assert (a[(0, 1)].n_post, a[(0, 1)].n_pre) == (100, 50)
    with pytest.raises(ValueError, match="kind of block"):
        build_blocks(KEY, (10,), {(0, 0): BlockSpec("dense", Uniform())})
    with pytest.raises(ValueError, match="population 2"):
        build_blocks(KEY, (10, 10), {(2, 0): BlockSpec("all_to_all", Uniform())})
    with pytest.raises(ValueError, match="k must be <= n_pre"):
        sparse(KEY, Uniform(), 10, 10, 20)
