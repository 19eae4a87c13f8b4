"""Tuning GLM networks to target firing rates through the expected rate, as the reference does.

Each epoch simulates ``n_steps`` steps with detached spikes after a short equilibration, predicts the
rate from the non-linearity of the input (:func:`jaxsnn.glm.expected_rates`) and takes one optimizer step
on the squared error to the target. The epochs run as one compiled scan (:func:`jaxsnn.tune.tune`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from .._validation import check_int, check_positive
from ..tune import TuneResult, tune
from .models import GLMModel, ThresholdSAM
from .network import GLMNetwork
from .simulate import _check_run, expected_rates
from .stimulus import Stimulus


class GLMTuneResult(NamedTuple):
    """Output of :func:`tune_rate`: the tuned ``model`` and ``stimulus`` and the tuner's record
    (``history.aux_history`` is ``(predicted, realised)`` rates per epoch, Hz, ``[n_epochs(, n_groups)]``)."""

    model: GLMModel
    stimulus: Stimulus | tuple[Stimulus, ...] | None
    history: TuneResult


def tune_rate(
    model: GLMModel,
    network: GLMNetwork,
    target_rate: float | Array,
    key: Array,
    *,
    tunable: Sequence[str] | None = None,
    stimulus: Stimulus | tuple[Stimulus, ...] | None = None,
    groups: Array | None = None,
    n_epochs: int = 100,
    n_steps: int = 100,
    equilibration_steps: int = 10,
    learning_rate: float | optax.Schedule | None = 0.1,
    optimizer: optax.GradientTransformation | None = None,
    tolerance: float | None = None,
) -> GLMTuneResult:
    """Tune parameters so that the network fires at ``target_rate`` (Hz); defaults are the reference's.

    Args:
        model, network, stimulus: as for :func:`jaxsnn.glm.simulate`.
        target_rate: target (Hz): a scalar for the mean over all neurons, or ``[n_groups]`` with ``groups``.
        key: PRNG key (epoch ``i`` uses the ``i``-th of ``n_epochs`` keys split from it).
        tunable: names of the parameters to tune: model fields (default ``model.tunable``), ``"stimulus"``
            for every float parameter of the stimulus, or ``"stimulus.<field>"`` for a single stimulus.
        groups: ``[n_neurons]`` int group of each neuron (e.g. network of a disjoint union, or population);
            each group's mean rate is compared with its target.
        n_epochs, n_steps, equilibration_steps: epochs, recorded steps per epoch, unrecorded steps first.
            Each epoch starts from the model's random initial state (half the neurons spiking), which
            history models keep in their input for ``T`` steps, and a coupled network then relaxes for
            longer still: recorded too early, the predicted rate is biased and so is the tuned rate.
            On the reference tutorial's rings (``T = 200`` steps) the predicted rate at the tuned ``θ`` is
            5 % low after 10 equilibration steps, 3 % high after ``T``, and within noise of the true
            rate from ``2.5 T``; use several ``T``.
        learning_rate: of the default ``optax.adam`` (a float or a schedule); ignored when ``optimizer`` is
            given.
        tolerance: stop (freeze the parameters) once the squared error (Hz²) falls below it.

    Returns:
        :class:`GLMTuneResult`. ``ThresholdSAM`` cannot be tuned (its non-linearity has no derivative).
    """
    if isinstance(model, ThresholdSAM):
        raise ValueError("ThresholdSAM cannot be tuned by gradients: its threshold non-linearity has no "
                         "derivative (as in the reference); use RectifiedSAM for a tunable SAM")
    _check_run(model, network, stimulus, n_steps, equilibration_steps)
    check_positive("target_rate", target_rate, allow_zero=True)
    n_groups = _check_groups(groups, target_rate, network.n_neurons)
    check_int("n_epochs", n_epochs, minimum=1)
    filter_spec = _filter_spec(model, stimulus, model.tunable if tunable is None else tunable)
    if optimizer is not None:
        learning_rate = None
    return _tune_rate(model, network, stimulus, jnp.asarray(target_rate, jnp.float32), key,
                      None if groups is None else jnp.asarray(groups, jnp.int32), n_groups, filter_spec,
                      int(n_epochs), int(n_steps), int(equilibration_steps), learning_rate, optimizer, tolerance)


@eqx.filter_jit
def _tune_rate(model, network, stimulus, target_rate, key, groups, n_groups, filter_spec, n_epochs, n_steps,
               equilibration_steps, learning_rate, optimizer, tolerance) -> GLMTuneResult:
    def loss_fn(params, epoch_key):
        model_now, stimulus_now = params
        predicted, realised = expected_rates(model_now, network, n_steps, epoch_key, stimulus=stimulus_now,
                                             equilibration_steps=equilibration_steps)
        predicted, realised = _group_means(predicted, groups, n_groups), _group_means(realised, groups, n_groups)
        return jnp.mean((predicted - target_rate) ** 2), (predicted, realised)

    result = tune(loss_fn, (model, stimulus), n_iterations=n_epochs, key=key, optimizer=optimizer,
                  learning_rate=learning_rate, filter=filter_spec, tolerance=tolerance)
    tuned_model, tuned_stimulus = result.params
    return GLMTuneResult(model=tuned_model, stimulus=tuned_stimulus, history=result)


def _group_means(rates: Array, groups: Array | None, n_groups: int | None) -> Array:
    if groups is None:
        return jnp.mean(rates)
    sums = jax.ops.segment_sum(rates, groups, num_segments=n_groups)
    return sums / jax.ops.segment_sum(jnp.ones_like(rates), groups, num_segments=n_groups)


def _check_groups(groups, target_rate, n_neurons: int) -> int | None:
    if groups is None:
        if np.ndim(target_rate) != 0:
            raise ValueError("a target_rate per group needs groups= (the group of each neuron)")
        return None
    groups = np.asarray(groups)
    if groups.shape != (n_neurons,) or not np.issubdtype(groups.dtype, np.integer) or groups.min() < 0:
        raise ValueError(f"groups must be [n_neurons={n_neurons}] non-negative ints; got {groups.dtype} "
                         f"shape {list(groups.shape)}")
    n_groups = int(groups.max()) + 1
    if np.shape(target_rate) not in ((), (n_groups,)):
        raise ValueError(f"target_rate must be a scalar or [n_groups={n_groups}]; "
                         f"got shape {list(np.shape(target_rate))}")
    return n_groups


def _filter_spec(model: GLMModel, stimulus, names: Sequence[str]):
    """A pytree of bools over ``(model, stimulus)`` marking the parameters named in ``names``."""
    if isinstance(names, str):
        names = (names,)
    if not names:
        raise ValueError("tunable is empty; name at least one parameter to tune")
    spec = jax.tree.map(lambda _: False, (model, stimulus))
    model_fields = [f.name for f in dataclasses.fields(model) if eqx.is_inexact_array(getattr(model, f.name))]
    for name in names:
        if name == "stimulus":
            if stimulus is None:
                raise ValueError("'stimulus' is tunable only when a stimulus is given")
            spec = (spec[0], jax.tree.map(eqx.is_inexact_array, stimulus))
        elif name.startswith("stimulus."):
            field = name.removeprefix("stimulus.")
            if not isinstance(stimulus, Stimulus) or not eqx.is_inexact_array(getattr(stimulus, field, None)):
                raise ValueError(f"{name!r}: the stimulus has no float parameter {field!r} (field names work for a "
                                 "single stimulus; use 'stimulus' to tune every float parameter of several)")
            spec = eqx.tree_at(lambda s: getattr(s[1], field), spec, True)
        elif name in model_fields:
            spec = eqx.tree_at(lambda s: getattr(s[0], name), spec, True)
        else:
            raise ValueError(f"{type(model).__name__} has no tunable parameter {name!r}; choose from "
                             f"{model_fields} or 'stimulus', 'stimulus.<field>'")
    return spec
