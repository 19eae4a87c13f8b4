"""Networks: populations of neurons, projections between them, and external inputs.

Structure is static and values are dynamic. A :class:`Network` holds the structure (sizes,
connectivity index arrays, delays, receptor types) and default values; :class:`NetworkParams` holds
the values that may differ between members of a batch (neuron parameters, weights, input rates and
currents). One compiled program serves every member of a batch.

One time step of ``dt``, in this order (:func:`network_step`):

1. inputs: spikes emitted ``delay`` steps ago are delivered through each static projection (scaled by
   the projection's short-term-plasticity efficacy ``u x`` when it has one: the spike reaches the
   presynaptic terminal after the axonal delay, and facilitation and depression act there), the
   increments transmitted at the end of the last step (plastic projections, delayed inputs) are
   added, Bernoulli Poisson sources draw their spikes and deliver them, currents are evaluated;
2. neuron update and spikes: every population advances with the summed increments (a member stopped
   by the blow-up guard emits no spikes);
3. the new spikes are written into each population's delay ring buffer;
4. arrivals (only for networks with a guard, plastic projections or delayed inputs): the blow-up
   guard counts the spikes that reach the synapses now; each plastic projection transmits the spikes
   emitted ``delay - 1`` steps ago with its current weights and applies its on-pre updates, delayed
   inputs (:class:`jaxsnn.sources.RenewalSources`) transmit theirs, into increments used from the next
   step on; then the on-post updates for this step's spikes, then the traces (see
   :mod:`jaxsnn.plasticity` for the order within a projection).

A spike emitted in step k therefore changes its targets' synaptic variables at the start of step
k + delay_steps (delay_steps >= 1, i.e. at least one dt), whichever way its projection transmits; a
plastic synapse sees it arrive at the end of step k + delay_steps - 1, the moment its conductance
jumps, together with the postsynaptic spikes of that step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import math
from dataclasses import dataclass
from typing import Any, NamedTuple
import weakref

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._validation import check_choice, check_int, check_positive
from .connectivity import Connectivity, _ell
from .neurons.base import NeuronInput, NeuronModel
from .plasticity import PlasticityRule, Synapses, at_members, check_rule, trace_decay
from .propagation import (
    FusedProjections, PooledSpikes, SpikeIndex, deliver_dense, deliver_events, deliver_fused,
    index_spikes, pool_spikes, slots_of_member_ids, transmit_and_update_pre, update_post,
)
from .sources import BernoulliSources, RenewalSources, renewal_source_ids, renewal_uniforms, source_spikes
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
    plasticity: optional long-term plasticity rule (:class:`jaxsnn.PlasticityRule`): the weights become
        state, one per synapse and batch member (``weight`` is their initial value), updated on the
        arrival of presynaptic spikes and on postsynaptic spikes (order: :mod:`jaxsnn.plasticity`).
        Plastic projections are event-driven.
    """

    name: str
    pre: str
    post: str
    connectivity: Connectivity
    weight: Any = 1.0
    receptor: str = "exc"
    delay: float | None = None
    stp: STPParams | None = None
    plasticity: PlasticityRule | None = None

    def __post_init__(self):
        check_choice(f"Projection {self.name!r} receptor", self.receptor, RECEPTORS)
        if self.plasticity is not None:
            check_rule(self.plasticity, f"Projection {self.name!r}")
            if self.stp is not None:
                raise ValueError(f"Projection {self.name!r}: short-term and long-term plasticity on one projection "
                                 "are not supported; give either stp or plasticity")
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
    """A pool of ``n_sources`` Poisson sources firing at ``rate`` (Hz), with their own connectivity into
    one or more populations. Each source spikes at most once per step (``rate * dt`` must not exceed 1).
    ``sources`` says how they draw: independently in every step, delivered at once
    (:class:`jaxsnn.sources.BernoulliSources`, the default), or as Auryn's renewal process with an
    axonal delay (:class:`jaxsnn.sources.RenewalSources`)."""

    name: str
    n_sources: int
    rate: float
    targets: tuple[PoissonTarget, ...]
    sources: BernoulliSources | RenewalSources = BernoulliSources()

    def __post_init__(self):
        check_int(f"PoissonInput {self.name!r} n_sources", self.n_sources, minimum=1)
        check_positive(f"PoissonInput {self.name!r} rate", self.rate, allow_zero=True)
        if not isinstance(self.sources, (BernoulliSources, RenewalSources)):
            raise ValueError(f"PoissonInput {self.name!r}: sources must be BernoulliSources() or RenewalSources(...); "
                             f"got {type(self.sources).__name__}")
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


@dataclass(frozen=True)
class RateGuard:
    """Stops a batch member whose activity runs away (a blow-up), as filter-SBI's simulations do.

    The guard keeps a running rate estimate ``s`` per member (Hz), starting at ``limit / 2``; in every
    step ``s ← s e^{−dt/τ} + n / (τ N)``, with ``n`` the spikes of ``population`` (``N`` neurons) that
    reach their synapses in this step (emitted ``delay − 1`` steps ago; ``delay`` in s, as a
    projection's). A member with ``s ≥ limit`` or ``s ≤ 0`` stops: from the next step on its neurons
    emit nothing and its delayed inputs transmit nothing, so it costs no further synaptic events and
    its weights freeze once the spikes already on their way have arrived. The step it stopped at is in
    ``NetworkState.guard.stop_step``.
    """

    population: str
    limit: float
    tau: float = 1.0
    delay: float | None = None

    def __post_init__(self):
        check_positive("RateGuard limit", self.limit)
        check_positive("RateGuard tau", self.tau)


class GuardState(NamedTuple):
    """Blow-up guard of a batch: ``rate`` ``[B]`` (Hz), ``alive`` ``[B]`` bool, ``stop_step`` ``[B]``
    int32 (the step after which the member stopped: it stopped at time ``stop_step * dt``; -1 while
    running)."""

    rate: Array
    alive: Array
    stop_step: Array


class SourceState(NamedTuple):
    """Renewal sources of a batch: ``offset`` ``[B]`` int32 position of the next spike (-1 before the
    first draw), ``overflow`` ``[B]`` int32 steps whose draw filled the capacity."""

    offset: Array
    overflow: Array


class NetworkParams(NamedTuple):
    """The dynamic values of a network (a pytree; a batch has a leading axis on every leaf).

    neurons: population name -> neuron model (its parameter fields).
    weights: projection name (or ``"input/post"`` for Poisson targets) -> scalar or ``[n_synapses]``.
    rates: Poisson input name -> rate (Hz).
    currents: current input name -> amplitude.
    stp: projection name -> :class:`STPParams` (only projections with short-term plasticity).
    plasticity: projection name -> :class:`jaxsnn.PlasticityRule` (only plastic projections; their
        ``weights`` entry is the initial weight).
    """

    neurons: dict[str, NeuronModel]
    weights: dict[str, Array]
    rates: dict[str, Array]
    currents: dict[str, Array]
    stp: dict[str, STPParams] = {}  # never mutated: a shared empty default is safe
    plasticity: dict[str, PlasticityRule] = {}


class NetworkState(NamedTuple):
    """Dynamic state of a batch of networks.

    neurons: population name -> model state with ``[B, n]`` leaves.
    ring: population name -> ``[D, B, n]`` float32 spikes of the last D steps (D = max delay in steps).
    step: int32 index of the next step.
    stp: projection name -> :class:`STPState` with ``[B, n_pre]`` leaves (projections with STP only).
    weights: plastic projection -> ``[B, n_synapses]`` current weights.
    traces: plastic projection -> trace name -> ``[B, n]`` (n of the trace's side).
    pending: population -> receptor -> ``[B, n]`` increments transmitted at the end of the last step
        (populations targeted by plastic projections or delayed inputs).
    sources: renewal Poisson input name -> :class:`SourceState`.
    guard: :class:`GuardState` of the network's :class:`RateGuard`, or None.
    overflow: ``[B]`` int32 steps in which some spikes did not fit the capacity of the static strategy
        (:func:`network_step` with ``capacity``; None with the event strategy).
    """

    neurons: dict[str, Any]
    ring: dict[str, Array]
    step: Array
    stp: dict[str, STPState] = {}  # never mutated: a shared empty default is safe
    weights: dict[str, Array] = {}
    traces: dict[str, dict[str, Array]] = {}
    pending: dict[str, dict[str, Array]] = {}
    sources: dict[str, SourceState] = {}
    guard: GuardState | None = None
    overflow: Array | None = None


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
        guard: optional :class:`RateGuard` stopping members whose activity blows up.
    """

    dt: float
    populations: tuple[Population, ...]
    projections: tuple[Projection, ...] = ()
    poisson_inputs: tuple[PoissonInput, ...] = ()
    currents: tuple[CurrentInput, ...] = ()
    propagation: str = "auto"
    block: int | None = None
    guard: RateGuard | None = None

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
            if proj.plasticity is not None:
                if self.propagation == "dense":
                    raise ValueError(f"Projection {proj.name!r} is plastic: plastic projections are event-driven, "
                                     "but propagation='dense' was asked for; use propagation='events' or 'auto'")
                model = self.population(proj.post).model
                fields = type(model.init(1))._fields
                for var in type(proj.plasticity).post_variables:
                    if var not in fields:
                        raise ValueError(f"Projection {proj.name!r}: rule {type(proj.plasticity).__name__} reads the "
                                         f"postsynaptic variable {var!r}, which {type(model).__name__} lacks; it has "
                                         f"{list(fields)}")
        if self.guard is not None:
            if self.guard.population not in sizes:
                raise ValueError(f"RateGuard: unknown population {self.guard.population!r}; known: {names}")
            self._steps_of_delay("RateGuard", self.guard.delay)
        for inp in self.poisson_inputs:
            if isinstance(inp.sources, RenewalSources):
                self._steps_of_delay(f"PoissonInput {inp.name!r}", inp.sources.delay)
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
        return self._steps_of_delay(f"Projection {proj.name!r}", proj.delay)

    def _steps_of_delay(self, what: str, delay: float | None) -> int:
        delay = self.dt if delay is None else delay
        steps = delay / self.dt
        if abs(steps - round(steps)) > 1e-6 or round(steps) < 1:
            raise ValueError(f"{what}: delay {delay!r} s must be a whole number (>= 1) of dt = {self.dt} s")
        return int(round(steps))

    def guard_delay_steps(self) -> int:
        """Steps after which the guard counts a spike (as a projection of the guard's delay)."""
        return self._steps_of_delay("RateGuard", self.guard.delay)

    def source_delay_steps(self, inp: PoissonInput) -> int:
        """Delay (steps) of a renewal input's spikes."""
        return self._steps_of_delay(f"PoissonInput {inp.name!r}", inp.sources.delay)

    def ring_length(self, pop: str) -> int:
        """Number of past steps of spikes kept for population ``pop`` (its longest outgoing delay)."""
        delays = [self.delay_steps(p) for p in self.projections if p.pre == pop]
        if self.guard is not None and self.guard.population == pop:
            delays.append(self.guard_delay_steps())
        return max(delays, default=1)

    @property
    def plastic(self) -> tuple[Projection, ...]:
        """The projections that carry a plasticity rule."""
        return tuple(p for p in self.projections if p.plasticity is not None)

    @property
    def renewal_inputs(self) -> tuple[PoissonInput, ...]:
        return tuple(i for i in self.poisson_inputs if isinstance(i.sources, RenewalSources))

    def pending_populations(self) -> tuple[str, ...]:
        """Populations receiving increments transmitted at the end of a step (plastic projections,
        delayed inputs), in population order."""
        targets = {p.post for p in self.plastic} | {t.post for i in self.renewal_inputs for t in i.targets}
        return tuple(p.name for p in self.populations if p.name in targets)

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
            plasticity={p.name: p.plasticity for p in self.plastic},
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
        weights, traces = {}, {}
        for proj in self.plastic:
            if proj.name not in params.plasticity:
                raise ValueError(f"Projection {proj.name!r} is plastic but params.plasticity has no rule for it")
            n_syn = proj.connectivity.n_synapses
            w0 = jnp.asarray(params.weights[proj.name], jnp.float32)
            weights[proj.name] = jnp.broadcast_to(w0.reshape((batch,) + (1,) * (w0.ndim == 1)), (batch, n_syn))
            size = {"pre": self.population(proj.pre).size, "post": self.population(proj.post).size}
            traces[proj.name] = {name: jnp.zeros((batch, size[tr.side]), jnp.float32)
                                 for name, tr in proj.plasticity.traces().items()}
        pending = {pop: {r: jnp.zeros((batch, self.population(pop).size), jnp.float32) for r in RECEPTORS}
                   for pop in self.pending_populations()}
        sources = {i.name: SourceState(jnp.full((batch,), -1, jnp.int32), jnp.zeros((batch,), jnp.int32))
                   for i in self.renewal_inputs}
        guard = None
        if self.guard is not None:
            guard = GuardState(jnp.full((batch,), self.guard.limit / 2, jnp.float32), jnp.ones((batch,), bool),
                               jnp.full((batch,), -1, jnp.int32))
        return NetworkState(neurons, ring, jnp.int32(0), stp, weights, traces, pending, sources, guard)

    def structure(self) -> dict[str, Any]:
        """The index arrays of every projection and Poisson target (dense 0/1 matrices where the
        dense path is used), keyed by weight name. Passed to jitted code as an argument so large
        connectivity is not baked into the compiled program as constants."""
        out = {}
        for proj in self.projections:
            out[proj.name] = proj.connectivity if proj.plasticity is not None else self._structure_of(proj.connectivity)
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
        if (proj.stp is None and proj.plasticity is None and np.ndim(proj.weight) == 0
                and not net.uses_dense(proj.connectivity)):
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
    net: Network, structure: dict[str, Any], params: NetworkParams, state: NetworkState, keys: Array,
    member_keys: Array | None = None, capacity: dict[str, int] | None = None,
) -> tuple[NetworkState, dict[str, Array]]:
    """Advance a batch of networks by one step (order: module docstring).

    Args:
        structure: ``net.structure()`` (passed in so jitted callers take it as an argument).
        params: batched values (every leaf with a leading axis ``B``).
        keys: ``[B]`` PRNG keys for this step (``fold_in(member_key, step)``).
        member_keys: ``[B]`` keys of the members, needed by renewal inputs (which draw from
            ``fold_in(member_key, emission step)``).
        capacity: None for the event strategy (loops over the step's spikes, cost in proportion to
            activity); else the static strategy (:func:`static_capacity`): the spikes of the whole
            batch in one step of each population and Bernoulli Poisson input compacted into this many
            slots, every shape fixed. A step in which some member's spikes did not fit adds 1 to that member's
            ``state.overflow`` (which must then be an ``[B]`` int32 array): its results are wrong and
            the caller reruns with a larger capacity (:func:`jaxsnn.simulate` does).
    Returns:
        ``(state, spikes)`` with ``spikes[pop]`` of shape ``[B, n]`` (float32 0/1).
    """
    batch = keys.shape[0]
    indexer = _Indexer(capacity)
    dt = net.dt
    exc = {p.name: jnp.zeros((batch, p.size), jnp.float32) for p in net.populations}
    inh = {p.name: jnp.zeros((batch, p.size), jnp.float32) for p in net.populations}
    current = {p.name: jnp.zeros((batch, p.size), jnp.float32) for p in net.populations}
    targets = {"exc": exc, "inh": inh}
    alive = None if state.guard is None else state.guard.alive

    # 1. inputs: increments transmitted at the end of the last step, delayed recurrent spikes, Poisson
    # sources, currents
    for pop, by_receptor in state.pending.items():
        for receptor, inc in by_receptor.items():
            targets[receptor][pop] = targets[receptor][pop] + inc
    # the fused ELL walks the spikes of several populations as one index: an event-strategy tool
    layout = fused_layout(net) if FUSED_KEY in structure and capacity is None else None
    fused_names = set(layout.weight_names) if layout is not None else set()
    delayed_spikes: dict[tuple[str, int], Array] = {}

    def delayed(pop: str, d: int) -> Array:
        if (pop, d) not in delayed_spikes:
            ring = state.ring[pop]
            delayed_spikes[pop, d] = ring[(state.step - d) % ring.shape[0]]
        return delayed_spikes[pop, d]

    sources = {}
    for i, inp in enumerate(net.poisson_inputs):
        if isinstance(inp.sources, RenewalSources):
            continue
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

    indexed: dict[Any, SpikeIndex | PooledSpikes] = {}  # one per presynaptic array: (population, delay) or input

    def index_of(key: Any, x: Array) -> SpikeIndex | PooledSpikes:
        if key not in indexed:
            indexed[key] = indexer(key[0] if isinstance(key, tuple) else key, x)
        return indexed[key]

    new_stp: dict[str, STPState] = {}
    for proj in net.projections:
        if proj.plasticity is not None or (proj.name in fused_names and proj.name not in separate):
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
        if inp.name not in sources:
            continue
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
        if alive is not None:  # a stopped member is frozen: no spikes, so no synaptic events
            spikes[pop.name] = spikes[pop.name] * alive[:, None]

    # 3. spikes into the delay rings
    ring = {}
    for pop in net.populations:
        r = state.ring[pop.name]
        ring[pop.name] = r.at[state.step % r.shape[0]].set(spikes[pop.name])
    new_state = NetworkState(new_neurons, ring, state.step + 1, new_stp, state.weights, state.traces, {},
                             state.sources, state.guard, state.overflow)

    # 4. arrivals: guard, plastic projections, delayed inputs
    if net.guard is not None or net.plastic or net.renewal_inputs:
        new_state = _arrivals(net, structure, params, state, new_state, spikes, member_keys, indexer)
    if capacity is not None:
        if state.overflow is None:
            raise ValueError("network_step with a capacity (static strategy) needs state.overflow, an [B] int32 "
                             "count: state._replace(overflow=jnp.zeros(B, jnp.int32))")
        new_state = new_state._replace(overflow=state.overflow + indexer.overflowed(batch))
    return new_state, spikes


class _Indexer:
    """Indexes one step's spikes for the event loops (:class:`SpikeIndex`), or, with capacities (the
    static strategy), compacts them into slots shared by the batch (:class:`PooledSpikes`) and remembers
    which members overflowed."""

    def __init__(self, capacity: dict[str, int] | None):
        self.capacity = capacity
        self.flags: list[Array] = []

    def __call__(self, name: str, spikes: Array) -> SpikeIndex | PooledSpikes:
        if self.capacity is None:
            return index_spikes(spikes)
        if name not in self.capacity:
            raise ValueError(f"the static strategy needs a spike capacity for {name!r}; given for {sorted(self.capacity)}")
        compact = pool_spikes(spikes, self.capacity[name])
        self.flags.append(compact.overflow)
        return compact

    def ids(self, ids: Array, n: int) -> SpikeIndex | PooledSpikes:
        """Spikes given as ``[B, capacity]`` ascending ids (``n`` unused): as slots, or indexed."""
        if self.capacity is None:
            return index_spikes(source_spikes(ids, n))
        return slots_of_member_ids(ids, n)

    def overflowed(self, batch: int) -> Array:
        """``[B]`` int32: 1 for members whose spikes did not fit somewhere in this step."""
        out = jnp.zeros((batch,), bool)
        for flag in self.flags:
            out = out | flag
        return out.astype(jnp.int32)


def static_capacity(size: int, dt: float, rate: float = 50.0) -> int:
    """Spike slots per step for ``size`` neurons (or sources; a batch of B networks: B times a
    population's size) firing at up to ``rate`` Hz on average: the Poisson mean plus 8 standard
    deviations and 8, at most ``size``. A run whose activity exceeds it overflows and is rerun with a
    larger capacity (never silently cut)."""
    mean = size * rate * dt
    return int(min(size, math.ceil(mean + 8 * math.sqrt(mean) + 8)))


def _arrived(net: Network, ring: dict[str, Array], step: Array, pop: str, delay_steps: int) -> Array:
    """``[B, n]`` spikes of ``pop`` that reach their synapses at the end of ``step``: emitted
    ``delay_steps - 1`` steps earlier (this step's own spikes for a delay of one step)."""
    r = ring[pop]
    return r[(step - (delay_steps - 1)) % r.shape[0]]


def _arrivals(net: Network, structure: dict[str, Any], params: NetworkParams, old: NetworkState,
              new: NetworkState, spikes: dict[str, Array], member_keys: Array | None, indexer: "_Indexer") -> NetworkState:
    """Step 4 of the module docstring: the guard, transmission and on-pre updates of plastic projections,
    delayed inputs, on-post updates, traces. ``old``: the state at the start of the step."""
    batch = spikes[net.populations[0].name].shape[0]
    step = old.step
    block = net.block or default_block(batch)
    alive = None if old.guard is None else old.guard.alive

    guard = old.guard
    if net.guard is not None:
        g = net.guard
        n = net.population(g.population).size
        came = _arrived(net, new.ring, step, g.population, net.guard_delay_steps())
        rate = guard.rate * math.exp(-net.dt / g.tau) + came.sum(axis=1) / (g.tau * n)
        tripped = guard.alive & ((rate >= g.limit) | (rate <= 0))
        guard = GuardState(rate, guard.alive & ~tripped, jnp.where(tripped, step + 1, guard.stop_step))

    pending = {pop: {r: jnp.zeros((batch, net.population(pop).size), jnp.float32) for r in RECEPTORS}
               for pop in net.pending_populations()}
    weights = dict(old.weights)
    arrivals: dict[str, Array] = {}
    updates = {}
    for proj in net.plastic:
        came = _arrived(net, new.ring, step, proj.pre, net.delay_steps(proj))
        arrivals[proj.name] = came
        updates[proj.name] = _rule_updates(net, proj, params.plasticity[proj.name], old.traces[proj.name],
                                           new.neurons[proj.post])
        inc, weights[proj.name] = transmit_and_update_pre(indexer(proj.pre, came), proj.connectivity, weights[proj.name],
                                                          batch, block, updates[proj.name][0])
        pending[proj.post][proj.receptor] = pending[proj.post][proj.receptor] + inc

    sources = dict(old.sources)
    for inp in net.renewal_inputs:
        if member_keys is None:
            raise ValueError(f"PoissonInput {inp.name!r} draws renewal sources: network_step needs member_keys")
        d = net.source_delay_steps(inp)
        emitted = step - (d - 1)  # the emission step whose spikes arrive now
        uniforms = jax.vmap(lambda k: renewal_uniforms(k, jnp.maximum(emitted, 0), inp.sources.capacity))(member_keys)
        src = old.sources[inp.name]
        ids, offset, over = jax.vmap(lambda u, o, r: renewal_source_ids(u, o, r, inp.n_sources, net.dt))(
            uniforms, src.offset, params.rates[inp.name])
        has = emitted >= 0
        if alive is not None:  # a stopped member transmits nothing
            has = has & alive
        over = jnp.where(has, over, 0)
        ids = jnp.where(jnp.reshape(has, (-1, 1)), ids, inp.n_sources)
        sources[inp.name] = SourceState(jnp.where(emitted >= 0, offset, src.offset), src.overflow + over)
        index = indexer.ids(ids, inp.n_sources)
        for t in inp.targets:
            w = params.weights[f"{inp.name}/{t.post}"]
            inc, _ = transmit_and_update_pre(index, t.connectivity, jnp.broadcast_to(w, (batch,)), batch, block, None)
            pending[t.post][t.receptor] = pending[t.post][t.receptor] + inc

    traces = {}
    for proj in net.plastic:
        weights[proj.name] = update_post(indexer(proj.post, spikes[proj.post]), proj.connectivity, weights[proj.name],
                                         batch, block, updates[proj.name][1])
        events = {"pre": arrivals[proj.name], "post": spikes[proj.post]}
        rule = params.plasticity[proj.name]
        traces[proj.name] = {
            name: (old.traces[proj.name][name] + events[tr.side]) * _per_member(trace_decay(tr.tau, net.dt))
            for name, tr in rule.traces().items()
        }
    return new._replace(weights=weights, traces=traces, pending=pending, sources=sources, guard=guard)


def _per_member(x: Array) -> Array:
    """A ``[B]`` per-member factor as ``[B, 1]``; a scalar as it is."""
    return x[:, None] if jnp.ndim(x) == 1 else x


def _rule_updates(net: Network, proj: Projection, rule: PlasticityRule, traces: dict[str, Array], post_state: Any):
    """The on-pre and on-post callbacks of ``proj`` for :func:`transmit_and_update_pre` / :func:`update_post`:
    the batched ``rule`` at the events' members, reading traces (before this step's increments) and
    the postsynaptic variables (after this step's update), then clipping to [w_min, w_max]."""
    n_pre, n_post = proj.connectivity.n_pre, proj.connectivity.n_post
    sides = {name: tr.side for name, tr in proj.plasticity.traces().items()}
    flat = {name: x.reshape(-1) for name, x in traces.items()}
    variables = {v: getattr(post_state, v).reshape(-1) for v in type(proj.plasticity).post_variables}
    lo, hi = proj.plasticity.w_min, proj.plasticity.w_max

    def view(member, pre, post):
        at_pre, at_post = member * n_pre + pre, member * n_post + post
        return Synapses(pre={k: x[at_pre] for k, x in flat.items() if sides[k] == "pre"},
                        post={k: x[at_post] for k, x in flat.items() if sides[k] == "post"},
                        neuron={k: x[at_post] for k, x in variables.items()})

    def on_pre(member, pre, post, w):
        return jnp.clip(w + at_members(rule, member).on_pre(w, view(member, pre, post)), lo, hi)

    def on_post(member, pre, post, w):
        return jnp.clip(w + at_members(rule, member).on_post(w, view(member, pre, post)), lo, hi)

    return on_pre, on_post
