"""What every neuron model shares: its input bundle, its spike function and its interface.

A neuron model is an Equinox module whose array fields are its parameters (SI units, documented per
model). It is a pytree, so a batch of models with different parameters is the same module with a
leading batch axis on its leaves, and it can be jitted, vmapped and differentiated.

Each model provides two pure methods, written for one population of ``n`` neurons:

- ``init(n) -> state``: the initial state, a NamedTuple of ``[n]`` arrays.
- ``step(state, inputs, dt) -> (state, spikes)``: advance one time step of ``dt`` seconds.
  ``spikes`` is float32 ``[n]`` with values 0 or 1 (float so a surrogate spike function can carry a
  gradient).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array


class NeuronInput(NamedTuple):
    """What arrives at a population in one time step.

    Attributes:
        exc: ``[n]`` increments of the excitatory synaptic variable from spikes arriving this step.
        inh: ``[n]`` increments of the inhibitory synaptic variable (positive numbers).
        current: ``[n]`` external drive held constant over the step.
    The unit of each field is the model's own (a conductance in units of the leak conductance, a
    conductance in siemens, a current in amperes, a drive in volts); each model's docstring says which.
    """

    exc: Array
    inh: Array
    current: Array

    @staticmethod
    def zeros(n: int, dtype: Any = jnp.float32) -> "NeuronInput":
        """An input of ``n`` zeros in every field."""
        z = jnp.zeros((n,), dtype)
        return NeuronInput(z, z, z)


def heaviside(x: Array) -> Array:
    """The exact spike function: 1.0 where ``x > 0`` else 0.0 (float32, zero gradient)."""
    return (x > 0).astype(jnp.float32)


SpikeFunction = Callable[[Array], Array]


class NeuronModel(eqx.Module):
    """Interface of a neuron model; see the module docstring."""

    def init(self, n: int) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def step(self, state: Any, inputs: NeuronInput, dt: float) -> tuple[Any, Array]:  # pragma: no cover
        raise NotImplementedError


def decay_factor(dt: float, tau: Array) -> Array:
    """exp(-dt / tau): the factor by which an exponential trace of time constant ``tau`` (s) decays in ``dt``."""
    return jnp.exp(-dt / tau)


def as_float(x: Any) -> Array:
    """Parameter leaves are stored as float32 arrays so a batch can stack them."""
    return jnp.asarray(x, dtype=jnp.float32)
