"""Tasks and stimuli of rate networks: oculomotor delayed response (ODR), dual task, serial bias,
and bump decoding by Fourier moments.

Stimuli are :class:`~jaxsnn.rate.network.InputSchedule` s (onset/offset steps and one input pattern
per stimulus), computed on the fly inside the time loop, so a batch of trials never materialises a
``[steps, neurons]`` input. Patterns address the first (``target``) population unless stated; angles
are in radians on the ring ``theta_i = 2 pi i / n``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array

from .._validation import check_choice, check_int, check_positive
from .network import InputSchedule, RateNetwork


def wrap_angle(x: Array) -> Array:
    """Angle wrapped to [-pi, pi)."""
    return (x + jnp.pi) % (2.0 * jnp.pi) - jnp.pi


def ring(n: int) -> Array:
    """``[n]`` angles ``2 pi i / n``."""
    return 2.0 * jnp.pi * jnp.arange(n, dtype=jnp.float32) / n


def cosine_bump(n: int, phase: Array, strength: Array, footprint: Array) -> Array:
    """``strength relu(1 + footprint cos(theta - phase)) / (1 + footprint)``; ``phase`` may be ``[B]``
    (then the result is ``[B, n]``)."""
    phase = jnp.asarray(phase, jnp.float32)[..., None]
    return strength * jnp.maximum(1.0 + footprint * jnp.cos(ring(n) - phase), 0.0) / (1.0 + footprint)


def gaussian_bump(n: int, phase: Array, strength: Array, width: Array) -> Array:
    """Wrapped Gaussian ``strength exp(-wrap(theta - phase)^2 / (2 width^2))`` (width in rad)."""
    phase = jnp.asarray(phase, jnp.float32)[..., None]
    return strength * jnp.exp(-0.5 * (wrap_angle(ring(n) - phase) / width) ** 2)


def decode_bump(rates: Array) -> tuple[Array, Array, Array]:
    """Fourier moments of activity on a ring along the last axis.

    Returns ``(m0, m1, phase)``: the mean, the first-mode amplitude ``2 |F1| / n`` with
    ``F1 = sum_k r_k e^{i theta_k}``, and the bump's location ``arg F1`` in (-pi, pi] (NeuroFlame uses
    ``e^{-i theta}``, whose argument is minus the location).
    """
    theta = ring(rates.shape[-1])
    c = jnp.tensordot(rates, jnp.cos(theta), axes=1)
    s = jnp.tensordot(rates, jnp.sin(theta), axes=1)
    return jnp.mean(rates, axis=-1), 2.0 * jnp.hypot(c, s) / rates.shape[-1], jnp.arctan2(s, c)


def _embed(net: RateNetwork, pattern: Array, target: int) -> Array:
    """Place ``[..., n_target]`` patterns into ``[..., N]`` (zeros elsewhere)."""
    start = net.offsets[target]
    pad = [(0, 0)] * (pattern.ndim - 1) + [(start, net.n - start - net.sizes[target])]
    return jnp.pad(pattern, pad)


class ODRTrials(NamedTuple):
    """A batch of oculomotor delayed-response trials.

    schedule: batched :class:`InputSchedule` (one stimulus per trial); phase: ``[B]`` cue angle (rad);
    stim_off: ``[B]`` step at which the cue ends; readout: ``[B]`` step at the end of each delay.
    """

    schedule: InputSchedule
    phase: Array
    stim_off: Array
    readout: Array


def odr_trials(
    key: Array,
    net: RateNetwork,
    n_trials: int,
    *,
    strength: float,
    footprint: float,
    stim_duration: float,
    delay: tuple[float, float],
    iti: tuple[float, float] = (0.0, 0.0),
    shape: str = "cosine",
    phase: Array | None = None,
    target: int = 0,
) -> ODRTrials:
    """Random ODR trials: a bump cue after a random inter-trial interval, then a random delay.

    Args:
        key: JAX key (phases, delays, intervals).
        net: the network (for sizes and dt).
        strength, footprint: cue amplitude and tuning (``cosine``: footprint sigma; ``gaussian``:
            width in rad).
        stim_duration: cue duration (s).
        delay, iti: ``(min, max)`` of the uniformly drawn delay and inter-trial interval (s), drawn in
            whole steps.
        shape: "cosine" or "gaussian".
        phase: ``[n_trials]`` fixed cue angles; random uniform on [0, 2 pi) if None.
        target: population receiving the cue.
    """
    n_trials = check_int("n_trials", n_trials, minimum=1)
    check_choice("shape", shape, ("cosine", "gaussian"))
    check_positive("stim_duration", stim_duration)
    for name, (lo, hi) in (("delay", delay), ("iti", iti)):
        if not 0 <= lo <= hi:
            raise ValueError(f"{name} must be (min, max) with 0 <= min <= max; got {(lo, hi)}")
    k_phase, k_delay, k_iti = jax.random.split(key, 3)
    if phase is None:
        phase = jax.random.uniform(k_phase, (n_trials,), minval=0.0, maxval=2.0 * jnp.pi)
    phase = jnp.broadcast_to(jnp.asarray(phase, jnp.float32), (n_trials,))
    steps = lambda t: int(round(t / net.dt))
    onset = jax.random.randint(k_iti, (n_trials,), steps(iti[0]), steps(iti[1]) + 1)
    stim_off = onset + steps(stim_duration)
    readout = stim_off + jax.random.randint(k_delay, (n_trials,), steps(delay[0]), steps(delay[1]) + 1)
    n_target = net.sizes[target]
    bump = cosine_bump(n_target, phase, strength, footprint) if shape == "cosine" else gaussian_bump(n_target, phase, strength, footprint)
    schedule = InputSchedule(onset[:, None].astype(jnp.int32), stim_off[:, None].astype(jnp.int32), _embed(net, bump, target)[:, None, :])
    return ODRTrials(schedule, phase, stim_off, readout)


def serial_bias_schedule(
    net: RateNetwork,
    first_phase: Array,
    second_phase: Array,
    *,
    strength: float,
    footprint: float,
    reset_strength: float,
    times: tuple[float, float, float, float, float, float],
    target: int = 0,
) -> InputSchedule:
    """Two cosine-bump trials separated by a global negative reset input (batched over phases ``[B]``).

    ``times = (on1, off1, reset_on, reset_off, on2, off2)`` in s; the reset adds ``-reset_strength``
    to every neuron of ``target`` population.
    """
    first_phase = jnp.atleast_1d(jnp.asarray(first_phase, jnp.float32))
    second_phase = jnp.broadcast_to(jnp.asarray(second_phase, jnp.float32), first_phase.shape)
    n_target = net.sizes[target]
    batch = first_phase.shape[0]
    reset = jnp.full((batch, n_target), -reset_strength, jnp.float32)
    patterns = jnp.stack(
        [cosine_bump(n_target, first_phase, strength, footprint), reset, cosine_bump(n_target, second_phase, strength, footprint)], axis=1
    )
    on1, off1, r_on, r_off, on2, off2 = times
    onset = jnp.broadcast_to(jnp.asarray([on1, r_on, on2], jnp.float32), (batch, 3))
    offset = jnp.broadcast_to(jnp.asarray([off1, r_off, off2], jnp.float32), (batch, 3))
    return InputSchedule.from_times(onset, offset, _embed(net, patterns, target), net.dt)


def random_patterns(key: Array, n_patterns: int, n: int) -> Array:
    """``[n_patterns, n]`` i.i.d. standard normal input patterns (odors of the dual task)."""
    return jax.random.normal(key, (n_patterns, n), jnp.float32)


class DualTrials(NamedTuple):
    """A batch of dual-task trials (delayed paired association + go/no-go distractor).

    schedule: batched :class:`InputSchedule` (sample, distractor, test); sample, distractor, test:
    ``[B]`` int (0/1) identities; dpa_label: ``[B]`` 1.0 for a paired sample/test (A-C or B-D);
    gng_label: ``[B]`` 1.0 for a go distractor; gng_window, dpa_window: ``(start, stop)`` steps of
    the epochs in which each task is read out.
    """

    schedule: InputSchedule
    sample: Array
    distractor: Array
    test: Array
    dpa_label: Array
    gng_label: Array
    gng_window: tuple[int, int]
    dpa_window: tuple[int, int]


def dual_task_trials(
    key: Array,
    net: RateNetwork,
    n_trials: int,
    patterns: Array,
    *,
    strength: float,
    times: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0, 3.5, 4.5),
    target: int = 0,
) -> DualTrials:
    """Random dual-task trials with the 6 ``patterns [6, n_target]`` = (A, B, C, D, Go, NoGo).

    ``times = (sample_on, sample_off, distractor_on, distractor_off, test_on, test_off, end)`` in s;
    the go/no-go answer is read between the distractor's offset and the test's onset, the DPA answer
    between the test's offset and ``end``. Pattern inputs may be random (:func:`random_patterns`) or the
    vectors of a low-rank connectivity.
    """
    n_trials = check_int("n_trials", n_trials, minimum=1)
    if patterns.shape != (6, net.sizes[target]):
        raise ValueError(f"patterns must have shape [6, {net.sizes[target]}] (A, B, C, D, Go, NoGo); got {list(patterns.shape)}")
    k_s, k_d, k_t = jax.random.split(key, 3)
    sample = jax.random.bernoulli(k_s, 0.5, (n_trials,)).astype(jnp.int32)
    distractor = jax.random.bernoulli(k_d, 0.5, (n_trials,)).astype(jnp.int32)
    test = jax.random.bernoulli(k_t, 0.5, (n_trials,)).astype(jnp.int32)
    chosen = jnp.stack([patterns[sample], patterns[4 + distractor], patterns[2 + test]], axis=1) * strength
    s_on, s_off, d_on, d_off, t_on, t_off, end = times
    onset = jnp.broadcast_to(jnp.asarray([s_on, d_on, t_on]), (n_trials, 3))
    offset = jnp.broadcast_to(jnp.asarray([s_off, d_off, t_off]), (n_trials, 3))
    schedule = InputSchedule.from_times(onset, offset, _embed(net, chosen, target), net.dt)
    steps = lambda t: int(round(t / net.dt))
    return DualTrials(
        schedule, sample, distractor, test,
        dpa_label=(sample == test).astype(jnp.float32),
        gng_label=(distractor == 0).astype(jnp.float32),
        gng_window=(steps(d_off), steps(t_on)),
        dpa_window=(steps(t_off), steps(end)),
    )
