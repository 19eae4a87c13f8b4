"""Multi-population rate networks (parity target: NeuroFlame) as pure ``init``/``step`` functions.

A :class:`RateNetwork` holds the static structure (population sizes, switches) and the connectivity
operators, shared by every member of a batch. :class:`RateParams` holds every value that a sweep or
a training run may change (time constants, thresholds, block gains ``J``, STP parameters, ...); a
batch is the same module with a leading batch axis on its leaves.

One step of ``dt`` seconds, in this order (per population ``A``; exponential-Euler updates
``x <- x e^{-dt/tau} + target (1 - e^{-dt/tau})``):

1. short-term plasticity of presynaptic neurons (rate form, :mod:`jaxsnn.stp`), efficacy ``u x r``;
2. recurrent drive ``h = sum_B J_AB C_AB r_B (+ J_STP_AB C_AB (u x r)_B on STP blocks)``;
3. feed-forward input: baseline + scheduled stimuli (+ white noise), optionally low-passed
   (``tau_ff``) and adapting (``sign(f) relu(|f| - a)``, ``a`` driven by ``a_ff_adapt |output|``);
4. synaptic filtering ``tau_syn dh_rec/dt = -h_rec + h`` or instantaneous ``h_rec = h``;
   optional NMDA current ``tau_nmda dh_N/dt = -h_N + R_NMDA h_exc`` (``h_exc``: drive from excitatory
   populations);
5. rates ``tau dr/dt = -r + Phi(h_ff + h_rec + h_N, theta + adaptation)`` or instantaneous
   ``r = Phi(...)``;
6. threshold adaptation ``tau_adapt da/dt = -a + a_adapt r``;
7. Hebbian plasticity of plastic blocks (:mod:`jaxsnn.rate.plasticity`).

Units: time in s, rates in Hz; inputs, thresholds and drives in the rate model's input units.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .. import stp as stp_lib
from .._validation import check_choice, check_positive, check_probability, is_concrete, steps_of
from .connectivity import LowRank, Operator
from .plasticity import HEBBIAN_RULES, hebbian_factors, hebbian_update, initial_weights
from .transfer import TRANSFER_FUNCTIONS, transfer_function


class Projection(eqx.Module):
    """A recurrent block from population ``pre`` to population ``post``.

    Attributes:
        post, pre: population indices (static).
        op: the structure ``C`` (:class:`Dense`, :class:`Sparse` or :class:`LowRank`).
        stp: whether the block also carries the STP-modulated drive ``J_STP C (u x r)``.
        plastic: whether its weights follow the network's Hebbian rule (Dense or Sparse only).
    """

    post: int = eqx.field(static=True)
    pre: int = eqx.field(static=True)
    op: Operator
    stp: bool = eqx.field(static=True, default=False)
    plastic: bool = eqx.field(static=True, default=False)


class RateNetwork(eqx.Module):
    """Structure and switches of a rate network (see the module docstring for the step).

    Attributes:
        sizes: neurons per population.
        projections: the recurrent blocks.
        dt: time step (s).
        transfer: one of "relu", "erf", "brunel", "sigmoid".
        synaptic_filter: filter the recurrent drive with ``tau_syn`` (else instantaneous).
        rate_dynamics: relax rates with ``tau`` (else ``r = Phi``).
        nmda: add the NMDA current from excitatory populations.
        excitatory: which populations are excitatory (default: the first only).
        adaptation: threshold adaptation driven by the low-passed rate.
        ff_lowpass, ff_adaptation: low-passed and adapting feed-forward input.
        input_noise: add white noise of std ``noise_std`` to the feed-forward input every step.
        stp_form: "euler" or "exponential" (rate-form STP integrator).
        hebbian: None or one of "hebb", "covariance", "bcm", "correlation".
    """

    sizes: tuple[int, ...] = eqx.field(static=True)
    projections: tuple[Projection, ...]
    dt: float = eqx.field(static=True)
    transfer: str = eqx.field(static=True, default="relu")
    synaptic_filter: bool = eqx.field(static=True, default=True)
    rate_dynamics: bool = eqx.field(static=True, default=True)
    nmda: bool = eqx.field(static=True, default=False)
    excitatory: tuple[bool, ...] | None = eqx.field(static=True, default=None)
    adaptation: bool = eqx.field(static=True, default=False)
    ff_lowpass: bool = eqx.field(static=True, default=False)
    ff_adaptation: bool = eqx.field(static=True, default=False)
    input_noise: bool = eqx.field(static=True, default=False)
    stp_form: str = eqx.field(static=True, default="euler")
    hebbian: str | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        check_positive("dt", self.dt)
        if not self.sizes or any(int(n) < 1 for n in self.sizes):
            raise ValueError(f"sizes must be a non-empty tuple of positive integers; got {self.sizes}")
        check_choice("transfer", self.transfer, TRANSFER_FUNCTIONS)
        check_choice("stp_form", self.stp_form, ("euler", "exponential"))
        if self.hebbian is not None:
            check_choice("hebbian", self.hebbian, HEBBIAN_RULES)
        if self.excitatory is not None and len(self.excitatory) != len(self.sizes):
            raise ValueError(f"excitatory needs one flag per population ({len(self.sizes)}); got {self.excitatory}")
        for i, proj in enumerate(self.projections):
            for name, idx in (("post", proj.post), ("pre", proj.pre)):
                if not 0 <= idx < len(self.sizes):
                    raise ValueError(f"projection {i}: {name} population {idx} is not in 0..{len(self.sizes) - 1}")
            if (proj.op.n_post, proj.op.n_pre) != (self.sizes[proj.post], self.sizes[proj.pre]):
                raise ValueError(
                    f"projection {i} ({proj.pre} -> {proj.post}) has shape {proj.op.n_post} x {proj.op.n_pre}; "
                    f"populations are {self.sizes[proj.post]} x {self.sizes[proj.pre]}"
                )
            if proj.plastic and self.hebbian is None:
                raise ValueError(f"projection {i} is plastic but the network has no Hebbian rule (set hebbian=...)")
            if proj.plastic and isinstance(proj.op, LowRank):
                raise ValueError(f"projection {i} is plastic but LowRank; plastic blocks must be Dense or Sparse")

    @property
    def n(self) -> int:
        """Total number of neurons."""
        return int(sum(self.sizes))

    @property
    def offsets(self) -> tuple[int, ...]:
        """Index of each population's first neuron in the concatenated state."""
        return tuple(int(x) for x in np.concatenate([[0], np.cumsum(self.sizes)[:-1]]))

    @property
    def is_excitatory(self) -> tuple[bool, ...]:
        return self.excitatory if self.excitatory is not None else (True,) + (False,) * (len(self.sizes) - 1)

    @property
    def has_stp(self) -> bool:
        return any(p.stp for p in self.projections)

    def population(self, x: Array, index: int) -> Array:
        """The slice of a ``[N, ...]`` array belonging to population ``index``."""
        start = self.offsets[index]
        return x[start : start + self.sizes[index]]


def _f32(x) -> Array:
    return jnp.asarray(x, jnp.float32)


class RateParams(eqx.Module):
    """Values of a rate network; per-population fields are ``[P]``, per-projection fields ``[n_proj]``.

    Build with :func:`rate_params`, which fills defaults of the right shapes. A batch adds a leading
    axis to every leaf (:func:`broadcast_batch`, :func:`grid_batch`).

    Attributes (units):
        tau, tau_syn, tau_nmda, tau_adapt, tau_ff, tau_ff_adapt: time constants (s) [P].
        theta: thresholds [P]. ff_baseline: constant feed-forward input [P]. noise_std: std of the
        white input noise per step [P] (``sigma / sqrt(K)`` in balanced scaling).
        r_nmda: NMDA gain (scalar). a_adapt, a_ff_adapt: adaptation strengths [P].
        J, J_stp: gains of each projection's fixed and STP-modulated drive [n_proj].
        stp_U [P] (in [0, 1]), stp_tau_fac, stp_tau_rec [P] (s): STP of each presynaptic population.
        eta: Hebbian learning rate; tau_avg: time constant of the rule's running averages (s).
    """

    J: Array = eqx.field(converter=_f32)
    J_stp: Array = eqx.field(converter=_f32)
    tau: Array = eqx.field(converter=_f32)
    tau_syn: Array = eqx.field(converter=_f32)
    theta: Array = eqx.field(converter=_f32)
    ff_baseline: Array = eqx.field(converter=_f32)
    noise_std: Array = eqx.field(converter=_f32)
    tau_nmda: Array = eqx.field(converter=_f32)
    r_nmda: Array = eqx.field(converter=_f32)
    tau_adapt: Array = eqx.field(converter=_f32)
    a_adapt: Array = eqx.field(converter=_f32)
    tau_ff: Array = eqx.field(converter=_f32)
    tau_ff_adapt: Array = eqx.field(converter=_f32)
    a_ff_adapt: Array = eqx.field(converter=_f32)
    stp_U: Array = eqx.field(converter=_f32)
    stp_tau_fac: Array = eqx.field(converter=_f32)
    stp_tau_rec: Array = eqx.field(converter=_f32)
    eta: Array = eqx.field(converter=_f32)
    tau_avg: Array = eqx.field(converter=_f32)

    def __check_init__(self):
        for name in ("tau", "tau_syn", "tau_nmda", "tau_adapt", "tau_ff", "tau_ff_adapt", "stp_tau_fac", "stp_tau_rec", "tau_avg"):
            check_positive(f"RateParams.{name}", getattr(self, name))
        for name in ("noise_std", "a_adapt", "a_ff_adapt"):
            check_positive(f"RateParams.{name}", getattr(self, name), allow_zero=True)
        check_probability("RateParams.stp_U", self.stp_U)


_POP_DEFAULTS = dict(
    tau=0.02, tau_syn=0.004, theta=0.0, ff_baseline=0.0, noise_std=0.0, tau_nmda=0.1, tau_adapt=1.0,
    a_adapt=0.0, tau_ff=0.1, tau_ff_adapt=1.0, a_ff_adapt=0.0, stp_U=0.03, stp_tau_fac=1.0, stp_tau_rec=0.2,
)


def rate_params(net: RateNetwork, J: Sequence[float] | Array, **values) -> RateParams:
    """Parameters for ``net``: ``J`` (one gain per projection) plus any field of :class:`RateParams`.

    Scalars given for per-population fields are broadcast to ``[P]``; ``J_stp`` defaults to
    ``J_stp = 10`` on STP projections (the working-memory model's value) and 0 elsewhere.
    """
    n_pop, n_proj = len(net.sizes), len(net.projections)
    unknown = set(values) - set(_POP_DEFAULTS) - {"J_stp", "r_nmda", "eta", "tau_avg"}
    if unknown:
        raise ValueError(f"unknown RateParams fields {sorted(unknown)}; allowed: {sorted(RateParams.__annotations__)}")
    fields = {}
    for name, default in _POP_DEFAULTS.items():
        value = jnp.asarray(values.get(name, default), jnp.float32)
        fields[name] = _fit_shape(name, value, (n_pop,))
    default_stp = [10.0 if p.stp else 0.0 for p in net.projections]
    fields["J"] = _fit_shape("J", jnp.asarray(J, jnp.float32), (n_proj,))
    fields["J_stp"] = _fit_shape("J_stp", jnp.asarray(values.get("J_stp", default_stp), jnp.float32), (n_proj,))
    fields["r_nmda"] = jnp.asarray(values.get("r_nmda", 1.0), jnp.float32)
    fields["eta"] = jnp.asarray(values.get("eta", 0.0), jnp.float32)
    fields["tau_avg"] = jnp.asarray(values.get("tau_avg", 1.0), jnp.float32)
    return RateParams(**fields)


def _fit_shape(name: str, value: Array, shape: tuple[int, ...]) -> Array:
    if value.ndim == 0:
        return jnp.broadcast_to(value, shape)
    if value.shape != shape:
        raise ValueError(f"{name} must be a scalar or have shape {list(shape)}; got {list(value.shape)}")
    return value


def broadcast_batch(tree, batch: int):
    """Give every array leaf of ``tree`` a leading batch axis of size ``batch`` (no copy under jit)."""
    return jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (batch,) + jnp.shape(x)), tree)


def grid_batch(params, set_a: Callable, values_a, set_b: Callable, values_b):
    """A 2-D parameter grid flattened into the batch axis (row-major: ``a`` slow, ``b`` fast).

    ``set_a(params, value) -> params`` and ``set_b`` write one grid coordinate, e.g.
    ``lambda p, v: eqx.tree_at(lambda q: q.J, p, p.J.at[0].set(v))``. Returns parameters with a batch
    axis of ``len(values_a) * len(values_b)``.
    """
    a, b = jnp.meshgrid(jnp.asarray(values_a, jnp.float32), jnp.asarray(values_b, jnp.float32), indexing="ij")
    return jax.vmap(lambda va, vb: set_b(set_a(params, va), vb))(a.ravel(), b.ravel())


class InputSchedule(eqx.Module):
    """Stimuli of one trial: pattern ``e`` is added to the feed-forward input while
    ``onset[e] <= step < offset[e]`` (steps counted from the start of :func:`simulate`).

    Attributes:
        onset, offset: ``[E]`` int32 steps.
        pattern: ``[E, N]`` input added to each neuron while the stimulus is on.
    """

    onset: Array
    offset: Array
    pattern: Array

    @staticmethod
    def from_times(onset, offset, pattern, dt: float) -> "InputSchedule":
        """Schedule from onset/offset times in seconds (rounded to whole steps of ``dt``)."""
        to_steps = lambda t: jnp.round(jnp.asarray(t, jnp.float32) / dt).astype(jnp.int32)
        return InputSchedule(to_steps(onset), to_steps(offset), jnp.asarray(pattern, jnp.float32))

    @staticmethod
    def empty(n: int) -> "InputSchedule":
        """No stimulus for a network of ``n`` neurons."""
        return InputSchedule(jnp.zeros((0,), jnp.int32), jnp.zeros((0,), jnp.int32), jnp.zeros((0, n), jnp.float32))

    def at(self, step: Array) -> Array:
        """``[N]`` stimulus input at ``step``."""
        active = ((self.onset <= step) & (step < self.offset)).astype(self.pattern.dtype)
        return active @ self.pattern


class RateState(NamedTuple):
    """State of a rate network; neuron fields are ``[N]`` (populations concatenated).

    rates (Hz); rec: filtered recurrent input; nmda: NMDA current; stp_u, stp_x: STP state of each
    (presynaptic) neuron; adapt: threshold adaptation; ff: low-passed feed-forward input; ff_thresh:
    feed-forward adaptation; mean_rate, mean_sq: running averages of r and r^2 (Hebbian rules);
    plastic: current weights of the plastic projections (in projection order); step: steps since the
    start of the current trial (int32).
    """

    rates: Array
    rec: Array
    nmda: Array
    stp_u: Array
    stp_x: Array
    adapt: Array
    ff: Array
    ff_thresh: Array
    mean_rate: Array
    mean_sq: Array
    plastic: tuple[Array, ...]
    step: Array


def init_state(net: RateNetwork, params: RateParams, rates: Array | None = None) -> RateState:
    """Resting state: given (or zero) rates, no currents, STP at rest (``u = U``, ``x = 1``)."""
    z = jnp.zeros((net.n,), jnp.float32)
    r = z if rates is None else jnp.asarray(rates, jnp.float32)
    plastic = tuple(initial_weights(p.op) for p in net.projections if p.plastic)
    return RateState(
        rates=r, rec=z, nmda=z, stp_u=_per_neuron(net, params.stp_U), stp_x=jnp.ones_like(z), adapt=z, ff=z,
        ff_thresh=z, mean_rate=z, mean_sq=z, plastic=plastic, step=jnp.zeros((), jnp.int32),
    )


def _per_neuron(net: RateNetwork, x: Array) -> Array:
    """``[P]`` population values repeated to ``[N]``."""
    return jnp.repeat(x, np.asarray(net.sizes), total_repeat_length=net.n)


class _Constants(NamedTuple):
    """Per-neuron values of one parameter set, computed once per simulation rather than every step:
    the factors e^{-dt/tau} and the population parameters repeated to ``[N]``."""

    rate: Array
    syn: Array
    nmda: Array
    adapt: Array
    ff: Array
    ff_adapt: Array
    avg: Array
    theta: Array
    ff_baseline: Array
    noise_std: Array
    a_adapt: Array
    a_ff_adapt: Array
    stp: stp_lib.STPParams


def _constants(net: RateNetwork, params: RateParams) -> _Constants:
    e = lambda tau: jnp.exp(-net.dt / _per_neuron(net, tau))
    per = lambda x: _per_neuron(net, x)
    return _Constants(
        e(params.tau), e(params.tau_syn), e(params.tau_nmda), e(params.tau_adapt), e(params.tau_ff),
        e(params.tau_ff_adapt), jnp.exp(-net.dt / params.tau_avg), per(params.theta), per(params.ff_baseline),
        per(params.noise_std), per(params.a_adapt), per(params.a_ff_adapt),
        stp_lib.STPParams(per(params.stp_U), per(params.stp_tau_fac), per(params.stp_tau_rec)),
    )


def _recurrent_drive(net: RateNetwork, params: RateParams, state: RateState, efficacy: Array) -> tuple[Array, Array]:
    """Total recurrent drive ``h [N]`` and the part from excitatory populations ``h_exc [N]``."""
    per_post = [[] for _ in net.sizes]
    per_post_exc = [[] for _ in net.sizes]
    plastic_index = 0
    for i, proj in enumerate(net.projections):
        weights = None
        if proj.plastic:
            weights = state.plastic[plastic_index]
            plastic_index += 1
        r_pre = net.population(state.rates, proj.pre)
        if proj.stp:
            # one pass over the structure carries both the plain and the STP-modulated signal
            both = proj.op.apply(jnp.stack([r_pre, net.population(efficacy, proj.pre)], axis=1), weights)
            drive = params.J[i] * both[:, 0] + params.J_stp[i] * both[:, 1]
        else:
            drive = params.J[i] * proj.op.apply(r_pre, weights)
        per_post[proj.post].append(drive)
        if net.is_excitatory[proj.pre]:
            per_post_exc[proj.post].append(drive)

    def total(parts):
        return jnp.concatenate([sum(p) if p else jnp.zeros((n,), jnp.float32) for p, n in zip(parts, net.sizes)])

    return total(per_post), total(per_post_exc)


def _hebbian(net: RateNetwork, params: RateParams, state: RateState, rates: Array, mean: Array, sq: Array) -> tuple[Array, ...]:
    out = []
    plastic_index = 0
    for proj in net.projections:
        if not proj.plastic:
            continue
        post = lambda x: net.population(x, proj.post)
        pre = lambda x: net.population(x, proj.pre)
        a, b = hebbian_factors(net.hebbian, post(rates), pre(rates), post(mean), pre(mean), post(sq))
        out.append(hebbian_update(proj.op, state.plastic[plastic_index], a, b, params.eta * net.dt))
        plastic_index += 1
    return tuple(out)


def rate_step(net: RateNetwork, params: RateParams, const: _Constants, inputs: InputSchedule, state: RateState, key: Array) -> tuple[RateState, dict[str, Array]]:
    """Advance one step of ``net.dt``; returns the new state and the step's recordable quantities
    ``{"rates", "input", "stp_u", "stp_x"}`` (each ``[N]``). ``const`` comes from :func:`_constants`."""
    phi = transfer_function(net.transfer)

    u, x, efficacy = state.stp_u, state.stp_x, state.rates
    if net.has_stp:
        update = stp_lib.stp_rate_euler if net.stp_form == "euler" else stp_lib.stp_rate_exponential
        (u, x), efficacy = update(const.stp, stp_lib.STPState(u, x), state.rates, net.dt)

    h, h_exc = _recurrent_drive(net, params, state, efficacy)

    ff = const.ff_baseline + inputs.at(state.step)
    if net.input_noise:
        noise = jax.random.normal(jax.random.fold_in(key, state.step), (net.n,), jnp.float32)
        ff = ff + const.noise_std * noise
    ff_state, ff_thresh = state.ff, state.ff_thresh
    if net.ff_lowpass:
        ff_state = ff_state * const.ff + ff * (1.0 - const.ff)
        ff = ff_state
    if net.ff_adaptation:
        adapted = jnp.sign(ff) * jnp.maximum(jnp.abs(ff) - ff_thresh, 0.0)
        ff_thresh = ff_thresh * const.ff_adapt + const.a_ff_adapt * jnp.abs(adapted) * (1.0 - const.ff_adapt)
        ff = adapted

    rec = state.rec * const.syn + h * (1.0 - const.syn) if net.synaptic_filter else h
    nmda = state.nmda
    if net.nmda:
        nmda = nmda * const.nmda + params.r_nmda * h_exc * (1.0 - const.nmda)
    total = ff + rec + nmda

    target = phi(total, const.theta + state.adapt)
    rates = state.rates * const.rate + target * (1.0 - const.rate) if net.rate_dynamics else target

    adapt = state.adapt
    if net.adaptation:
        adapt = adapt * const.adapt + const.a_adapt * rates * (1.0 - const.adapt)

    mean, sq, plastic = state.mean_rate, state.mean_sq, state.plastic
    if net.hebbian is not None:
        mean = mean * const.avg + rates * (1.0 - const.avg)
        sq = sq * const.avg + rates * rates * (1.0 - const.avg)
        plastic = _hebbian(net, params, state, rates, mean, sq)

    new = RateState(rates, rec, nmda, u, x, adapt, ff_state, ff_thresh, mean, sq, plastic, state.step + 1)
    return new, {"rates": rates, "input": total, "stp_u": u, "stp_x": x}


RECORDABLE = ("rates", "input", "stp_u", "stp_x")


class RateOutputs(NamedTuple):
    """What :func:`simulate` returns besides the final state.

    windows: ``{name: [n_windows, N]}`` means of each recorded quantity over consecutive windows.
    nonfinite: True if any rate became NaN or infinite during the run.
    """

    windows: dict[str, Array]
    nonfinite: Array


def simulate(
    net: RateNetwork,
    params: RateParams,
    inputs: InputSchedule,
    key: Array,
    *,
    duration: float,
    window: float,
    steady: float = 0.0,
    record: Sequence[str] = ("rates",),
    state: RateState | None = None,
    checkpoint: bool = False,
) -> tuple[RateState, RateOutputs]:
    """Run one trial: ``steady`` seconds unrecorded, then ``duration`` seconds recorded as window means.

    Args:
        net, params: the network and its (unbatched) parameters.
        inputs: the trial's stimuli (steps count from the start of the steady period).
        key: JAX key for the input noise.
        duration: recorded time (s), a whole number of windows.
        window: averaging window (s), a whole number of steps.
        steady: unrecorded time before the first window (s).
        record: names among ``RECORDABLE``.
        state: state to start from (e.g. the end of a previous trial); its step counter is reset.
        checkpoint: rematerialise each window in the backward pass (``jax.checkpoint``), so gradients
            through long trials need memory for one state per window only.

    Returns:
        The final state and :class:`RateOutputs`.
    """
    n_window = steps_of("window", window, net.dt)
    n_windows = steps_of("duration", duration, window)
    n_steady = steps_of("steady", steady, net.dt)
    for name in record:
        check_choice("record", name, RECORDABLE)
    if n_window < 1:
        raise ValueError("window must be at least one step")
    if is_concrete(inputs.pattern) and inputs.pattern.shape[-1] != net.n:
        raise ValueError(f"inputs.pattern must have {net.n} columns (one per neuron); got {inputs.pattern.shape[-1]}")
    return _simulate(net, params, inputs, key, state, n_steady, n_window, n_windows, tuple(record), checkpoint)


@partial(jax.jit, static_argnums=(5, 6, 7, 8, 9))
def _simulate(net, params, inputs, key, state, n_steady, n_window, n_windows, record, checkpoint):
    const = _constants(net, params)
    state = init_state(net, params) if state is None else state._replace(step=jnp.zeros((), jnp.int32))
    step = lambda s: rate_step(net, params, const, inputs, s, key)

    def plain(carry, _):
        s, bad = carry
        s, _ = step(s)
        return (s, bad | ~jnp.all(jnp.isfinite(s.rates))), None

    def one_window(carry, _):
        def body(inner, _):
            s, bad, sums = inner
            s, rec = step(s)
            sums = {k: sums[k] + rec[k] for k in record}
            return (s, bad | ~jnp.all(jnp.isfinite(s.rates)), sums), None

        s, bad = carry
        zeros = {k: jnp.zeros((net.n,), jnp.float32) for k in record}
        (s, bad, sums), _ = jax.lax.scan(body, (s, bad, zeros), None, length=n_window)
        return (s, bad), {k: v / n_window for k, v in sums.items()}

    if checkpoint:
        one_window = jax.checkpoint(one_window)
    carry = (state, jnp.zeros((), bool))
    if n_steady:
        carry, _ = jax.lax.scan(plain, carry, None, length=n_steady)
    (state, bad), windows = jax.lax.scan(one_window, carry, None, length=n_windows)
    return state, RateOutputs(windows, bad)


def simulate_batch(
    net: RateNetwork,
    params: RateParams,
    inputs: InputSchedule,
    keys: Array,
    *,
    state: RateState | None = None,
    **kwargs,
) -> tuple[RateState, RateOutputs]:
    """:func:`simulate` vmapped over a batch: ``params``, ``inputs``, ``keys`` (and ``state`` if
    given) carry a leading batch axis; the network structure is shared. Keyword arguments as for
    :func:`simulate`. Outputs carry the batch axis first."""
    if inputs.pattern.shape[-1] != net.n:
        raise ValueError(f"inputs.pattern must have {net.n} columns (one per neuron); got {inputs.pattern.shape[-1]}")
    run = lambda p, i, k, s: simulate(net, p, i, k, state=s, **kwargs)
    return jax.vmap(run, in_axes=(0, 0, 0, None if state is None else 0))(params, inputs, keys, state)
