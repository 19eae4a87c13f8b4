"""Neurons that spike at given steps (like Brian2's SpikeGeneratorGroup): inputs to a network, and
controlled pre/post spike pairs for measuring plasticity windows."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .base import NeuronInput, NeuronModel


class ScheduledState(NamedTuple):
    """``step``: ``[n]`` int32 index of the next step (the same for every neuron)."""

    step: Array


class ScheduledSpikes(NeuronModel):
    """Neuron ``i`` spikes in the steps listed in row ``i`` of ``steps`` and at no other time; its inputs
    are ignored. ``steps``: ``[n, k]`` int32 step indices, padded with -1 (:meth:`from_lists`)."""

    steps: Array

    @staticmethod
    def from_lists(steps: list[list[int]] | list[Any]) -> "ScheduledSpikes":
        """From one list of spike steps per neuron (lists of different lengths)."""
        width = max([len(s) for s in steps] + [1])
        table = np.full((len(steps), width), -1, np.int32)
        for i, s in enumerate(steps):
            s = np.asarray(s, np.int64)
            if s.size and s.min() < 0:
                raise ValueError(f"ScheduledSpikes: spike steps must be >= 0; neuron {i} has {s.min()}")
            table[i, : s.size] = s
        return ScheduledSpikes(jnp.asarray(table))

    def init(self, n: int) -> ScheduledState:
        if n != self.steps.shape[-2]:
            raise ValueError(f"ScheduledSpikes has spike lists for {self.steps.shape[-2]} neurons; the population has {n}")
        return ScheduledState(jnp.zeros((n,), jnp.int32))

    def step(self, state: ScheduledState, inputs: NeuronInput, dt: float) -> tuple[ScheduledState, Array]:
        spikes = jnp.any(self.steps == state.step[:, None], axis=-1).astype(jnp.float32)
        return ScheduledState(state.step + 1), spikes
