"""Connectivity generators of the reference, as edge-list builders.

Each returns a :class:`~jaxsnn.glm.GLMNetwork` whose edges are the non-zero entries of the reference's
weight matrix ``W0[pre, post]``. Random generators draw from an explicit key.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._validation import check_int, check_positive
from .network import GLMNetwork, from_dense


def _dale(key: Array, draws: np.ndarray, sparsity: float) -> np.ndarray:
    """The reference's Dale's-law layout: one weight drawn per (pair of neurons, target), its positive
    part given to an excitatory row (first half), its negative part to an inhibitory row (second half),
    so at most half of all entries are non-zero; draws are then kept with probability
    ``2 (1 - sparsity)`` so that a fraction ``sparsity`` of all entries is zero; no self-connections."""
    keep = np.asarray(jax.random.uniform(key, draws.shape)) < 2.0 * (1.0 - sparsity)
    draws = draws * keep
    w = np.concatenate([np.maximum(draws, 0.0), np.minimum(draws, 0.0)], axis=0)
    np.fill_diagonal(w, 0.0)
    return w


def _check_dale(n_neurons: int, sparsity: float) -> int:
    n_neurons = check_int("n_neurons", n_neurons, minimum=2)
    if n_neurons % 2:
        raise ValueError(f"n_neurons must be even (half excitatory, half inhibitory); got {n_neurons}")
    if not 0.5 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0.5, 1] (Dale's law already leaves half of all entries zero); "
                         f"got {sparsity}")
    return n_neurons


def normal_connectivity(key: Array, n_neurons: int, *, mean: float = 0.0, std: float = 1.0,
                        sparsity: float = 0.5, glorot: bool = False) -> GLMNetwork:
    """E/I network with normal weights and Dale's law (reference ``NormalGenerator``).

    Weights ``N(mean, std)`` (divided by ``sqrt(n_neurons)`` when ``glorot``); neurons ``0 .. n/2-1`` are
    excitatory (positive outgoing weights), the rest inhibitory; a fraction ``sparsity`` (>= 0.5) of all
    ordered pairs is unconnected.
    """
    n_neurons = _check_dale(n_neurons, sparsity)
    check_positive("std", std, allow_zero=True)
    key_w, key_keep = jax.random.split(key)
    draws = mean + std * np.asarray(jax.random.normal(key_w, (n_neurons // 2, n_neurons)), np.float64)
    if glorot:
        draws = draws / np.sqrt(n_neurons)
    return from_dense(_dale(key_keep, draws, sparsity))


def _symmetric_around_zero(low: float, high: float) -> bool:
    """The reference's test for a range symmetric around zero, ``(high - low) / 2 == high`` (i.e.
    ``low == -high``), evaluated as it writes it."""
    return (high - low) / 2 == high


def uniform_connectivity(key: Array, n_neurons: int, *, low: float, high: float,
                         sparsity: float = 0.5) -> GLMNetwork:
    """Network with weights uniform on ``[low, high)`` (reference ``UniformGenerator``); no
    self-connections. As in the reference, the layout depends on the range:

    - symmetric around zero (``low == -high``): Dale's-law E/I layout as :func:`normal_connectivity`
      (``n_neurons`` even, ``sparsity`` in [0.5, 1]);
    - any other range: every ordered pair ``(pre, post)``, ``pre != post``, draws its own weight and is
      kept with probability ``1 - sparsity`` (``sparsity`` in [0, 1], any ``n_neurons``); no E/I split,
      so e.g. ``[-0.002289, 0)`` gives inhibitory weights on every row.
    """
    if not low <= high:
        raise ValueError(f"need low <= high; got low={low}, high={high}")
    key_w, key_keep = jax.random.split(key)
    if _symmetric_around_zero(low, high):
        n_neurons = _check_dale(n_neurons, sparsity)
        draws = np.asarray(jax.random.uniform(key_w, (n_neurons // 2, n_neurons), jnp.float32, low, high),
                           np.float64)
        return from_dense(_dale(key_keep, draws, sparsity))
    n_neurons = check_int("n_neurons", n_neurons, minimum=1)
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1] (fraction of unconnected pairs); got {sparsity}")
    draws = np.asarray(jax.random.uniform(key_w, (n_neurons, n_neurons), jnp.float32, low, high), np.float64)
    keep = np.asarray(jax.random.uniform(key_keep, (n_neurons, n_neurons))) < 1.0 - sparsity
    w = draws * keep
    np.fill_diagonal(w, 0.0)
    return from_dense(w)


def mexican_hat_connectivity(n_neurons: int, *, a: float, sigma_1: float, sigma_2: float,
                             self_connections: bool = False) -> GLMNetwork:
    """Ring network with difference-of-Gaussians weights (reference ``MexicanHatGenerator``):
    ``W_ij = exp(-d_ij² / (2 σ1²)) - a exp(-d_ij² / (2 σ2²))``, ``d_ij`` the distance on the ring (in
    neurons).

    The diagonal is zero, as in the reference's generator (1.0.x). ``self_connections=True`` keeps the
    self-connections (``d = 0``, weight ``1 - a``), as the reference's generator did before it zeroed
    them; its tuning tutorial's printed rates were computed with them."""
    n_neurons = check_int("n_neurons", n_neurons, minimum=1)
    check_positive("sigma_1", sigma_1)
    check_positive("sigma_2", sigma_2)
    i, j = np.meshgrid(np.arange(n_neurons), np.arange(n_neurons), indexing="ij")
    d = np.minimum(np.abs(i - j), n_neurons - np.abs(i - j)).astype(np.float64)
    w = np.exp(-0.5 * (d / sigma_1) ** 2) - a * np.exp(-0.5 * (d / sigma_2) ** 2)
    if not self_connections:
        np.fill_diagonal(w, 0.0)
    return from_dense(w)
