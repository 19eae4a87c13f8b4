"""Gradients through long scans in bounded memory: rematerialisation (``jax.checkpoint``) of scan bodies.

Reverse-mode differentiation of a ``lax.scan`` of ``n`` steps stores every step's residuals (the
intermediate values its backward pass needs), so memory grows as ``n`` times the per-step residuals.
Two remedies, same results and gradients as the plain scan:

- :func:`checkpoint_step` wraps a body so that each step stores only its input carry and recomputes the
  rest of its residuals on the way back (memory ~ ``n`` carries; one extra forward pass).
- :func:`checkpointed_scan` cuts the scan into chunks of ``chunk_size`` steps, each chunk checkpointed as
  a whole: the backward pass stores only the carries at chunk boundaries and re-runs one chunk at a time
  (memory ~ ``n / chunk_size`` carries + one chunk's residuals; with ``chunk_size ≈ √n`` both terms are
  ``√n``; one extra forward pass).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import PyTree

from .._validation import check_int

ScanBody = Callable[[Any, Any], tuple[Any, Any]]


def checkpoint_step(step: ScanBody, policy: Callable | None = None) -> ScanBody:
    """``step`` wrapped with ``jax.checkpoint`` for use as a ``lax.scan`` body.

    Args:
        step: ``step(carry, x) -> (carry, y)``.
        policy: optional ``jax.checkpoint_policies`` entry saying which intermediates to keep anyway
            (e.g. ``jax.checkpoint_policies.dots_saveable``); default: keep none.
    """
    return jax.checkpoint(step, policy=policy, prevent_cse=False)


def checkpointed_scan(
    step: ScanBody,
    init: PyTree,
    xs: PyTree = None,
    *,
    length: int | None = None,
    chunk_size: int | None = None,
) -> tuple[PyTree, PyTree]:
    """``lax.scan(step, init, xs, length)`` with chunked rematerialisation; same results and gradients.

    Args:
        step: ``step(carry, x) -> (carry, y)`` as for ``lax.scan``.
        init: initial carry.
        xs: pytree of per-step inputs with leading axis ``length`` (or ``None``).
        length: number of steps; required when ``xs`` is ``None``, else must match it.
        chunk_size: steps per checkpointed chunk; default ``ceil(sqrt(length))``. A last partial chunk
            handles lengths that are not a multiple of it.

    Returns:
        ``(final carry, ys)`` with ``ys`` stacked along a leading ``[length]`` axis, as ``lax.scan``.
    """
    length = _length_of(xs, length)
    if chunk_size is None:
        chunk_size = math.isqrt(length - 1) + 1  # ceil(sqrt(length))
    chunk_size = check_int("chunk_size", chunk_size, minimum=1)
    n_chunks, tail = divmod(length, chunk_size)

    @jax.checkpoint
    def run_chunk(carry, chunk_xs):
        return jax.lax.scan(step, carry, chunk_xs, length=chunk_size)

    head_xs = jax.tree.map(lambda x: x[: n_chunks * chunk_size].reshape(n_chunks, chunk_size, *x.shape[1:]), xs)
    carry, ys = jax.lax.scan(run_chunk, init, head_xs, length=n_chunks)
    ys = jax.tree.map(lambda y: y.reshape(n_chunks * chunk_size, *y.shape[2:]), ys)
    if tail == 0:
        return carry, ys

    @jax.checkpoint
    def run_tail(carry, tail_xs):
        return jax.lax.scan(step, carry, tail_xs, length=tail)

    carry, tail_ys = run_tail(carry, jax.tree.map(lambda x: x[n_chunks * chunk_size :], xs))
    return carry, jax.tree.map(lambda a, b: jnp.concatenate([a, b]), ys, tail_ys)


def _length_of(xs: PyTree, length: int | None) -> int:
    leaves = jax.tree_util.tree_leaves(xs)
    if not leaves:
        if length is None:
            raise ValueError("checkpointed_scan needs length= when xs is None or empty")
        return check_int("length", length, minimum=1)
    sizes = {leaf.shape[0] for leaf in leaves}
    if len(sizes) != 1:
        raise ValueError(f"all leaves of xs must share their leading axis; got lengths {sorted(sizes)}")
    (size,) = sizes
    if length is not None and check_int("length", length) != size:
        raise ValueError(f"length={length} does not match the leading axis of xs ({size})")
    return check_int("length of xs", size, minimum=1)
