"""The external input is drawn a block of steps at a time (outside the per-step loop): the random
stream must stay a function of (rule key, step) only, so results do not depend on blocking or chunking."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxsnn import fsbi
from jaxsnn.fsbi.config import make_config
from jaxsnn.fsbi.simulator import external_draws, external_source_ids, external_uniforms


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


def _auryn_poisson_group(rng, rate, n_sources, dt, n_steps):
    """Auryn's PoissonGroup::set_rate and evolve, transcribed: one renewal scan over the (step x
    source) lattice. Returns the spike count of every step."""
    lam = 1.0 / (1.0 / rate - dt)
    x = int(rng.exponential() / lam / dt + 0.5)
    counts = np.zeros(n_steps, np.int64)
    for k in range(n_steps):
        while x < n_sources:
            counts[k] += 1
            x += int(rng.exponential() / lam / dt + 1.5)
        x -= n_sources
    return counts


def test_source_draw_is_auryns_renewal_scan():
    # 5000 sources at 10 Hz, dt 0.1 ms: 5 spikes per step. Auryn's renewal scan makes the per-step
    # count sub-binomial (gaps of at least one lattice point, rounded); compare mean and variance with
    # a direct transcription of Auryn's loop run with numpy's generator on as many steps.
    cfg = make_config("polynomial", n_exc=80, n_inh=20)
    n_steps, rate = 4000, 10.0
    keys = jax.random.key(0)[None]
    u = external_uniforms(keys, jnp.int32(-cfg.delay_steps), n_steps + cfg.delay_steps, 64)
    ids, over, offsets = external_draws(u, jnp.full((1,), -1, jnp.int32), jnp.int32(0), jnp.float32([rate]), cfg)
    ids = np.asarray(ids[:, 0])
    assert int(over.sum()) == 0 and not np.any(ids[: cfg.delay_steps] < cfg.n_ext)  # delayed by 8 steps
    valid = ids[cfg.delay_steps:] < cfg.n_ext
    counts = valid.sum(axis=1)
    for row, ok in zip(ids[cfg.delay_steps:], valid):
        assert np.all(np.diff(row[ok]) > 0)  # ascending, no source twice in a step
    reference = _auryn_poisson_group(np.random.default_rng(1), rate, cfg.n_ext, cfg.dt, n_steps)
    mean = cfg.n_ext * rate * cfg.dt
    se_mean = np.sqrt(mean / n_steps)
    assert abs(counts.mean() - mean) < 4 * se_mean and abs(reference.mean() - mean) < 4 * se_mean
    # variance estimates over 4000 steps: relative standard error ≈ sqrt(2/4000) ≈ 2.2 % each, 3.2 % for
    # their ratio: 4 standard errors
    assert abs(counts.var() / reference.var() - 1) < 4 * np.sqrt(2 * 2 / n_steps)


def test_source_ids_follow_auryns_gaps_exactly():
    # Given the exponential variates, positions are Auryn's: first ⌊E0/(λ dt) + 0.5⌋, then
    # + ⌊E/(λ dt) + 1.5⌋; the spikes past the row carry over to the next step's offset.
    rate, dt, n = 2000.0, 1e-4, 12
    lam_dt = dt / (1.0 / rate - dt)
    e = np.array([0.3, 0.1, 0.9, 0.05, 1.7, 0.2, 2.5, 0.4])
    u = jnp.asarray(np.exp(-e), jnp.float32)
    ids, nxt, over = external_source_ids(u, jnp.int32(-1), jnp.float32(rate), n, dt)
    e32 = -np.log(np.asarray(u, np.float64))
    pos = [int(e32[0] / lam_dt + 0.5)]
    for x in e32[1:]:
        pos.append(pos[-1] + int(x / lam_dt + 1.5))
    inside = [p for p in pos if p < n]
    assert int(over) == 0
    np.testing.assert_array_equal(np.asarray(ids)[: len(inside)], inside)
    assert np.all(np.asarray(ids)[len(inside):] == n)
    assert int(nxt) == pos[len(inside)] - n
    # the next step starts from that offset and uses no new first draw
    ids2, _, _ = external_source_ids(u, nxt, jnp.float32(rate), n, dt)
    assert int(ids2[0]) == pos[len(inside)] - n


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
