"""A sparse E/I network of conductance LIF neurons driven by Poisson input: the rate-tuning benchmark.

``ei_network`` builds ``n_exc`` excitatory and ``n_inh`` inhibitory :class:`jaxsnn.COBALIF` neurons
(COBA benchmark neurons without their constant 20 mV drive), recurrently connected with Bernoulli
probability ``p`` (no autapses) with conductance jumps ``w_exc`` / ``w_inh`` (units of the leak
conductance), each neuron driven by its own Poisson train (one source per neuron, one-to-one) of rate
``rate_ext_e`` / ``rate_ext_i`` with jumps ``w_ext``. Its defaults fire at about 0.9 Hz (E and I).
Weight names: ``"EE"``, ``"EI"``, ``"IE"``, ``"II"`` (pre, post) and ``"ext_E/E"``, ``"ext_I/I"``;
rate names ``"ext_E"``, ``"ext_I"``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .. import connectivity
from ..network import Network, NetworkParams, NetworkState, PoissonInput, PoissonTarget, Population, Projection
from ..neurons import COBALIF


def ei_network(
    key: Array,
    *,
    n_exc: int = 800,
    n_inh: int = 200,
    p: float = 0.05,
    w_exc: float = 0.05,
    w_inh: float = 4.0,
    w_ext: float = 0.05,
    rate_ext_e: float = 530.0,
    rate_ext_i: float = 530.0,
    dt: float = 1e-4,
    propagation: str = "events",
) -> Network:
    """Build the E/I network (see the module docstring); ``key`` fixes the connectivity.

    Args:
        n_exc, n_inh: population sizes. p: connection probability of every recurrent projection.
        w_exc, w_inh, w_ext: conductance jumps (units of g_leak) of E, I and external synapses.
        rate_ext_e, rate_ext_i: rate (Hz) of each neuron's external Poisson train (``rate dt <= 1``).
        dt: time step (s). propagation: as for :class:`jaxsnn.Network`.
    """
    neuron = COBALIF(v_drive=0.0)
    pops = (("E", n_exc), ("I", n_inh))
    projections = []
    for i, (pre, n_pre) in enumerate(pops):
        for j, (post, n_post) in enumerate(pops):
            conn = connectivity.bernoulli(jax.random.fold_in(key, 2 * i + j), n_pre, n_post, p, autapses=pre != post)
            excitatory = pre == "E"
            projections.append(Projection(f"{pre}{post}", pre, post, conn, w_exc if excitatory else w_inh,
                                          "exc" if excitatory else "inh"))
    inputs = tuple(
        PoissonInput(f"ext_{name}", size, rate, (PoissonTarget(name, _one_to_one(size), w_ext, "exc"),))
        for (name, size), rate in zip(pops, (rate_ext_e, rate_ext_i))
    )
    return Network(
        dt=dt,
        populations=tuple(Population(name, size, neuron) for name, size in pops),
        projections=tuple(projections),
        poisson_inputs=inputs,
        propagation=propagation,
    )


def _one_to_one(n: int) -> connectivity.Connectivity:
    return connectivity.from_edges(np.arange(n), np.arange(n), n, n)


def random_v_state(net: Network, params: NetworkParams, key: Array, batch: int) -> NetworkState:
    """The models' initial state with every population's V drawn uniformly between its ``v_reset`` and
    ``v_th`` (independently per neuron and member), which avoids the synchronous transient of a start with
    every neuron at reset. ``params``: batched values (leading axis ``batch``)."""
    state = net.init_state(params, batch)
    neurons = dict(state.neurons)
    for i, pop in enumerate(net.populations):
        model = params.neurons[pop.name]
        u = jax.random.uniform(jax.random.fold_in(key, i), (batch, pop.size), jnp.float32)
        v = model.v_reset[:, None] + u * (model.v_th - model.v_reset)[:, None]
        neurons[pop.name] = neurons[pop.name]._replace(v=v)
    return state._replace(neurons=neurons)
