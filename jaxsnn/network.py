"""Networks: populations of neurons, projections between them, and external inputs.

Structure is static and values are dynamic. A :class:`Network` holds the structure (sizes,
connectivity index arrays, delays, receptor types) and default values; :class:`NetworkParams` holds
the values that may differ between members of a batch (neuron parameters, weights, input rates and
currents). One compiled program serves every member of a batch.

One time step of ``dt``, in this order (:func:`network_step`):

1. inputs: spikes emitted ``delay`` steps ago are delivered through each projection (scaled by the
   projection's short-term-plasticity efficacy ``u x`` when it has one: the spike reaches the
   presynaptic terminal after the axonal delay, and facilitation and depression act there), Poisson
   sources draw their spikes and deliver them, currents are evaluated;
2. neuron update and spikes: every population advances with the summed increments;
3. the new spikes are written into each population's delay ring buffer.

A spike emitted in step k therefore changes its targets' synaptic variables at the start of step
k + delay_steps (delay_steps >= 1, i.e. at least one dt).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
import weakref

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._validation import check_choice, check_int, check_positive, check_shape
from .connectivity import Connectivity, _ell
from .neurons.base import NeuronInput, NeuronModel
from .propagation import FusedProjections, SpikeIndex, deliver_dense, deliver_events, deliver_fused, index_spikes
from .stp import STPParams, STPState, stp_on_spike

RECEPTORS = ("exc", "inh")
PROPAGATION_MODES = ("auto", "events", "dense")
#: Below this many pre x post pairs, ``propagation="auto"`` uses dense matrices.
DENSE_PAIR_LIMIT = 250_000


@dataclass(frozen=True)
class Population:
    """A group of ``size`` neurons of one model (whose fields are the default parameter values)."""

    name: str
    size: int
    model: NeuronModel

    def __post_init__(self):
        check_int(f"Population {self.name!r} size", self.size, minimum=1)
        if not isinstance(self.model, NeuronModel):
            raise ValueError(f"Population {self.name!r}: model must be a jaxsnn neuron model; got {type(self.model).__name__}")


@dataclass(frozen=True)
class Projection:
    """Synapses from population ``pre`` to population ``post``.

    weight: one value for all synapses, or ``[n_synapses]`` in the connectivity's stored order (units
        of the target model's synaptic variable, e.g. units of g_leak for COBA).
    receptor: ``"exc"`` or ``"inh"``: which synaptic variable of the target the weight adds to.
    delay: axonal delay (s), a whole number of steps >= 1.
    stp: optional Tsodyks–Markram short-term plasticity (:class:`jaxsnn.stp.STPParams`, scalars or
        ``[n_pre]``): each presynaptic neuron's spike is transmitted with efficacy ``u x`` times the
        weight (event form, :func:`jaxsnn.stp.stp_on_spike`).
    """

    name: str
    pre: str
    post: str
    connectivity: Connectivity
    weight: Any = 1.0
    receptor: str = "exc"
    delay: float | None = None
    stp: STPParams | None = None

    def __post_init__(self):
        check_choice(f"Projection {self.name!r} receptor", self.receptor, RECEPTORS)
        if self.stp is not None and not isinstance(self.stp, STPParams):
            raise ValueError(f"Projection {self.name!r} stp must be a jaxsnn.stp.STPParams or None; got {type(self.stp).__name__}")
        w = np.asarray(self.weight)
        if w.ndim not in (0, 1) or (w.ndim == 1 and w.shape[0] != self.connectivity.n_synapses):
            raise ValueError(
                f"Projection {self.name!r} weight must be a scalar or have shape [{self.connectivity.n_synapses}] "
                f"(one per synapse); got shape {list(w.shape)}"
            )
        check_positive(f"Projection {self.name!r} weight", w, allow_zero=True)


@dataclass(frozen=True)
class PoissonTarget:
    """How a Poisson pool projects into one population (weights as in :class:`Projection`)."""

    post: str
    connectivity: Connectivity
    weight: Any = 1.0
    receptor: str = "exc"

    def __post_init__(self):
        check_choice("PoissonTarget receptor", self.receptor, RECEPTORS)


@dataclass(frozen=True)
class PoissonInput:
    """A pool of ``n_sources`` independent Poisson sources firing at ``rate`` (Hz), with their own
    connectivity into one or more populations. Each source spikes at most once per step, with
    probability ``rate * dt`` (which must not exceed 1)."""

    name: str
    n_sources: int
    rate: float
    targets: tuple[PoissonTarget, ...]

    def __post_init__(self):
        check_int(f"PoissonInput {self.name!r} n_sources", self.n_sources, minimum=1)
        check_positive(f"PoissonInput {self.name!r} rate", self.rate, allow_zero=True)
        for t in self.targets:
            if t.connectivity.n_pre != self.n_sources:
                raise ValueError(
                    f"PoissonInput {self.name!r}: connectivity into {t.post!r} has n_pre = {t.connectivity.n_pre}, "
                    f"expected n_sources = {self.n_sources}"
                )


@dataclass(frozen=True)
class CurrentInput:
    """An external drive into population ``post``: ``amplitude * time_course(t)``.

    amplitude: scalar or ``[size]`` (in the model's ``current`` unit: A for LIF/AdEx, V for COBALIF
        and the IF neurons). time_course: optional function of time t (s, a traced scalar) returning a
        scalar or ``[size]`` factor; constant 1 when omitted.
    """

    name: str
    post: str
    amplitude: Any
    time_course: Callable[[Array], Array] | None = None


class NetworkParams(NamedTuple):
    """The dynamic values of a network (a pytree; a batch has a leading axis on every leaf).

    neurons: population name -> neuron model (its parameter fields).
    weights: projection name (or ``"input/post"`` for Poisson targets) -> scalar or ``[n_synapses]``.
    rates: Poisson input name -> rate (Hz).
    currents: current input name -> amplitude.
    stp: projection name -> :class:`STPParams` (only projections with short-term plasticity).
    """

    neurons: dict[str, NeuronModel]
    weights: dict[str, Array]
    rates: dict[str, Array]
    currents: dict[str, Array]
    stp: dict[str, STPParams] = {}  # never mutated: a shared empty default is safe


class NetworkState(NamedTuple):
    """Dynamic state of a batch of networks.

    neurons: population name -> model state with ``[B, n]`` leaves.
    ring: population name -> ``[D, B, n]`` float32 spikes of the last D steps (D = max delay in steps).
    step: int32 index of the next step.
    stp: projection name -> :class:`STPState` with ``[B, n_pre]`` leaves (projections with STP only).
    """

    neurons: dict[str, Any]
    ring: dict[str, Array]
    step: Array
    stp: dict[str, STPState] = {}  # never mutated: a shared empty default is safe


@dataclass(frozen=True, eq=False)
class Network:
    """A spiking network: populations, projections, Poisson inputs and currents.

    Args:
        dt: time step (s).
        propagation: ``"events"`` (event-driven spike buffers), ``"dense"`` (matrix products; small
            networks, differentiable through spikes) or ``"auto"`` (dense below
            ``DENSE_PAIR_LIMIT`` pre x post pairs).
        block: spikes per iteration of the event-driven loops (a tuning knob), or None: chosen from the
            batch size by :func:`default_block` (8 for one network, up to 64 for batches of 8 or more).
    """

    dt: float
    populations: tuple[Population, ...]
    projections: tuple[Projection, ...] = ()
    poisson_inputs: tuple[PoissonInput, ...] = ()
    currents: tuple[CurrentInput, ...] = ()
    propagation: str = "auto"
    block: int | None = None

    def __post_init__(self):
        check_positive("dt", self.dt)
        check_choice("propagation", self.propagation, PROPAGATION_MODES)
        if self.block is not None:
            check_int("block", self.block, minimum=1)
        names = [p.name for p in self.populations]
        if len(set(names)) != len(names):
            raise ValueError(f"population names must be unique; got {names}")
        sizes = dict(zip(names, (p.size for p in self.populations)))
        for proj in self.projections:
            for end, pop in (("pre", proj.pre), ("post", proj.post)):
                if pop not in sizes:
                    raise ValueError(f"Projection {proj.name!r}: unknown {end} population {pop!r}; known: {names}")
            c = proj.connectivity
            if (c.n_pre, c.n_post) != (sizes[proj.pre], sizes[proj.post]):
                raise ValueError(
                    f"Projection {proj.name!r}: connectivity is {c.n_pre} x {c.n_post} but populations "
                    f"{proj.pre!r}, {proj.post!r} have sizes {sizes[proj.pre]} x {sizes[proj.post]}"
                )
            self.delay_steps(proj)
        for inp in self.poisson_inputs:
            if inp.rate * self.dt > 1:
                raise ValueError(f"PoissonInput {inp.name!r}: rate * dt = {inp.rate * self.dt} exceeds 1")
            for t in inp.targets:
                if t.post not in sizes:
                    raise ValueError(f"PoissonInput {inp.name!r}: unknown target population {t.post!r}")
                if t.connectivity.n_post != sizes[t.post]:
                    raise ValueError(f"PoissonInput {inp.name!r}: connectivity into {t.post!r} has n_post "
                                     f"{t.connectivity.n_post}, population size is {sizes[t.post]}")
        for cur in self.currents:
            if cur.post not in sizes:
                raise ValueError(f"CurrentInput {cur.name!r}: unknown population {cur.post!r}")
        all_names = [p.name for p in self.projections] + [i.name for i in self.poisson_inputs] + [c.name for c in self.currents]
        if len(set(all_names)) != len(all_names):
            raise ValueError(f"projection, input and current names must be unique; got {all_names}")

    # -- structure ---------------------------------------------------------------------------
    def population(self, name: str) -> Population:
        for p in self.populations:
            if p.name == name:
                return p
        raise ValueError(f"unknown population {name!r}; known: {[p.name for p in self.populations]}")

    def delay_steps(self, proj: Projection) -> int:
        """The projection's delay in whole steps (>= 1)."""
        delay = self.dt if proj.delay is None else proj.delay
        steps = delay / self.dt
        if abs(steps - round(steps)) > 1e-6 or round(steps) < 1:
            raise ValueError(
                f"Projection {proj.name!r}: delay {delay!r} s must be a whole number (>= 1) of dt = {self.dt} s"
            )
        return int(round(steps))

    def ring_length(self, pop: str) -> int:
        """Number of past steps of spikes kept for population ``pop`` (its longest outgoing delay)."""
        delays = [self.delay_steps(p) for p in self.projections if p.pre == pop]
        return max(delays, default=1)

    def uses_dense(self, conn: Connectivity) -> bool:
        if self.propagation == "auto":
            return conn.n_pre * conn.n_post <= DENSE_PAIR_LIMIT
        return self.propagation == "dense"

    # -- values ------------------------------------------------------------------------------
    def default_params(self) -> NetworkParams:
        """The values stored in the structure, for a single network (no batch axis)."""
        weights = {p.name: jnp.asarray(p.weight, jnp.float32) for p in self.projections}
        for inp in self.poisson_inputs:
            for t in inp.targets:
                weights[f"{inp.name}/{t.post}"] = jnp.asarray(t.weight, jnp.float32)
        return NetworkParams(
            neurons={p.name: p.model for p in self.populations},
            weights=weights,
            rates={i.name: jnp.asarray(i.rate, jnp.float32) for i in self.poisson_inputs},
            currents={c.name: jnp.asarray(c.amplitude, jnp.float32) for c in self.currents},
            stp={p.name: p.stp for p in self.projections if p.stp is not None},
        )

    def init_state(self, params: NetworkParams, batch: int) -> NetworkState:
        """Initial state of ``batch`` networks (each population from its model's ``init``)."""
        neurons = {
            p.name: jax.vmap(lambda m, n=p.size: m.init(n))(params.neurons[p.name]) for p in self.populations
        }
        ring = {p.name: jnp.zeros((self.ring_length(p.name), batch, p.size), jnp.float32) for p in self.populations}
        stp = {}
        for proj in self.projections:
            if proj.stp is not None:
                if not params.stp or proj.name not in params.stp:
                    raise ValueError(f"Projection {proj.name!r} has short-term plasticity but params.stp has no entry for it")
                n_pre = self.population(proj.pre).size
                u0 = jax.vmap(lambda p, n=n_pre: jnp.broadcast_to(p.U, (n,)))(params.stp[proj.name])
                stp[proj.name] = STPState(u0, jnp.ones((batch, n_pre), jnp.float32))
        return NetworkState(neurons, ring, jnp.int32(0), stp)

    def structure(self) -> dict[str, Any]:
        """The index arrays of every projection and Poisson target (dense 0/1 matrices where the
        dense path is used), keyed by weight name. Passed to jitted code as an argument so large
        connectivity is not baked into the compiled program as constants."""
        out = {}
        for proj in self.projections:
            out[proj.name] = self._structure_of(proj.connectivity)
        for inp in self.poisson_inputs:
            for t in inp.targets:
                out[f"{inp.name}/{t.post}"] = self._structure_of(t.connectivity)
        layout = fused_layout(self)
        if layout is not None:
            out[FUSED_KEY] = layout.fused
        return out

    def _structure_of(self, conn: Connectivity) -> Any:
        return conn.dense(1.0) if self.uses_dense(conn) else conn


def broadcast_params(params: NetworkParams, batch: int) -> NetworkParams:
    """Give every leaf of an unbatched ``params`` a leading axis of ``batch`` (values repeated)."""
    return jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (batch,) + jnp.shape(x)), params)


def stack_params(params: Sequence[NetworkParams]) -> NetworkParams:
    """Stack unbatched params of identical structure into one batch."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *params)


def batch_size_of(params: NetworkParams) -> int:
    """Leading axis length shared by all leaves of a batched ``params``; raises if inconsistent."""
    sizes = {int(jnp.shape(x)[0]) if jnp.ndim(x) else -1 for x in jax.tree_util.tree_leaves(params)}
    if len(sizes) != 1 or -1 in sizes:
        raise ValueError(
            "batched params need one leading batch axis on every leaf; got leading sizes "
            f"{sorted(sizes)} (use broadcast_params or stack_params)"
        )
    return sizes.pop()


def default_block(batch: int) -> int:
    """Spikes per event-loop turn for a batch of ``batch`` networks: a loop turn costs a fixed
    overhead plus its padded rows, so few spikes per step (one network: ~8 in COBA) want small blocks
    and batches want large ones (measured on COBA: 8 best for one network, 64 for 16)."""
    return int(min(64, 8 * batch))


#: Largest padded size of the fused ELL, in multiples of its synapse count.
FUSED_PADDING_LIMIT = 3

#: Key of the fused event structure in ``Network.structure()``.
FUSED_KEY = ":fused"


@dataclass(frozen=True)
class FusedLayout:
    """How the fusable projections of a network map onto one :class:`FusedProjections`.

    Fusable: recurrent projections that are event-driven, without short-term plasticity, with one
    declared weight for all synapses (a scalar per member); the fused ELL is used only while its
    padded size stays within ``FUSED_PADDING_LIMIT`` times the synapse count. ``sources``: the
    presynaptic segments in row order, each ``(population, delay, size)`` (spikes emitted ``delay``
    steps ago); ``targets``: ``(receptor, population) -> first code``; ``weight_names``: the weight
    table's columns.
    """

    sources: tuple[tuple[str, int, int], ...]
    targets: dict[tuple[str, str], int]
    weight_names: tuple[str, ...]
    fused: FusedProjections


_FUSED: "weakref.WeakKeyDictionary[Network, FusedLayout | None]" = weakref.WeakKeyDictionary()


def _fusable(net: Network) -> list[tuple[str, tuple, str, str, Connectivity]]:
    """(weight name, source segment, receptor, post population, connectivity) of each fusable item."""
    items = []
    for proj in net.projections:
        if proj.stp is None and np.ndim(proj.weight) == 0 and not net.uses_dense(proj.connectivity):
            source = (proj.pre, net.delay_steps(proj), proj.connectivity.n_pre)
            items.append((proj.name, source, proj.receptor, proj.post, proj.connectivity))
    # Poisson pools stay out: one ELL has one row width, and a densely connected pool would pad every
    # recurrent row to its width
    return items


def fused_layout(net: Network) -> FusedLayout | None:
    """The fused event structure of ``net`` (built once per network), or None if nothing fuses."""
    if net in _FUSED:
        return _FUSED[net]
    items = _fusable(net)
    layout = None
    if items:
        sources, row_offset, targets, n_codes = [], {}, {}, 0
        for _, source, receptor, post, _ in items:
            if source not in row_offset:
                row_offset[source] = sum(s[2] for s in sources)
                sources.append(source)
            if (receptor, post) not in targets:
                targets[receptor, post] = n_codes
                n_codes += net.population(post).size
        n_rows = sum(s[2] for s in sources)
        rows, codes, projection = [], [], []
        for j, (_, source, receptor, post, conn) in enumerate(items):
            rows.append(np.asarray(conn.pre) + row_offset[source])
            codes.append(np.asarray(conn.post) + targets[receptor, post])
            projection.append(np.full(conn.n_synapses, j, np.int32))
        rows, codes, projection = (np.concatenate(x).astype(np.int32) for x in (rows, codes, projection))
        out_code, out_projection = _ell(rows, codes, n_rows, n_codes, len(items), projection)
        # rows too unequal (one padded width for all): one loop per projection is cheaper
        if out_code.size <= FUSED_PADDING_LIMIT * max(rows.size, 1) + out_code.shape[1]:
            with jax.ensure_compile_time_eval():  # concrete arrays even when first built inside a trace
                fused = FusedProjections(n_rows, n_codes, jnp.asarray(out_code), jnp.asarray(out_projection))
            layout = FusedLayout(tuple(sources), targets, tuple(item[0] for item in items), fused)
    _FUSED[net] = layout
    return layout


def _propagate(
    net: Network, conn: Connectivity, structure: Any, spikes: Array, index: SpikeIndex | None, weights: Array, batch: int,
    efficacy: Array | None = None,
) -> Array:
    """Increments ``[B, n_post]`` from ``[B, n_pre]`` spikes through one projection, each spike scaled
    by ``efficacy`` ``[B, n_pre]`` when given (short-term plasticity)."""
    if not isinstance(structure, Connectivity):  # a dense 0/1 matrix
        if efficacy is not None:
            spikes = efficacy  # already zero where there is no spike
        if weights.ndim == 2:  # per-synapse weights: scatter each member's matrix
            mats = jnp.zeros((batch, conn.n_pre, conn.n_post), jnp.float32)
            mats = mats.at[:, conn.pre, conn.post].add(weights)
            return deliver_dense(spikes, structure, mats)
        return deliver_dense(spikes, structure, weights)
    return deliver_events(index if index is not None else index_spikes(spikes), structure, weights, batch,
                          block=net.block or default_block(batch),
                          pre_scale=efficacy)


def network_step(
    net: Network, structure: dict[str, Any], params: NetworkParams, state: NetworkState, keys: Array
) -> tuple[NetworkState, dict[str, Array]]:
    """Advance a batch of networks by one step.

    Args:
        structure: ``net.structure()`` (passed in so jitted callers take it as an argument).
        params: batched values (every leaf with a leading axis ``B``).
        keys: ``[B]`` PRNG keys for this step.
    Returns:
        ``(state, spikes)`` with ``spikes[pop]`` of shape ``[B, n]`` (float32 0/1).
    """
    batch = keys.shape[0]
    dt = net.dt
    exc = {p.name: jnp.zeros((batch, p.size), jnp.float32) for p in net.populations}
    inh = {p.name: jnp.zeros((batch, p.size), jnp.float32) for p in net.populations}
    current = {p.name: jnp.zeros((batch, p.size), jnp.float32) for p in net.populations}
    targets = {"exc": exc, "inh": inh}

    # 1. inputs: delayed recurrent spikes, Poisson sources, currents
    layout = fused_layout(net) if FUSED_KEY in structure else None
    fused_names = set(layout.weight_names) if layout is not None else set()
    delayed_spikes: dict[tuple[str, int], Array] = {}

    def delayed(pop: str, d: int) -> Array:
        if (pop, d) not in delayed_spikes:
            ring = state.ring[pop]
            delayed_spikes[pop, d] = ring[(state.step - d) % ring.shape[0]]
        return delayed_spikes[pop, d]

    sources = {}
    for i, inp in enumerate(net.poisson_inputs):
        sub = jax.vmap(lambda k: jax.random.fold_in(k, i))(keys)
        p_spike = params.rates[inp.name] * dt
        sources[inp.name] = jax.vmap(lambda k, p: jax.random.bernoulli(k, p, (inp.n_sources,)))(sub, p_spike).astype(jnp.float32)

    # every fused projection whose weights are one value per member goes through one loop; one given
    # per-synapse weights at run time is masked out of it (zero column) and delivered on its own below
    separate: set[str] = set()
    if layout is not None:
        columns = []
        for name in layout.weight_names:
            w = params.weights[name]
            if w.ndim == 1:
                columns.append(w)
            else:
                columns.append(jnp.zeros((batch,), jnp.float32))
                separate.add(name)
        pre = jnp.concatenate([delayed(pop, d) for pop, d, _ in layout.sources], axis=1)
        acc = deliver_fused(index_spikes(pre), structure[FUSED_KEY], jnp.stack(columns, axis=1), batch,
                            block=net.block or default_block(batch))
        for (receptor, pop), first in layout.targets.items():
            size = net.population(pop).size
            targets[receptor][pop] = targets[receptor][pop] + acc[:, first : first + size]

    indexed: dict[Any, SpikeIndex] = {}  # one spike index per presynaptic array: (population, delay) or input

    def index_of(key: Any, x: Array) -> SpikeIndex:
        if key not in indexed:
            indexed[key] = index_spikes(x)
        return indexed[key]

    new_stp: dict[str, STPState] = {}
    for proj in net.projections:
        if proj.name in fused_names and proj.name not in separate:
            continue
        d = net.delay_steps(proj)
        spikes_in = delayed(proj.pre, d)
        efficacy = None
        if proj.stp is not None:
            new_stp[proj.name], efficacy = jax.vmap(lambda p, s, x: stp_on_spike(p, s, x, dt))(
                params.stp[proj.name], state.stp[proj.name], spikes_in
            )
        inc = _propagate(net, proj.connectivity, structure[proj.name], spikes_in, index_of((proj.pre, d), spikes_in),
                         params.weights[proj.name], batch, efficacy)
        targets[proj.receptor][proj.post] = targets[proj.receptor][proj.post] + inc
    for inp in net.poisson_inputs:
        for t in inp.targets:
            name = f"{inp.name}/{t.post}"
            x = sources[inp.name]
            inc = _propagate(net, t.connectivity, structure[name], x, index_of(inp.name, x), params.weights[name], batch)
            targets[t.receptor][t.post] = targets[t.receptor][t.post] + inc
    t_now = state.step.astype(jnp.float32) * dt
    for cur in net.currents:
        amp = params.currents[cur.name]
        amp = amp.reshape(amp.shape + (1,) * (2 - amp.ndim))  # [B] -> [B, 1]
        course = 1.0 if cur.time_course is None else cur.time_course(t_now)
        current[cur.post] = current[cur.post] + amp * course

    # 2. neuron update and spikes
    new_neurons, spikes = {}, {}
    for pop in net.populations:
        inputs = NeuronInput(exc[pop.name], inh[pop.name], current[pop.name])
        new_neurons[pop.name], spikes[pop.name] = jax.vmap(lambda m, s, x: m.step(s, x, dt))(
            params.neurons[pop.name], state.neurons[pop.name], inputs
        )

    # 3. spikes into the delay rings
    ring = {}
    for pop in net.populations:
        r = state.ring[pop.name]
        ring[pop.name] = r.at[state.step % r.shape[0]].set(spikes[pop.name])
    return NetworkState(new_neurons, ring, state.step + 1, new_stp), spikes
