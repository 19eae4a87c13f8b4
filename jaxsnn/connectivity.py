"""Static connectivity of a projection, stored once and shared by every member of a batch.

A projection from ``n_pre`` to ``n_post`` neurons is a list of ``n_synapses`` synapses sorted by
presynaptic neuron, plus two padded fixed-degree index views (ELL format):

- outgoing: ``out_post[j, k]`` is the k-th target of presynaptic neuron j and ``out_syn[j, k]`` its
  synapse index, padded with ``n_post`` / ``n_synapses``;
- incoming (the transposed view for on-post plasticity): ``in_pre[i, k]`` and ``in_syn[i, k]``,
  padded with ``n_pre`` / ``n_synapses``.

Both views carry one extra all-padding row (index ``n_pre`` resp. ``n_post``) so that a padded spike
buffer can gather from them without masking. Padding synapse index ``n_synapses`` addresses one extra
weight slot that is kept at zero. Weights are not part of the structure: they live per batch member
as ``[n_synapses]`` arrays (or one scalar per projection).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._validation import check_int, check_probability


class Connectivity(eqx.Module):
    """Synapses of one projection (see the module docstring). Index arrays are int32."""

    n_pre: int = eqx.field(static=True)
    n_post: int = eqx.field(static=True)
    pre: Array  # [n_synapses]
    post: Array  # [n_synapses]
    out_post: Array  # [n_pre + 1, k_out]
    out_syn: Array  # [n_pre + 1, k_out]
    in_pre: Array  # [n_post + 1, k_in]
    in_syn: Array  # [n_post + 1, k_in]

    @property
    def n_synapses(self) -> int:
        return int(self.pre.shape[0])

    @property
    def max_out_degree(self) -> int:
        return int(self.out_post.shape[1])

    @property
    def max_in_degree(self) -> int:
        return int(self.in_pre.shape[1])

    def out_degrees(self) -> np.ndarray:
        """``[n_pre]`` number of targets of each presynaptic neuron."""
        return np.bincount(np.asarray(self.pre), minlength=self.n_pre)

    def in_degrees(self) -> np.ndarray:
        """``[n_post]`` number of sources of each postsynaptic neuron."""
        return np.bincount(np.asarray(self.post), minlength=self.n_post)

    def dense(self, weights: Array | float = 1.0) -> Array:
        """``[n_pre, n_post]`` weight matrix (summing multapses); for small networks and checks."""
        w = jnp.broadcast_to(jnp.asarray(weights, jnp.float32), (self.n_synapses,))
        return jnp.zeros((self.n_pre, self.n_post), jnp.float32).at[self.pre, self.post].add(w)


def _ell(rows: np.ndarray, cols: np.ndarray, n_rows: int, pad_col: int, pad_syn: int, syn_ids: np.ndarray):
    """Padded fixed-degree view: for each row, its columns and synapse ids, plus one padding row."""
    order = np.lexsort((cols, rows))
    rows, cols, syn_ids = rows[order], cols[order], syn_ids[order]
    degrees = np.bincount(rows, minlength=n_rows)
    k_max = max(int(degrees.max()) if degrees.size else 0, 1)
    starts = np.concatenate([[0], np.cumsum(degrees)[:-1]])
    slot = np.arange(rows.size) - starts[rows]
    col_view = np.full((n_rows + 1, k_max), pad_col, np.int32)
    syn_view = np.full((n_rows + 1, k_max), pad_syn, np.int32)
    col_view[rows, slot] = cols
    syn_view[rows, slot] = syn_ids
    return col_view, syn_view


def from_edges(pre, post, n_pre: int, n_post: int) -> Connectivity:
    """Connectivity from explicit edge lists.

    Args:
        pre, post: ``[n_synapses]`` integer indices (0 <= pre < n_pre, 0 <= post < n_post).
            Synapses are re-ordered by (pre, post); use :func:`edge_order` to carry per-edge weights
            along into the stored order.
    """
    n_pre = check_int("n_pre", n_pre, minimum=1)
    n_post = check_int("n_post", n_post, minimum=1)
    pre = np.asarray(pre)
    post = np.asarray(post)
    if pre.shape != post.shape or pre.ndim != 1:
        raise ValueError(f"pre and post must be 1-D arrays of equal length; got shapes {pre.shape} and {post.shape}")
    if pre.size and (pre.min() < 0 or pre.max() >= n_pre):
        raise ValueError(f"pre indices must lie in [0, {n_pre}); got range [{pre.min()}, {pre.max()}]")
    if post.size and (post.min() < 0 or post.max() >= n_post):
        raise ValueError(f"post indices must lie in [0, {n_post}); got range [{post.min()}, {post.max()}]")
    order = edge_order(pre, post)
    pre = pre[order].astype(np.int32)
    post = post[order].astype(np.int32)
    n_syn = pre.size
    syn = np.arange(n_syn, dtype=np.int32)
    out_post, out_syn = _ell(pre, post, n_pre, n_post, n_syn, syn)
    in_pre, in_syn = _ell(post, pre, n_post, n_pre, n_syn, syn)
    return Connectivity(
        n_pre=n_pre,
        n_post=n_post,
        pre=jnp.asarray(pre),
        post=jnp.asarray(post),
        out_post=jnp.asarray(out_post),
        out_syn=jnp.asarray(out_syn),
        in_pre=jnp.asarray(in_pre),
        in_syn=jnp.asarray(in_syn),
    )


def edge_order(pre, post) -> np.ndarray:
    """Permutation that sorts edges into the stored (pre, post) order of :func:`from_edges`."""
    return np.lexsort((np.asarray(post), np.asarray(pre)))


def _seed(key: Array) -> np.random.Generator:
    """A numpy generator seeded deterministically from a JAX key (structure is built on the host)."""
    data = np.asarray(jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key)
    return np.random.default_rng(data.astype(np.uint64).tolist())


def _check_random(n_pre: int, n_post: int, p: float, autapses: bool) -> tuple[int, int]:
    check_probability("p", p)
    n_pre = check_int("n_pre", n_pre, minimum=1)
    n_post = check_int("n_post", n_post, minimum=1)
    if not autapses and n_pre != n_post:
        raise ValueError(f"autapses=False needs a recurrent projection (n_pre == n_post); got {n_pre} and {n_post}")
    return n_pre, n_post


def bernoulli(key: Array, n_pre: int, n_post: int, p: float, *, autapses: bool = True) -> Connectivity:
    """Each (pre, post) pair connected independently with probability ``p``.

    ``autapses=False`` excludes pairs with pre == post (for recurrent projections of a population onto
    itself; requires n_pre == n_post). Deterministic given ``key``. Memory is O(n_synapses): pairs are
    drawn row by row through geometric gaps rather than an [n_pre, n_post] matrix.
    """
    n_pre, n_post = _check_random(n_pre, n_post, p, autapses)
    rng = _seed(key)
    degrees = rng.binomial(n_post - (0 if autapses else 1), p, size=n_pre)
    pre = np.repeat(np.arange(n_pre), degrees)
    post = np.empty(pre.size, np.int64)
    offset = 0
    for j, k in enumerate(degrees):
        if k:
            if autapses:
                chosen = rng.choice(n_post, size=k, replace=False)
            else:
                chosen = rng.choice(n_post - 1, size=k, replace=False)
                chosen = chosen + (chosen >= j)
            post[offset : offset + k] = chosen
            offset += k
    return from_edges(pre, post, n_pre, n_post)


def renewal(key: Array, n_pre: int, n_post: int, p: float, *, autapses: bool = True) -> Connectivity:
    """Auryn's random sparse fill (``SparseConnection::connect_random``): a renewal process along the
    row-major (pre, post) matrix.

    Successive synapses lie ``1 + Exp(λ)`` slots apart, λ = 1/(1/p − 1) (mean gap 1/p), the fractional
    parts carried over; the first at ``⌊Exp(λ)⌋``. Each pair is connected with marginal probability ≈ p,
    but gaps vary less than the geometric gaps of :func:`bernoulli` (variance 1/λ² instead of
    (1 − p)/p²: 0.9× at p = 0.1), so a row's degree varies less than a binomial one. With
    ``autapses=False`` slots with pre == post are skipped (they stay counted, as in Auryn).
    Deterministic given ``key``; memory O(n_synapses).
    """
    n_pre, n_post = _check_random(n_pre, n_post, p, autapses)
    rng = _seed(key)
    n_slots = n_pre * n_post
    if p == 1.0:
        slots = np.arange(n_slots)
    elif p == 0.0:
        slots = np.zeros(0, np.int64)
    else:
        lam = 1.0 / (1.0 / p - 1.0)
        first = np.floor(rng.exponential(1.0 / lam))
        expected = p * n_slots
        n_draw = int(expected + 10 * np.sqrt(expected) + 16)
        while True:  # enough gaps to run past the last slot (almost always the first try)
            travelled = np.cumsum(rng.exponential(1.0 / lam, n_draw) + 1.0)
            if first + travelled[-1] >= n_slots:
                break
            n_draw *= 2
        slots = (first + np.concatenate([[0.0], np.floor(travelled)])).astype(np.int64)
        slots = slots[slots < n_slots]
    pre, post = slots // n_post, slots % n_post
    if not autapses:
        keep = pre != post
        pre, post = pre[keep], post[keep]
    return from_edges(pre, post, n_pre, n_post)


def fixed_indegree(key: Array, n_pre: int, n_post: int, k: int, *, autapses: bool = True) -> Connectivity:
    """Every postsynaptic neuron receives exactly ``k`` distinct presynaptic partners, chosen uniformly."""
    n_pre = check_int("n_pre", n_pre, minimum=1)
    n_post = check_int("n_post", n_post, minimum=1)
    k = check_int("k", k, minimum=0)
    available = n_pre - (0 if autapses else 1)
    if not autapses and n_pre != n_post:
        raise ValueError(f"autapses=False needs n_pre == n_post; got {n_pre} and {n_post}")
    if k > available:
        raise ValueError(f"k = {k} exceeds the {available} available presynaptic neurons")
    rng = _seed(key)
    pre = np.concatenate([_choose_excluding(rng, n_pre, k, None if autapses else i) for i in range(n_post)]) if k else np.zeros(0, int)
    post = np.repeat(np.arange(n_post), k)
    return from_edges(pre, post, n_pre, n_post)


def fixed_outdegree(key: Array, n_pre: int, n_post: int, k: int, *, autapses: bool = True) -> Connectivity:
    """Every presynaptic neuron projects to exactly ``k`` distinct targets, chosen uniformly."""
    n_pre = check_int("n_pre", n_pre, minimum=1)
    n_post = check_int("n_post", n_post, minimum=1)
    k = check_int("k", k, minimum=0)
    available = n_post - (0 if autapses else 1)
    if not autapses and n_pre != n_post:
        raise ValueError(f"autapses=False needs n_pre == n_post; got {n_pre} and {n_post}")
    if k > available:
        raise ValueError(f"k = {k} exceeds the {available} available postsynaptic neurons")
    rng = _seed(key)
    post = np.concatenate([_choose_excluding(rng, n_post, k, None if autapses else j) for j in range(n_pre)]) if k else np.zeros(0, int)
    pre = np.repeat(np.arange(n_pre), k)
    return from_edges(pre, post, n_pre, n_post)


def all_to_all(n_pre: int, n_post: int, *, autapses: bool = True) -> Connectivity:
    """Every pair connected (without pre == post pairs when ``autapses=False``)."""
    n_pre = check_int("n_pre", n_pre, minimum=1)
    n_post = check_int("n_post", n_post, minimum=1)
    pre, post = np.meshgrid(np.arange(n_pre), np.arange(n_post), indexing="ij")
    pre, post = pre.ravel(), post.ravel()
    if not autapses:
        if n_pre != n_post:
            raise ValueError(f"autapses=False needs n_pre == n_post; got {n_pre} and {n_post}")
        keep = pre != post
        pre, post = pre[keep], post[keep]
    return from_edges(pre, post, n_pre, n_post)


def _choose_excluding(rng: np.random.Generator, n: int, k: int, excluded: int | None) -> np.ndarray:
    if excluded is None:
        return rng.choice(n, size=k, replace=False)
    chosen = rng.choice(n - 1, size=k, replace=False)
    return chosen + (chosen >= excluded)
