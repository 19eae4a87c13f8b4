"""The external input is drawn a block of steps at a time (outside the per-step loop): the random
stream must stay a function of (rule key, step) only, so results do not depend on blocking or chunking."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxsnn import fsbi
from jaxsnn.fsbi.simulator import external_spikes, external_uniforms


def test_block_draws_equal_per_step_draws_and_do_not_depend_on_blocking():
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(3), i))(jnp.arange(3, dtype=jnp.uint32))
    whole = np.asarray(external_uniforms(keys, jnp.int32(10), 50, 7))
    parts = np.concatenate([np.asarray(external_uniforms(keys, jnp.int32(10), 20, 7)),
                            np.asarray(external_uniforms(keys, jnp.int32(30), 30, 7))])
    np.testing.assert_array_equal(whole, parts)
    # step k of rule r is uniform(fold_in(key_r, k)): the per-step definition the simulator used before
    for step, rule in ((10, 0), (33, 2), (59, 1)):
        direct = jax.random.uniform(jax.random.fold_in(keys[rule], step), (7,), jnp.float32, minval=1e-30, maxval=1.0)
        np.testing.assert_array_equal(whole[step - 10, rule], np.asarray(direct))
    assert whole.min() > 0 and whole.max() <= 1


def test_source_spike_counts_are_binomial():
    # 5000 sources at 10 Hz, dt 0.1 ms: 5 spikes per step on average, variance n p (1 - p)
    keys = jax.random.key(0)[None]
    u = external_uniforms(keys, jnp.int32(0), 4000, 64)[:, 0]
    spikes, cut = jax.vmap(lambda x: external_spikes(x, jnp.float32(10.0), 5000, 1e-4))(u)
    counts = np.asarray(spikes.sum(axis=1))
    p = 10.0 * 1e-4
    assert int(cut.sum()) == 0
    assert abs(counts.mean() - 5000 * p) < 4 * np.sqrt(5000 * p / 4000)
    assert abs(counts.var() / (5000 * p * (1 - p)) - 1) < 0.1


def test_results_do_not_depend_on_chunking():
    theta = np.array([
        0.04660005, 0.02327882, 0.49659052, -0.35899994, -0.37540221, -1.278193,
        0.0707294, 0.07955258, 0.63596439, -1.72025657, 0.56049812, 0.06629736,
        0.03651253, 0.04398145, -0.31592822, -0.04090761, 1.60054791, 1.11010623,
        0.09858324, 0.04056259, -1.94945908, 1.7757206, 0.19681023, 1.9772824, 12.0])
    opts = dict(n_exc=80, n_inh=20, duration=0.8, record_start=0.2, n_rec_e=80, n_rec_i=20, record_spikes=True)
    a = fsbi.simulate(theta, chunk_duration=0.1, **opts)
    b = fsbi.simulate(theta, chunk_duration=0.2, **opts)
    assert len(a.spikes["E"][0][0]) > 0
    for p in ("E", "I"):
        np.testing.assert_array_equal(a.spikes[p][0][1], b.spikes[p][0][1])
        np.testing.assert_array_equal(a.spikes[p][0][0], b.spikes[p][0][0])
    for name in a.metrics:
        np.testing.assert_array_equal(a.metrics[name], b.metrics[name], err_msg=name)
