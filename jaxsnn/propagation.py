"""Spike propagation: from the spikes of a presynaptic population to increments of postsynaptic
synaptic variables, for a whole batch at once.

The batch is treated as one disjoint graph. The spikes of all ``B`` members (global id
``b * n_pre + j``) are indexed once per step by a :class:`SpikeIndex`: the spike mask cut into words
of 32 neurons, and the running count of spikes over words. The k-th spike of the step is then found
by a binary search over words and a count inside one word, so a ``lax.while_loop`` can walk the
step's spikes in blocks of ``block`` without ever compacting the whole mask (``jnp.nonzero`` costs a
full prefix sum and scatter per step on CPU). The loop's cost is proportional to the number of
spikes in the step, summed over the batch: no fixed capacity, so nothing can overflow.

A dense path (``spikes @ W``) serves small networks and is differentiable with respect to spikes.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .connectivity import Connectivity

WORD = 32
#: Largest words x ranks product searched by comparing every pair (see ``spike_ids``).
COMPARE_ALL_LIMIT = 16384


class SpikeIndex(NamedTuple):
    """Spikes of one step of a population over a batch, indexed for rank lookups.

    words: ``[n_words, 32]`` int32 0/1 masks (the flattened ``[B * n]`` mask, zero-padded).
    cumulative: ``[n_words]`` int32 inclusive running count of spikes over words.
    size: ``B * n`` (static), also the padding id returned for ranks beyond the last spike.
    """

    words: Array
    cumulative: Array
    size: int

    @property
    def count(self) -> Array:
        """Number of spikes in the step (int32 scalar)."""
        return self.cumulative[-1]


def index_spikes(spikes: Array) -> SpikeIndex:
    """Index ``spikes`` (``[B, n]`` or ``[n]``, 0/1) for :func:`spike_ids`."""
    flat = (spikes.reshape(-1) > 0).astype(jnp.int32)
    size = flat.shape[0]
    words = jnp.pad(flat, (0, (-size) % WORD)).reshape(-1, WORD)
    return SpikeIndex(words, jnp.cumsum(words.sum(axis=1)), size)


def spike_ids(index: SpikeIndex, ranks: Array) -> Array:
    """Global ids of the spikes of rank ``ranks`` (0-based, in increasing id order); ``index.size``
    for ranks at or beyond the number of spikes."""
    n_words = index.words.shape[0]
    # a binary search is one fused op per halving on CPU; comparing against every word is one op and
    # cheaper while the word array is short
    method = "compare_all" if n_words * ranks.shape[0] <= COMPARE_ALL_LIMIT else "scan_unrolled"
    word = jnp.searchsorted(index.cumulative, ranks, side="right", method=method)
    word = jnp.minimum(word, n_words - 1)
    before = jnp.where(word > 0, index.cumulative[word - 1], 0)
    rank_in_word = ranks - before
    position = jnp.argmax(jnp.cumsum(index.words[word], axis=1) > rank_in_word[:, None], axis=1)
    return jnp.where(ranks < index.count, word * WORD + position, index.size).astype(jnp.int32)


def members_and_rows(gid: Array, n_rows: int, batch: int) -> tuple[Array, Array]:
    """Split global ids ``b * n_rows + j`` into (member ``b``, row ``j``), sending padding ids
    (``>= batch * n_rows``) to member 0 and the padding row ``n_rows``.

    The result is materialised (optimisation barrier): otherwise XLA fuses the rank search of
    :func:`spike_ids` into every consumer and recomputes it for each of the block x degree synapses.
    """
    is_pad = gid >= batch * n_rows
    return jax.lax.optimization_barrier((jnp.where(is_pad, 0, gid // n_rows), jnp.where(is_pad, n_rows, gid % n_rows)))


class PooledSpikes(NamedTuple):
    """Spikes of one step of a population over a batch, compacted into slots that the whole batch shares
    (the accelerator strategy: fixed shapes; a silent or stopped member takes no slot, and the batch's
    slots need headroom for the fluctuation of its total, not of every member's count).

    ids: ``[slots]`` int32 global ids ``b * n + j`` in increasing order (member by member), ``B * n``
        where unused (unused slots may also sit between members: :func:`slots_of_member_ids`).
    count: ``[B]`` int32 spikes of each member in the step.
    n: population size (static).
    """

    ids: Array
    count: Array
    n: int

    @property
    def overflow(self) -> Array:
        """``[B]`` bool: members some of whose spikes did not fit (those after the last slot)."""
        return (jnp.cumsum(self.count) > self.ids.shape[0]) & (self.count > 0)

    def gids(self) -> Array:
        """``[slots]`` global ids in increasing order, ``B * n`` for unused slots."""
        return self.ids


def pool_spikes(spikes: Array, slots: int) -> PooledSpikes:
    """``[B, n]`` 0/1 spikes as :class:`PooledSpikes` in ``slots`` slots for the whole batch (one prefix
    sum and scatter over the flattened batch: fixed shapes)."""
    batch, n = spikes.shape
    fired = spikes > 0
    ids = jnp.nonzero(fired.reshape(-1), size=slots, fill_value=batch * n)[0].astype(jnp.int32)
    return PooledSpikes(ids, fired.sum(axis=1, dtype=jnp.int32), n)


def slots_of_member_ids(ids: Array, n: int) -> PooledSpikes:
    """``[B, k]`` ascending ids per member (``n`` where unused; e.g. the sources a renewal input drew) as
    :class:`PooledSpikes` of ``B * k`` slots, member by member."""
    batch = ids.shape[0]
    member = jnp.arange(batch, dtype=jnp.int32)[:, None]
    gids = jnp.where(ids < n, member * n + ids, batch * n).reshape(-1)
    return PooledSpikes(gids, (ids < n).sum(axis=1, dtype=jnp.int32), n)


def walk_spike_blocks(index: SpikeIndex | PooledSpikes, block: int, body, carry):
    """``carry = body(i, gid, carry)`` for the blocks ``i = 0, 1, ...`` of ``block`` spikes of the step
    (``gid``: ``[block]`` global ids in increasing order, padded with ``index.size``), as a loop whose
    number of turns is the step's spike count over ``block``. Returns the final carry.

    :class:`PooledSpikes` are walked as one block of all their slots (no loop): the same ids in the same
    order, so the same sums, with static shapes."""
    if isinstance(index, PooledSpikes):
        return body(jnp.int32(0), index.gids(), carry)
    offsets = jnp.arange(block, dtype=jnp.int32)
    n_blocks = (index.count + block - 1) // block

    def turn(state):
        i, carry = state
        return i + 1, body(i, spike_ids(index, i * block + offsets), carry)

    return jax.lax.while_loop(lambda state: state[0] < n_blocks, turn, (jnp.int32(0), carry))[1]


def deliver_events(
    index: SpikeIndex | PooledSpikes, conn: Connectivity, weights: Array, batch: int, *, block: int = 16, pre_scale: Array | None = None
) -> Array:
    """Summed weights of the indexed spikes onto each postsynaptic neuron.

    Args:
        index: spikes of the presynaptic population over a batch of ``batch`` members.
        conn: the projection's connectivity (shared by the batch).
        weights: ``[batch]`` one weight per member, or ``[batch, n_synapses]`` per synapse.
        block: spikes processed per loop iteration (static).
        pre_scale: optional ``[batch, n_pre]`` factor on every synapse of a presynaptic neuron's spike
            (e.g. the short-term-plasticity efficacy ``u x``).
    Returns:
        ``[batch, n_post]`` increments (float32).
    """
    n_pre, n_post = conn.n_pre, conn.n_post
    per_synapse = weights.ndim == 2
    flat_weights = weights.reshape(-1)
    flat_scale = None if pre_scale is None else pre_scale.reshape(-1)

    # Padding entries (target n_post) are sent out of range and dropped by the scatter: pointing
    # them all at one dummy slot serialises the adds on that address (4x slower on CPU).
    out_of_range = jnp.int32(batch * n_post)

    def body(i, gid, acc):
        member, pre = members_and_rows(gid, n_pre, batch)
        local = conn.out_post[pre]  # [block, k]
        targets = jnp.where(local < n_post, local + (member * n_post)[:, None], out_of_range)
        if per_synapse:  # a (member, synapse) pair: no flat index that could pass 2**31 in large batches
            w = weights.at[member[:, None], conn.out_syn[pre]].get(mode="clip")
        else:
            w = jnp.broadcast_to(flat_weights[member][:, None], targets.shape)
        if flat_scale is not None:
            w = w * flat_scale.at[gid].get(mode="fill", fill_value=0.0)[:, None]
        return acc.at[targets.reshape(-1)].add(w.reshape(-1), mode="drop")

    acc = walk_spike_blocks(index, block, body, jnp.zeros((batch * n_post,), jnp.float32))
    return acc.reshape(batch, n_post)


def deliver_dense(spikes: Array, weight_matrix: Array | None, weights: Array) -> Array:
    """Dense propagation of ``[B, n_pre]`` spikes: through a shared ``[n_pre, n_post]`` 0/1 matrix
    scaled per member by ``weights`` ``[B]``, or through per-member matrices when ``weights`` is
    ``[B, n_pre, n_post]``. Returns ``[B, n_post]``."""
    if weights.ndim == 3:
        return jnp.einsum("bj,bjk->bk", spikes, weights)
    return (spikes @ weight_matrix) * weights[:, None]


class FusedProjections(eqx.Module):
    """Several event-driven projections with one weight per batch member each, stored as one ELL so
    that a single loop per step walks the spikes of all their presynaptic populations.

    Rows are presynaptic neurons of every source segment (a population at one delay, or a Poisson
    pool) laid end to end; targets are codes of a postsynaptic space with one segment per (receptor,
    population). Each entry also names its projection, whose weight it takes from a per-member table.

    out_code: ``[n_rows + 1, k]`` int32 target codes, padded with ``n_codes`` (last row all padding).
    out_projection: ``[n_rows + 1, k]`` int32 index into the weight table, padded with the table width.
    """

    n_rows: int = eqx.field(static=True)
    n_codes: int = eqx.field(static=True)
    out_code: Array
    out_projection: Array


def deliver_fused(index: SpikeIndex, fused: FusedProjections, weight_table: Array, batch: int, *, block: int = 16) -> Array:
    """Summed weights of the indexed spikes (over ``fused.n_rows`` presynaptic rows per member) onto
    each target code.

    Args:
        weight_table: ``[batch, n_projections]`` weight of each fused projection for each member.
    Returns:
        ``[batch, n_codes]`` increments (float32).
    """
    n_rows, n_codes = fused.n_rows, fused.n_codes
    n_projections = weight_table.shape[1]
    # one padding column holding zero, addressed by padding entries
    flat_table = jnp.pad(weight_table, ((0, 0), (0, 1))).reshape(-1)
    out_of_range = jnp.int32(batch * n_codes)

    def body(i, gid, acc):
        member, row = members_and_rows(gid, n_rows, batch)
        code = fused.out_code[row]  # [block, k]
        targets = jnp.where(code < n_codes, code + (member * n_codes)[:, None], out_of_range)
        w = flat_table[member[:, None] * (n_projections + 1) + fused.out_projection[row]]
        return acc.at[targets.reshape(-1)].add(w.reshape(-1), mode="drop")

    acc = walk_spike_blocks(index, block, body, jnp.zeros((batch * n_codes,), jnp.float32))
    return acc.reshape(batch, n_codes)


#: Scatter index of padding entries: out of range, so the scatter drops them.
_OUT_OF_RANGE = np.int32(2**31 - 1)


def transmit_and_update_pre(
    index: SpikeIndex | PooledSpikes, conn: Connectivity, weights: Array, batch: int, block: int, update=None,
) -> tuple[Array, Array]:
    """Transmit the indexed presynaptic spikes through per-member weights and apply on-pre updates.

    Each synapse of a spiking row transmits its current weight, then (with ``update``) takes
    ``update(member [b, 1], pre [b, 1], post [b, k], w [b, k]) -> new w``.

    Args:
        weights: ``[batch, n_synapses]`` per-member weights, or ``[batch]`` one static weight per member.
    Returns:
        (increments ``[batch, n_post]``, weights after the updates).
    """
    n_pre, n_post, n_syn = conn.n_pre, conn.n_post, conn.n_synapses
    per_synapse = weights.ndim == 2

    def body(i, gid, carry):
        acc, weights = carry
        member, pre = members_and_rows(gid, n_pre, batch)
        post = conn.out_post[pre]
        valid = post < n_post
        member2 = member[:, None]
        if per_synapse:
            # (member, synapse) pairs, padding sent past the last synapse: no flat index that could pass
            # 2**31 in large batches
            syn = jnp.where(valid, conn.out_syn[pre], n_syn)
            # materialised once: the scatter-add and the update would each recompute the gather
            syn, w = jax.lax.optimization_barrier((syn, weights.at[member2, syn].get(mode="fill", fill_value=0.0)))
        else:
            w = jnp.broadcast_to(weights[member2], post.shape)
        target = jnp.where(valid, member2 * n_post + post, _OUT_OF_RANGE)
        acc = acc.at[target.reshape(-1)].add(w.reshape(-1), mode="drop")
        if update is not None:
            new_w = update(member2, pre[:, None], jnp.minimum(post, n_post - 1), w)
            weights = weights.at[jnp.broadcast_to(member2, syn.shape), syn].set(new_w, mode="drop")
        return acc, weights

    acc, weights = walk_spike_blocks(index, block, body, (jnp.zeros((batch * n_post,), jnp.float32), weights))
    return acc.reshape(batch, n_post), weights


def update_post(index: SpikeIndex | PooledSpikes, conn: Connectivity, weights: Array, batch: int, block: int, update) -> Array:
    """On-post updates: for each indexed spike of the postsynaptic population, every synapse onto it
    takes ``update(member [b, 1], pre [b, k], post [b, 1], w [b, k]) -> new w``. ``weights``:
    ``[batch, n_synapses]``; returns the updated weights."""
    n_pre, n_post, n_syn = conn.n_pre, conn.n_post, conn.n_synapses

    def body(i, gid, weights):
        member, post = members_and_rows(gid, n_post, batch)
        pre = conn.in_pre[post]
        valid = pre < n_pre
        member2 = jnp.broadcast_to(member[:, None], pre.shape)
        syn = jnp.where(valid, conn.in_syn[post], n_syn)  # (member, synapse) pairs, padding past the end
        w = weights.at[member2, syn].get(mode="fill", fill_value=0.0)
        new_w = update(member[:, None], jnp.minimum(pre, n_pre - 1), post[:, None], w)
        return weights.at[member2, syn].set(new_w, mode="drop")

    return walk_spike_blocks(index, block, body, weights)
