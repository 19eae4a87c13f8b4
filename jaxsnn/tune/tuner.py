"""Gradient tuning of any parameter pytree: an Optax loop compiled as one ``lax.scan`` over iterations.

``tune`` takes a stochastic loss ``loss_fn(params, key) -> (loss, aux)`` (for example the squared error of
simulated firing rates to targets, with the rates as ``aux``), chooses the leaves to tune with a filter,
and runs ``n_iterations`` Optax updates inside one compiled scan. Early stopping happens inside the scan:
once the loss falls below ``tolerance`` (or turns non-finite) the parameters are frozen and later
iterations skip their update, so there is no host round trip and the whole call can be ``jax.vmap``-ed
over many problems (for example 64 networks with 64 targets), each member freezing on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, PyTree

from .._validation import check_int, check_positive

LossFn = Callable[[PyTree, Array], tuple[Array, Any]]


class TuneResult(NamedTuple):
    """What :func:`tune` returns (under ``vmap`` every field gains the batch axis in front).

    params: the tuned parameter pytree (same structure as the input); the parameters at which the loss
        first fell below ``tolerance`` when that happened, else those after the last update.
    loss_history: ``[n_iterations]`` loss evaluated at each iteration (repeating the last evaluated
        value once frozen).
    aux_history: ``aux`` of each iteration stacked along a leading ``[n_iterations]`` axis (repeating
        the last evaluated value once frozen).
    n_iterations_used: int32, iterations evaluated before freezing (``n_iterations`` if never frozen).
    converged: bool, the loss fell below ``tolerance``.
    non_finite: bool, the loss or a gradient became NaN/inf; the parameters were frozen at the last
        finite point (the iteration that produced it made no update).
    """

    params: PyTree
    loss_history: Array
    aux_history: Any
    n_iterations_used: Array
    converged: Array
    non_finite: Array


def default_filter(leaf: Any) -> bool:
    """Tune every floating-point array leaf (``eqx.is_inexact_array``)."""
    return eqx.is_inexact_array(leaf)


def tune(
    loss_fn: LossFn,
    params: PyTree,
    *,
    n_iterations: int,
    key: Array,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float | optax.Schedule | None = None,
    filter: PyTree | Callable[[Any], bool] = default_filter,
    tolerance: float | Array | None = None,
) -> TuneResult:
    """Minimise ``loss_fn`` over the leaves of ``params`` chosen by ``filter``, with Optax.

    Args:
        loss_fn: ``loss_fn(params, key) -> (loss, aux)``; ``loss`` a scalar, ``aux`` any pytree of arrays
            (e.g. the rates of the iteration). Called with a fresh key every iteration.
        params: pytree of parameters (Equinox modules, NamedTuples, dicts...). Leaves not chosen by
            ``filter`` are held fixed and receive no optimizer state.
        n_iterations: number of iterations (each one loss evaluation and at most one update).
        key: PRNG key; iteration ``i`` uses ``jax.random.split(key, n_iterations)[i]``.
        optimizer: any ``optax.GradientTransformation``; or give ``learning_rate`` instead.
        learning_rate: for the default ``optax.adam``; a float or an Optax schedule
            (``iteration -> rate``, e.g. ``optax.exponential_decay(...)``). Exactly one of ``optimizer`` and
            ``learning_rate`` must be given.
        filter: which leaves to tune, as in ``eqx.partition``: a callable ``leaf -> bool`` applied to every
            leaf, or a pytree of bools (or callables) with the structure of ``params`` (or a prefix of
            it). Default: every floating-point array.
        tolerance: freeze once ``loss < tolerance`` (may be traced, e.g. one per vmapped problem).
            ``None``: run all iterations. With a stochastic loss this compares single noisy evaluations,
            so choose it above the loss's noise floor (or average inside ``loss_fn``), else a lucky draw
            freezes the parameters early.

    Returns:
        :class:`TuneResult`. Jit-compatible and vmappable (``n_iterations``, ``optimizer`` and ``filter``
        are static; everything else may be traced).
    """
    n_iterations = check_int("n_iterations", n_iterations, minimum=1)
    optimizer = _optimizer_of(optimizer, learning_rate)
    if tolerance is not None:
        check_positive("tolerance", tolerance)
        tolerance = jnp.asarray(tolerance, jnp.float32)

    tunable, fixed = eqx.partition(params, filter)
    if not jax.tree_util.tree_leaves(tunable):
        raise ValueError("filter chose no leaf of params to tune; choose at least one floating-point array")

    def loss_of(tunable_now, k):
        loss, aux = loss_fn(eqx.combine(tunable_now, fixed), k)
        return jnp.asarray(loss), aux

    value_and_grad = jax.value_and_grad(loss_of, has_aux=True)
    loss_shape, aux_shape = jax.eval_shape(loss_of, tunable, key)
    if loss_shape.shape != ():
        raise ValueError(f"loss_fn must return a scalar loss; got shape {list(loss_shape.shape)}")
    zero_aux = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), aux_shape)

    class Carry(NamedTuple):
        tunable: PyTree
        opt_state: Any
        loss: Array
        aux: Any
        frozen: Array
        converged: Array
        non_finite: Array
        n_used: Array

    def evaluate_and_update(carry: Carry, k: Array) -> Carry:
        (loss, aux), grads = value_and_grad(carry.tunable, k)
        finite = jnp.isfinite(loss) & _all_finite(grads)
        converged = (loss < tolerance) if tolerance is not None else jnp.array(False)
        stop = converged | ~finite
        updates, opt_state = optimizer.update(grads, carry.opt_state, carry.tunable)
        tunable = optax.apply_updates(carry.tunable, updates)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(stop, b, a), new, old)  # noqa: E731
        return Carry(
            tunable=keep(tunable, carry.tunable),
            opt_state=keep(opt_state, carry.opt_state),
            loss=loss,
            aux=aux,
            frozen=stop,
            converged=converged,
            non_finite=~finite,
            n_used=carry.n_used + 1,
        )

    def iteration(carry: Carry, k: Array):
        # Frozen problems skip the evaluation (under vmap both branches run and a select keeps one).
        carry = jax.lax.cond(carry.frozen, lambda c, _: c, evaluate_and_update, carry, k)
        return carry, (carry.loss, carry.aux)

    init = Carry(
        tunable=tunable,
        opt_state=optimizer.init(tunable),
        loss=jnp.zeros((), loss_shape.dtype),
        aux=zero_aux,
        frozen=jnp.array(False),
        converged=jnp.array(False),
        non_finite=jnp.array(False),
        n_used=jnp.array(0, jnp.int32),
    )
    final, (loss_history, aux_history) = jax.lax.scan(iteration, init, jax.random.split(key, n_iterations))
    return TuneResult(
        params=eqx.combine(final.tunable, fixed),
        loss_history=loss_history,
        aux_history=aux_history,
        n_iterations_used=final.n_used,
        converged=final.converged,
        non_finite=final.non_finite,
    )


def _optimizer_of(
    optimizer: optax.GradientTransformation | None, learning_rate: float | optax.Schedule | None
) -> optax.GradientTransformation:
    if (optimizer is None) == (learning_rate is None):
        raise ValueError("give exactly one of optimizer= (an optax.GradientTransformation) and learning_rate=")
    if optimizer is not None:
        return optimizer
    if not callable(learning_rate):
        check_positive("learning_rate", learning_rate)
    return optax.adam(learning_rate)


def _all_finite(tree: PyTree) -> Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))
