"""Leaky integrate-and-fire neurons: current-based with exponential synaptic currents, and
conductance-based (COBA, Vogels & Abbott 2005)."""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from .._validation import check_positive
from .base import NeuronInput, NeuronModel, SpikeFunction, as_float, decay_factor, heaviside


class LIFState(NamedTuple):
    """State of a current-based LIF population, each field ``[n]``.

    v: membrane potential (V); i_exc, i_inh: synaptic currents (A, both positive);
    refractory_left: time left in the refractory period (s).
    """

    v: Array
    i_exc: Array
    i_inh: Array
    refractory_left: Array


class LIF(NeuronModel):
    """Current-based leaky integrate-and-fire neuron with exponential synaptic currents.

    ``tau_m dV/dt = -(V - v_rest) + r_m (i_exc - i_inh + I_ext)``; ``tau_exc di_exc/dt = -i_exc`` and
    likewise for ``i_inh``. V is integrated exactly for the currents held over the step (exponential
    Euler), so the interspike interval under constant input matches the closed form
    ``tau_ref + tau_m ln(r_m I / (r_m I - (v_th - v_rest)))`` to within a step.
    After a spike V is held at ``v_reset`` for ``tau_ref``.

    Inputs: ``exc``/``inh`` are current jumps (A) of the synaptic currents; ``current`` is I_ext (A).
    """

    tau_m: Array = eqx.field(default=0.02, converter=as_float)  # s
    v_rest: Array = eqx.field(default=-0.070, converter=as_float)  # V
    v_reset: Array = eqx.field(default=-0.070, converter=as_float)  # V
    v_th: Array = eqx.field(default=-0.050, converter=as_float)  # V
    r_m: Array = eqx.field(default=1e8, converter=as_float)  # ohm
    tau_exc: Array = eqx.field(default=0.005, converter=as_float)  # s
    tau_inh: Array = eqx.field(default=0.010, converter=as_float)  # s
    tau_ref: Array = eqx.field(default=0.002, converter=as_float)  # s
    spike_fn: SpikeFunction = eqx.field(default=heaviside, static=True)

    def __check_init__(self):
        for name in ("tau_m", "r_m", "tau_exc", "tau_inh"):
            check_positive(f"LIF.{name}", getattr(self, name))
        check_positive("LIF.tau_ref", self.tau_ref, allow_zero=True)

    def init(self, n: int) -> LIFState:
        """All neurons at rest, no synaptic current, not refractory."""
        z = jnp.zeros((n,), jnp.float32)
        return LIFState(v=jnp.full((n,), self.v_rest, jnp.float32), i_exc=z, i_inh=z, refractory_left=z)

    def step(self, state: LIFState, inputs: NeuronInput, dt: float) -> tuple[LIFState, Array]:
        i_exc = state.i_exc + inputs.exc
        i_inh = state.i_inh + inputs.inh
        refractory_left = jnp.maximum(state.refractory_left - dt, 0.0)
        refractory = refractory_left > 0.5 * dt
        v_inf = self.v_rest + self.r_m * (i_exc - i_inh + inputs.current)
        v = v_inf + (state.v - v_inf) * decay_factor(dt, self.tau_m)
        v = jnp.where(refractory, self.v_reset, v)
        spikes = self.spike_fn(v - self.v_th) * (~refractory)
        v = jnp.where(spikes > 0, self.v_reset, v)
        refractory_left = jnp.where(spikes > 0, self.tau_ref, refractory_left)
        i_exc = i_exc * decay_factor(dt, self.tau_exc)
        i_inh = i_inh * decay_factor(dt, self.tau_inh)
        return LIFState(v, i_exc, i_inh, refractory_left), spikes


class COBAState(NamedTuple):
    """State of a conductance-based LIF population, each field ``[n]``.

    v: membrane potential (V); g_exc, g_inh: conductances in units of the leak conductance;
    refractory_left: time left in the refractory period (s).
    """

    v: Array
    g_exc: Array
    g_inh: Array
    refractory_left: Array


class COBALIF(NeuronModel):
    """Conductance-based LIF neuron of the COBA benchmark (Vogels & Abbott 2005; Brette et al. 2007).

    ``tau_m dV/dt = (v_rest - V) + g_exc (e_exc - V) + g_inh (e_inh - V) + v_drive + I_ext``, with
    conductances in units of the leak conductance decaying exponentially (``tau_exc``, ``tau_inh``).
    V is advanced by exponential Euler (exact for conductances held over the step), conductances decay
    exactly. After a spike V is held at ``v_reset`` for ``tau_ref``.

    Inputs: ``exc``/``inh`` are conductance jumps (units of g_L); ``current`` is an extra drive (V),
    added to ``v_drive``. Defaults are the benchmark's (Δg of 0.6 and 6.7 are the projection weights).
    """

    tau_m: Array = eqx.field(default=0.02, converter=as_float)  # s
    v_rest: Array = eqx.field(default=-0.060, converter=as_float)  # V
    v_reset: Array = eqx.field(default=-0.060, converter=as_float)  # V
    v_th: Array = eqx.field(default=-0.050, converter=as_float)  # V
    e_exc: Array = eqx.field(default=0.0, converter=as_float)  # V
    e_inh: Array = eqx.field(default=-0.080, converter=as_float)  # V
    tau_exc: Array = eqx.field(default=0.005, converter=as_float)  # s
    tau_inh: Array = eqx.field(default=0.010, converter=as_float)  # s
    tau_ref: Array = eqx.field(default=0.005, converter=as_float)  # s
    v_drive: Array = eqx.field(default=0.020, converter=as_float)  # V
    spike_fn: SpikeFunction = eqx.field(default=heaviside, static=True)

    def __check_init__(self):
        for name in ("tau_m", "tau_exc", "tau_inh"):
            check_positive(f"COBALIF.{name}", getattr(self, name))
        check_positive("COBALIF.tau_ref", self.tau_ref, allow_zero=True)

    def init(self, n: int) -> COBAState:
        """All neurons at ``v_reset``, no conductance (use ``jaxsnn.init_uniform_v`` for a spread)."""
        z = jnp.zeros((n,), jnp.float32)
        return COBAState(v=jnp.full((n,), self.v_reset, jnp.float32), g_exc=z, g_inh=z, refractory_left=z)

    def step(self, state: COBAState, inputs: NeuronInput, dt: float) -> tuple[COBAState, Array]:
        g_exc = state.g_exc + inputs.exc
        g_inh = state.g_inh + inputs.inh
        refractory_left = jnp.maximum(state.refractory_left - dt, 0.0)
        refractory = refractory_left > 0.5 * dt
        total_g = 1.0 + g_exc + g_inh
        v_inf = (self.v_rest + g_exc * self.e_exc + g_inh * self.e_inh + self.v_drive + inputs.current) / total_g
        v = v_inf + (state.v - v_inf) * jnp.exp(-dt * total_g / self.tau_m)
        v = jnp.where(refractory, state.v, v)
        spikes = self.spike_fn(v - self.v_th) * (~refractory)
        v = jnp.where(spikes > 0, self.v_reset, v)
        refractory_left = jnp.where(spikes > 0, self.tau_ref, refractory_left)
        g_exc = g_exc * decay_factor(dt, self.tau_exc)
        g_inh = g_inh * decay_factor(dt, self.tau_inh)
        return COBAState(v, g_exc, g_inh, refractory_left), spikes
