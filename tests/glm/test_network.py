"""Edge-list networks: construction, batching as a disjoint graph and by vmap, save/load."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn import glm


def test_from_dense_round_trip_and_sorted_edges():
    w = np.array(jax.random.normal(jax.random.key(0), (7, 7))) * (np.arange(49).reshape(7, 7) % 3 == 0)
    net = glm.from_dense(w)
    assert net.n_edges == np.count_nonzero(w)
    assert np.all(np.diff(np.asarray(net.post)) >= 0)
    np.testing.assert_array_equal(net.dense(), w.astype(np.float32))


@pytest.mark.parametrize("layout", ["sparse", "dense"])
def test_synaptic_sum_matches_dense_product(layout):
    w = np.array(jax.random.normal(jax.random.key(1), (9, 9))) * (np.arange(81).reshape(9, 9) % 4 != 0)
    h = np.array(jax.random.uniform(jax.random.key(2), (9,)))
    net = glm.from_dense(w, layout=layout).materialise()
    assert net.layout == layout and (net.matrix is None) == (layout == "sparse")
    np.testing.assert_allclose(net.synaptic_sum(jnp.asarray(h)), w.T @ h, rtol=1e-5, atol=1e-6)


def test_auto_layout_is_dense_only_for_small_dense_networks():
    assert glm.normal_connectivity(jax.random.key(0), 100).layout == "dense"
    assert glm.from_edges([0, 1], [1, 2], [1.0, 1.0], 100).layout == "sparse"  # density 2e-4
    big = glm.from_edges(np.arange(5000), np.arange(5000), np.ones(5000), 5000)
    assert big.layout == "sparse"


def test_layouts_give_the_same_gradient():
    """The dense and sparse layouts give the same expected-rate gradient w.r.t. the edge weights."""
    generated = glm.normal_connectivity(jax.random.key(3), 20, std=2.0, glorot=True)
    model = glm.RectifiedLNP(T=5, r=0.05)

    def grads(layout):
        net = glm.from_edges(generated.pre, generated.post, generated.weight, 20, layout=layout)
        rate = lambda w: glm.expected_rates(model, eqx.tree_at(lambda n: n.weight, net, w), 50,  # noqa: E731
                                            jax.random.key(4))[0].mean()
        return jax.jit(jax.grad(rate))(net.weight)

    dense = grads("dense")
    np.testing.assert_allclose(dense, grads("sparse"), rtol=1e-4, atol=1e-6)
    assert float(jnp.abs(dense).sum()) > 0


def test_from_edges_rejects_bad_input():
    with pytest.raises(ValueError, match="post"):
        glm.from_edges([0, 1], [1, 5], [1.0, 1.0], 5)
    with pytest.raises(ValueError, match="equal length"):
        glm.from_edges([0, 1], [1], [1.0, 1.0], 5)
    with pytest.raises(ValueError, match="finite"):
        glm.from_edges([0], [1], [np.nan], 5)
    with pytest.raises(ValueError, match="square"):
        glm.from_dense(np.ones((2, 3)))


def test_disjoint_union_run_equals_separate_runs():
    """A deterministic model (threshold SAM without background noise) from given initial states: the union
    of three networks must produce exactly the spikes of the three networks run alone."""
    model = glm.ThresholdSAM(rho=0.0, theta=0.0)
    nets = [glm.normal_connectivity(jax.random.key(s), n, std=2.0, glorot=True) for s, n in ((3, 12), (4, 12), (5, 12))]
    starts = [glm.ActivationState(jax.random.uniform(jax.random.key(10 + i), (net.n_neurons,)))
              for i, net in enumerate(nets)]
    alone = [glm.simulate(model, net, 300, jax.random.key(0), initial_state=s0, equilibration_steps=5).spikes
             for net, s0 in zip(nets, starts)]
    union = glm.disjoint_union(nets)
    start = glm.ActivationState(jnp.concatenate([s.activation for s in starts]))
    together = glm.simulate(model, union, 300, jax.random.key(1), initial_state=start, equilibration_steps=5).spikes
    parts = glm.split_neurons(together, [net.n_neurons for net in nets])
    total = 0
    for part, single in zip(parts, alone):
        np.testing.assert_array_equal(part, np.asarray(single))
        total += int(np.asarray(single).sum())
    assert 0 < total < 300 * union.n_neurons  # the comparison is not between silent (or saturated) runs


def test_vmapped_networks_equal_separate_runs():
    """Stochastic runs: a vmap over stacked networks (padded to equal edge counts) draws the same numbers as
    each network run alone with its key."""
    model = glm.BernoulliGLM(theta=3.0)
    nets = [glm.normal_connectivity(jax.random.key(s), 20, std=3.0, glorot=True, sparsity=sp)
            for s, sp in ((20, 0.5), (21, 0.8), (22, 0.9))]
    assert len({net.n_edges for net in nets}) == 3  # padding is exercised
    keys = jax.random.split(jax.random.key(23), 3)
    batched = jax.vmap(lambda net, k: glm.simulate(model, net, 500, k).spikes)(glm.stack_networks(nets), keys)
    for net, key, member in zip(nets, keys, batched):
        single = glm.simulate(model, net, 500, key).spikes
        np.testing.assert_array_equal(member, single)
        assert int(single.sum()) > 0


def test_stack_networks_requires_equal_sizes():
    with pytest.raises(ValueError, match="n_neurons"):
        glm.stack_networks([glm.from_edges([0], [1], [1.0], 3), glm.from_edges([0], [1], [1.0], 4)])


def test_save_and_load_network(tmp_path):
    net = glm.normal_connectivity(jax.random.key(40), 12, sparsity=0.7)
    glm.save_network(tmp_path / "net.npz", net)
    loaded = glm.load_network(tmp_path / "net.npz")
    assert loaded.n_neurons == 12
    for field in ("pre", "post", "weight"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(net, field))
