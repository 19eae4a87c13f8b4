"""Tsodyks–Markram short-term plasticity (STP) of presynaptic efficacy.

Each presynaptic neuron carries a utilisation ``u`` (release probability, facilitates) and a fraction
of available resources ``x`` (depresses). Three forms share one parameter set and one state:

- rate form, explicit Euler (:func:`stp_rate_euler`), as in NeuroFlame::

      x <- x + dt (1 - x) / tau_rec - dt u x r
      u <- u + dt (U - u) / tau_fac + dt U (1 - u) r
      efficacy = u x r              (u, x after the update)

- rate form, exact exponential (:func:`stp_rate_exponential`): each variable's equation is linear in
  itself for the other held over the step, so it is advanced exactly towards its instantaneous fixed
  point (stable for any dt; same fixed point as the Euler form);
- spiking (event) form (:func:`stp_on_spike`), for spiking networks: between spikes ``u`` relaxes to
  ``U`` with ``tau_fac`` and ``x`` to 1 with ``tau_rec`` (exactly); at a presynaptic spike
  ``u <- u + U (1 - u)``, the spike is transmitted with efficacy ``u x`` and ``x <- x - u x``.

Parameters are array fields, so a batch of different STP parameters is one :class:`STPParams` with a
leading batch axis (use ``jax.vmap``). Units: rates in Hz, times in s, ``U`` and the state
dimensionless in [0, 1].
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from ._validation import check_positive, check_probability


def _as_float(x) -> Array:
    return jnp.asarray(x, dtype=jnp.float32)


class STPParams(eqx.Module):
    """Tsodyks–Markram parameters (defaults: working-memory facilitation, Mongillo et al. 2008).

    Attributes:
        U: baseline utilisation (dimensionless, in [0, 1]).
        tau_fac: facilitation time constant (s, > 0).
        tau_rec: recovery (depression) time constant (s, > 0).
    Any field may be a scalar, per-neuron ``[n]`` or carry a batch axis.
    """

    U: Array = eqx.field(default=0.03, converter=_as_float)
    tau_fac: Array = eqx.field(default=1.0, converter=_as_float)
    tau_rec: Array = eqx.field(default=0.2, converter=_as_float)

    def __check_init__(self):
        check_probability("STPParams.U", self.U)
        check_positive("STPParams.tau_fac", self.tau_fac)
        check_positive("STPParams.tau_rec", self.tau_rec)


class STPState(NamedTuple):
    """STP state per presynaptic neuron, each ``[n]``: utilisation ``u`` and available resources ``x``."""

    u: Array
    x: Array


def stp_init(params: STPParams, n: int) -> STPState:
    """Resting state of ``n`` synapses: ``u = U``, ``x = 1``."""
    return STPState(u=jnp.broadcast_to(params.U, (n,)).astype(jnp.float32), x=jnp.ones((n,), jnp.float32))


def stp_rate_euler(params: STPParams, state: STPState, rate: Array, dt: float) -> tuple[STPState, Array]:
    """One explicit-Euler step of the rate form under presynaptic rates ``rate`` (Hz, ``[n]``).

    Returns the new state and the efficacy-weighted rate ``u x r`` (Hz, ``[n]``) to be multiplied by the
    synaptic weights.
    """
    x = state.x + dt * (1.0 - state.x) / params.tau_rec - dt * state.u * state.x * rate
    u = state.u + dt * (params.U - state.u) / params.tau_fac + dt * params.U * (1.0 - state.u) * rate
    return STPState(u, x), u * x * rate


def _relax(value: Array, target: Array, rate_constant: Array, dt: float) -> Array:
    """Exact solution after ``dt`` of ``dv/dt = -rate_constant (v - target)``."""
    return target + (value - target) * jnp.exp(-dt * rate_constant)


def stp_rate_exponential(params: STPParams, state: STPState, rate: Array, dt: float) -> tuple[STPState, Array]:
    """One exact-exponential step of the rate form (rates held over the step; ``u`` held while ``x``
    is advanced, then ``u`` advanced), same order and outputs as :func:`stp_rate_euler`.

    ``dx/dt = 1/tau_rec - (1/tau_rec + u r) x`` and ``du/dt = U/tau_fac + U r - (1/tau_fac + U r) u`` are
    each linear in their own variable, so each relaxes exactly to its instantaneous fixed point.
    """
    k_x = 1.0 / params.tau_rec + state.u * rate
    x = _relax(state.x, (1.0 / params.tau_rec) / k_x, k_x, dt)
    k_u = 1.0 / params.tau_fac + params.U * rate
    u = _relax(state.u, params.U * (1.0 / params.tau_fac + rate) / k_u, k_u, dt)
    return STPState(u, x), u * x * rate


def stp_steady_state(params: STPParams, rate: Array) -> STPState:
    """Closed-form fixed point of the rate form under a constant rate ``rate`` (Hz)::

        u* = U (1 + r tau_fac) / (1 + U r tau_fac),    x* = 1 / (1 + u* r tau_rec)
    """
    u = params.U * (1.0 + rate * params.tau_fac) / (1.0 + params.U * rate * params.tau_fac)
    x = 1.0 / (1.0 + u * rate * params.tau_rec)
    return STPState(u, x)


def stp_on_spike(params: STPParams, state: STPState, spikes: Array, dt: float) -> tuple[STPState, Array]:
    """One time step of the spiking (event) form for presynaptic ``spikes`` (0/1 floats, ``[n]``).

    Relaxation over the step is exact; a spike then facilitates ``u``, is transmitted with efficacy
    ``u x`` and consumes ``u x`` of the resources. Returns the new state and the per-neuron transmitted
    efficacy ``spikes * u x`` (``[n]``), which multiplies the synaptic weights of the spike (e.g. as the
    spike vector given to a projection).
    """
    u = _relax(state.u, params.U, 1.0 / params.tau_fac, dt)
    x = _relax(state.x, 1.0, 1.0 / params.tau_rec, dt)
    u = u + spikes * params.U * (1.0 - u)
    efficacy = spikes * u * x
    x = x - efficacy
    return STPState(u, x), efficacy


def stp_regular_spiking_steady_state(params: STPParams, interval: Array) -> tuple[Array, Array]:
    """Closed-form steady state of the event form under regular spikes every ``interval`` s.

    Returns ``(u+, x-)``: the utilisation just after and the resources just before each spike::

        u+ = U (2 - U - (1 - U) e^{-T/tau_fac}) / (1 - (1 - U) e^{-T/tau_fac}),
        x- = (1 - e^{-T/tau_rec}) / (1 - (1 - u+) e^{-T/tau_rec}).

    (``u`` relaxes to ``U``, not to 0, so a single isolated spike sees ``u+ = U (2 - U)``.)
    """
    ef = jnp.exp(-interval / params.tau_fac)
    er = jnp.exp(-interval / params.tau_rec)
    u_plus = params.U * (2.0 - params.U - (1.0 - params.U) * ef) / (1.0 - (1.0 - params.U) * ef)
    x_minus = (1.0 - er) / (1.0 - (1.0 - u_plus) * er)
    return u_plus, x_minus
