"""A differentiable simulation path for :class:`jaxsnn.Network`: mean firing rates with surrogate gradients.

:func:`population_rates` runs one network (no batch axis; ``jax.vmap`` it for many) for a duration and
returns the mean rate of every population, differentiably with respect to every floating-point leaf of
:class:`jaxsnn.NetworkParams` (neuron parameters, weights, Poisson rates, current amplitudes). Its
forward pass is the step of :func:`jaxsnn.network_step` in the same order with the same random numbers,
so with ``spike_fn=None`` and a dense network it gives exactly the spike counts of :func:`jaxsnn.integrate`
for the same member key; on the event-driven path the sums of arriving spikes run in another order, so
the results agree up to float32 rounding (statistically, not spike for spike). What differs is only the
backward pass:

- Spikes: every population's ``spike_fn`` is replaced by a surrogate (:mod:`jaxsnn.surrogate`): exact
  Heaviside forward, smooth derivative backward.
- Poisson inputs: each source spikes when ``u < rate dt`` (``u`` uniform, as ``jax.random.bernoulli``);
  the gradient is passed straight through, ``d spike / d (rate dt) = 1`` (unbiased for the mean input).
- Resets: the models reset V with ``where(spike, v_reset, v)``, which passes no gradient to the spike
  (the "detached reset", the more robust choice, Zenke & Vogels 2021). ``reset_gradient=True`` adds the
  gradient of a reset by subtraction, ``dV/dspike = v_reset - v_th`` (models with those two fields),
  without changing the forward pass.
- Recurrent spikes: ``recurrent_gradient=False`` (default) stops gradients at the spikes sent through
  projections, so a gradient follows each neuron's own membrane through time but not the network's
  feedback.
- Escape noise: with ``spike_fn=EscapeNoise(scale)`` the neurons become stochastic (a different model from
  the deterministic one that :func:`jaxsnn.simulate` runs): a neuron out of its refractory period spikes in
  a step with probability ``sigmoid(scale (V - v_th))``, where V is the membrane before the reset, and the
  gradient is passed straight through the draw as ``d spike / dV = dp/dV`` (models with ``v_th`` and a
  ``refractory_left`` state: LIF and COBALIF).
- Time: the scan is checkpointed (:func:`jaxsnn.tune.checkpointed_scan`), so gradients through seconds of
  biological time need memory ~ sqrt(steps). Gradients do not flow through the ``warmup``: its final
  state is the (stopped) initial condition of the measured stretch.

Which estimator is reliable where (d rates / d log-scales of the two external rates and the I->E weight of a
200-neuron E/I network, 8 keys x 0.5 s, against central differences under common random numbers;
tests/tune/test_gradients.py):

- Deterministic neurons, surrogate, detached recurrence (the default, used by :func:`tune_rates`): each
  population's derivatives w.r.t. its own drive and inhibition have the right sign but are ~90-290 times too
  large (the surrogate adds a term for every step spent near threshold, a bias that grows as 1/dt); the
  cross-population derivatives are zero. Good for the direction of descent with a scale-free optimizer
  (Adam), which is what rate tuning needs; not for the size of a sensitivity.
- Deterministic neurons with ``recurrent_gradient=True``: NaN or ~1e11 within 0.5 s, growing exponentially
  with duration (the surrogate's gain times the recurrent weights exceeds one). Clipping cannot repair a NaN;
  do not use it for recurrent deterministic networks beyond a few membrane time constants.
- ``reset_gradient=True`` with a 1 mV surrogate: NaN as well (gain 500/V x 10 mV = 5 per reset); only usable
  with surrogates wider than ``v_th - v_reset``.
- ``EscapeNoise(300)`` (soft threshold of ~3 mV; the network then fires at ~75 Hz) with
  ``recurrent_gradient=True``: every entry, cross-effects included, within 0.97-1.9 times the finite
  differences (four of six within 13 %), and the gradient stays finite. Without the feedback the diagonal
  entries are 0.9-3 times too large, and in an uncoupled escape-noise population at ~150 Hz the
  straight-through gradient is ~5 times too large (it ignores that a spike resets the neuron and silences it
  for the refractory period), so the close agreement in the network owes something to compensating errors:
  trust its signs and its order of magnitude, not its digits. A hard escape threshold
  (``EscapeNoise(1000)``) explodes with recurrence like the deterministic surrogate (~1e11).

No estimator here gives calibrated gradient magnitudes of a deterministic spiking network; all give reliable
signs of the own-population effects, which is what :func:`tune_rates` relies on (Adam's steps are scale-free).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array

from .._validation import check_int, check_positive, steps_of
from ..connectivity import Connectivity
from ..network import Network, NetworkParams, NetworkState, broadcast_params
from ..neurons.base import NeuronInput, heaviside
from ..surrogate import EscapeNoise, FastSigmoid, Surrogate
from .checkpoint import checkpointed_scan
from .losses import rate_loss
from .tuner import TuneResult, tune


@jax.custom_jvp
def straight_through_bernoulli(u: Array, p: Array) -> Array:
    """Spikes ``1.0`` where ``u < p`` else ``0.0`` (float32), with the straight-through gradient
    ``d spike / d p = 1`` (the derivative of the mean). ``u``: uniforms on [0, 1); ``p``: probabilities,
    broadcastable to ``u``."""
    return (u < p).astype(jnp.float32)


@straight_through_bernoulli.defjvp
def _straight_through_bernoulli_jvp(primals, tangents):
    (u, p), (_, p_dot) = primals, tangents
    return straight_through_bernoulli(u, p), jnp.broadcast_to(p_dot, u.shape).astype(jnp.float32)


def population_rates(
    net: Network,
    params: NetworkParams,
    key: Array,
    *,
    duration: float,
    warmup: float = 0.0,
    state: NetworkState | None = None,
    spike_fn: Surrogate | EscapeNoise | None = None,
    recurrent_gradient: bool = False,
    reset_gradient: bool = False,
    chunk_size: int | None = None,
) -> dict[str, Array]:
    """Mean firing rate (Hz) of every population of one network over ``duration`` after ``warmup``.

    Args:
        net: the network structure (any propagation mode; dense projections use the dense formula of
            :func:`jaxsnn.network_step`, the others a gather over the incoming index view).
        params: values of ONE network (no batch axis), e.g. ``net.default_params()``.
        key: the network's key; step ``t`` uses ``fold_in(key, t)`` as member keys do in
            :func:`jaxsnn.simulate` (member ``b`` of ``simulate(..., key=k)`` has key ``fold_in(k, b)``).
        duration: measured time (s), a whole number of steps.
        warmup: time (s) simulated first and not counted; gradients stop at its end.
        state: initial state of a batch of ONE network (``net.init_state(broadcast_params(params, 1), 1)``
            by default, e.g. ``jaxsnn.networks.coba_initial_state(..., batch=1)``).
        spike_fn: surrogate spike function put into every population's model, or :class:`EscapeNoise`
            (stochastic threshold, see the module docs); ``None`` keeps each model's own (the exact
            Heaviside by default: forward only, zero gradients through spikes).
        recurrent_gradient: let gradients flow through spikes sent over projections (see module docs).
        reset_gradient: add the reset-by-subtraction gradient ``v_reset - v_th`` (models with ``v_reset``
            and ``v_th`` fields).
        chunk_size: steps per checkpointed chunk (default ``ceil(sqrt(steps))``).

    Returns:
        ``{population name: scalar rate (Hz)}``, each the spike count over neurons and time divided by
        ``size * duration``. Jit-compatible (``net`` and the keyword options static) and vmappable.
    """
    check_positive("duration", duration)
    check_positive("warmup", warmup, allow_zero=True)
    with_stp = [p.name for p in net.projections if p.stp is not None]
    if with_stp:
        raise ValueError(f"population_rates does not model short-term plasticity yet; projections {with_stp} have stp set "
                         "(tune the network without it, or simulate it with jaxsnn.simulate)")
    unsupported = [p.name for p in net.plastic] + [i.name for i in net.renewal_inputs] + (["guard"] if net.guard else [])
    if unsupported:
        raise ValueError(f"population_rates differentiates static networks with Bernoulli inputs; {unsupported} are "
                         "plastic projections, renewal inputs or a blow-up guard (simulate such a network with "
                         "jaxsnn.simulate, or tune it without them)")
    n_steps = steps_of("duration", duration, net.dt)
    n_warmup = steps_of("warmup", warmup, net.dt)
    if spike_fn is not None and not isinstance(spike_fn, (Surrogate, EscapeNoise)):
        raise ValueError(
            f"spike_fn must be a jaxsnn.surrogate.Surrogate (FastSigmoid, Sigmoid, Triangle, Arctan), an "
            f"EscapeNoise or None; got {type(spike_fn).__name__}"
        )
    escape = spike_fn if isinstance(spike_fn, EscapeNoise) else None
    if escape is not None:
        for pop in net.populations:
            model = params.neurons[pop.name]
            if not (hasattr(model, "v_th") and "refractory_left" in type(model.init(1))._fields):
                raise ValueError(
                    f"EscapeNoise needs models with a v_th field and a refractory_left state (LIF, COBALIF); "
                    f"population {pop.name!r} has a {type(model).__name__}"
                )
        spike_fn = None
    if reset_gradient:
        for pop in net.populations:
            if not all(hasattr(params.neurons[pop.name], f) for f in ("v_reset", "v_th")):
                raise ValueError(
                    f"reset_gradient=True needs models with v_reset and v_th fields; population {pop.name!r} "
                    f"has a {type(params.neurons[pop.name]).__name__}"
                )

    if spike_fn is not None:
        neurons = {name: dataclasses.replace(model, spike_fn=spike_fn) for name, model in params.neurons.items()}
        params = params._replace(neurons=neurons)
    batched = broadcast_params(params, 1)
    if state is None:
        state = net.init_state(batched, 1)
    structure = net.structure()
    step = functools.partial(
        _differentiable_step, net, structure, batched, key,
        recurrent_gradient=recurrent_gradient, reset_gradient=reset_gradient, escape=escape,
    )

    def counting_step(carry, _):
        state, counts = carry
        state, spikes = step(state)
        return (state, {p: counts[p] + spikes[p].sum() for p in counts}), None

    zeros = {p.name: jnp.zeros((), jnp.float32) for p in net.populations}
    if n_warmup:
        (state, _), _ = checkpointed_scan(counting_step, (state, zeros), length=n_warmup, chunk_size=chunk_size)
        state = jax.lax.stop_gradient(state)
    (_, counts), _ = checkpointed_scan(counting_step, (state, zeros), length=n_steps, chunk_size=chunk_size)
    return {p.name: counts[p.name] / (p.size * duration) for p in net.populations}


def _differentiable_step(
    net: Network,
    structure: Mapping[str, Any],
    params: NetworkParams,
    key: Array,
    state: NetworkState,
    *,
    recurrent_gradient: bool,
    reset_gradient: bool,
    escape: EscapeNoise | None,
) -> tuple[NetworkState, dict[str, Array]]:
    """One step of :func:`jaxsnn.network_step` for a batch of one network, differentiable (module docs)."""
    dt = net.dt
    keys = jax.random.fold_in(key, state.step)[None]  # [1]: the member keys of network_step
    exc = {p.name: jnp.zeros((1, p.size), jnp.float32) for p in net.populations}
    inh = {p.name: jnp.zeros((1, p.size), jnp.float32) for p in net.populations}
    current = {p.name: jnp.zeros((1, p.size), jnp.float32) for p in net.populations}
    targets = {"exc": exc, "inh": inh}

    # 1. inputs: delayed recurrent spikes, Poisson sources, currents (same order and keys as network_step)
    for proj in net.projections:
        ring = state.ring[proj.pre]
        delayed = ring[(state.step - net.delay_steps(proj)) % ring.shape[0]]
        inc = _propagate(proj.connectivity, structure[proj.name], delayed, params.weights[proj.name])
        targets[proj.receptor][proj.post] = targets[proj.receptor][proj.post] + inc
    for i, inp in enumerate(net.poisson_inputs):
        sub = jax.vmap(lambda k: jax.random.fold_in(k, i))(keys)
        p_spike = params.rates[inp.name] * dt
        u = jax.vmap(lambda k: jax.random.uniform(k, (inp.n_sources,), jnp.float32))(sub)
        sources = straight_through_bernoulli(u, p_spike[:, None])
        for t in inp.targets:
            name = f"{inp.name}/{t.post}"
            inc = _propagate(t.connectivity, structure[name], sources, params.weights[name])
            targets[t.receptor][t.post] = targets[t.receptor][t.post] + inc
    t_now = state.step.astype(jnp.float32) * dt
    for cur in net.currents:
        amp = params.currents[cur.name]
        amp = amp.reshape(amp.shape + (1,) * (2 - amp.ndim))
        course = 1.0 if cur.time_course is None else cur.time_course(t_now)
        current[cur.post] = current[cur.post] + amp * course

    # 2. neuron update and spikes
    new_neurons, spikes = {}, {}
    for j, pop in enumerate(net.populations):
        model = params.neurons[pop.name]
        inputs = NeuronInput(exc[pop.name], inh[pop.name], current[pop.name])
        if escape is None:
            neuron_state, s = jax.vmap(lambda m, st, x: m.step(st, x, dt))(model, state.neurons[pop.name], inputs)
        else:
            u = jax.random.uniform(jax.random.fold_in(keys[0], _ESCAPE_STREAM + j), (1, pop.size), jnp.float32)
            neuron_state, s = _escape_step(model, state.neurons[pop.name], inputs, dt, escape, u)
        if reset_gradient:
            # forward: s - stop_gradient(s) is exactly 0, so V is unchanged; backward: dV/ds = v_reset - v_th
            jump = (model.v_reset - model.v_th)[:, None]
            neuron_state = neuron_state._replace(v=neuron_state.v + (s - jax.lax.stop_gradient(s)) * jump)
        new_neurons[pop.name], spikes[pop.name] = neuron_state, s

    # 3. spikes into the delay rings (what the projections will read)
    ring = {}
    for pop in net.populations:
        sent = spikes[pop.name] if recurrent_gradient else jax.lax.stop_gradient(spikes[pop.name])
        r = state.ring[pop.name]
        ring[pop.name] = r.at[state.step % r.shape[0]].set(sent)
    return NetworkState(new_neurons, ring, state.step + 1), spikes


#: fold_in offset of the escape-noise uniforms of population j in a step key (Poisson inputs use 0, 1, ...)
_ESCAPE_STREAM = 1 << 20


def _no_spikes(x: Array) -> Array:
    """A spike function that never fires: gives the membrane before any reset."""
    return jnp.zeros(x.shape, jnp.float32)


def _escape_step(model, state, inputs: NeuronInput, dt: float, escape: EscapeNoise, u: Array):
    """One escape-noise step of a batch of one population (``u``: ``[1, n]`` uniforms).

    Spiking when ``u < sigmoid(scale (V - v_th))`` is spiking when ``V > v_th + logit(u) / scale``, so the
    model's own exact step with its threshold shifted by that logistic noise gives the spikes and the
    reset; a second step that never fires gives V before the reset, from which the straight-through
    gradient ``dp/dV`` is added to the spikes (zero in the forward pass).
    """
    noise = jnp.log(u) - jnp.log1p(-u)  # logit(u)
    exact = dataclasses.replace(model, spike_fn=heaviside)
    shifted = eqx.tree_at(lambda m: m.v_th, exact, exact.v_th[:, None] + noise / escape.scale)
    new_state, spikes = jax.vmap(lambda m, st, x: m.step(st, x, dt))(shifted, state, inputs)
    free = dataclasses.replace(model, spike_fn=_no_spikes)
    free_state, _ = jax.vmap(lambda m, st, x: m.step(st, x, dt))(free, state, inputs)
    p = escape.probability(free_state.v - model.v_th[:, None])
    can_spike = ~(jnp.maximum(state.refractory_left - dt, 0.0) > 0.5 * dt)  # as the models decide it
    return new_state, spikes + (p - jax.lax.stop_gradient(p)) * can_spike


def _propagate(conn: Connectivity, structure: Any, spikes: Array, weights: Array) -> Array:
    """Increments ``[1, n_post]`` from ``[1, n_pre]`` spikes, differentiable in spikes and weights."""
    if not isinstance(structure, Connectivity):  # dense 0/1 matrix: the expressions of network_step
        if weights.ndim == 2:
            mats = jnp.zeros((1, conn.n_pre, conn.n_post), jnp.float32).at[:, conn.pre, conn.post].add(weights)
            return jnp.einsum("bj,bjk->bk", spikes, mats)
        return (spikes @ structure) * weights[:, None]
    # gather over the incoming view (padding index n_pre reads an appended zero)
    padded = jnp.concatenate([spikes, jnp.zeros((1, 1), spikes.dtype)], axis=1)
    arriving = padded[:, conn.in_pre[: conn.n_post]]  # [1, n_post, k_in]
    if weights.ndim == 2:
        w = jnp.concatenate([weights, jnp.zeros((1, 1), weights.dtype)], axis=1)[:, conn.in_syn[: conn.n_post]]
        return (arriving * w).sum(-1)
    return arriving.sum(-1) * weights[:, None]


LogScales = dict[str, dict[str, Array]]


def scale_params(params: NetworkParams, log_scales: Mapping[str, Mapping[str, Array]]) -> NetworkParams:
    """``params`` with chosen Poisson rates, weights and current amplitudes multiplied by ``exp(log_scale)``.

    Args:
        params: network values (any batch shape).
        log_scales: ``{"rates": {input name: x}, "weights": {weight name: x}, "currents": {name: x}}``
            (any subset; ``x`` dimensionless, broadcastable to the leaf). Tuning log-scales keeps rates
            and weights positive and makes relative steps of equal size for every leaf.
    """
    groups = {"rates": params.rates, "weights": params.weights, "currents": params.currents}
    unknown = set(log_scales) - set(groups)
    if unknown:
        raise ValueError(f"log_scales keys must be among {sorted(groups)}; got {sorted(unknown)}")
    scaled = {}
    for group, values in groups.items():
        chosen = log_scales.get(group, {})
        missing = set(chosen) - set(values)
        if missing:
            raise ValueError(f"log_scales[{group!r}] names {sorted(missing)}, not in the network's {sorted(values)}")
        scaled[group] = {name: v * jnp.exp(chosen[name]) if name in chosen else v for name, v in values.items()}
    return params._replace(**scaled)


class RateTuneResult(NamedTuple):
    """What :func:`tune_rates` returns (under ``vmap`` every field gains the batch axis in front).

    params: the tuned network values, ``scale_params(params, log_scales)``.
    log_scales: the tuned log-scales (averaged over the last ``average_last`` iterations when asked).
    rates: ``{population: [n_iterations]}`` rates (Hz) measured at each iteration.
    log_scale_history: the log-scales at which each iteration was evaluated (leading ``[n_iterations]``).
    tune: the raw :class:`jaxsnn.tune.TuneResult` (losses, flags).
    """

    params: NetworkParams
    log_scales: LogScales
    rates: dict[str, Array]
    log_scale_history: LogScales
    tune: TuneResult


def tune_rates(
    net: Network,
    params: NetworkParams,
    targets: Mapping[str, float | Array],
    key: Array,
    *,
    log_scales: Mapping[str, Mapping[str, Any]],
    n_iterations: int,
    learning_rate: float | optax.Schedule | None = None,
    optimizer: optax.GradientTransformation | None = None,
    duration: float,
    warmup: float = 0.0,
    initial_state: Callable[[Array], NetworkState] | None = None,
    spike_fn: Surrogate | EscapeNoise = FastSigmoid(scale=1e3),
    recurrent_gradient: bool = False,
    reset_gradient: bool = False,
    clip_norm: float | None = None,
    average_last: int = 1,
    tolerance: float | Array | None = None,
) -> RateTuneResult:
    """Tune log-scales of rates, weights and currents so that populations fire at ``targets``.

    Every iteration simulates the network for ``warmup + duration`` with a fresh key
    (:func:`population_rates`), measures the loss ``mean(((rate - target) / target)^2)`` over the
    populations in ``targets`` and takes one Adam step on the log-scales, all inside one ``lax.scan``
    (:func:`jaxsnn.tune.tune`). Adam's steps do not depend on the gradient's magnitude, only on its sign
    and consistency, which is what makes the biased (but correctly signed) surrogate gradients usable.

    Args:
        net, params: the network and its starting values (one network, no batch axis).
        targets: ``{population: target rate (Hz)}``; values may be traced (vmap over targets).
        key: PRNG key; iteration ``i`` uses ``k = split(key, n_iterations)[i]``: the simulation runs with
            ``fold_in(k, 0)`` and ``initial_state`` is called with ``fold_in(k, 1)``.
        log_scales: what to tune and from where, as for :func:`scale_params` (e.g. zeros).
        n_iterations: iterations (one simulation and one update each).
        learning_rate: Adam's rate (per iteration, in units of log-scale) or an Optax schedule.
        optimizer: any Optax transformation instead of Adam (give exactly one of the two).
        duration, warmup, spike_fn, recurrent_gradient, reset_gradient: as for :func:`population_rates`.
        initial_state: ``key -> NetworkState`` of one network (batch 1), e.g. a random V (see
            :func:`jaxsnn.tune.random_v_state`); default: the models' ``init``.
        clip_norm: clip the gradient's global norm to this value before Adam (for recurrent gradients).
        average_last: return the mean log-scales of the last ``average_last`` iterations evaluated
            (Polyak averaging, which removes most of the iteration-to-iteration noise); 1: those after
            the last update (or at which ``tolerance`` was met), as :func:`jaxsnn.tune.tune` returns them.
        tolerance: stop once the loss falls below it (see :func:`jaxsnn.tune.tune`).

    Returns:
        :class:`RateTuneResult`. Jit-compatible and vmappable (targets, keys, params traced).
    """
    n_iterations = check_int("n_iterations", n_iterations, minimum=1)
    average_last = check_int("average_last", average_last, minimum=1)
    if average_last > n_iterations:
        raise ValueError(f"average_last ({average_last}) exceeds n_iterations ({n_iterations})")
    populations = [p.name for p in net.populations]
    for name in targets:
        if name not in populations:
            raise ValueError(f"targets names unknown population {name!r}; known: {populations}")
        check_positive(f"target rate of {name!r}", targets[name])
    names = list(targets)
    target_vector = jnp.stack([jnp.asarray(targets[n], jnp.float32) for n in names])
    knobs = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), dict(log_scales))
    scale_params(params, knobs)  # validates the names before tracing

    def loss_fn(knobs, k):
        state = None if initial_state is None else initial_state(jax.random.fold_in(k, 1))
        rates = population_rates(
            net, scale_params(params, knobs), jax.random.fold_in(k, 0), duration=duration, warmup=warmup,
            state=state, spike_fn=spike_fn, recurrent_gradient=recurrent_gradient, reset_gradient=reset_gradient,
        )
        loss = rate_loss(jnp.stack([rates[n] for n in names]), target_vector, relative=True)
        return loss, (rates, knobs)

    if (optimizer is None) == (learning_rate is None):
        raise ValueError("give exactly one of learning_rate= (for Adam) and optimizer= (any Optax transformation)")
    optimizer = optax.adam(learning_rate) if optimizer is None else optimizer
    if clip_norm is not None:
        check_positive("clip_norm", clip_norm)
        optimizer = optax.chain(optax.clip_by_global_norm(clip_norm), optimizer)
    result = tune(loss_fn, knobs, n_iterations=n_iterations, key=key, optimizer=optimizer, tolerance=tolerance)
    rates, history = result.aux_history
    # the last `average_last` evaluated iterations (history repeats the last one once frozen)
    last = result.n_iterations_used
    index = jnp.arange(n_iterations)
    weights = ((index >= last - average_last) & (index < last)).astype(jnp.float32)
    weights = weights / weights.sum()
    averaged = jax.tree.map(lambda h: jnp.tensordot(weights, h, axes=1), history)
    if average_last == 1:
        averaged = result.params
    return RateTuneResult(scale_params(params, averaged), averaged, rates, history, result)
