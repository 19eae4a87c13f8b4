"""Adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005) with conductance synapses."""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from .._validation import check_positive
from .base import NeuronInput, NeuronModel, SpikeFunction, as_float, heaviside

#: Largest exponent of the spike-initiation term; beyond it V has crossed any sensible spike cut-off
#: and a larger value would only overflow float32.
_MAX_EXPONENT = 30.0


class AdExState(NamedTuple):
    """State of an AdEx population, each field ``[n]``: v (V), w adaptation current (A),
    g_exc, g_inh synaptic conductances (S)."""

    v: Array
    w: Array
    g_exc: Array
    g_inh: Array


class AdEx(NeuronModel):
    """AdEx neuron, defaults: Naud et al. 2008 cortical regular spiking, in SI units.

    ``C dV/dt = -g_L (V - E_L) + g_L Δ_T exp((V - V_T)/Δ_T) - I_syn - w + I_ext``,
    ``tau_w dw/dt = a (V - E_L) - w``, ``I_syn = g_e (V - e_exc) + g_i (V - e_inh)``;
    g_e and g_i decay with ``tau_syn``. Forward Euler. Spike when V > v_spike, then V = v_reset and
    w += b. ``a`` is +0.8 nS here (as the connection-inference notebook ran); Naud's table gives -0.8 nS,
    pass ``a=-0.8e-9`` for it.

    Inputs: ``exc``/``inh`` are conductance jumps (S); ``current`` is I_ext (A).
    """

    c_m: Array = eqx.field(default=104e-12, converter=as_float)  # F
    g_l: Array = eqx.field(default=4.3e-9, converter=as_float)  # S
    e_l: Array = eqx.field(default=-0.065, converter=as_float)  # V
    v_t: Array = eqx.field(default=-0.052, converter=as_float)  # V
    delta_t: Array = eqx.field(default=0.8e-3, converter=as_float)  # V
    v_spike: Array = eqx.field(default=0.0, converter=as_float)  # V
    v_reset: Array = eqx.field(default=-0.053, converter=as_float)  # V
    a: Array = eqx.field(default=0.8e-9, converter=as_float)  # S
    b: Array = eqx.field(default=65e-12, converter=as_float)  # A
    tau_w: Array = eqx.field(default=0.088, converter=as_float)  # s
    e_exc: Array = eqx.field(default=0.0, converter=as_float)  # V
    e_inh: Array = eqx.field(default=-0.080, converter=as_float)  # V
    tau_syn: Array = eqx.field(default=0.007, converter=as_float)  # s
    spike_fn: SpikeFunction = eqx.field(default=heaviside, static=True)

    def __check_init__(self):
        for name in ("c_m", "g_l", "delta_t", "tau_w", "tau_syn"):
            check_positive(f"AdEx.{name}", getattr(self, name))

    def init(self, n: int) -> AdExState:
        """V = v_reset (as the reference starts), w and conductances 0."""
        z = jnp.zeros((n,), jnp.float32)
        return AdExState(jnp.full((n,), self.v_reset, jnp.float32), z, z, z)

    def step(self, state: AdExState, inputs: NeuronInput, dt: float) -> tuple[AdExState, Array]:
        v, w = state.v, state.w
        g_exc = state.g_exc + inputs.exc
        g_inh = state.g_inh + inputs.inh
        i_syn = g_exc * (v - self.e_exc) + g_inh * (v - self.e_inh)
        exponent = jnp.minimum((v - self.v_t) / self.delta_t, _MAX_EXPONENT)
        dv = (-self.g_l * (v - self.e_l) + self.g_l * self.delta_t * jnp.exp(exponent) - i_syn - w + inputs.current) / self.c_m
        dw = (self.a * (v - self.e_l) - w) / self.tau_w
        v = v + dt * dv
        w = w + dt * dw
        g_exc = g_exc - dt * g_exc / self.tau_syn
        g_inh = g_inh - dt * g_inh / self.tau_syn
        spikes = self.spike_fn(v - self.v_spike)
        v = jnp.where(spikes > 0, self.v_reset, v)
        w = w + spikes * self.b
        return AdExState(v, w, g_exc, g_inh), spikes
