"""Training of an ensemble of models by minibatch Adam, as jitted ``lax.scan`` over optimizer steps.

Members of an ensemble differ in their initial parameters and minibatch order and share the data and
the validation split; their parameters are stacked on a leading axis ``[M, ...]`` and trained
together by ``vmap``. Early stopping follows the original pipeline (sbi): after every epoch the loss
on the held-out validation set is computed; training of a member stops after ``patience`` epochs
without improvement and its best parameters (lowest validation loss) are returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._validation import check_int, check_positive, check_probability
from ..progress import ProgressReport


@dataclass(frozen=True)
class TrainConfig:
    """Optimizer and early stopping.

    ``batch_size`` samples per step (capped at the training-set size); Adam with ``learning_rate``;
    ``validation_fraction`` of the data held out; stop after ``patience`` epochs without a lower
    validation loss, or after ``max_epochs`` (rounded up to a multiple of ``epochs_per_call``);
    ``epochs_per_call`` epochs per compiled call (the granularity of progress lines and of the
    stopping check on the host).
    """

    batch_size: int = 1000
    learning_rate: float = 5e-4
    validation_fraction: float = 0.1
    patience: int = 20
    max_epochs: int = 1000
    epochs_per_call: int = 10

    def __post_init__(self):
        check_int("batch_size", self.batch_size, minimum=1)
        check_positive("learning_rate", self.learning_rate)
        check_probability("validation_fraction", self.validation_fraction)
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must lie in (0, 1); got {self.validation_fraction}")
        check_int("patience", self.patience, minimum=1)
        check_int("max_epochs", self.max_epochs, minimum=1)
        check_int("epochs_per_call", self.epochs_per_call, minimum=1)


class TrainInfo(NamedTuple):
    """Outcome of :func:`train_ensemble`.

    train_loss, val_loss: ``[M, E]`` mean losses per member and epoch (NaN after a member stopped);
    best_val_loss: ``[M]``; epochs: ``[M]`` epochs trained per member; validation_index: rows of the
    data held out for validation; wall_s: seconds.
    """

    train_loss: np.ndarray
    val_loss: np.ndarray
    best_val_loss: np.ndarray
    epochs: np.ndarray
    validation_index: np.ndarray
    wall_s: float


class _Carry(NamedTuple):
    params: Any
    opt_state: Any
    best_params: Any
    best_loss: jax.Array
    since_best: jax.Array
    stopped: jax.Array
    key: jax.Array


def split_validation(n: int, fraction: float, key: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and validation sets: a random ``fraction`` of ``n`` (at least 1)
    held out, at least one sample kept for training."""
    if n < 2:
        raise ValueError(f"training needs at least 2 samples (one for validation); got {n}")
    order = np.asarray(jax.random.permutation(key, n))
    n_val = min(n - 1, max(1, round(fraction * n)))
    return order[n_val:], order[:n_val]


def train_ensemble(
    loss_fn: Callable[[Any, dict[str, jax.Array]], jax.Array],
    init_params: Any,
    data: dict[str, np.ndarray],
    config: TrainConfig,
    key: jax.Array,
    *,
    progress: bool = False,
    label: str = "training",
) -> tuple[Any, TrainInfo]:
    """Train the members ``init_params`` (every leaf ``[M, ...]``) to minimise ``loss_fn``.

    Args:
        loss_fn: ``(params of one member, batch) -> scalar`` mean loss of a batch; ``batch`` has the
            keys of ``data``, each ``[B, ...]``.
        init_params: stacked initial parameters of the M members.
        data: arrays with a common leading axis N (samples).
        config: :class:`TrainConfig`.
        key: random key (validation split, minibatch order per member).
        progress: report progress after each compiled call (a live bar on a terminal, else one line
            per call on stderr; :class:`jaxsnn.progress.ProgressReport`).
    Returns:
        the best parameters of every member (stacked ``[M, ...]``) and a :class:`TrainInfo`.
    """
    t0 = time.perf_counter()
    n = {np.shape(v)[0] for v in data.values()}
    if len(n) != 1:
        raise ValueError(f"all data arrays need the same number of samples; got {sorted(n)}")
    n = n.pop()
    split_key, member_key = jax.random.split(key)
    train_idx, val_idx = split_validation(n, config.validation_fraction, split_key)
    train_data = {k: jnp.asarray(np.asarray(v)[train_idx], jnp.float32) for k, v in data.items()}
    val_data = {k: jnp.asarray(np.asarray(v)[val_idx], jnp.float32) for k, v in data.items()}
    n_train = train_idx.size
    batch = min(config.batch_size, n_train)
    steps = n_train // batch
    optimizer = optax.adam(config.learning_rate)
    n_members = jax.tree_util.tree_leaves(init_params)[0].shape[0]

    def epoch(carry: _Carry, train: dict[str, jax.Array], val: dict[str, jax.Array]):
        key, perm_key = jax.random.split(carry.key)
        order = jax.random.permutation(perm_key, n_train)[: steps * batch].reshape(steps, batch)

        def step(state, idx):
            params, opt_state = state
            loss, grads = jax.value_and_grad(loss_fn)(params, {k: v[idx] for k, v in train.items()})
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(step, (carry.params, carry.opt_state), order)
        val_loss = loss_fn(params, val)
        improved = val_loss < carry.best_loss
        keep = carry.stopped  # a stopped member is frozen: its state no longer changes

        def pick(new, old):
            return jax.tree_util.tree_map(lambda a, b: jnp.where(keep, b, a), new, old)

        params, opt_state = pick(params, carry.params), pick(opt_state, carry.opt_state)
        best_params = pick(jax.tree_util.tree_map(lambda a, b: jnp.where(improved, a, b), params, carry.best_params),
                           carry.best_params)
        best_loss = jnp.where(keep | ~improved, carry.best_loss, val_loss)
        since_best = jnp.where(keep, carry.since_best, jnp.where(improved, 0, carry.since_best + 1))
        stopped = keep | (since_best >= config.patience) | ~jnp.isfinite(val_loss)
        record = (jnp.where(keep, jnp.nan, jnp.mean(losses)), jnp.where(keep, jnp.nan, val_loss))
        return _Carry(params, opt_state, best_params, best_loss, since_best, stopped, key), record

    @jax.jit
    def run(carry: _Carry, train: dict[str, jax.Array], val: dict[str, jax.Array]):
        def member(c):
            return jax.lax.scan(lambda c_, _: epoch(c_, train, val), c, None, length=config.epochs_per_call)
        return jax.vmap(member)(carry)

    opt_state = jax.vmap(optimizer.init)(init_params)
    carry = _Carry(init_params, opt_state, init_params, jnp.full((n_members,), jnp.inf, jnp.float32),
                   jnp.zeros((n_members,), jnp.int32), jnp.zeros((n_members,), bool),
                   jax.random.split(member_key, n_members))

    train_losses, val_losses = [], []
    done = 0
    total = -(-config.max_epochs // config.epochs_per_call) * config.epochs_per_call
    with ProgressReport(total, label, "epochs", enabled=progress) as report:
        while done < config.max_epochs:
            carry, (tl, vl) = run(carry, train_data, val_data)
            train_losses.append(np.asarray(tl))
            val_losses.append(np.asarray(vl))
            done += config.epochs_per_call
            stopped = np.asarray(carry.stopped)
            report.update(config.epochs_per_call,
                          f"best validation loss {np.nanmin(np.asarray(carry.best_loss)):.4f}, "
                          f"{int(stopped.sum())}/{n_members} member(s) stopped")
            if stopped.all():
                break
    train_loss = np.concatenate(train_losses, axis=1)
    val_loss = np.concatenate(val_losses, axis=1)
    epochs = np.sum(np.isfinite(val_loss), axis=1)
    info = TrainInfo(train_loss, val_loss, np.asarray(carry.best_loss), epochs, val_idx, time.perf_counter() - t0)
    return carry.best_params, info
