"""Hebbian plasticity of rate-network blocks (NeuroFlame's four rules, in their textbook forms).

For a block with postsynaptic rates ``r_i`` and presynaptic rates ``r_j`` (Hz) the weight of synapse
``j -> i`` changes per step of ``dt`` seconds by ``eta dt F(i, j)`` with ``eta`` in 1/(s Hz^2) (per
Hz^3 for BCM) and

- ``"hebb"``:        ``F = r_i r_j``
- ``"covariance"``:  ``F = (r_i - <r_i>) (r_j - <r_j>)``, ``<.>`` running averages of each rate
- ``"bcm"``:         ``F = r_j r_i (r_i - theta_i)``, sliding threshold ``theta_i = <r_i^2>``
- ``"correlation"``: ``F = z_i z_j`` with ``z`` the rates z-scored across their population
  (NeuroFlame additionally smooths rates over neighbouring ring positions; jaxsnn does not).

Running averages are low-pass filters with time constant ``tau_avg`` kept in the network state.
Dense blocks update the whole matrix (outer products); sparse blocks update only their edges.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array

from .connectivity import Dense, Operator, Sparse

HEBBIAN_RULES = ("hebb", "covariance", "bcm", "correlation")


def _zscore(r: Array) -> Array:
    return (r - jnp.mean(r)) / (jnp.std(r) + 1e-9)


def hebbian_factors(rule: str, r_post: Array, r_pre: Array, mean_post: Array, mean_pre: Array, sq_post: Array) -> tuple[Array, Array]:
    """Per-neuron factors ``(a_i, b_j)`` with ``F(i, j) = a_i b_j`` for ``rule`` (all rules factorise)."""
    if rule == "hebb":
        return r_post, r_pre
    if rule == "covariance":
        return r_post - mean_post, r_pre - mean_pre
    if rule == "bcm":
        return r_post * (r_post - sq_post), r_pre
    if rule == "correlation":
        return _zscore(r_post), _zscore(r_pre)
    raise ValueError(f"Hebbian rule must be one of {list(HEBBIAN_RULES)}; got {rule!r}")


def hebbian_update(op: Operator, weights: Array, post_factor: Array, pre_factor: Array, eta_dt: Array) -> Array:
    """New plastic weights of block ``op``: ``w_ij + eta_dt a_i b_j`` on existing synapses only.

    ``weights`` is ``[n_post, n_pre]`` for a :class:`Dense` block and ``[n_edges]`` for a
    :class:`Sparse` one.
    """
    if isinstance(op, Dense):
        return weights + eta_dt * jnp.outer(post_factor, pre_factor)
    if isinstance(op, Sparse):
        return weights + eta_dt * post_factor[op.post] * pre_factor[op.pre]
    raise ValueError(f"plastic blocks must be Dense or Sparse; got {type(op).__name__}")


def initial_weights(op: Operator) -> Array:
    """The stored weights a plastic block starts from (``[n_post, n_pre]`` or ``[n_edges]``)."""
    if isinstance(op, Dense):
        return op.matrix
    if isinstance(op, Sparse):
        return op.weight
    raise ValueError(f"plastic blocks must be Dense or Sparse; got {type(op).__name__}")
