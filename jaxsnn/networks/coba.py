"""The COBA benchmark network (Vogels & Abbott 2005; Brette et al. 2007, benchmark 1).

In the formulation of the Brian2 and BrainPy benchmark comparisons: 3200 excitatory and 800
inhibitory conductance-based LIF neurons, Bernoulli connectivity p = 0.02 (autapses allowed, as in
Brian2's ``connect(p=0.02)``), conductance jumps of 0.6 (E) and 6.7 (I) in units of the leak
conductance (6 nS and 67 nS for g_L = 10 nS), a constant drive of 20 mV, V initialised uniformly in
[-60, -50] mV, dt = 0.1 ms. Both populations fire at about 20 Hz.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array

from .. import connectivity
from ..network import Network, NetworkParams, NetworkState, Population, Projection
from ..neurons import COBALIF

COBA_DEFAULTS = dict(n_exc=3200, n_inh=800, p=0.02, w_exc=0.6, w_inh=6.7, dt=1e-4, v_init_low=-0.060, v_init_high=-0.050)


def coba_network(
    key: Array,
    *,
    n_exc: int = 3200,
    n_inh: int = 800,
    p: float = 0.02,
    w_exc: float = 0.6,
    w_inh: float = 6.7,
    dt: float = 1e-4,
    neuron: COBALIF | None = None,
    propagation: str = "events",
    block: int | None = None,
) -> Network:
    """Build the COBA network; ``key`` fixes the connectivity.

    Both populations share one neuron model (``COBALIF()`` defaults: tau_m 20 ms, rest and reset
    -60 mV, threshold -50 mV, refractory 5 ms, E_e 0 mV, E_i -80 mV, tau_e 5 ms, tau_i 10 ms, drive
    20 mV). Weights ``w_exc``/``w_inh`` are in units of the leak conductance. Delays are one step
    (a spike acts on its targets in the next step, as with Brian2 synapses without delay).
    """
    neuron = neuron or COBALIF()
    keys = jax.random.split(key, 4)
    pops = ("E", n_exc), ("I", n_inh)
    projections = []
    for k, ((pre, n_pre), (post, n_post)) in zip(keys, [(a, b) for a in pops for b in pops]):
        conn = connectivity.bernoulli(k, n_pre, n_post, p)
        exc = pre == "E"
        projections.append(
            Projection(f"{pre}{post}", pre, post, conn, w_exc if exc else w_inh, "exc" if exc else "inh")
        )
    return Network(
        dt=dt,
        populations=(Population("E", n_exc, neuron), Population("I", n_inh, neuron)),
        projections=tuple(projections),
        propagation=propagation,
        block=block,
    )


def coba_initial_state(net: Network, params: NetworkParams, key: Array, batch: int) -> NetworkState:
    """The models' initial state with V drawn uniformly in [-60, -50] mV, independently per member."""
    state = net.init_state(params, batch)
    neurons = dict(state.neurons)
    for i, pop in enumerate(net.populations):
        v = jax.random.uniform(
            jax.random.fold_in(key, i), (batch, pop.size), jnp.float32,
            COBA_DEFAULTS["v_init_low"], COBA_DEFAULTS["v_init_high"],
        )
        neurons[pop.name] = neurons[pop.name]._replace(v=v)
    return state._replace(neurons=neurons)


def run_coba(
    duration: float = 10.0,
    *,
    seed: int = 0,
    batch: int = 1,
    record: bool = True,
    **network_kwargs,
):
    """Build and simulate the COBA network: connectivity from ``seed``, initial V and run keys from
    ``seed`` too. Returns ``(network, SimulationResult)``; spikes of all neurons are recorded when
    ``record`` (else only per-neuron counts over the whole run)."""
    from ..network import broadcast_params
    from ..simulate import Record, simulate

    key = jax.random.key(seed)
    net = coba_network(jax.random.fold_in(key, 0), **network_kwargs)
    params = broadcast_params(net.default_params(), batch)
    state = coba_initial_state(net, params, jax.random.fold_in(key, 1), batch)
    if record:
        rec = Record(spikes={"E": None, "I": None}, period=0.1)
    else:
        rec = Record(counts={"E": None, "I": None}, period=duration)
    return net, simulate(net, duration, jax.random.fold_in(key, 2), params=params, state=state, record=rec)
