"""Simulation of GLM networks, and the expected firing rate the reference tunes on.

A run starts from the model's random initial state, runs ``equilibration_steps`` unrecorded steps without
stimulus, then records ``n_steps`` steps of spike counts. Each step draws its random numbers from
``fold_in(key, step)``, so a run is reproducible from its key, and a network in a ``vmap`` batch draws the
same numbers as when run alone with the same key.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._validation import check_int, check_positive
from .models import MODELS, GLMModel
from .network import GLMNetwork
from .stimulus import Stimulus, external_input

#: Largest spike count per neuron and step that the uint8 record holds.
MAX_RECORDED_COUNT = 255


class GLMRecord(NamedTuple):
    """Output of :func:`simulate`.

    spikes: ``[n_neurons, n_steps]`` uint8 spike counts per step (the reference's layout).
    count_overflow: bool, some count exceeded 255 and was recorded as 255 (a warning sign: the model's
        expected counts are far above one per step).
    """

    spikes: Array
    count_overflow: Array


def firing_rates(spikes, dt: float) -> np.ndarray:
    """``[n_neurons]`` firing rates (Hz) of recorded counts ``[n_neurons, n_steps]`` with step ``dt`` (ms)."""
    check_positive("dt", dt)
    spikes = np.asarray(spikes, np.float64)
    return spikes.mean(axis=-1) * 1000.0 / dt


def _check_run(model: GLMModel, network: GLMNetwork, stimulus, n_steps: int, equilibration_steps: int):
    if not isinstance(model, GLMModel):
        raise ValueError(f"model must be a jaxsnn.glm model ({', '.join(MODELS)}); got {type(model).__name__}")
    if not isinstance(network, GLMNetwork):
        raise ValueError(f"network must be a GLMNetwork (see jaxsnn.glm.from_edges); got {type(network).__name__}")
    stimuli = () if stimulus is None else (stimulus,) if isinstance(stimulus, Stimulus) else tuple(stimulus)
    for s in stimuli:
        if not isinstance(s, Stimulus):
            raise ValueError(f"stimulus must be a jaxsnn.glm stimulus or a tuple of them; got {type(s).__name__}")
        if s.mask.shape[-1] != network.n_neurons:
            raise ValueError(f"{type(s).__name__}.mask covers {s.mask.shape[-1]} neurons; "
                             f"the network has {network.n_neurons}")
    check_int("n_steps", n_steps, minimum=1)
    check_int("equilibration_steps", equilibration_steps, minimum=0)


def _step_keys(key: Array, t: Array) -> tuple[Array, Array]:
    """Keys of step ``t``: one for the input (background noise), one for the spike draw."""
    key_drive, key_emit = jax.random.split(jax.random.fold_in(key, t))
    return key_drive, key_emit


def simulate(
    model: GLMModel,
    network: GLMNetwork,
    n_steps: int,
    key: Array,
    *,
    stimulus: Stimulus | tuple[Stimulus, ...] | None = None,
    equilibration_steps: int = 100,
    initial_state=None,
) -> GLMRecord:
    """Simulate ``network`` under ``model`` and record ``n_steps`` steps of spike counts.

    Args:
        model: a :mod:`jaxsnn.glm` model (its parameters may be traced, e.g. under ``vmap``).
        network: the edge list (:func:`jaxsnn.glm.from_edges`); a disjoint union runs a batch as one graph.
        n_steps: recorded steps (of ``model.dt`` ms each).
        key: PRNG key; the same key gives the same run.
        stimulus: external input ``E(t)`` (one stimulus or a tuple of them), ``t = 0`` the first recorded step.
        equilibration_steps: unrecorded steps without stimulus after the random initial state.
        initial_state: start from this state instead of ``model.init`` (e.g. to compare runs exactly).

    Returns:
        :class:`GLMRecord` with uint8 spike counts ``[n_neurons, n_steps]``.
    """
    _check_run(model, network, stimulus, n_steps, equilibration_steps)
    return _simulate(model, network, stimulus, key, initial_state, int(n_steps), int(equilibration_steps))


def _external(stimulus, t: Array, equilibration_steps: int, n_neurons: int) -> Array:
    """Stimulus at global step ``t``: off during equilibration, then at recorded step ``t - equilibration_steps``."""
    value = external_input(stimulus, t - equilibration_steps, n_neurons)
    return jnp.where(t >= equilibration_steps, value, 0.0)


@eqx.filter_jit
def _simulate(model, network, stimulus, key, initial_state, n_steps, equilibration_steps) -> GLMRecord:
    key_init, key_run = jax.random.split(key)
    network = model.prepare(network).materialise()
    state = model.init(key_init, network.n_neurons) if initial_state is None else initial_state

    # Equilibration and recording share one scan (one compiled step); the first steps are dropped.
    def step(carry, t):
        state, overflow = carry
        key_drive, key_emit = _step_keys(key_run, t)
        g = model.drive(network, state, _external(stimulus, t, equilibration_steps, network.n_neurons), key_drive)
        counts = model.emit(g, key_emit)
        overflow = overflow | ((t >= equilibration_steps) & jnp.any(counts > MAX_RECORDED_COUNT))
        recorded = jnp.minimum(counts, MAX_RECORDED_COUNT).astype(jnp.uint8)
        return (model.advance(state, counts), overflow), recorded

    steps = jnp.arange(equilibration_steps + n_steps)
    (_, overflow), spikes = jax.lax.scan(step, (state, jnp.array(False)), steps)
    return GLMRecord(spikes=spikes[equilibration_steps:].T, count_overflow=overflow)


def expected_rates(
    model: GLMModel,
    network: GLMNetwork,
    n_steps: int,
    key: Array,
    *,
    stimulus: Stimulus | tuple[Stimulus, ...] | None = None,
    equilibration_steps: int = 10,
) -> tuple[Array, Array]:
    """Predicted and realised rates of a short run, differentiable in the parameters as the reference tunes.

    The run's spikes are detached: the state carries no gradient, while the input ``g(t)`` of every step
    is a function of the model's and the stimulus's parameters. The predicted rate of a neuron is
    ``mean_t f(g(t)) * 1000 / dt`` (Hz), the mean expected count of each step given the past: an unbiased
    estimate of its firing rate whose gradient holds the past fixed.

    Returns:
        ``(predicted, realised)``, each ``[n_neurons]`` in Hz; ``predicted`` carries the gradient.
    """
    _check_run(model, network, stimulus, n_steps, equilibration_steps)
    equilibration_steps, n_steps = int(equilibration_steps), int(n_steps)
    key_init, key_run = jax.random.split(key)
    network = model.prepare(network).materialise()
    n = network.n_neurons
    fixed_model = jax.lax.stop_gradient(model)

    def step(carry, t):
        state, expected_sum, count_sum = carry
        key_drive, key_emit = _step_keys(key_run, t)
        g = model.drive(network, state, _external(stimulus, t, equilibration_steps, n), key_drive)
        counts = fixed_model.emit(jax.lax.stop_gradient(g), key_emit)
        recording = t >= equilibration_steps
        expected_sum = expected_sum + jnp.where(recording, model.expected_count(g), 0.0)
        count_sum = count_sum + jnp.where(recording, counts, 0.0)
        return (fixed_model.advance(state, counts), expected_sum, count_sum), None

    zeros = jnp.zeros((n,), jnp.float32)
    init = (fixed_model.init(key_init, n), zeros, zeros)
    (_, expected_sum, count_sum), _ = jax.lax.scan(step, init, jnp.arange(equilibration_steps + n_steps))
    return model.rate_hz(expected_sum / n_steps), fixed_model.rate_hz(count_sum / n_steps)
