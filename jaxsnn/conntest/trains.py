"""Spike trains on a time grid, stored ragged, and their ISI-shuffled surrogates.

A spike train is a sorted list of *step indices*: a spike in step ``k`` happened in the time bin
``[k·dt, (k+1)·dt)``. Many trains of different lengths are stored once, in compressed-row form
(:class:`SpikeTrains`), on the host. For jitted, vmapped work they are cut into blocks of trains
of similar length, padded to a common length (:func:`padded_blocks`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._validation import check_int


class SpikeTrains(NamedTuple):
    """Ragged collection of spike trains (host numpy arrays).

    Attributes:
        steps: int32 ``[n_spikes]`` spike step indices, train after train, each train ascending.
        offsets: int64 ``[n_trains + 1]``: train ``i`` is ``steps[offsets[i]:offsets[i+1]]``.
        n_steps: length of the recording the trains belong to (steps); every step is in
            ``[0, n_steps)``.
    """

    steps: np.ndarray
    offsets: np.ndarray
    n_steps: int

    @property
    def n_trains(self) -> int:
        return len(self.offsets) - 1

    @property
    def counts(self) -> np.ndarray:
        """int64 ``[n_trains]`` number of spikes of each train."""
        return np.diff(self.offsets)

    def train(self, i: int) -> np.ndarray:
        """The step indices of train ``i``."""
        return self.steps[self.offsets[i] : self.offsets[i + 1]]

    def select(self, indices: Sequence[int] | np.ndarray) -> "SpikeTrains":
        """The trains at ``indices`` (in that order, repeats allowed)."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= self.n_trains):
            raise ValueError(f"train indices must lie in [0, {self.n_trains}); got {indices.min()}..{indices.max()}")
        counts = self.counts[indices]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        starts = self.offsets[indices]
        # Gather every selected train's slice in one vectorised index computation.
        within = np.arange(offsets[-1]) - np.repeat(offsets[:-1], counts)
        steps = self.steps[np.repeat(starts, counts) + within]
        return SpikeTrains(steps, offsets, self.n_steps)

    @staticmethod
    def from_lists(trains: Sequence[Sequence[int]], n_steps: int) -> "SpikeTrains":
        """Build from a list of ascending step-index lists; raises if a train is unsorted or out of range."""
        n_steps = check_int("n_steps", n_steps, minimum=1)
        arrays = [np.asarray(t, dtype=np.int64).ravel() for t in trains]
        for i, t in enumerate(arrays):
            if t.size and (t.min() < 0 or t.max() >= n_steps):
                raise ValueError(f"train {i} has steps outside [0, {n_steps}): {t.min()}..{t.max()}")
            if np.any(np.diff(t) < 0):
                raise ValueError(f"train {i} is not sorted ascending")
        counts = np.array([t.size for t in arrays], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        steps = np.concatenate(arrays).astype(np.int32) if arrays else np.zeros(0, np.int32)
        return SpikeTrains(steps, offsets, n_steps)


def concatenate(parts: Sequence[SpikeTrains]) -> SpikeTrains:
    """All trains of ``parts`` in order, as one collection (all must share ``n_steps``)."""
    n_steps = {p.n_steps for p in parts}
    if len(n_steps) != 1:
        raise ValueError(f"cannot concatenate trains of different recording lengths {sorted(n_steps)}")
    steps = np.concatenate([p.steps for p in parts])
    counts = np.concatenate([p.counts for p in parts])
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return SpikeTrains(steps, offsets, n_steps.pop())


class PaddedBlock(NamedTuple):
    """A block of trains padded to one length, ready for a vmapped, jitted function.

    Attributes:
        indices: int64 ``[b]`` which trains of the collection these are.
        steps: int32 ``[b, length]`` step indices; entries past a train's count hold ``n_steps``.
        counts: int32 ``[b]`` number of real spikes per row.
    """

    indices: np.ndarray
    steps: np.ndarray
    counts: np.ndarray


def _bucket_length(n: int) -> int:
    """Round a length up to a power of two (at least 16), so that few distinct shapes get compiled."""
    return 1 << (max(int(n), 16) - 1).bit_length()


def _positions(trains: SpikeTrains, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the trains ``idx`` laid out as rows: (row, column, index into ``trains.steps``) of every spike."""
    c = trains.counts[idx]
    row = np.repeat(np.arange(len(idx)), c)
    col = np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c)
    src = np.repeat(trains.offsets[idx], c) + col
    return row, col, src


def padded_blocks(trains: SpikeTrains, block_size: int) -> Iterator[PaddedBlock]:
    """Cut ``trains`` into blocks of up to ``block_size`` trains of similar length.

    Trains are sorted by spike count so that each block holds similar lengths; lengths and block
    sizes are rounded up to powers of two to bound the number of compiled shapes. Rows past the
    block's trains are empty (count 0).
    """
    block_size = check_int("block_size", block_size, minimum=1)
    counts = trains.counts
    order = np.argsort(counts, kind="stable")
    for start in range(0, len(order), block_size):
        idx = order[start : start + block_size]
        rows = 1 << (len(idx) - 1).bit_length()
        length = _bucket_length(counts[idx].max())
        steps = np.full((rows, length), trains.n_steps, dtype=np.int32)
        row, col, src = _positions(trains, idx)
        steps[row, col] = trains.steps[src]
        block_counts = np.zeros(rows, np.int32)
        block_counts[: len(idx)] = counts[idx]
        yield PaddedBlock(idx, steps, block_counts)


def shuffle_isis(key: Array, steps: Array, count: Array) -> Array:
    """One ISI-shuffled surrogate of a padded train (pure, jittable, vmappable over keys and trains).

    The intervals are those of the reference: the first spike's step, then the differences between
    consecutive spikes. They are permuted at random and summed again, so the surrogate has the same
    number of spikes, the same interval distribution and the same last spike, and no relation to
    anything the real spikes caused.

    Args:
        key: PRNG key.
        steps: int32 ``[length]`` ascending step indices, padded past ``count`` with any value.
        count: int32 ``[]`` number of real spikes.
    Returns:
        int32 ``[length]`` surrogate step indices, ascending, padded past ``count`` with the
        original padding values.
    """
    length = steps.shape[0]
    valid = jnp.arange(length) < count
    isis = jnp.diff(steps, prepend=jnp.zeros((1,), steps.dtype))
    # Padding gets sort key 2 (> any uniform draw), so it stays at the end.
    order = jnp.argsort(jnp.where(valid, jax.random.uniform(key, (length,)), 2.0))
    shuffled = jnp.cumsum(jnp.where(valid, isis[order], 0))
    return jnp.where(valid, shuffled, steps).astype(steps.dtype)


def shuffled_trains(key: Array, trains: SpikeTrains, indices: Sequence[int] | np.ndarray) -> SpikeTrains:
    """ISI-shuffled copies of the trains at ``indices`` (one independent shuffle per entry).

    This is how the reference makes *unconnected* trains: real trains whose timing has been
    scrambled, so rates and interval statistics match the real inputs.
    """
    chosen = trains.select(indices)
    keys = jax.random.split(key, chosen.n_trains)
    out = chosen.steps.copy()
    shuffle_block = jax.jit(jax.vmap(shuffle_isis))
    for block in padded_blocks(chosen, 256):
        n = len(block.indices)
        # Empty padding rows need keys too; any fixed key will do, their output is discarded.
        block_keys = jnp.concatenate([keys[block.indices], jnp.repeat(keys[:1], block.steps.shape[0] - n, 0)])
        shuffled = np.asarray(shuffle_block(block_keys, jnp.asarray(block.steps), jnp.asarray(block.counts)))
        row, col, src = _positions(chosen, block.indices)
        out[src] = shuffled[row, col]
    return SpikeTrains(out, chosen.offsets, trains.n_steps)
