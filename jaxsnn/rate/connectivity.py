"""Structured connectivity of rate networks: profiles, operators and block-wise builders.

The weight of a block (post population A, pre population B) is ``W_AB = J_AB C_AB`` where the gain
``J_AB`` is a (batchable) parameter of the network and ``C_AB`` is the structure built here, once,
and shared by every member of a batch. ``C_AB`` comes from a connection *profile* ``P_ij``:

- sparse: ``C_ij ~ Bernoulli(clip((K_B / N_B) P_ij, 0, 1)) / sqrt(K_B)`` (balanced ``J / sqrt(K)``
  scaling), stored as an edge list (:class:`Sparse`) and applied with ``jax.ops.segment_sum``;
- all-to-all: ``C_ij = P_ij / N_B``, stored as exact factors (:class:`LowRank`) when the profile is
  low-rank (uniform, cosine ring, low rank) and as a matrix (:class:`Dense`) otherwise (von Mises,
  Gaussian; for small N). The Gaussian profile's all-to-all scaling is ``P_ij / sqrt(N_B)``.

Profiles (angles ``theta_i = 2 pi i / N`` on each population's ring): uniform 1; cosine ring
``1 + kappa cos(theta_i - theta_j - phase)``; weak ring (kappa / sqrt(K)); low rank
``1 + kappa sum_r m_ri n_rj / sqrt(K)``; von Mises ``exp(kappa cos dtheta) / (2 pi I0(kappa))``;
Gaussian i.i.d. ``P_ij ~ N(0, 1)``.

Structure is built on the host in numpy (float64, then stored float32), in chunks of postsynaptic rows
so that a sparse network of any size never materialises an ``N x N`` array. An edge list
``(pre, post, weight)`` maps one-to-one onto the spiking core's padded index representation:
``jaxsnn.connectivity.from_edges(pre, post, n_pre, n_post)`` with the weights permuted by
``jaxsnn.connectivity.edge_order(pre, post)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array
from scipy.special import i0e

from .._validation import check_choice, check_int, check_positive, is_concrete

# Postsynaptic rows sampled at once when building sparse blocks (bounds host memory to
# _ROW_CHUNK * n_pre float64 values).
_ROW_CHUNK = 256


# ----------------------------------------------------------------------------------------------
# Operators: how a block is stored and applied.
# ----------------------------------------------------------------------------------------------


class Dense(eqx.Module):
    """A dense block ``matrix [n_post, n_pre]`` (for all-to-all blocks of small networks)."""

    matrix: Array

    @property
    def n_post(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_pre(self) -> int:
        return int(self.matrix.shape[1])

    def apply(self, pre: Array, weights: Array | None = None) -> Array:
        """Drive ``[n_post, ...]`` from presynaptic activity ``pre [n_pre, ...]``; ``weights`` replaces
        the stored matrix (plastic weights)."""
        matrix = self.matrix if weights is None else weights
        return jnp.tensordot(matrix, pre, axes=1)

    def dense(self) -> Array:
        """The ``[n_post, n_pre]`` matrix."""
        return self.matrix


class Sparse(eqx.Module):
    """A sparse block as an edge list sorted by postsynaptic index.

    Attributes:
        pre, post: ``[n_edges]`` int32 indices into the pre and post populations.
        weight: ``[n_edges]`` float32 structural weights (``1/sqrt(K)`` for balanced blocks).
        n_pre, n_post: population sizes (static).
    """

    pre: Array
    post: Array
    weight: Array
    n_pre: int = eqx.field(static=True)
    n_post: int = eqx.field(static=True)

    def __check_init__(self):
        if not (self.pre.shape == self.post.shape == self.weight.shape) or self.pre.ndim != 1:
            raise ValueError(f"pre, post and weight must be 1-D of equal length; got {self.pre.shape}, {self.post.shape}, {self.weight.shape}")
        if is_concrete((self.pre, self.post)):
            post, pre = np.asarray(self.post), np.asarray(self.pre)
            if post.size and (np.any(np.diff(post) < 0) or post.min() < 0 or post.max() >= self.n_post or pre.min() < 0 or pre.max() >= self.n_pre):
                raise ValueError(
                    f"edges must have 0 <= pre < {self.n_pre}, 0 <= post < {self.n_post} and be sorted by post; "
                    "build them with Sparse.from_edges"
                )

    @classmethod
    def from_edges(cls, pre, post, weight, n_pre: int, n_post: int) -> "Sparse":
        """A block from any edge list (e.g. the core's ``Connectivity.pre/post`` and its weights),
        sorted by postsynaptic index as :meth:`apply` requires."""
        post = np.asarray(post)
        order = np.argsort(post, kind="stable")
        return cls(
            jnp.asarray(np.asarray(pre)[order], jnp.int32), jnp.asarray(post[order], jnp.int32),
            jnp.asarray(np.asarray(weight, np.float32)[order]), n_pre=int(n_pre), n_post=int(n_post),
        )

    @property
    def n_edges(self) -> int:
        return int(self.pre.shape[0])

    def apply(self, pre: Array, weights: Array | None = None) -> Array:
        """Drive ``[n_post, ...]`` = segment sum over edges of ``weight * pre[pre_index]``;
        ``weights [n_edges]`` replaces the stored weights (plastic weights)."""
        w = self.weight if weights is None else weights
        w = w.reshape(w.shape + (1,) * (pre.ndim - 1))
        return jax.ops.segment_sum(w * pre[self.pre], self.post, num_segments=self.n_post, indices_are_sorted=True)

    def in_degrees(self) -> np.ndarray:
        """``[n_post]`` number of incoming edges of each postsynaptic neuron."""
        return np.bincount(np.asarray(self.post), minlength=self.n_post)

    def out_degrees(self) -> np.ndarray:
        """``[n_pre]`` number of outgoing edges of each presynaptic neuron."""
        return np.bincount(np.asarray(self.pre), minlength=self.n_pre)

    def to_edges(self) -> tuple[Array, Array, Array]:
        """``(pre [E] int32, post [E] int32, weight [E] float32)``."""
        return self.pre, self.post, self.weight

    def dense(self) -> Array:
        """``[n_post, n_pre]`` matrix (summing multapses); for small networks and checks only."""
        return jnp.zeros((self.n_post, self.n_pre), jnp.float32).at[self.post, self.pre].add(self.weight)


class LowRank(eqx.Module):
    """A block kept as factors, never densified: ``C = left @ right.T``.

    Attributes:
        left: ``[n_post, rank]``; right: ``[n_pre, rank]``.
    Applying it costs ``O((n_post + n_pre) rank)`` instead of ``O(n_post n_pre)``.
    """

    left: Array
    right: Array

    @property
    def n_post(self) -> int:
        return int(self.left.shape[0])

    @property
    def n_pre(self) -> int:
        return int(self.right.shape[0])

    @property
    def rank(self) -> int:
        return int(self.left.shape[1])

    def apply(self, pre: Array, weights: Array | None = None) -> Array:
        """Drive ``[n_post, ...]`` from ``pre [n_pre, ...]`` through the factors."""
        if weights is not None:
            raise ValueError("a LowRank block has no per-synapse weights; make plastic blocks Dense or Sparse")
        return jnp.tensordot(self.left, jnp.tensordot(self.right.T, pre, axes=1), axes=1)

    def dense(self) -> Array:
        """``[n_post, n_pre]`` matrix; for small networks and checks only."""
        return self.left @ self.right.T


Operator = Dense | Sparse | LowRank


# ----------------------------------------------------------------------------------------------
# Profiles P_ij.
# ----------------------------------------------------------------------------------------------


def ring_angles(n: int) -> np.ndarray:
    """``[n]`` angles ``2 pi i / n`` (rad) evenly spaced on [0, 2 pi)."""
    return 2.0 * np.pi * np.arange(n) / n


class Profile:
    """A connection profile ``P_ij`` (host-side, numpy float64)."""

    def rows(self, post: np.ndarray, n_post: int, n_pre: int, rng: np.random.Generator) -> np.ndarray:
        """``[len(post), n_pre]`` values of ``P`` for the postsynaptic rows ``post``."""
        raise NotImplementedError

    def factors(self, n_post: int, n_pre: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
        """``(left [n_post, R], right [n_pre, R])`` with ``P = left @ right.T``, or None if not low-rank."""
        return None


class Uniform(Profile):
    """``P_ij = 1``."""

    def rows(self, post, n_post, n_pre, rng):
        return np.ones((post.size, n_pre))

    def factors(self, n_post, n_pre, rng):
        return np.ones((n_post, 1)), np.ones((n_pre, 1))


class Cosine(Profile):
    """Cosine ring ``P_ij = 1 + kappa cos(theta_i - theta_j - phase)`` (phase in rad); rank 3."""

    def __init__(self, kappa: float, phase: float = 0.0):
        self.kappa = float(kappa)
        self.phase = float(phase)

    def rows(self, post, n_post, n_pre, rng):
        d = ring_angles(n_post)[post][:, None] - ring_angles(n_pre)[None, :]
        return 1.0 + self.kappa * np.cos(d - self.phase)

    def factors(self, n_post, n_pre, rng):
        a = ring_angles(n_post)
        b = ring_angles(n_pre) + self.phase
        left = np.stack([np.ones(n_post), self.kappa * np.cos(a), self.kappa * np.sin(a)], axis=1)
        right = np.stack([np.ones(n_pre), np.cos(b), np.sin(b)], axis=1)
        return left, right


def weak_cosine(kappa: float, k: float, phase: float = 0.0) -> Cosine:
    """Weak ring: a :class:`Cosine` profile with modulation ``kappa / sqrt(k)``."""
    check_positive("k", k)
    return Cosine(kappa / np.sqrt(k), phase)


class LowRankProfile(Profile):
    """``P_ij = 1 + kappa sum_r m_ri n_rj / sqrt(k)`` with ``m [R, n_post]``, ``n [R, n_pre]``."""

    def __init__(self, kappa: float, m: np.ndarray, n: np.ndarray, k: float = 1.0):
        check_positive("k", k)
        self.kappa = float(kappa)
        self.m = np.atleast_2d(np.asarray(m, np.float64))
        self.n = np.atleast_2d(np.asarray(n, np.float64))
        self.k = float(k)
        if self.m.shape[0] != self.n.shape[0]:
            raise ValueError(f"m and n must have the same number of vectors; got {self.m.shape[0]} and {self.n.shape[0]}")

    @classmethod
    def symmetric(cls, kappa: float, xi: np.ndarray, k: float = 1.0) -> "LowRankProfile":
        """``1 + kappa xi_i . xi_j / sqrt(k)`` with ``xi [R, n]``."""
        return cls(kappa, xi, xi, k)

    @classmethod
    def paired(cls, kappa: float, xi: np.ndarray, k: float = 1.0) -> "LowRankProfile":
        """Rank ``R`` from ``2R`` vectors: ``xi0 xi1^T + xi2 xi3^T + ...`` (rank 2 in the ring and working-memory models)."""
        xi = np.asarray(xi)
        if xi.shape[0] % 2:
            raise ValueError(f"paired low rank needs an even number of vectors; got {xi.shape[0]}")
        return cls(kappa, xi[0::2], xi[1::2], k)

    def _check(self, n_post, n_pre):
        if self.m.shape[1] != n_post or self.n.shape[1] != n_pre:
            raise ValueError(
                f"low-rank vectors have lengths {self.m.shape[1]} (post) and {self.n.shape[1]} (pre); "
                f"the block is {n_post} x {n_pre}"
            )

    def rows(self, post, n_post, n_pre, rng):
        self._check(n_post, n_pre)
        return 1.0 + self.kappa * (self.m[:, post].T @ self.n) / np.sqrt(self.k)

    def factors(self, n_post, n_pre, rng):
        self._check(n_post, n_pre)
        left = np.concatenate([np.ones((n_post, 1)), self.kappa / np.sqrt(self.k) * self.m.T], axis=1)
        right = np.concatenate([np.ones((n_pre, 1)), self.n.T], axis=1)
        return left, right


def sample_low_rank_vectors(key: Array, n: int, mean, cov) -> np.ndarray:
    """``[D, n]`` vectors ``xi`` whose columns are i.i.d. multivariate normal ``N(mean, cov)``."""
    mean = np.asarray(mean, np.float64)
    cov = np.asarray(cov, np.float64)
    if cov.shape != (mean.size, mean.size):
        raise ValueError(f"cov must have shape [{mean.size}, {mean.size}]; got {list(cov.shape)}")
    return _rng(key).multivariate_normal(mean, cov, size=n).T


class VonMises(Profile):
    """``P_ij = exp(kappa cos(theta_i - theta_j)) / (2 pi I0(kappa))`` (a density on the ring)."""

    def __init__(self, kappa: float):
        check_positive("kappa", kappa, allow_zero=True)
        self.kappa = float(kappa)

    def rows(self, post, n_post, n_pre, rng):
        d = ring_angles(n_post)[post][:, None] - ring_angles(n_pre)[None, :]
        # exp(k cos d) / I0(k) = exp(k (cos d - 1)) / i0e(k), finite for large kappa
        return np.exp(self.kappa * (np.cos(d) - 1.0)) / (2.0 * np.pi * i0e(self.kappa))


class Gaussian(Profile):
    """``P_ij ~ N(0, 1)`` i.i.d. (drawn from the builder's key)."""

    def rows(self, post, n_post, n_pre, rng):
        return rng.standard_normal((post.size, n_pre))


# ----------------------------------------------------------------------------------------------
# Builders.
# ----------------------------------------------------------------------------------------------


def _rng(key: Array) -> np.random.Generator:
    """Numpy generator seeded deterministically from a JAX key (structure is built on the host)."""
    data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    return np.random.default_rng(np.asarray(data).astype(np.uint64).tolist())


def sparse(key: Array, profile: Profile, n_post: int, n_pre: int, k: float) -> Sparse:
    """Sparse block: edge ``j -> i`` with probability ``clip(k / n_pre * P_ij, 0, 1)``, weight ``1/sqrt(k)``.

    Args:
        key: JAX key for the Bernoulli draws (and the profile's own randomness).
        profile: the connection profile.
        n_post, n_pre: population sizes.
        k: mean in-degree of the uniform profile (``0 < k <= n_pre``).
    """
    n_post = check_int("n_post", n_post, minimum=1)
    n_pre = check_int("n_pre", n_pre, minimum=1)
    check_positive("k", k)
    if k > n_pre:
        raise ValueError(f"k must be <= n_pre = {n_pre}; got {k}")
    rng = _rng(key)
    pres, posts = [], []
    for start in range(0, n_post, _ROW_CHUNK):
        rows = np.arange(start, min(start + _ROW_CHUNK, n_post))
        p = np.clip(k / n_pre * profile.rows(rows, n_post, n_pre, rng), 0.0, 1.0)
        i, j = np.nonzero(rng.random(p.shape) < p)
        posts.append(rows[i])
        pres.append(j)
    post = np.concatenate(posts).astype(np.int32)
    pre = np.concatenate(pres).astype(np.int32)
    weight = np.full(post.shape, 1.0 / np.sqrt(k), np.float32)
    return Sparse(jnp.asarray(pre), jnp.asarray(post), jnp.asarray(weight), n_pre=n_pre, n_post=n_post)


def all_to_all(profile: Profile, n_post: int, n_pre: int, *, key: Array | None = None) -> LowRank | Dense:
    """All-to-all block ``C_ij = P_ij / n_pre`` (``P_ij / sqrt(n_pre)`` for :class:`Gaussian`).

    Low-rank profiles return exact :class:`LowRank` factors; others a :class:`Dense` matrix
    (``n_post x n_pre`` floats: keep these blocks small). ``key`` feeds random profiles.
    """
    n_post = check_int("n_post", n_post, minimum=1)
    n_pre = check_int("n_pre", n_pre, minimum=1)
    if isinstance(profile, Gaussian) and key is None:
        raise ValueError("the Gaussian profile needs a key")
    rng = _rng(key) if key is not None else np.random.default_rng(0)
    factors = profile.factors(n_post, n_pre, rng)
    if factors is not None:
        left, right = factors
        return LowRank(jnp.asarray(left, jnp.float32), jnp.asarray(right / n_pre, jnp.float32))
    scale = np.sqrt(n_pre) if isinstance(profile, Gaussian) else n_pre
    matrix = profile.rows(np.arange(n_post), n_post, n_pre, rng) / scale
    return Dense(jnp.asarray(matrix, jnp.float32))


class BlockSpec(NamedTuple):
    """How to build one block: ``kind`` in {"sparse", "all_to_all"}, a profile, and for sparse blocks
    the mean in-degree ``k``."""

    kind: str
    profile: Profile
    k: float = 1.0


def build_blocks(key: Array, sizes: tuple[int, ...], specs: Mapping[tuple[int, int], BlockSpec]) -> dict[tuple[int, int], Operator]:
    """Build every block ``(post, pre) -> operator`` of a multi-population network.

    Args:
        key: JAX key, split deterministically per block (by its position in ``sorted(specs)``).
        sizes: population sizes.
        specs: ``{(post, pre): BlockSpec}``; absent blocks are not connected.
    """
    blocks = {}
    keys = jax.random.split(key, max(len(specs), 1))
    for block_key, (post, pre) in zip(keys, sorted(specs)):
        for name, idx in (("post", post), ("pre", pre)):
            if not 0 <= idx < len(sizes):
                raise ValueError(f"block {(post, pre)}: {name} population {idx} is not in 0..{len(sizes) - 1}")
        spec = specs[(post, pre)]
        check_choice(f"kind of block {(post, pre)}", spec.kind, ("sparse", "all_to_all"))
        if spec.kind == "sparse":
            blocks[(post, pre)] = sparse(block_key, spec.profile, sizes[post], sizes[pre], spec.k)
        else:
            blocks[(post, pre)] = all_to_all(spec.profile, sizes[post], sizes[pre], key=block_key)
    return blocks
