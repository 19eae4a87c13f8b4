"""The Optax tuner: filters, early stopping inside the scan, non-finite losses, and vmap over problems."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxsnn.surrogate import EscapeNoise
from jaxsnn.tune import rate_loss, tune

DT = 1e-3  # s


class Population(eqx.Module):
    """A toy population of escape-noise neurons: spike probability per step sigmoid(scale (drive - threshold))."""

    drive: jax.Array
    threshold: jax.Array
    n_fixed: jax.Array  # an integer leaf: never tuned


def _rate_loss_fn(target, n_neurons=500, n_steps=20):
    escape = EscapeNoise(scale=50.0)

    def loss_fn(pop, key):
        x = jnp.broadcast_to(pop.drive - pop.threshold, (n_steps, n_neurons))
        spikes = escape.sample(key, x)  # straight-through gradient of the Bernoulli draws
        rate = spikes.mean() / DT  # Hz
        return rate_loss(rate, target, relative=True), rate

    return loss_fn


POP = Population(drive=jnp.array(0.0), threshold=jnp.array(0.1), n_fixed=jnp.array(3))


def test_tunes_a_stochastic_rate_through_escape_noise():
    result = jax.jit(lambda key: tune(_rate_loss_fn(50.0), POP, n_iterations=300, key=key,
                                      learning_rate=optax.exponential_decay(0.01, 300, 0.01)))(jax.random.key(0))
    # expected rate sigmoid(50 (drive - θ)) / dt; solve for its target directly
    p = 1.0 / (1.0 + np.exp(-50.0 * float(result.params.drive - result.params.threshold)))
    assert p / DT == pytest.approx(50.0, rel=0.05)
    assert result.loss_history.shape == (300,) and result.aux_history.shape == (300,)
    assert int(result.params.n_fixed) == 3


def test_filter_chooses_the_leaves():
    only_drive = Population(drive=True, threshold=False, n_fixed=False)
    result = tune(_rate_loss_fn(50.0), POP, n_iterations=20, key=jax.random.key(1), learning_rate=0.01,
                  filter=only_drive)
    assert result.params.threshold is POP.threshold  # the very same (untouched) array
    assert float(result.params.drive) != 0.0
    with pytest.raises(ValueError, match="chose no leaf"):
        tune(_rate_loss_fn(50.0), POP, n_iterations=5, key=jax.random.key(1), learning_rate=0.01,
             filter=lambda leaf: False)


def test_tolerance_freezes_inside_the_scan():
    loss_fn = lambda p, key: ((p["a"] - 3.0) ** 2, p["a"])  # noqa: E731
    result = tune(loss_fn, {"a": jnp.array(0.0)}, n_iterations=200, key=jax.random.key(2), learning_rate=0.1,
                  tolerance=1e-3)
    used = int(result.n_iterations_used)
    assert bool(result.converged) and 1 < used < 200
    assert float(result.loss_history[used - 1]) < 1e-3 <= float(result.loss_history[used - 2])
    # frozen: the parameters are those that met the tolerance and the history repeats them
    np.testing.assert_array_equal(result.aux_history[used - 1 :], float(result.params["a"]))
    assert (float(result.params["a"]) - 3.0) ** 2 < 1e-3


def test_non_finite_loss_freezes_at_the_last_finite_point():
    loss_fn = lambda p, key: (jnp.where(p["a"] > 1.0, jnp.nan, -p["a"]), p["a"])  # noqa: E731
    result = tune(loss_fn, {"a": jnp.array(0.0)}, n_iterations=100, key=jax.random.key(3),
                  optimizer=optax.sgd(0.3))
    assert bool(result.non_finite) and not bool(result.converged)
    assert float(result.params["a"]) == pytest.approx(1.2)  # the step into NaN territory is not taken back...
    assert np.isnan(result.loss_history[-1])  # ...but no update is made from a NaN loss
    assert int(result.n_iterations_used) == 5


def test_vmap_tunes_64_problems_with_64_targets_in_one_call():
    targets = jnp.linspace(10.0, 200.0, 64)

    @jax.jit
    def tune_all(targets, keys):
        return jax.vmap(lambda target, key: tune(_rate_loss_fn(target), POP, n_iterations=300, key=key,
                                                 learning_rate=optax.exponential_decay(0.01, 300, 0.01)))(targets, keys)

    result = tune_all(targets, jax.random.split(jax.random.key(4), 64))
    assert result.params.drive.shape == (64,) and result.loss_history.shape == (64, 300)
    p = 1.0 / (1.0 + np.exp(-50.0 * np.asarray(result.params.drive - result.params.threshold, np.float64)))
    np.testing.assert_allclose(p / DT, targets, rtol=0.05)


def test_vmapped_members_freeze_on_their_own():
    loss_fn = lambda target: lambda p, key: ((p["a"] - target) ** 2, p["a"])  # noqa: E731
    targets = jnp.array([0.5, 2.0, 8.0])
    result = jax.vmap(lambda t: tune(loss_fn(t), {"a": jnp.array(0.0)}, n_iterations=400, key=jax.random.key(5),
                                     optimizer=optax.sgd(0.1), tolerance=1e-4))(targets)
    used = np.asarray(result.n_iterations_used)
    assert np.all(np.asarray(result.converged)) and len(set(used)) == 3 and used.max() < 400
    np.testing.assert_allclose(result.params["a"], targets, atol=1e-2)


def test_argument_errors():
    loss_fn = lambda p, key: (p["a"] ** 2, None)  # noqa: E731
    with pytest.raises(ValueError, match="exactly one"):
        tune(loss_fn, {"a": jnp.array(1.0)}, n_iterations=3, key=jax.random.key(0))
    with pytest.raises(ValueError, match="exactly one"):
        tune(loss_fn, {"a": jnp.array(1.0)}, n_iterations=3, key=jax.random.key(0), learning_rate=0.1,
             optimizer=optax.sgd(0.1))
    with pytest.raises(ValueError, match="n_iterations"):
        tune(loss_fn, {"a": jnp.array(1.0)}, n_iterations=0, key=jax.random.key(0), learning_rate=0.1)
    with pytest.raises(ValueError, match="scalar"):
        tune(lambda p, k: (p["a"] * jnp.ones(2), None), {"a": jnp.array(1.0)}, n_iterations=3,
             key=jax.random.key(0), learning_rate=0.1)


def test_rate_loss():
    assert float(rate_loss(jnp.array([4.0, 12.0]), jnp.array([5.0, 10.0]))) == pytest.approx((1 + 4) / 2)
    assert float(rate_loss(jnp.array([4.0, 12.0]), jnp.array([5.0, 10.0]), relative=True)) == pytest.approx(
        (0.04 + 0.04) / 2)
    with_cv = rate_loss(jnp.array([5.0]), 5.0, cv=jnp.array([0.5]), cv_targets=1.0, cv_weight=10.0)
    assert float(with_cv) == pytest.approx(10.0 * 0.25)
    with pytest.raises(ValueError, match="cv_targets"):
        rate_loss(jnp.array([5.0]), 5.0, cv=jnp.array([0.5]))
