"""External inputs ``E_i(t)`` of GLM networks: functions of the recorded time step ``t`` (an int32 scalar).

Every stimulus is an Equinox module called as ``stimulus(t) -> [n_neurons]`` float32 input (the units of
``g``), zero outside its boolean ``mask`` of target neurons. Its float fields are tunable parameters (pass
them to :func:`jaxsnn.glm.tune_rate` as ``"stimulus.<field>"`` or filter them for :func:`jaxsnn.tune.tune`);
integer timing fields are static. For a batch run as one disjoint graph the mask spans all its neurons;
for a ``vmap`` over networks, stack stimuli leaf by leaf (``jax.tree.map(lambda *a: jnp.stack(a), *stims)``).
Several stimuli act together when passed as a tuple. Step ``t = 0`` is the first recorded step;
stimuli are off during equilibration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PyTree

from .._validation import check_int, check_positive
from ._arrays import read_array
from ..neurons.base import as_float


def _as_mask(mask) -> Array:
    mask = np.asarray(mask)
    if mask.ndim != 1 or mask.dtype != bool:
        raise ValueError(f"mask must be a 1-d boolean array over the neurons; got {mask.dtype} "
                         f"shape {list(mask.shape)}")
    return jnp.asarray(mask)


class Stimulus(eqx.Module):
    """Base of the stimuli: ``mask`` ``[n_neurons]`` bool of target neurons; ``__call__(t) -> [n_neurons]``."""

    mask: eqx.AbstractVar[Array]

    def value(self, t: Array) -> Array:  # pragma: no cover - interface
        """Input at step ``t`` to a target neuron: a scalar, or ``[n_neurons]``."""
        raise NotImplementedError

    def __call__(self, t: Array) -> Array:
        return jnp.where(self.mask, self.value(t), 0.0).astype(jnp.float32)


class RegularStimulus(Stimulus):
    """Pulses of ``strength`` lasting ``tau`` steps every ``period`` steps, from step ``start`` to ``stop``.

    On at step ``t`` when ``start <= t < stop`` and ``(t - start) mod period < tau``.
    ``strength`` (input units) is tunable; ``period``, ``tau``, ``start``, ``stop`` are steps (``stop=None``:
    never stops).
    """

    strength: Array = eqx.field(converter=as_float)
    mask: Array = eqx.field(converter=_as_mask)
    period: int = eqx.field(static=True)
    tau: int = eqx.field(static=True)
    start: int = eqx.field(default=0, static=True)
    stop: int | None = eqx.field(default=None, static=True)

    def __check_init__(self):
        check_int("RegularStimulus.period", self.period, minimum=1)
        check_int("RegularStimulus.tau", self.tau, minimum=0)
        check_int("RegularStimulus.start", self.start, minimum=0)
        if self.stop is not None:
            check_int("RegularStimulus.stop", self.stop, minimum=self.start)

    def value(self, t: Array) -> Array:
        on = (t >= self.start) & ((t - self.start) % self.period < self.tau)
        if self.stop is not None:
            on = on & (t < self.stop)
        return self.strength * on


class PoissonStimulus(Stimulus):
    """Pulses of ``strength`` lasting ``tau`` steps at random onsets with exponential intervals.

    The first pulse starts at ``start``; later onsets follow at intervals drawn from an exponential
    distribution of mean ``mean_interval`` steps (rounded down to whole steps), up to ``n_steps``. The plan is
    drawn once, from ``key``, at construction; ``active`` ``[n_steps]`` bool says whether a pulse is on at
    each step (so plans of equal length stack for ``vmap``). ``strength`` is tunable.
    """

    strength: Array
    mask: Array
    active: Array

    def __init__(self, strength, mask, *, mean_interval: float, tau: int, n_steps: int, key: Array, start: int = 0):
        check_positive("PoissonStimulus.mean_interval", mean_interval)
        tau = check_int("PoissonStimulus.tau", tau, minimum=0)
        n_steps = check_int("PoissonStimulus.n_steps", n_steps, minimum=1)
        start = check_int("PoissonStimulus.start", start, minimum=0)
        onsets = [float(start)]
        while onsets[-1] < n_steps:  # draw intervals until the plan passes the end
            key, sub = jax.random.split(key)
            draws = np.asarray(jax.random.exponential(sub, (max(16, int(n_steps / mean_interval)),)))
            onsets.extend(onsets[-1] + np.cumsum(draws * mean_interval))
        onset_steps = np.floor(np.asarray(onsets)).astype(np.int64)
        onset_steps = onset_steps[onset_steps < n_steps]
        active = np.zeros(n_steps, bool)
        for onset in onset_steps:
            active[onset : onset + tau] = True
        self.strength = as_float(strength)
        self.mask = _as_mask(mask)
        self.active = jnp.asarray(active)

    def value(self, t: Array) -> Array:
        n_steps = self.active.shape[-1]
        on = (t < n_steps) & self.active[jnp.clip(t, 0, n_steps - 1)]
        return self.strength * on


class SinStimulus(Stimulus):
    """``amplitude sin(2π (t - start) dt / period + phase) + baseline`` for ``start <= t < stop``, else 0.

    ``dt`` and ``period`` in ms (``dt`` must be the model's), ``phase`` in radians, ``amplitude`` and
    ``baseline`` in input units; ``start``/``stop`` in steps (``stop=None``: never stops). Tunable:
    amplitude, period, phase, baseline.
    """

    amplitude: Array = eqx.field(converter=as_float)
    period: Array = eqx.field(converter=as_float)
    mask: Array = eqx.field(converter=_as_mask)
    dt: float = eqx.field(static=True)
    phase: Array = eqx.field(default=0.0, converter=as_float)
    baseline: Array = eqx.field(default=0.0, converter=as_float)
    start: int = eqx.field(default=0, static=True)
    stop: int | None = eqx.field(default=None, static=True)

    def __check_init__(self):
        check_positive("SinStimulus.period", self.period)
        check_positive("SinStimulus.dt", self.dt)
        check_int("SinStimulus.start", self.start, minimum=0)
        if self.stop is not None:
            check_int("SinStimulus.stop", self.stop, minimum=self.start)

    def value(self, t: Array) -> Array:
        elapsed_ms = (t - self.start) * self.dt
        wave = self.amplitude * jnp.sin(2 * jnp.pi * elapsed_ms / self.period + self.phase) + self.baseline
        on = t >= self.start
        if self.stop is not None:
            on = on & (t < self.stop)
        return wave * on


class LoadedStimulus(Stimulus):
    """A given input ``values[:, t]`` ``[n_neurons, n_steps]`` (zero after ``n_steps``). ``values`` is a float
    array, so it can be tuned too. Build from a file with :func:`load_stimulus`."""

    values: Array = eqx.field(converter=as_float)
    mask: Array = eqx.field(converter=_as_mask)

    def __check_init__(self):
        if self.values.ndim != 2 or self.values.shape[0] != self.mask.shape[0]:
            raise ValueError(f"LoadedStimulus.values must be [n_neurons={self.mask.shape[0]}, n_steps]; "
                             f"got {list(self.values.shape)}")

    def value(self, t: Array) -> Array:
        n_steps = self.values.shape[1]
        return jnp.where(t < n_steps, self.values[:, jnp.clip(t, 0, n_steps - 1)], 0.0)


def load_stimulus(path: str, *, key: str | None = None, mask=None) -> LoadedStimulus:
    """Stimulus from a ``.npy`` (or array ``key`` of a ``.npz``) file of shape ``[n_neurons, n_steps]`` or
    ``[n_neurons, n_steps, n_networks]``; the latter is laid out network after network, matching
    :func:`jaxsnn.glm.disjoint_union` of the networks. ``mask`` defaults to every neuron."""
    data = read_array(path, key)
    data = np.asarray(data, np.float32)
    if data.ndim == 3:
        data = np.concatenate([data[:, :, k] for k in range(data.shape[2])], axis=0)
    if data.ndim != 2:
        raise ValueError(f"{path}: a stimulus must be [n_neurons, n_steps(, n_networks)]; got {list(data.shape)}")
    return LoadedStimulus(values=data, mask=np.ones(data.shape[0], bool) if mask is None else mask)


class FunctionStimulus(Stimulus):
    """Any function of the step: ``fn(t, params) -> scalar or [n_neurons]`` (``fn`` static, jax-traceable).

    ``params`` is a pytree of (tunable) arrays handed to ``fn``; e.g.
    ``FunctionStimulus(lambda t, p: p["a"] * jnp.exp(-t / p["k"]), {"a": 1.0, "k": 50.0}, mask)``.
    """

    fn: Callable[[Array, PyTree], Array] = eqx.field(static=True)
    params: Any
    mask: Array = eqx.field(converter=_as_mask)

    def __init__(self, fn: Callable[[Array, PyTree], Array], params: PyTree, mask):
        self.fn = fn
        self.params = jax.tree.map(as_float, params)
        self.mask = _as_mask(mask)

    def value(self, t: Array) -> Array:
        return self.fn(t, self.params)


def external_input(stimulus: Stimulus | tuple[Stimulus, ...] | None, t: Array, n_neurons: int) -> Array:
    """``[n_neurons]`` total input of ``stimulus`` (one, a tuple summed, or ``None``) at step ``t``."""
    if stimulus is None:
        return jnp.zeros((n_neurons,), jnp.float32)
    if isinstance(stimulus, Stimulus):
        return stimulus(t)
    return sum((s(t) for s in stimulus), jnp.zeros((n_neurons,), jnp.float32))
