"""Connectivity builders: statistics, determinism, the two index views, and input checks."""

import jax
import numpy as np
import pytest

from jaxsnn import connectivity as C


def edges(conn):
    return set(zip(np.asarray(conn.pre).tolist(), np.asarray(conn.post).tolist()))


def test_bernoulli_in_degree_mean_and_variance():
    n, p = 2000, 0.1
    conn = C.bernoulli(jax.random.key(0), n, n, p, autapses=False)
    deg = conn.in_degrees()
    m = n - 1
    # in-degree ~ Binomial(n - 1, p): mean mp, variance mp(1 - p); allow 4 standard errors
    assert abs(deg.mean() - m * p) < 4 * np.sqrt(m * p * (1 - p) / n)
    assert abs(deg.var() / (m * p * (1 - p)) - 1) < 4 * np.sqrt(2 / n)
    assert not np.any(np.asarray(conn.pre) == np.asarray(conn.post))


def test_bernoulli_is_deterministic_given_key_and_differs_across_keys():
    a = C.bernoulli(jax.random.key(3), 300, 200, 0.05)
    b = C.bernoulli(jax.random.key(3), 300, 200, 0.05)
    c = C.bernoulli(jax.random.key(4), 300, 200, 0.05)
    assert edges(a) == edges(b) and edges(a) != edges(c)


def test_fixed_degrees_and_all_to_all():
    conn = C.fixed_indegree(jax.random.key(1), 100, 80, 7, autapses=True)
    assert set(conn.in_degrees().tolist()) == {7}
    conn = C.fixed_outdegree(jax.random.key(1), 60, 60, 5, autapses=False)
    assert set(conn.out_degrees().tolist()) == {5}
    assert not np.any(np.asarray(conn.pre) == np.asarray(conn.post))
    assert len(edges(conn)) == conn.n_synapses  # no multapses
    full = C.all_to_all(4, 4, autapses=False)
    assert edges(full) == {(i, j) for i in range(4) for j in range(4) if i != j}


def test_index_views_describe_the_same_synapses():
    conn = C.bernoulli(jax.random.key(2), 50, 40, 0.2)
    pre, post = np.asarray(conn.pre), np.asarray(conn.post)
    out_post, out_syn = np.asarray(conn.out_post), np.asarray(conn.out_syn)
    in_pre, in_syn = np.asarray(conn.in_pre), np.asarray(conn.in_syn)
    assert out_post.shape[0] == 51 and np.all(out_post[50] == 40)  # padding row
    seen = set()
    for j in range(50):
        for t, s in zip(out_post[j], out_syn[j]):
            if s < conn.n_synapses:
                assert (pre[s], post[s]) == (j, t)
                seen.add(s)
    assert seen == set(range(conn.n_synapses))
    seen = set()
    for i in range(40):
        for q, s in zip(in_pre[i], in_syn[i]):
            if s < conn.n_synapses:
                assert (pre[s], post[s]) == (q, i)
                seen.add(s)
    assert seen == set(range(conn.n_synapses))


def test_from_edges_orders_synapses_and_dense_sums_multapses():
    conn = C.from_edges([2, 0, 2, 0], [1, 1, 1, 0], 3, 2)
    assert np.asarray(conn.pre).tolist() == [0, 0, 2, 2]
    order = C.edge_order([2, 0, 2, 0], [1, 1, 1, 0])
    w = np.array([1.0, 2.0, 3.0, 4.0])[order]
    dense = np.asarray(conn.dense(w))
    np.testing.assert_allclose(dense, [[4, 2], [0, 0], [0, 4]])


@pytest.mark.parametrize("call, match", [
    (lambda: C.bernoulli(jax.random.key(0), 10, 10, 1.5), "probability"),
    (lambda: C.bernoulli(jax.random.key(0), 10, 5, 0.1, autapses=False), "n_pre == n_post"),
    (lambda: C.fixed_indegree(jax.random.key(0), 5, 5, 6), "exceeds"),
    (lambda: C.from_edges([0, 5], [0, 0], 3, 3), "pre indices"),
    (lambda: C.from_edges([0, 1], [0], 3, 3), "equal length"),
    (lambda: C.all_to_all(0, 3), "n_pre"),
])
def test_bad_input_is_rejected(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _auryn_connect_random(rng, n_pre, n_post, p, skip_diag):
    """Auryn's SparseConnection::connect_block_random, transcribed (one rank, whole matrix)."""
    lam = 1.0 / (1.0 / p - 1.0)
    x, jump, slots = int(rng.exponential(1.0 / lam)), 0.0, []
    while x < n_pre * n_post:
        i, j = divmod(x, n_post)
        if not skip_diag or i != j:
            slots.append((i, j))
        jump += rng.exponential(1.0 / lam) + 1.0
        discrete = int(jump)
        jump -= discrete
        x += discrete
    return slots


def test_renewal_fill_is_auryns_connect_random():
    key = jax.random.key(5)
    conn = C.renewal(key, 300, 300, 0.1, autapses=False)
    want = _auryn_connect_random(C._seed(key), 300, 300, 0.1, skip_diag=True)
    assert sorted(edges(conn)) == sorted(want)


def test_renewal_degrees_vary_less_than_binomial():
    # gaps 1 + Exp(λ): variance (1 - p)^2 / p^2 against the geometric (1 - p) / p^2, so a row's count
    # varies by (1 - p) x binomial; the marginal connection probability stays p
    rows, n, p = 20_000, 500, 0.1
    conn = C.renewal(jax.random.key(0), rows, n, p)
    deg = conn.out_degrees()
    assert abs(deg.mean() - n * p) < 4 * np.sqrt(n * p * (1 - p) / rows)
    ratio = deg.var() / (n * p * (1 - p))
    se = np.sqrt(2 / rows)  # relative standard error of a variance estimate over `rows` rows
    assert abs(ratio - (1 - p)) < 4 * se
    assert ratio < 1 - 4 * se  # told apart from a binomial
