"""Run a per-train function over all trains, a padded block at a time."""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np

from .trains import SpikeTrains, padded_blocks


def map_trains(block_fn: Callable, trains: SpikeTrains, block_size: int, *args) -> tuple[np.ndarray, ...]:
    """Apply ``block_fn(*args, steps, counts, indices)`` to padded blocks and reassemble per train.

    ``block_fn`` is jitted and vmapped over a block's rows; it returns a tuple of arrays with the
    block's rows on the leading axis. Results come back in the trains' order, as host arrays.
    """
    outputs: list[np.ndarray] | None = None
    for block in padded_blocks(trains, block_size):
        rows = len(block.indices)
        padded_indices = np.zeros(block.steps.shape[0], np.int32)
        padded_indices[:rows] = block.indices
        result = jax.device_get(block_fn(*args, block.steps, block.counts, padded_indices))
        if outputs is None:
            outputs = [np.empty((trains.n_trains,) + r.shape[1:], r.dtype) for r in result]
        for out, r in zip(outputs, result):
            out[block.indices] = r[:rows]
    if outputs is None:
        raise ValueError("no trains to test")
    return tuple(outputs)
