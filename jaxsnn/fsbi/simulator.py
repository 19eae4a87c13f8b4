"""The fSBI recurrent network with plastic synapses, batched over rules.

``R`` rules share one connectivity and one compiled program; weights, traces and neuron states are
per rule, and the synaptic events of all rules are processed as one disjoint graph (see
``jaxsnn.propagation``). One step ``k``, in the order of the reference simulator (Auryn):

1. neurons: E and I advance with the conductance increments transmitted in step k − 1 and spike;
   a rule already stopped by the blow-up guard emits nothing (it is frozen and costs no events);
2. blow-up guard: s ← s·e^{−dt/τ} + n_E/(τ N_E), n_E the E spikes arriving in this step (emitted in
   step k − delay, as the original counts them); a rule with s ≥ limit or s ≤ 0 stops now;
3. transmission and on-pre plasticity: the spikes emitted in step k − delay arrive; each synapse
   transmits its current weight to the target's conductance (used from step k + 1), then, if
   plastic, w ← clip(w + Δw_pre, 0, w_max), reading the postsynaptic trace; the external Poisson
   spikes emitted in step k − delay are transmitted too (static weights; Auryn's renewal draw,
   :func:`external_source_ids`);
4. on-post plasticity: for every spike of step k, each synapse onto that neuron gets
   w ← clip(w + Δw_post, 0, w_max), reading the presynaptic trace;
5. traces: presynaptic traces +1 for the spikes that arrived (step 3), postsynaptic traces +1 for the
   spikes of step k; then all decay by e^{−dt/τ}. Updates in steps 3–4 therefore read the partner's
   trace before this step's increment;
6. recording (inside the window): streaming metrics of the recorded neurons; weights of the monitored
   synapses after the first step of every sample period (the original samples after the step whose
   clock is a multiple of the period).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .. import connectivity as C
from ..connectivity import Connectivity
from ..neurons import CVAIF, ConductanceIF, NeuronInput
from ..propagation import index_spikes, transmit_and_update_pre, update_post
from ..sources import renewal_capacity, renewal_source_ids, renewal_uniforms, source_spikes
from .config import FSBIConfig
from .rules import MLP_TRACE_TAUS, MLPRule, PolynomialRule

PROJECTION_ENDS = {"ee": ("E", "E"), "ei": ("E", "I"), "ie": ("I", "E"), "ii": ("I", "I")}
PROJECTION_INDEX = {"ee": 0, "ei": 1, "ie": 2, "ii": 3}


@dataclass(frozen=True, eq=False)
class FSBIStructure:
    """Static structure: connectivity of the four recurrent projections and of the external pool,
    and the monitored synapses. Hash by identity (compiled programs are cached per structure)."""

    config: FSBIConfig
    conns: dict[str, Connectivity]
    monitored: dict[str, np.ndarray]

    @property
    def size(self) -> dict[str, int]:
        return {"E": self.config.n_exc, "I": self.config.n_inh}


def build_structure(config: FSBIConfig, seed: int) -> FSBIStructure:
    """Draw the network of ``config`` from ``seed`` (the same seed gives the same connectivity)."""
    key = jax.random.fold_in(jax.random.key(seed), 0x5EED)
    keys = jax.random.split(key, 6)
    n = {"E": config.n_exc, "I": config.n_inh}
    conns = {}
    draw = C.renewal if config.connectivity == "renewal" else C.bernoulli
    for k, name in zip(keys[:4], ("ee", "ei", "ie", "ii")):
        pre, post = PROJECTION_ENDS[name]
        conns[name] = draw(k, n[pre], n[post], config.p_conn, autapses=pre != post)
    conns["ext_e"] = draw(keys[4], config.n_ext, config.n_exc, config.p_ext)
    conns["ext_i"] = draw(keys[5], config.n_ext, config.n_inh, config.p_ext)
    monitored = {}
    for name in config.plastic:
        n_syn = conns[name].n_synapses
        count = min(config.n_monitored, n_syn)
        monitored[name] = np.linspace(0, n_syn, count, endpoint=False).astype(np.int32)
    return FSBIStructure(config, conns, monitored)


class FSBIState(NamedTuple):
    """State of a batch of ``R`` fSBI networks (leading axis R everywhere but ``step``).

    neurons: "E"/"I" -> neuron state ``[R, n]``; pending: "E"/"I" -> (exc, inh) conductance increments
    ``[R, n]`` transmitted last step; ring: "E"/"I" -> ``[delay, R, n]`` spikes of the last steps;
    weights: projection -> ``[R, n_synapses]``; traces: name -> ``[R, n]``; rate_guard ``[R]`` (Hz);
    alive ``[R]`` bool; stop_time ``[R]`` (s, -1 while running); ext_overflow ``[R]`` steps in which
    the external-spike buffer was too small; ext_next ``[R]`` int32 renewal offset of the external
    sources (:func:`external_source_ids`, -1 before the first draw); step: int32.
    """

    neurons: dict[str, Any]
    pending: dict[str, tuple[Array, Array]]
    ring: dict[str, Array]
    weights: dict[str, Array]
    traces: dict[str, Array]
    rate_guard: Array
    alive: Array
    stop_time: Array
    ext_overflow: Array
    ext_next: Array
    step: Array


def neuron_models(config: FSBIConfig) -> ConductanceIF:
    if config.task == "polynomial":
        return ConductanceIF()
    return CVAIF(traces=config.mlp_traces)


def trace_names(config: FSBIConfig) -> dict[str, tuple[str, str]]:
    """Trace name -> (population, "pre" arrivals or "post" spikes) of the task's rule."""
    if config.task == "polynomial":
        out = {}
        for name in ("ee", "ei", "ie", "ii"):
            pre, post = PROJECTION_ENDS[name]
            out[f"{name}_pre"] = (pre, "pre")
            out[f"{name}_post"] = (post, "post")
        return out
    return {"E_pre1": ("E", "pre"), "E_pre2": ("E", "pre"), "I_pre1": ("I", "pre"), "I_pre2": ("I", "pre"),
            "E_post1": ("E", "post"), "E_post2": ("E", "post")}


def trace_decays(config: FSBIConfig, rule: Any) -> dict[str, Array]:
    """Per-rule decay factor ``[R]`` of each trace over one step."""
    dt = config.dt
    if config.task == "polynomial":
        out = {}
        for name, i in PROJECTION_INDEX.items():
            out[f"{name}_pre"] = jnp.exp(-dt / rule.tau_pre[:, i])
            out[f"{name}_post"] = jnp.exp(-dt / rule.tau_post[:, i])
        return out
    r = rule.eta.shape[0]
    pre1, pre2, post1, post2 = (jnp.full((r,), math.exp(-dt / tau), jnp.float32) for tau in MLP_TRACE_TAUS)
    return {"E_pre1": pre1, "E_pre2": pre2, "I_pre1": pre1, "I_pre2": pre2, "E_post1": post1, "E_post2": post2}


def initial_state(structure: FSBIStructure, n_rules: int) -> FSBIState:
    """All rules at rest, weights at their initial values, guard at half its limit."""
    cfg = structure.config
    model = neuron_models(cfg)
    size = structure.size
    neurons = {p: jax.vmap(lambda _: model.init(n))(jnp.arange(n_rules)) for p, n in size.items()}
    zeros = {p: jnp.zeros((n_rules, n), jnp.float32) for p, n in size.items()}
    pending = {p: (zeros[p], zeros[p]) for p in size}
    ring = {p: jnp.zeros((cfg.delay_steps, n_rules, n), jnp.float32) for p, n in size.items()}
    w0 = {"ee": cfg.w_ee, "ei": cfg.w_ei, "ie": cfg.w_ie, "ii": cfg.w_ii}
    weights = {name: jnp.full((n_rules, structure.conns[name].n_synapses), w0[name], jnp.float32) for name in cfg.plastic}
    traces = {name: zeros[pop] for name, (pop, _) in trace_names(cfg).items()}
    return FSBIState(
        neurons=neurons, pending=pending, ring=ring, weights=weights, traces=traces,
        rate_guard=jnp.full((n_rules,), cfg.blowup_limit / 2, jnp.float32),
        alive=jnp.ones((n_rules,), bool), stop_time=jnp.full((n_rules,), -1.0, jnp.float32),
        ext_overflow=jnp.zeros((n_rules,), jnp.int32), ext_next=jnp.full((n_rules,), -1, jnp.int32),
        step=jnp.int32(0),
    )


# --- synaptic events ---------------------------------------------------------------------------

def external_uniforms(rule_keys: Array, first_step: Array, n_steps: int, capacity: int) -> Array:
    """Uniform numbers in (0, 1] for the external sources of ``n_steps`` steps from ``first_step``.

    Step ``k`` of rule ``r`` draws ``capacity`` numbers from ``fold_in(rule_keys[r], k)``, so the input
    of a rule depends only on its key and the step, not on how the run is cut into blocks or batches.
    Drawing a block of steps at once keeps the random-number generator out of the per-step loop.
    Steps before 0 (the first ``delay`` steps, see :func:`external_draws`) draw step 0's numbers, unused.
    Returns ``[n_steps, R, capacity]`` float32.
    """
    steps = jnp.maximum(first_step + jnp.arange(n_steps, dtype=jnp.int32), 0)
    return jax.vmap(lambda step: jax.vmap(lambda key: renewal_uniforms(key, step, capacity))(rule_keys))(steps)


#: Auryn's PoissonGroup draw (the core's renewal sources), under the name the kernel path uses.
external_source_ids = renewal_source_ids


def external_draws(uniforms: Array, offsets: Array, first_step: Array, r_ext: Array, cfg: FSBIConfig
                   ) -> tuple[Array, Array, Array]:
    """The external spikes that reach their targets in ``n_steps`` steps from ``first_step``.

    Like every group's spikes in the original, the sources' spikes arrive ``cfg.delay_steps`` after they
    are emitted: step ``k`` transmits the draw of step ``k - delay`` and nothing before ``delay``.

    Args:
        uniforms: ``[n_steps, R, capacity]`` from ``external_uniforms(keys, first_step - delay, ...)``.
        offsets: int32 ``[R]`` renewal offsets (``FSBIState.ext_next``); r_ext: ``[R]`` (Hz).
    Returns:
        (ids ``[n_steps, R, capacity]`` int32, overflow flags ``[n_steps, R]`` int32, offsets ``[R]``).
    """
    draw = jax.vmap(lambda u, o, r: external_source_ids(u, o, r, cfg.n_ext, cfg.dt))

    def one_step(offsets, xs):
        u, k = xs
        ids, nxt, over = draw(u, offsets, r_ext)
        emitted = k >= cfg.delay_steps
        return jnp.where(emitted, nxt, offsets), (jnp.where(emitted, ids, cfg.n_ext), jnp.where(emitted, over, 0))

    steps = first_step + jnp.arange(uniforms.shape[0], dtype=jnp.int32)
    offsets, (ids, over) = jax.lax.scan(one_step, offsets, (uniforms, steps))
    return ids, over, offsets


def default_ext_capacity(config: FSBIConfig, max_rate: float) -> int:
    """Source spikes per step to draw: the mean plus 12 standard deviations (Poisson), at least 16."""
    return renewal_capacity(config.n_ext, max_rate, config.dt)


# --- plasticity callbacks ------------------------------------------------------------------------

def _polynomial_updates(cfg: FSBIConfig, rule: PolynomialRule, traces: dict[str, Array], name: str, n_pre: int, n_post: int):
    j = PROJECTION_INDEX[name]
    x_pre = traces[f"{name}_pre"].reshape(-1)
    x_post = traces[f"{name}_post"].reshape(-1)

    def on_pre(member, pre, post, w):
        dw = rule.alpha[member, j] + rule.kappa[member, j] * x_post[member * n_post + post]
        return jnp.clip(w + cfg.eta * dw, 0.0, cfg.w_max)

    def on_post(member, pre, post, w):
        dw = rule.beta[member, j] + rule.gamma[member, j] * x_pre[member * n_pre + pre]
        return jnp.clip(w + cfg.eta * dw, 0.0, cfg.w_max)

    return on_pre, on_post


def _mlp_updates(cfg: FSBIConfig, rule: MLPRule, traces: dict[str, Array], post_neurons: Any, name: str, n_pre: int, n_post: int):
    j = {"ee": 0, "ie": 1}[name]
    pre_pop = PROJECTION_ENDS[name][0]
    x_pre1 = traces[f"{pre_pop}_pre1"].reshape(-1)
    x_pre2 = traces[f"{pre_pop}_pre2"].reshape(-1)
    x_post1 = traces["E_post1"].reshape(-1)
    x_post2 = traces["E_post2"].reshape(-1)
    v, cexc, cinh = (getattr(post_neurons, f).reshape(-1) for f in ("vtrace", "cexc", "cinh"))

    def inputs(member, pre, post, w, first, second):
        shape = jnp.broadcast_shapes(pre.shape, post.shape, w.shape)
        at_post = member * n_post + post
        cols = [2.0 * first, 2.0 * second, w, 15.0 * v[at_post], 15.0 * cexc[at_post], 15.0 * cinh[at_post]]
        return jnp.stack([jnp.broadcast_to(c, shape) for c in cols], axis=-1)

    def on_pre(member, pre, post, w):
        x = inputs(member, pre, post, w, x_pre2[member * n_pre + pre], x_post1[member * n_post + post])
        return jnp.clip(w + rule(j, 0, member, x), 0.0, cfg.w_max)

    def on_post(member, pre, post, w):
        x = inputs(member, pre, post, w, x_pre1[member * n_pre + pre], x_post2[member * n_post + post])
        return jnp.clip(w + rule(j, 1, member, x), 0.0, cfg.w_max)

    return on_pre, on_post


# --- one step ----------------------------------------------------------------------------------

def synapses_step(
    structure: FSBIStructure, conns: dict[str, Connectivity], rule: Any, decays: dict[str, Array],
    weights: dict[str, Array], traces: dict[str, Array], neurons: dict[str, Any], arrived: dict[str, Array],
    spikes: dict[str, Array], sources: Array, block: int,
) -> tuple[dict[str, tuple[Array, Array]], dict[str, Array], dict[str, Array]]:
    """Steps 3–5 of the module docstring for a batch: transmit ``arrived`` spikes (``[R, n]`` per
    population, emitted ``delay`` ago) and external ``sources`` ``[R, n_ext]``, apply on-pre then
    on-post plasticity (``spikes`` of this step), update the traces.

    Returns (pending (exc, inh) increments per population, weights, traces).
    """
    cfg = structure.config
    batch = sources.shape[0]
    arrived_index = {p: index_spikes(arrived[p]) for p in ("E", "I")}
    spike_index = {p: index_spikes(spikes[p]) for p in ("E", "I")}
    static_w = {"ee": cfg.w_ee, "ei": cfg.w_ei, "ie": cfg.w_ie, "ii": cfg.w_ii}
    updates = {}
    for name in cfg.plastic:
        pre, post = PROJECTION_ENDS[name]
        n_pre, n_post = structure.size[pre], structure.size[post]
        if cfg.task == "polynomial":
            updates[name] = _polynomial_updates(cfg, rule, traces, name, n_pre, n_post)
        else:
            updates[name] = _mlp_updates(cfg, rule, traces, neurons[post], name, n_pre, n_post)
    weights = dict(weights)
    increments = {}
    for name in ("ee", "ei", "ie", "ii"):
        pre, _ = PROJECTION_ENDS[name]
        if name in weights:
            increments[name], weights[name] = transmit_and_update_pre(
                arrived_index[pre], conns[name], weights[name], batch, block, updates[name][0])
        else:
            w = jnp.full((batch,), static_w[name], jnp.float32)
            increments[name], _ = transmit_and_update_pre(arrived_index[pre], conns[name], w, batch, block, None)
    source_index = index_spikes(sources)
    w_ext = jnp.full((batch,), cfg.w_ext, jnp.float32)
    ext_e, _ = transmit_and_update_pre(source_index, conns["ext_e"], w_ext, batch, block, None)
    ext_i, _ = transmit_and_update_pre(source_index, conns["ext_i"], w_ext, batch, block, None)
    pending = {"E": (increments["ee"] + ext_e, increments["ie"]), "I": (increments["ei"] + ext_i, increments["ii"])}
    for name in cfg.plastic:
        _, post = PROJECTION_ENDS[name]
        weights[name] = update_post(spike_index[post], conns[name], weights[name], batch, block, updates[name][1])
    return pending, weights, _new_traces(cfg, decays, traces, arrived, spikes)


def _new_traces(cfg: FSBIConfig, decays: dict[str, Array], traces: dict[str, Array], arrived: dict[str, Array],
                spikes: dict[str, Array]) -> dict[str, Array]:
    """Step 5: presynaptic traces +1 for arrivals, postsynaptic traces +1 for spikes, then decay."""
    new_traces = {}
    for name, (pop, side) in trace_names(cfg).items():
        events = arrived[pop] if side == "pre" else spikes[pop]
        new_traces[name] = (traces[name] + events) * decays[name][:, None]
    return new_traces



def fsbi_step(
    structure: FSBIStructure, conns: dict[str, Connectivity], rule: Any, r_ext: Array, decays: dict[str, Array],
    ext_uniforms: Array, state: FSBIState, block: int,
) -> tuple[FSBIState, dict[str, Array]]:
    """Advance ``R`` rules by one step (see the module docstring), with ``ext_uniforms`` ``[R, capacity]``
    the random numbers of the external sources for step ``state.step - delay`` (:func:`external_uniforms`,
    :func:`external_draws`). Returns the state
    and the step's spikes ``{"E": [R, n_E], "I": [R, n_I]}`` (zero for stopped rules)."""
    cfg = structure.config
    dt = cfg.dt
    model = neuron_models(cfg)
    alive = state.alive

    # 1. neurons
    neurons, spikes = {}, {}
    for pop in ("E", "I"):
        exc, inh = state.pending[pop]
        zeros = jnp.zeros_like(exc)
        neurons[pop], spk = jax.vmap(lambda s, e, i, z: model.step(s, NeuronInput(e, i, z), dt))(
            state.neurons[pop], exc, inh, zeros)
        spikes[pop] = spk * alive[:, None]

    # 2. blow-up guard, on the E spikes that arrive now (emitted `delay` steps ago), as the original
    # counts them
    slot = state.step % cfg.delay_steps
    arrived = {p: state.ring[p][slot] for p in ("E", "I")}
    t_now = (state.step + 1).astype(jnp.float32) * dt
    guard = state.rate_guard * math.exp(-dt / cfg.blowup_tau) + arrived["E"].sum(axis=1) / (cfg.blowup_tau * cfg.n_exc)
    tripped = alive & ((guard >= cfg.blowup_limit) | (guard <= 0))
    stop_time = jnp.where(tripped, t_now, state.stop_time)
    alive_next = alive & ~tripped

    # 3.-5. arrivals, plasticity, traces
    ring = {p: state.ring[p].at[slot].set(spikes[p]) for p in ("E", "I")}
    ids, ext_over, ext_next = external_draws(ext_uniforms[None], state.ext_next, state.step, r_ext, cfg)
    sources = source_spikes(ids[0], cfg.n_ext)
    pending, weights, traces = synapses_step(
        structure, conns, rule, decays, state.weights, state.traces, neurons, arrived, spikes,
        sources * alive[:, None], block)

    new_state = FSBIState(
        neurons=neurons, pending=pending, ring=ring, weights=weights, traces=traces, rate_guard=guard,
        alive=alive_next, stop_time=stop_time, ext_overflow=state.ext_overflow + ext_over[0] * alive,
        ext_next=ext_next,
        step=state.step + 1,
    )
    return new_state, spikes
