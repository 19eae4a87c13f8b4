"""The conductance-based integrate-and-fire neurons of the fSBI networks (Confavreux et al. 2023).

``ConductanceIF`` is the "IF" neuron of the polynomial-rule task and ``CVAIF`` the
neuron of the MLP-rule task (docs/models/neurons.md): the same neuron plus spike-triggered adaptation and three
low-passed traces (of the excitatory and inhibitory currents and of V) that the MLP rule reads.
Both follow the reference's step order exactly; conductances are in units of the leak conductance.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from .._validation import check_choice, check_positive
from .base import NeuronInput, NeuronModel, SpikeFunction, as_float, decay_factor, heaviside


class ConductanceIFState(NamedTuple):
    """State of an IF population, each field ``[n]``: v (V), conductances g_ampa, g_nmda, g_gaba (units
    of g_leak), theta_dyn: the spike-triggered threshold increment (V)."""

    v: Array
    g_ampa: Array
    g_nmda: Array
    g_gaba: Array
    theta_dyn: Array


class ConductanceIF(NeuronModel):
    """Conductance-based IF neuron with AMPA/NMDA/GABA synapses and a relative refractory threshold.

    One step, in the reference's order, after adding arriving spikes
    (``inputs.exc`` to g_ampa, ``inputs.inh`` to g_gaba, units of g_leak):

    1. I_exc = (a_ampa g_ampa + a_nmda g_nmda)(e_exc - V); I_inh = (V - e_inh) g_gaba
    2. g_nmda <- (1 - c)(g_nmda + c g_ampa), c = 1 - e^{-dt/tau_nmda}; g_ampa, g_gaba decay
       exponentially
    3. theta_dyn decays (tau_thr); V += dt/tau_mem [I_exc - I_inh - (V - e_rest) + I_ext]
    4. clip V to [v_min, v_max]; spike if V > theta_rest + theta_dyn; then V = v_reset and
       theta_dyn = theta_jump (set, not increased).

    Two details follow Auryn's IFGroup exactly, where a textbook form would differ:

    - NMDA is Auryn's two in-place updates ``g_nmda += c g_ampa; g_nmda -= c g_nmda``, i.e. a factor
      (1 - c) ≈ 0.999 on the AMPA term compared with ``g_nmda += c (g_ampa - g_nmda)``.
    - A spike *sets* the threshold increment (``thr->set(unit, dthr)``); it does not add to it. With V
      clipped at v_max = 0 V this caps the rate at 1/(tau_thr ln 2) ≈ 288 Hz (adding would cap it at
      1/(tau_thr ln 3) ≈ 182 Hz and change every rate where a neuron fires again within ~15 ms).
      Earlier jaxsnn versions added; that was a porting error and is not offered as an option.

    ``inputs.current`` is an extra drive in volts (0 in the fSBI networks). Forward Euler.
    """

    tau_mem: Array = eqx.field(default=0.020, converter=as_float)  # s
    e_rest: Array = eqx.field(default=-0.070, converter=as_float)  # V
    v_reset: Array = eqx.field(default=-0.070, converter=as_float)  # V
    e_exc: Array = eqx.field(default=0.0, converter=as_float)  # V
    e_inh: Array = eqx.field(default=-0.080, converter=as_float)  # V
    theta_rest: Array = eqx.field(default=-0.050, converter=as_float)  # V
    theta_jump: Array = eqx.field(default=0.100, converter=as_float)  # V
    tau_thr: Array = eqx.field(default=0.005, converter=as_float)  # s
    tau_ampa: Array = eqx.field(default=0.005, converter=as_float)  # s
    tau_gaba: Array = eqx.field(default=0.010, converter=as_float)  # s
    tau_nmda: Array = eqx.field(default=0.100, converter=as_float)  # s
    ampa_nmda_ratio: Array = eqx.field(default=0.3, converter=as_float)  # A_ampa = r/(1+r)
    v_min: Array = eqx.field(default=-0.080, converter=as_float)  # V
    v_max: Array = eqx.field(default=0.0, converter=as_float)  # V
    spike_fn: SpikeFunction = eqx.field(default=heaviside, static=True)

    def __check_init__(self):
        for name in ("tau_mem", "tau_thr", "tau_ampa", "tau_gaba", "tau_nmda"):
            check_positive(f"{type(self).__name__}.{name}", getattr(self, name))
        check_positive(f"{type(self).__name__}.ampa_nmda_ratio", self.ampa_nmda_ratio, allow_zero=True)

    @property
    def a_ampa(self) -> Array:
        return self.ampa_nmda_ratio / (1.0 + self.ampa_nmda_ratio)

    @property
    def a_nmda(self) -> Array:
        return 1.0 / (1.0 + self.ampa_nmda_ratio)

    def init(self, n: int) -> ConductanceIFState:
        """V = e_rest, all conductances and the threshold increment 0."""
        z = jnp.zeros((n,), jnp.float32)
        return ConductanceIFState(jnp.full((n,), self.e_rest, jnp.float32), z, z, z, z)

    def _threshold_and_reset(self, v: Array, theta_dyn: Array) -> tuple[Array, Array, Array]:
        v = jnp.clip(v, self.v_min, self.v_max)
        spikes = self.spike_fn(v - (self.theta_rest + theta_dyn))
        v = jnp.where(spikes > 0, self.v_reset, v)
        theta_dyn = jnp.where(spikes > 0, self.theta_jump, theta_dyn)
        return v, theta_dyn, spikes

    def step(self, state: ConductanceIFState, inputs: NeuronInput, dt: float) -> tuple[ConductanceIFState, Array]:
        v = state.v
        g_ampa = state.g_ampa + inputs.exc
        g_gaba = state.g_gaba + inputs.inh
        g_nmda = state.g_nmda
        i_exc = (self.a_ampa * g_ampa + self.a_nmda * g_nmda) * (self.e_exc - v)
        i_inh = (v - self.e_inh) * g_gaba
        g_nmda = _in_place_low_pass(g_nmda, g_ampa, 1.0 - decay_factor(dt, self.tau_nmda))
        g_ampa = g_ampa * decay_factor(dt, self.tau_ampa)
        g_gaba = g_gaba * decay_factor(dt, self.tau_gaba)
        theta_dyn = state.theta_dyn * decay_factor(dt, self.tau_thr)
        v = v + (dt / self.tau_mem) * (i_exc - i_inh - (v - self.e_rest) + inputs.current)
        v, theta_dyn, spikes = self._threshold_and_reset(v, theta_dyn)
        return ConductanceIFState(v, g_ampa, g_nmda, g_gaba, theta_dyn), spikes


def _in_place_low_pass(x: Array, target: Array, rate: Array) -> Array:
    """Auryn's low-pass as two in-place saxpy calls, ``x += rate·target; x -= rate·x``:
    ``(1 - rate)(x + rate·target)``, rounded as Auryn rounds it."""
    x = x + rate * target
    return x - rate * x


class CVAIFState(NamedTuple):
    """State of a CVAIF population, each field ``[n]``: the IF fields plus g_adapt (units of g_leak) and
    the traces read by the MLP rule: cexc, cinh (low-passed I_exc and I_inh, V) and vtrace (V)."""

    v: Array
    g_ampa: Array
    g_nmda: Array
    g_gaba: Array
    theta_dyn: Array
    g_adapt: Array
    cexc: Array
    cinh: Array
    vtrace: Array


#: Trace time constants (s) of the released runs: the original's binary defaults, 1 s for all three.
CVAIF_TRACES_REFERENCE = {"tau_vtrace": 1.0, "tau_cexc": 1.0, "tau_cinh": 1.0}
#: Trace time constants (s) of the original's binary given the configured values (0.1, 0.01, 0.1 s):
#: it wires ``set_tau_vtrace(tau_cexc)``, so vtrace runs with 0.01 s.
CVAIF_TRACES_CONFIGURED = {"tau_vtrace": 0.01, "tau_cexc": 0.01, "tau_cinh": 0.1}
#: Trace time constants (s) the configuration intended (vtrace 0.1 s), which no original run used.
CVAIF_TRACES_INTENDED = {"tau_vtrace": 0.1, "tau_cexc": 0.01, "tau_cinh": 0.1}
CVAIF_TRACES = {"reference": CVAIF_TRACES_REFERENCE, "configured": CVAIF_TRACES_CONFIGURED,
                "intended": CVAIF_TRACES_INTENDED}


class CVAIF(ConductanceIF):
    """The IF neuron plus spike-triggered adaptation and the traces of the MLP task.

    Differences from ``ConductanceIF``, in the order of fSBI's CVAIFGroup: conductances are updated
    first: g_ampa, g_gaba and g_adapt decay, then NMDA follows the *decayed* AMPA with the Euler factor
    m = dt/tau_nmda in Auryn's in-place form, g_nmda <- (1 - m)(g_nmda + m g_ampa). Then the currents
    are computed from the updated conductances, with I_inh = (V - e_inh)(g_gaba + g_adapt); the traces
    cexc, cinh, vtrace low-pass I_exc, I_inh and V (V before this step's update) in the same in-place
    form, c <- (1 - k)(c + k I) with k = dt/tau (so vtrace settles at (1 - k) V); g_adapt jumps by
    ``adapt_jump`` per spike and decays with ``tau_adapt``; the threshold is set as in ``ConductanceIF``.

    ``traces="reference"`` (default) uses the released runs' 1 s trace time constants;
    ``"configured"`` what the original's binary runs with the configured values (vtrace 0.01 s, as it
    passes tau_cexc to set_tau_vtrace; cexc 0.01 s, cinh 0.1 s); ``"intended"`` the configured values
    themselves (0.1, 0.01, 0.1 s). Explicit ``tau_*`` values override all three.
    """

    tau_adapt: Array = eqx.field(default=0.100, converter=as_float)  # s
    adapt_jump: Array = eqx.field(default=0.1, converter=as_float)  # units of g_leak
    tau_vtrace: Array = eqx.field(default=None, converter=lambda x: x if x is None else as_float(x))
    tau_cexc: Array = eqx.field(default=None, converter=lambda x: x if x is None else as_float(x))
    tau_cinh: Array = eqx.field(default=None, converter=lambda x: x if x is None else as_float(x))
    traces: str = eqx.field(default="reference", static=True)

    def __post_init__(self):
        check_choice("CVAIF.traces", self.traces, tuple(CVAIF_TRACES))
        for name, value in CVAIF_TRACES[self.traces].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, as_float(value))

    def __check_init__(self):
        super().__check_init__()
        for name in ("tau_adapt", "tau_vtrace", "tau_cexc", "tau_cinh"):
            check_positive(f"CVAIF.{name}", getattr(self, name))

    def init(self, n: int) -> CVAIFState:
        """V and vtrace at e_rest; conductances, threshold increment and current traces 0."""
        z = jnp.zeros((n,), jnp.float32)
        rest = jnp.full((n,), self.e_rest, jnp.float32)
        return CVAIFState(rest, z, z, z, z, z, z, z, rest)

    def step(self, state: CVAIFState, inputs: NeuronInput, dt: float) -> tuple[CVAIFState, Array]:
        v = state.v
        g_ampa = state.g_ampa + inputs.exc
        g_gaba = state.g_gaba + inputs.inh
        g_ampa = g_ampa * decay_factor(dt, self.tau_ampa)
        g_gaba = g_gaba * decay_factor(dt, self.tau_gaba)
        g_adapt = state.g_adapt * decay_factor(dt, self.tau_adapt)
        g_nmda = _in_place_low_pass(state.g_nmda, g_ampa, dt / self.tau_nmda)
        i_exc = (self.a_ampa * g_ampa + self.a_nmda * g_nmda) * (self.e_exc - v)
        i_inh = (v - self.e_inh) * (g_gaba + g_adapt)
        cexc = _in_place_low_pass(state.cexc, i_exc, dt / self.tau_cexc)
        cinh = _in_place_low_pass(state.cinh, i_inh, dt / self.tau_cinh)
        vtrace = _in_place_low_pass(state.vtrace, v, dt / self.tau_vtrace)
        theta_dyn = state.theta_dyn * decay_factor(dt, self.tau_thr)
        v = v + (dt / self.tau_mem) * (i_exc - i_inh - (v - self.e_rest) + inputs.current)
        v, theta_dyn, spikes = self._threshold_and_reset(v, theta_dyn)
        g_adapt = g_adapt + spikes * self.adapt_jump
        return CVAIFState(v, g_ampa, g_nmda, g_gaba, theta_dyn, g_adapt, cexc, cinh, vtrace), spikes
