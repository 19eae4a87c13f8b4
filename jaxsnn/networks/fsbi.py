"""The recurrent networks of filter-SBI (Confavreux et al. 2023) as :class:`jaxsnn.Network` s.

Two populations, E (``n_exc``) and I (``n_inh``), of conductance-based IF neurons (``ConductanceIF``
for polynomial rules, ``CVAIF`` for MLP rules); four projections ``ee``, ``ei``, ``ie``, ``ii`` with
an axonal delay; an external pool of ``n_ext`` Poisson sources drawn as Auryn's PoissonGroup
(:class:`jaxsnn.sources.RenewalSources`) into both populations; a blow-up guard on E
(:class:`jaxsnn.RateGuard`). The projections a rule family makes plastic carry its rules.

The original (Auryn) transmits a spike ``delay`` steps after it is emitted, at the end of that step,
into conductances used from the next step on; in jaxsnn's terms that is a projection delay of
``delay + 1`` steps, whose plastic synapses see the spike arrive at the end of step ``k + delay``,
together with the postsynaptic spikes of that step, as in the original.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ..connectivity import Connectivity
from ..network import Network, NetworkParams, PoissonInput, PoissonTarget, Population, Projection, RateGuard, broadcast_params
from ..neurons import ConductanceIF
from ..plasticity import MLPPlasticity, PlasticityRule, PolynomialPlasticity, per_member
from ..sources import RenewalSources

#: (pre, post, receptor) of the four recurrent projections.
PROJECTIONS = {"ee": ("E", "E", "exc"), "ei": ("E", "I", "exc"), "ie": ("I", "E", "inh"), "ii": ("I", "I", "inh")}


def fsbi_network(config: Any, conns: dict[str, Connectivity], neuron: ConductanceIF,
                 rules: dict[str, PlasticityRule], *, ext_capacity: int, block: int) -> Network:
    """The fSBI network of ``config`` (an :class:`jaxsnn.fsbi.FSBIConfig`) on connectivity ``conns``
    (``ee``, ``ei``, ``ie``, ``ii``, ``ext_e``, ``ext_i``), with ``neuron`` in both populations and a rule
    on each projection named in ``rules`` (the other projections are static).

    ext_capacity: most external source spikes per step and member; block: spikes per event-loop turn.
    """
    delay = (config.delay_steps + 1) * config.dt
    w0 = {"ee": config.w_ee, "ei": config.w_ei, "ie": config.w_ie, "ii": config.w_ii}
    projections = tuple(
        Projection(name, pre, post, conns[name], w0[name], receptor, delay=delay, plasticity=rules.get(name))
        for name, (pre, post, receptor) in PROJECTIONS.items()
    )
    ext = PoissonInput(
        "ext", config.n_ext, 0.0,
        (PoissonTarget("E", conns["ext_e"], config.w_ext, "exc"), PoissonTarget("I", conns["ext_i"], config.w_ext, "exc")),
        sources=RenewalSources(delay=delay, capacity=ext_capacity),
    )
    return Network(
        dt=config.dt,
        populations=(Population("E", config.n_exc, neuron), Population("I", config.n_inh, neuron)),
        projections=projections,
        poisson_inputs=(ext,),
        propagation="events",
        block=block,
        guard=RateGuard("E", config.blowup_limit, config.blowup_tau, delay=delay),
    )


def fsbi_params(net: Network, rules: dict[str, PlasticityRule], r_ext: Any) -> NetworkParams:
    """Values of ``R`` rules: the network's defaults broadcast to ``R``, the batched ``rules`` (every
    array leaf ``[R, ...]``) and the external rate ``r_ext`` ``[R]`` (Hz)."""
    r_ext = jnp.asarray(r_ext, jnp.float32)
    params = broadcast_params(net.default_params()._replace(plasticity={}), r_ext.shape[0])
    return params._replace(plasticity=dict(rules), rates={"ext": r_ext})


def polynomial_rules(theta: Any, config: Any) -> dict[str, PlasticityRule]:
    """The batched polynomial rules of θ ``[R, 25]`` (EE, EI, IE, II × [τ_pre, τ_post, α, β, γ, κ],
    then r_ext), one :class:`PolynomialPlasticity` per projection with learning rate ``config.eta`` and
    bounds [0, ``config.w_max``]."""
    p = jnp.asarray(theta[:, :24], jnp.float32).reshape(-1, 4, 6)
    eta = jnp.full((p.shape[0],), config.eta, jnp.float32)
    return {name: PolynomialPlasticity(*(p[:, j, i] for i in range(6)), eta=eta, w_max=config.w_max)
            for j, name in enumerate(PROJECTIONS)}


def mlp_rules(theta: Any, config: Any) -> dict[str, PlasticityRule]:
    """The batched MLP rules of θ ``[R, 23]`` = [η_EE, η_IE, W_pre,EE(5), W_post,EE(5), W_pre,IE(5),
    W_post,IE(5), r_ext] on EE and IE, with the original's fixed hidden layers and bounds
    [0, ``config.w_max``]."""
    from ..fsbi.rules import MLP_TRACE_TAUS, load_mlp_hidden_layers

    theta = jnp.asarray(theta, jnp.float32)
    h1, h2 = load_mlp_hidden_layers()
    last = theta[:, 2:22].reshape(-1, 2, 2, 5)  # [R, projection EE/IE, side pre/post, 5]
    return {name: MLPPlasticity.with_hidden(h1, h2, eta=theta[:, j], last_pre=last[:, j, 0], last_post=last[:, j, 1],
                                            taus=MLP_TRACE_TAUS, w_max=config.w_max)
            for j, name in enumerate(("ee", "ie"))}


def unbatched(rules: dict[str, PlasticityRule]) -> dict[str, PlasticityRule]:
    """The first member of batched rules (a template for the network's structure)."""
    return {name: jax.tree_util.tree_map(lambda x: x[0] if per_member(x) else x, rule) for name, rule in rules.items()}


__all__ = ["PROJECTIONS", "fsbi_network", "fsbi_params", "mlp_rules", "polynomial_rules", "unbatched"]
