"""GLM networks as edge lists, batched as one disjoint graph or stacked for ``vmap``.

A network of ``n_neurons`` is a list of directed edges ``pre[e] -> post[e]`` with coupling weights
``weight[e]`` (the reference's ``W0``; dimensionless input units). Edges are stored sorted by ``post``.
The edge list is the one source of truth (and what is tuned); how the synaptic sum
``I_i = Σ_{e: post[e] = i} weight[e] h[pre[e]]`` is computed is a static ``layout``:

- ``"sparse"``: a gather over edges and a sorted ``segment_sum``; memory and time grow with the number
  of edges, never with ``n_neurons²``.
- ``"dense"``: the edges are scattered once per simulation into an ``[n, n]`` matrix and each step is a
  matrix-vector product. On CPU a dense product costs ~40x less per entry than a gather/scatter per
  edge, so it wins above ~3 % connection density; it is chosen only for networks small enough for the
  matrix (``"auto"``: at most :data:`DENSE_MAX_NEURONS` neurons and at least :data:`DENSE_MIN_DENSITY`).
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._validation import check_choice, check_finite, check_int
from ._arrays import read_array

#: Largest network that ``layout="auto"`` simulates with a dense matrix (4096² float32 = 64 MiB).
DENSE_MAX_NEURONS = 4096
#: Smallest connection density (edges / n²) for which ``layout="auto"`` chooses the dense matrix.
DENSE_MIN_DENSITY = 0.05


class GLMNetwork(eqx.Module):
    """Directed graph with weighted edges, sorted by postsynaptic neuron.

    Attributes:
        pre: ``[n_edges]`` int32 presynaptic neuron of each edge.
        post: ``[n_edges]`` int32 postsynaptic neuron of each edge (non-decreasing).
        weight: ``[n_edges]`` float32 coupling weight ``W0`` of each edge (input units).
        n_neurons: number of neurons (static).
        layout: ``"sparse"`` or ``"dense"`` (static; see the module docstring).
        matrix: ``[n, n]`` ``W[pre, post]`` built by :meth:`materialise` for the dense layout, else ``None``.
    Build with :func:`from_edges` or :func:`from_dense` (which validate and sort), not directly.
    """

    pre: Array
    post: Array
    weight: Array
    n_neurons: int = eqx.field(static=True)
    layout: str = eqx.field(default="sparse", static=True)
    matrix: Array | None = None

    @property
    def n_edges(self) -> int:
        return int(self.pre.shape[-1])

    def materialise(self) -> "GLMNetwork":
        """For the dense layout, the network with its ``matrix`` built from the edges (differentiable in
        ``weight``); called once per simulation, outside the time loop. Unchanged for the sparse layout."""
        if self.layout == "sparse":
            return self
        matrix = jnp.zeros((self.n_neurons, self.n_neurons), self.weight.dtype).at[self.pre, self.post].add(self.weight)
        return eqx.tree_at(lambda net: net.matrix, self, matrix, is_leaf=lambda x: x is None)

    def synaptic_sum(self, h: Array) -> Array:
        """``[n_neurons]`` input ``I_i = Σ_{e: post[e]=i} weight[e] h[pre[e]]`` of a presynaptic signal ``h``
        ``[n_neurons]`` (e.g. filtered spike counts)."""
        if self.matrix is not None:
            return h @ self.matrix
        if self.layout == "dense":
            raise ValueError("a dense-layout network must be materialise()-d before its synaptic sum is taken")
        return jax.ops.segment_sum(
            self.weight * h[self.pre], self.post, num_segments=self.n_neurons, indices_are_sorted=True
        )

    def dense(self) -> np.ndarray:
        """``[n_neurons, n_neurons]`` matrix ``W[pre, post]`` as numpy (for small networks and tests)."""
        w = np.zeros((self.n_neurons, self.n_neurons), np.float32)
        np.add.at(w, (np.asarray(self.pre), np.asarray(self.post)), np.asarray(self.weight))
        return w


def _layout_of(layout: str, n_neurons: int, n_edges: int) -> str:
    check_choice("layout", layout, ("auto", "sparse", "dense"))
    if layout != "auto":
        return layout
    dense = n_neurons <= DENSE_MAX_NEURONS and n_edges >= DENSE_MIN_DENSITY * n_neurons**2
    return "dense" if dense else "sparse"


def from_edges(pre, post, weight, n_neurons: int, *, layout: str = "auto") -> GLMNetwork:
    """Network from edge arrays ``pre[e] -> post[e]`` with weights ``weight[e]`` (validated, sorted by post).

    ``layout``: ``"sparse"``, ``"dense"`` or ``"auto"`` (dense for small, densely connected networks; see the
    module docstring). Raises ``ValueError`` for mismatched lengths, indices outside ``[0, n_neurons)`` or
    non-finite weights.
    """
    n_neurons = check_int("n_neurons", n_neurons, minimum=1)
    pre, post = np.asarray(pre), np.asarray(post)
    weight = np.asarray(weight, np.float32)
    if not (pre.ndim == post.ndim == weight.ndim == 1) or not (pre.shape == post.shape == weight.shape):
        raise ValueError(
            f"pre, post and weight must be 1-d arrays of equal length; got shapes "
            f"{list(pre.shape)}, {list(post.shape)}, {list(weight.shape)}"
        )
    for name, idx in (("pre", pre), ("post", post)):
        if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= n_neurons):
            raise ValueError(f"{name} must hold integer neuron indices in [0, {n_neurons}); got {idx.dtype} "
                             f"in [{idx.min()}, {idx.max()}]")
    check_finite("weight", weight)
    order = np.argsort(post, kind="stable")
    return GLMNetwork(
        pre=jnp.asarray(pre[order], jnp.int32),
        post=jnp.asarray(post[order], jnp.int32),
        weight=jnp.asarray(weight[order]),
        n_neurons=n_neurons,
        layout=_layout_of(layout, n_neurons, len(pre)),
    )


def from_dense(w, *, keep_zeros: bool = False, layout: str = "auto") -> GLMNetwork:
    """Network from a square matrix ``w[pre, post]`` (the reference's ``W0``): one edge per non-zero entry.

    ``keep_zeros``: keep zero entries as edges too (a complete graph). ``layout``: as :func:`from_edges`.
    """
    w = np.asarray(w, np.float32)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"the weight matrix must be square [n, n]; got shape {list(w.shape)}")
    pre, post = np.nonzero(np.ones_like(w, bool) if keep_zeros else w)
    return from_edges(pre, post, w[pre, post], w.shape[0], layout=layout)


def load_dense(path: str, *, key: str | None = None) -> GLMNetwork:
    """Network from a square matrix ``W0[pre, post]`` stored in a ``.npy`` file (or array ``key`` of a ``.npz``)."""
    data = read_array(path, key)
    return from_dense(data)


def disjoint_union(networks: Sequence[GLMNetwork], *, layout: str = "auto") -> GLMNetwork:
    """One network holding ``networks`` as disconnected subgraphs (neurons numbered network after network).

    ``layout`` as :func:`from_edges` (for the union; ``"auto"`` usually makes large unions sparse).
    Simulating the union simulates every member at once; split its ``[n_total, n_steps]`` spikes back with
    :func:`split_neurons`.
    """
    if not networks:
        raise ValueError("disjoint_union needs at least one network")
    offsets = np.cumsum([0] + [net.n_neurons for net in networks])
    return from_edges(
        np.concatenate([np.asarray(net.pre) + off for net, off in zip(networks, offsets)]),
        np.concatenate([np.asarray(net.post) + off for net, off in zip(networks, offsets)]),
        np.concatenate([np.asarray(net.weight) for net in networks]),
        int(offsets[-1]),
        layout=layout,
    )


def split_neurons(values, sizes: Sequence[int]) -> list:
    """Split an array whose first axis runs over the neurons of a :func:`disjoint_union` into its members."""
    return np.split(np.asarray(values), np.cumsum(sizes)[:-1])


def stack_networks(networks: Sequence[GLMNetwork]) -> GLMNetwork:
    """Networks of equal size stacked along a leading axis, for ``jax.vmap`` over networks.

    Members with fewer edges are padded with zero-weight edges ``0 -> n_neurons - 1`` (which keep the
    ``post`` order and add nothing to any input).
    """
    if not networks:
        raise ValueError("stack_networks needs at least one network")
    sizes = {net.n_neurons for net in networks}
    if len(sizes) != 1:
        raise ValueError(f"stacked networks must have the same n_neurons; got {sorted(sizes)} "
                         "(use disjoint_union for networks of different sizes)")
    (n,) = sizes
    layouts = {net.layout for net in networks}
    if len(layouts) != 1:
        raise ValueError(f"stacked networks must share one layout; got {sorted(layouts)}")
    n_edges = max(net.n_edges for net in networks)

    def padded(a, fill):
        a = np.asarray(a)
        return np.concatenate([a, np.full(n_edges - a.shape[0], fill, a.dtype)])

    return GLMNetwork(
        pre=jnp.asarray(np.stack([padded(net.pre, 0) for net in networks])),
        post=jnp.asarray(np.stack([padded(net.post, n - 1) for net in networks])),
        weight=jnp.asarray(np.stack([padded(net.weight, 0.0) for net in networks])),
        n_neurons=n,
        layout=layouts.pop(),
    )


def save_network(path: str, network: GLMNetwork) -> None:
    """Write the edge list to an ``.npz`` file (``pre``, ``post``, ``weight``, ``n_neurons``, ``layout``)."""
    np.savez(path, pre=np.asarray(network.pre), post=np.asarray(network.post),
             weight=np.asarray(network.weight), n_neurons=network.n_neurons, layout=network.layout)


def load_network(path: str) -> GLMNetwork:
    """Read a network written by :func:`save_network`."""
    with np.load(path) as data:
        return from_edges(data["pre"], data["post"], data["weight"], int(data["n_neurons"]),
                          layout=str(data["layout"]))
