"""Spike functions with surrogate gradients, for gradient-based training and tuning of spiking models.

A deterministic spike function maps ``x = v - threshold`` (any float array) to spikes 0.0/1.0 of the same
shape: ``spike_fn(x) = H(x)``, the Heaviside step (``1`` where ``x > 0``). Its true derivative is zero
almost everywhere, so gradients of anything downstream of spikes vanish. A surrogate spike function
keeps the exact Heaviside in the forward pass and replaces its derivative in the backward (and forward-
mode) pass by a smooth bump ``σ'(x)``: the derivative of a smooth step ``σ`` of width ``1 / scale``.

Every surrogate here integrates to one, ``∫ σ'(x) dx = 1`` (it is the derivative of a step from 0 to 1),
so the scales of the different shapes are comparable and ``scale`` has the unit ``1 / [x]`` (``1/V``
when ``x`` is a membrane potential in volts). The instances are frozen dataclasses, hashable and equal by
value, so they can be the ``spike_fn`` static field of the neuron models in :mod:`jaxsnn.neurons`::

    model = jaxsnn.LIF(spike_fn=FastSigmoid(scale=1e3))   # surrogate width 1 mV

Shapes (surrogate derivative ``σ'(x)``; its peak ``σ'(0)``):

- :class:`FastSigmoid` (SuperSpike): ``scale / (2 (1 + scale |x|)^2)``; peak ``scale / 2``.
- :class:`Sigmoid`: ``scale s (1 - s)`` with ``s = sigmoid(scale x)``; peak ``scale / 4``.
- :class:`Triangle`: ``scale max(0, 1 - scale |x|)``; peak ``scale``.
- :class:`Arctan`: ``scale / (2 (1 + (π scale x / 2)^2))``; peak ``scale / 2``.

:class:`EscapeNoise` is the stochastic alternative (escape noise, a soft threshold): a neuron spikes with
probability ``p = sigmoid(scale x)`` in the step, and the gradient is passed straight through the
Bernoulli draw as ``dp/dx`` (straight-through estimator). It needs one uniform number per neuron, so it is
called as ``escape(x, u)`` with ``u ~ U[0, 1)`` drawn by the caller from its own key; a step function
that owns a key draws ``u = jax.random.uniform(key, x.shape)`` and calls it.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array

from ._validation import check_positive


def _validated_scale(owner: object, scale: float) -> None:
    """Store ``scale`` as a Python float (so the instance stays hashable) after checking it is > 0."""
    if isinstance(scale, jax.core.Tracer) or getattr(scale, "ndim", 0) != 0:
        raise ValueError(
            f"{type(owner).__name__}.scale must be a Python number (the spike function is a static, "
            f"hashable configuration); got {type(scale).__name__}"
        )
    check_positive(f"{type(owner).__name__}.scale", scale)
    object.__setattr__(owner, "scale", float(scale))


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _heaviside_with_surrogate(surrogate: "Surrogate", x: Array) -> Array:
    return (x > 0).astype(_spike_dtype(x))


@_heaviside_with_surrogate.defjvp
def _heaviside_with_surrogate_jvp(surrogate: "Surrogate", primals, tangents):
    (x,), (x_dot,) = primals, tangents
    spikes = _heaviside_with_surrogate(surrogate, x)
    return spikes, surrogate.derivative(x).astype(spikes.dtype) * x_dot


def _spike_dtype(x: Array):
    """Spikes take the float dtype of ``x`` (float32 by default; float64 when validating in x64)."""
    dtype = jnp.result_type(x)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.float32


@dataclasses.dataclass(frozen=True)
class Surrogate:
    """Base of the deterministic surrogate spike functions: Heaviside forward, ``derivative`` backward.

    Call with ``x = v - threshold`` (any shape); returns spikes 0.0/1.0 of the same shape and float dtype.
    Subclasses define ``derivative(x)``, the surrogate ``dH/dx`` (unit ``1 / [x]``).
    """

    scale: float = 1e3

    def __post_init__(self):
        _validated_scale(self, self.scale)

    def __call__(self, x: Array) -> Array:
        return _heaviside_with_surrogate(self, jnp.asarray(x))

    def derivative(self, x: Array) -> Array:  # pragma: no cover - interface
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """SuperSpike surrogate (Zenke & Ganguli 2018): ``σ'(x) = scale / (2 (1 + scale |x|)^2)``.

    ``scale``: inverse width (``1 / [x]``; default ``1e3 /V``, a width of 1 mV for potentials in volts).
    """

    def derivative(self, x: Array) -> Array:
        return 0.5 * self.scale / (1.0 + self.scale * jnp.abs(x)) ** 2


@dataclasses.dataclass(frozen=True)
class Sigmoid(Surrogate):
    """Logistic surrogate: ``σ'(x) = scale s (1 - s)`` with ``s = sigmoid(scale x)``.

    ``scale``: inverse width (``1 / [x]``; default ``1e3 /V``).
    """

    def derivative(self, x: Array) -> Array:
        s = jax.nn.sigmoid(self.scale * x)
        return self.scale * s * (1.0 - s)


@dataclasses.dataclass(frozen=True)
class Triangle(Surrogate):
    """Piecewise-linear (triangle) surrogate (Bellec et al. 2018): ``σ'(x) = scale max(0, 1 - scale |x|)``.

    Zero outside ``|x| < 1 / scale``, so neurons far from threshold get no gradient at all.
    ``scale``: inverse half-width (``1 / [x]``; default ``1e3 /V``).
    """

    def derivative(self, x: Array) -> Array:
        return self.scale * jnp.maximum(0.0, 1.0 - self.scale * jnp.abs(x))


@dataclasses.dataclass(frozen=True)
class Arctan(Surrogate):
    """Arctangent surrogate (Fang et al. 2021): ``σ'(x) = scale / (2 (1 + (π scale x / 2)^2))``.

    Heavy tails (``~ 1/x^2``) like :class:`FastSigmoid`. ``scale``: inverse width (``1 / [x]``; default
    ``1e3 /V``).
    """

    def derivative(self, x: Array) -> Array:
        return 0.5 * self.scale / (1.0 + (0.5 * jnp.pi * self.scale * x) ** 2)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _escape_spike(escape: "EscapeNoise", x: Array, u: Array) -> Array:
    return (u < escape.probability(x)).astype(_spike_dtype(x))


@_escape_spike.defjvp
def _escape_spike_jvp(escape: "EscapeNoise", primals, tangents):
    # Straight-through: the Bernoulli draw forward, the derivative of its probability backward.
    (x, u), (x_dot, _) = primals, tangents
    p = escape.probability(x)
    spikes = (u < p).astype(_spike_dtype(x))
    return spikes, (escape.scale * p * (1.0 - p)).astype(spikes.dtype) * x_dot


@dataclasses.dataclass(frozen=True)
class EscapeNoise:
    """Stochastic threshold: spike with probability ``p = sigmoid(scale x)``, straight-through gradient.

    ``escape(x, u)`` with ``x = v - threshold`` and ``u`` uniform on [0, 1) of the same shape returns
    ``1.0`` where ``u < p`` else ``0.0``; its gradient with respect to ``x`` is ``dp/dx =
    scale p (1 - p)`` (the spikes' expectation's gradient; unbiased for the mean spike count of one step).
    No gradient flows to ``u``. ``scale``: inverse width of the soft threshold (``1 / [x]``; default
    ``1e3 /V``, so ``p`` goes from 12 % to 88 % over 4 mV).
    """

    scale: float = 1e3

    def __post_init__(self):
        _validated_scale(self, self.scale)

    def probability(self, x: Array) -> Array:
        """Spike probability in the step, ``sigmoid(scale x)``, same shape as ``x``."""
        return jax.nn.sigmoid(self.scale * jnp.asarray(x))

    def __call__(self, x: Array, u: Array) -> Array:
        x = jnp.asarray(x)
        return _escape_spike(self, x, jnp.asarray(u, dtype=_spike_dtype(x)))

    def sample(self, key: Array, x: Array) -> Array:
        """Draw the uniforms from ``key`` and spike: ``self(x, uniform(key, x.shape))``."""
        x = jnp.asarray(x)
        return self(x, jax.random.uniform(key, x.shape, dtype=_spike_dtype(x)))


__all__ = ["Surrogate", "FastSigmoid", "Sigmoid", "Triangle", "Arctan", "EscapeNoise"]
