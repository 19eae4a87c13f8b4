"""BPTT training: checkpointed gradients equal plain ones, the task losses against their formulas,
early stopping, and a small ODR training demo whose loss decreases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.rate import (
    Dense,
    FitConfig,
    LowRank,
    Projection,
    RateNetwork,
    Uniform,
    all_to_all,
    bump_angular_loss,
    epoch_bce,
    fit,
    odr_trials,
    rate_params,
    simulate,
    simulate_batch,
)

DT = 0.01
N = 32


def ring_net(factors: LowRank) -> RateNetwork:
    """A ring whose recurrent block is a trainable rank-2 LowRank operator, plus uniform inhibition
    carrying STP (so J_STP is trained too)."""
    return RateNetwork(
        sizes=(N,),
        projections=(Projection(0, 0, factors), Projection(0, 0, all_to_all(Uniform(), N, N), stp=True)),
        dt=DT,
        synaptic_filter=False,
        input_noise=True,
    )


def initial_factors(key):
    k1, k2 = jax.random.split(key)
    return LowRank(0.1 * jax.random.normal(k1, (N, 2)), 0.1 * jax.random.normal(k2, (N, 2)) / N)


def test_checkpointed_gradient_equals_plain_gradient():
    key = jax.random.key(0)
    trials = odr_trials(key, ring_net(initial_factors(key)), 1, strength=2.0, footprint=1.0, stim_duration=0.05, delay=(0.2, 0.2))
    schedule = jax.tree_util.tree_map(lambda x: x[0], trials.schedule)

    def loss(factors, checkpoint):
        net = ring_net(factors)
        params = rate_params(net, J=[1.0, -1.0], ff_baseline=0.5, tau=0.05, J_stp=[0.0, -0.5])
        _, out = simulate(net, params, schedule, key, duration=0.3, window=0.05, checkpoint=checkpoint)
        return jnp.sum(out.windows["rates"] ** 2)

    factors = initial_factors(key)
    g_plain = jax.grad(lambda f: loss(f, False))(factors)
    g_ckpt = jax.grad(lambda f: loss(f, True))(factors)
    np.testing.assert_allclose(np.asarray(g_ckpt.left), np.asarray(g_plain.left), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(np.asarray(g_ckpt.right), np.asarray(g_plain.right), rtol=1e-4, atol=1e-7)
    assert float(jnp.abs(g_plain.left).max()) > 0


def test_full_weight_gradient_is_consistent_with_the_factor_gradient():
    # training full weights: with W = L R^T the chain rule gives dLoss/dL = dLoss/dW @ R and
    # dLoss/dR = (dLoss/dW)^T @ L, so the Dense block's gradient must reproduce the LowRank one
    key = jax.random.key(2)
    trials = odr_trials(key, ring_net(initial_factors(key)), 1, strength=2.0, footprint=1.0, stim_duration=0.05, delay=(0.2, 0.2))
    schedule = jax.tree_util.tree_map(lambda x: x[0], trials.schedule)

    def loss(block):
        net = ring_net(block)
        params = rate_params(net, J=[1.0, -1.0], ff_baseline=0.5, tau=0.05, J_stp=[0.0, -0.5])
        _, out = simulate(net, params, schedule, key, duration=0.3, window=0.05)
        return jnp.sum(out.windows["rates"] ** 2)

    factors = initial_factors(key)
    g_factors = jax.grad(loss)(factors)
    g_dense = jax.grad(loss)(Dense(factors.dense()))
    np.testing.assert_allclose(np.asarray(g_dense.matrix @ factors.right), np.asarray(g_factors.left), rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(np.asarray(g_dense.matrix.T @ factors.left), np.asarray(g_factors.right), rtol=1e-3, atol=1e-7)
    assert float(jnp.abs(g_dense.matrix).max()) > 0


def test_task_losses_against_formulas():
    rng = np.random.default_rng(0)
    windows = jnp.asarray(rng.random((3, 5, 4)), jnp.float32)
    readout, bias, labels = jnp.asarray([1.0, -2.0, 0.5, 0.0]), 0.3, jnp.asarray([1.0, 0.0, 1.0])
    logits = np.asarray(windows)[:, 1:4] @ np.asarray(readout) + bias
    y = np.asarray(labels)[:, None]
    expected = np.mean(np.log1p(np.exp(-logits)) * y + np.log1p(np.exp(logits)) * (1 - y))
    assert float(epoch_bce(windows, readout, bias, labels, (1, 4))) == pytest.approx(expected, rel=1e-5)
    theta = 2 * np.pi * np.arange(16) / 16
    bumps = np.stack([np.stack([1 + np.cos(theta - p) for p in (0.0, 1.0)]) for _ in range(2)])  # [2, 2, 16]
    target = jnp.asarray([1.0, 0.5])
    got = bump_angular_loss(jnp.asarray(bumps, jnp.float32), target, jnp.asarray([1, 0]))
    assert float(got) == pytest.approx(np.mean([1 - np.cos(0.0), 1 - np.cos(0.0 - 0.5)]), abs=1e-5)


def test_fit_stops_early_and_returns_the_best():
    # quadratic with noise-free optimum at 3: validation stops improving once converged
    result = fit(lambda p, k: (p["x"] - 3.0) ** 2, {"x": jnp.asarray(0.0)}, jax.random.key(0),
                 config=FitConfig(learning_rate=0.2, decay_rate=0.5, decay_steps=20, max_steps=500, patience=10, min_delta=1e-6))
    assert result.stopped_early and len(result.train_losses) < 500
    assert float(result.best["x"]) == pytest.approx(3.0, abs=1e-2)
    assert result.val_losses.min() == pytest.approx(float((result.best["x"] - 3.0) ** 2), abs=1e-9)
    with pytest.raises(ValueError, match="learning_rate"):
        fit(lambda p, k: p, jnp.asarray(0.0), jax.random.key(0), config=FitConfig(learning_rate=-1.0))


def test_odr_training_demo_reduces_angular_error():
    """Train the rank-2 recurrent factors and J_STP by BPTT (vmapped over 8 trials, checkpointed)
    so that the ring holds the cue through a 0.3 s delay."""
    template = ring_net(initial_factors(jax.random.key(1)))

    def loss_fn(trainable, key):
        factors, j_stp = trainable
        net = ring_net(factors)
        params = rate_params(net, J=[1.0, -1.0], J_stp=jnp.stack([0.0, j_stp]), ff_baseline=0.5, tau=0.05, noise_std=0.3)
        trials = odr_trials(key, net, 8, strength=2.0, footprint=1.0, stim_duration=0.05, delay=(0.3, 0.3))
        batch = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (8,) + x.shape), params)
        _, out = simulate_batch(net, batch, trials.schedule, jax.random.split(key, 8), duration=0.4, window=0.05, checkpoint=True)
        last = jnp.full((8,), 7)
        return bump_angular_loss(out.windows["rates"], trials.phase, last)

    trainable = (template.projections[0].op, jnp.asarray(-0.5))
    result = fit(loss_fn, trainable, jax.random.key(2), config=FitConfig(learning_rate=0.05, decay_steps=20, max_steps=15, patience=15))
    val = result.val_losses
    assert val[0] > 0.3, "the untrained ring forgets the cue"
    assert val.min() < 0.8 * val[0], f"validation loss did not fall by a fifth: {val[0]:.3f} -> {val.min():.3f}"
    assert float(result.best[1]) != -0.5, "J_STP was trained"
