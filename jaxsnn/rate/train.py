"""Training rate networks by backpropagation through time (BPTT) with Optax.

Gradients flow through :func:`~jaxsnn.rate.network.simulate` (``checkpoint=True`` rematerialises each
recording window in the backward pass, so a trial of seconds needs memory for one state per window)
and :func:`~jaxsnn.rate.network.simulate_batch` (vmapped over trials). What is trained is any pytree
of float arrays the loss closes over: a :class:`~jaxsnn.rate.connectivity.Dense` block (full
weights), a :class:`~jaxsnn.rate.connectivity.LowRank` block's factors, ``RateParams.J_stp``, a
readout. :func:`fit` runs Adam with an exponentially decaying learning rate and early stopping.

Task losses:

- :func:`epoch_bce`: binary cross-entropy of a linear readout averaged over the windows of a task
  epoch (dual task: one loss per epoch);
- :func:`bump_angular_loss`: ``1 - cos(decoded - target)`` of the bump phase decoded by Fourier
  moments (ODR).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from .._validation import check_int, check_positive
from .tasks import decode_bump


def epoch_bce(windows: Array, readout: Array, bias: Array, labels: Array, epoch: tuple[int, int]) -> Array:
    """Mean binary cross-entropy of the readout ``logit = windows @ readout + bias`` over an epoch.

    Args:
        windows: ``[B, W, n]`` window-mean rates of the read-out neurons.
        readout: ``[n]`` weights; bias: scalar.
        labels: ``[B]`` targets in {0, 1}.
        epoch: ``(first, last + 1)`` window indices of the task epoch.
    """
    logits = windows[:, epoch[0] : epoch[1]] @ readout + bias
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels[:, None]))


def bump_angular_loss(windows: Array, target: Array, window_index: Array) -> Array:
    """Mean ``1 - cos(phase - target)`` of the bump decoded in window ``window_index [B]`` of
    ``windows [B, W, n]`` (ring neurons) against ``target [B]`` (rad)."""
    rates = jnp.take_along_axis(windows, window_index[:, None, None], axis=1)[:, 0]
    _, _, phase = decode_bump(rates)
    return jnp.mean(1.0 - jnp.cos(phase - target))


class FitConfig(NamedTuple):
    """Optimiser and stopping settings of :func:`fit`.

    learning_rate: initial Adam step size; decay_rate, decay_steps: the rate is multiplied by
    ``decay_rate`` every ``decay_steps`` updates (smoothly); max_steps: update budget; patience: stop
    after this many evaluations without an improvement larger than ``min_delta`` of the validation loss;
    eval_every: updates between evaluations.
    """

    learning_rate: float = 1e-2
    decay_rate: float = 0.9
    decay_steps: int = 100
    max_steps: int = 1000
    patience: int = 10
    min_delta: float = 0.0
    eval_every: int = 1


class FitResult(NamedTuple):
    """best: the trainable pytree with the lowest validation loss; train_losses, val_losses: per
    update and per evaluation; stopped_early: whether patience ran out before ``max_steps``."""

    best: Any
    train_losses: np.ndarray
    val_losses: np.ndarray
    stopped_early: bool


def fit(
    loss_fn: Callable[[Any, Array], Array],
    trainable: Any,
    key: Array,
    *,
    config: FitConfig = FitConfig(),
    val_loss_fn: Callable[[Any], Array] | None = None,
) -> FitResult:
    """Minimise ``loss_fn(trainable, key)`` with Adam and exponential learning-rate decay.

    Args:
        loss_fn: ``(trainable, key) -> scalar``; the key draws the step's batch of trials.
        trainable: pytree of float arrays (non-float leaves are held fixed).
        key: JAX key, split into a validation key and a training key whose ``fold_in(., i)`` draws
            step ``i``'s batch.
        config: :class:`FitConfig`.
        val_loss_fn: ``trainable -> scalar`` on fixed validation trials for early stopping (defaults to
            the training loss at a fixed key).
    """
    check_positive("learning_rate", config.learning_rate)
    check_positive("decay_rate", config.decay_rate)
    check_int("decay_steps", config.decay_steps, minimum=1)
    max_steps = check_int("max_steps", config.max_steps, minimum=1)
    check_int("patience", config.patience, minimum=1)
    eval_every = check_int("eval_every", config.eval_every, minimum=1)

    schedule = optax.exponential_decay(config.learning_rate, config.decay_steps, config.decay_rate)
    optimizer = optax.adam(schedule)
    params, static = eqx.partition(trainable, eqx.is_inexact_array)
    opt_state = optimizer.init(params)
    key, val_key = jax.random.split(key)
    if val_loss_fn is None:
        val_loss_fn = lambda t: loss_fn(t, val_key)

    @eqx.filter_jit
    def update(params, opt_state, step_key):
        loss, grads = jax.value_and_grad(lambda p: loss_fn(eqx.combine(p, static), step_key))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    validate = eqx.filter_jit(lambda p: val_loss_fn(eqx.combine(p, static)))
    best, best_loss = params, float(validate(params))
    train_losses, val_losses = [], [best_loss]
    waited, stopped = 0, False
    for i in range(max_steps):
        params, opt_state, loss = update(params, opt_state, jax.random.fold_in(key, i))
        train_losses.append(float(loss))
        if (i + 1) % eval_every:
            continue
        val = float(validate(params))
        val_losses.append(val)
        if val < best_loss - config.min_delta:
            best, best_loss, waited = params, val, 0
        else:
            waited += 1
            if waited >= config.patience:
                stopped = True
                break
    return FitResult(eqx.combine(best, static), np.asarray(train_losses), np.asarray(val_losses), stopped)
