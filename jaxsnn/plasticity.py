"""Long-term synaptic plasticity: rules that a projection of a :class:`jaxsnn.Network` can carry.

A rule is a small Equinox module of parameters with three pure functions:

- :meth:`PlasticityRule.traces`: the traces it reads, each kept per presynaptic (``"pre"``) or
  postsynaptic (``"post"``) neuron with a time constant τ (s);
- :meth:`PlasticityRule.on_pre`: the weight change Δw when a presynaptic spike reaches the synapse
  (after the projection's delay);
- :meth:`PlasticityRule.on_post`: the weight change when the postsynaptic neuron spikes.

Both updates read a :class:`Synapses` view: the pre- and postsynaptic traces at each event's synapse,
the weight, and the postsynaptic neuron variables the rule names in ``post_variables`` (e.g. CVAIF's
``vtrace``). They are written for one synapse and broadcast: every parameter of a batched rule holds
one value (or one vector) per batch member, and the engine hands each event the parameters of its
member, so the same code serves a single network and thousands of rules at once.

The engine, not the rule, owns the order of operations and the bounds. In every step, after the
neurons have updated and spiked (see :func:`jaxsnn.network.network_step`), for each plastic projection:

1. on-pre: each presynaptic spike that reaches the synapses now transmits the synapse's current
   weight (to the target's synaptic variable, from the next step on), then
   ``w ← clip(w + on_pre, w_min, w_max)``;
2. on-post: for each postsynaptic neuron that spiked in this step, every synapse onto it gets
   ``w ← clip(w + on_post, w_min, w_max)``;
3. traces: presynaptic traces +1 per arriving spike, postsynaptic traces +1 per spike of this step,
   then every trace decays by ``exp(-dt/τ)``.

Updates therefore read the partner's trace *before* this step's increment, and an on-pre update of a
spike arriving in the same step as a postsynaptic spike comes first (the order of the fSBI original,
Auryn).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

SIDES = ("pre", "post")


class Trace(NamedTuple):
    """A trace a rule reads: kept per ``side`` neuron (``"pre"``: incremented by spikes arriving at the
    synapses, after the delay; ``"post"``: by the postsynaptic neuron's spikes), decaying with time
    constant ``tau`` (s; a Python number, or one value per batch member ``[B]`` in a batched rule)."""

    side: str
    tau: Any


class Synapses(NamedTuple):
    """What an update reads, at the synapses of a set of events (arrays broadcastable to the events'
    shape): ``pre``/``post`` trace name -> value before this step's increment; ``neuron``:
    postsynaptic neuron variable name -> value after this step's neuron update."""

    pre: dict[str, Array]
    post: dict[str, Array]
    neuron: dict[str, Array]


class PlasticityRule(eqx.Module):
    """Base of plasticity rules (subclass it; see the module docstring).

    Fields holding arrays are the rule's parameters: one value per rule, or, in a batch, a leading axis
    of one value per batch member on every array field (as every leaf of ``NetworkParams``). Python
    numbers are shared by every member (e.g. a fixed time constant; see :func:`per_member`).
    ``w_min``, ``w_max``: bounds the engine clips the weight to after every update (static).
    ``post_variables``: names of postsynaptic neuron state fields the rule reads (class attribute).
    """

    w_min: float = eqx.field(static=True, default=0.0, kw_only=True)
    w_max: float = eqx.field(static=True, default=math.inf, kw_only=True)
    post_variables: ClassVar[tuple[str, ...]] = ()

    def __check_init__(self):
        if not self.w_min < self.w_max:
            raise ValueError(f"{type(self).__name__}: w_min ({self.w_min}) must be below w_max ({self.w_max})")

    def traces(self) -> dict[str, Trace]:
        """Trace name -> :class:`Trace` (side and time constant)."""
        raise NotImplementedError(f"{type(self).__name__} must define traces()")

    def on_pre(self, w: Array, x: Synapses) -> Array:
        """Δw when a presynaptic spike reaches the synapse (weight ``w`` before the update)."""
        return jnp.zeros_like(w)

    def on_post(self, w: Array, x: Synapses) -> Array:
        """Δw when the postsynaptic neuron spikes."""
        return jnp.zeros_like(w)


def check_rule(rule: PlasticityRule, where: str) -> dict[str, Trace]:
    """Validate a rule's declarations (before anything is traced); returns its traces."""
    if not isinstance(rule, PlasticityRule):
        raise ValueError(f"{where}: plasticity must be a jaxsnn.PlasticityRule; got {type(rule).__name__}")
    if type(rule).traces is PlasticityRule.traces:
        raise ValueError(f"{where}: {type(rule).__name__} must define traces() (name -> Trace(side, tau)); a rule "
                         "without traces returns {}")
    traces = rule.traces()
    if not isinstance(traces, dict):
        raise ValueError(f"{where}: {type(rule).__name__}.traces() must return a dict name -> Trace")
    for name, tr in traces.items():
        if not isinstance(tr, Trace) or tr.side not in SIDES:
            raise ValueError(f"{where}: trace {name!r} of {type(rule).__name__} must be Trace(side, tau) with side "
                             f"in {SIDES}; got {tr!r}")
        if isinstance(tr.tau, (int, float)) and not tr.tau > 0:
            raise ValueError(f"{where}: trace {name!r} has time constant {tr.tau} s; it must be > 0")
    return traces


def trace_decay(tau: Any, dt: float) -> Array:
    """``exp(-dt/τ)``: in float64 then rounded once to float32 for a Python number, in float32 for an
    array (``[B]`` per member)."""
    if isinstance(tau, (int, float, np.floating)):
        return jnp.float32(math.exp(-dt / float(tau)))
    return jnp.exp(-dt / jnp.asarray(tau, jnp.float32))


def per_member(x: Any) -> bool:
    """Whether a leaf of a batched rule holds one value per batch member: an array with a leading axis.
    Python numbers (and static fields) are shared by the whole batch."""
    return isinstance(x, (jax.Array, np.ndarray)) and x.ndim >= 1


def at_members(rule: PlasticityRule, member: Array) -> PlasticityRule:
    """The parameters of batched ``rule`` for events of the batch members ``member`` (any shape ``S``):
    every per-member leaf ``[B, ...]`` becomes ``[*S, ...]``; shared numbers stay as they are."""
    return jax.tree_util.tree_map(lambda p: p[member] if per_member(p) else p, rule)


def pair_window(rule: PlasticityRule, dt_pairs: Any, *, w: float = 0.0, neuron: dict | None = None) -> np.ndarray:
    """Δw of one isolated pre/post spike pair against ``Δt = t_post − t_pre`` (s), for one (unbatched)
    rule whose updates depend on the weight and traces only: the sum of the updates of both spikes,
    each reading the partner's trace ``exp(−|Δt|/τ)`` (the earlier spike's trace, decayed), its own side's
    traces at 0. ``w``: weight the updates read; ``neuron``: postsynaptic variables the rule reads.
    Returns ``[len(dt_pairs)]`` float64 (Δt = 0: the on-pre update first, reading zero traces)."""
    traces = check_rule(rule, "pair_window")
    dts = np.atleast_1d(np.asarray(dt_pairs, np.float64))
    neuron = {k: jnp.float32(v) for k, v in (neuron or {}).items()}
    w = jnp.float32(w)
    out = []
    for dt in dts:
        def seen(side: str) -> dict[str, Array]:
            # `side`'s traces as the other side's spike reads them: the decayed trace of `side`'s spike if
            # it came first, else 0 (before its own increment)
            first = dt > 0 if side == "pre" else dt < 0
            return {n: jnp.float32(math.exp(-abs(dt) / float(tr.tau)) if first else 0.0)
                    for n, tr in traces.items() if tr.side == side}

        def zero(side: str) -> dict[str, Array]:
            return {n: jnp.float32(0.0) for n, tr in traces.items() if tr.side == side}

        dw_pre = rule.on_pre(w, Synapses(pre=zero("pre"), post=seen("post"), neuron=neuron))
        dw_post = rule.on_post(w, Synapses(pre=seen("pre"), post=zero("post"), neuron=neuron))
        out.append(float(dw_pre) + float(dw_post))
    return np.asarray(out)


class PolynomialPlasticity(PlasticityRule):
    """The polynomial rule of filter-SBI (Confavreux et al. 2023), one projection's:

    - on a presynaptic spike (after the delay): ``Δw = η (α + κ x_post)``;
    - on a postsynaptic spike: ``Δw = η (β + γ x_pre)``,

    with traces ``x_pre`` (per presynaptic neuron, τ_pre) and ``x_post`` (per postsynaptic neuron,
    τ_post) that jump by 1 per spike. Pair window (:func:`polynomial_pair_window`): for
    ``Δt = t_post − t_pre > 0``, ``η (α + β + γ e^{−Δt/τ_pre})``; for ``Δt < 0``,
    ``η (α + β + κ e^{−|Δt|/τ_post})``.

    Fields: ``tau_pre``, ``tau_post`` (s), ``alpha``, ``beta``, ``gamma``, ``kappa`` (dimensionless),
    ``eta`` (learning rate, units of the weight).
    """

    tau_pre: Any
    tau_post: Any
    alpha: Any
    beta: Any
    gamma: Any
    kappa: Any
    eta: Any = 0.01

    def traces(self) -> dict[str, Trace]:
        return {"x_pre": Trace("pre", self.tau_pre), "x_post": Trace("post", self.tau_post)}

    def on_pre(self, w: Array, x: Synapses) -> Array:
        return self.eta * (self.alpha + self.kappa * x.post["x_post"])

    def on_post(self, w: Array, x: Synapses) -> Array:
        return self.eta * (self.beta + self.gamma * x.pre["x_pre"])


def polynomial_pair_window(rule: PolynomialPlasticity, dt_pairs: Any) -> np.ndarray:
    """The analytic pair window of a :class:`PolynomialPlasticity` (see its docstring), ``[len(dt_pairs)]``."""
    dts = np.asarray(dt_pairs, np.float64)
    p = {k: float(getattr(rule, k)) for k in ("tau_pre", "tau_post", "alpha", "beta", "gamma", "kappa", "eta")}
    causal = p["alpha"] + p["beta"] + p["gamma"] * np.exp(-np.abs(dts) / p["tau_pre"])
    acausal = p["alpha"] + p["beta"] + p["kappa"] * np.exp(-np.abs(dts) / p["tau_post"])
    return p["eta"] * np.where(dts > 0, causal, np.where(dts < 0, acausal, p["alpha"] + p["beta"]))


class _Constant:
    """A numpy array held as a static (hashable) field of a module, compared by value."""

    def __init__(self, array: Any):
        self.array = np.asarray(array, np.float32)
        self.array.setflags(write=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Constant) and self.array.shape == other.array.shape and bool(np.all(self.array == other.array))

    def __hash__(self) -> int:
        return hash((self.array.shape, self.array.tobytes()))


class MLPPlasticity(PlasticityRule):
    """The MLP rule of filter-SBI, one projection's: ``Δw = η · MLP(inputs)``.

    The network 6 → 50 (sigmoid, no bias) → 4 (sigmoid, no bias) → 1 (linear, with bias) reads six
    rescaled inputs: on a presynaptic spike ``[2 x_pre2, 2 x_post1, w, 15 V, 15 C_exc, 15 C_inh]``, on a
    postsynaptic spike ``[2 x_pre1, 2 x_post2, w, 15 V, 15 C_exc, 15 C_inh]``, with the traces
    ``x_pre1``, ``x_pre2``, ``x_post1``, ``x_post2`` (time constants ``taus``, s) and the postsynaptic
    CVAIF neuron's ``vtrace``, ``cexc``, ``cinh`` (V). The two hidden layers ``hidden1`` ``[50, 6]`` and
    ``hidden2`` ``[4, 50]`` are fixed (static); ``eta`` and the last layers ``last_pre``, ``last_post``
    ``[5]`` (4 weights, then the bias) are the rule's parameters.
    """

    eta: Any
    last_pre: Any
    last_post: Any
    hidden: tuple[_Constant, _Constant] = eqx.field(static=True, kw_only=True)
    taus: tuple[float, float, float, float] = eqx.field(static=True, default=(0.010, 0.100, 0.010, 0.100), kw_only=True)
    post_variables: ClassVar[tuple[str, ...]] = ("vtrace", "cexc", "cinh")

    @staticmethod
    def with_hidden(hidden1: Any, hidden2: Any, **fields: Any) -> "MLPPlasticity":
        """An MLP rule with hidden layers ``hidden1`` ``[50, 6]``, ``hidden2`` ``[4, 50]`` (numbers)."""
        return MLPPlasticity(hidden=(_Constant(hidden1), _Constant(hidden2)), **fields)

    def traces(self) -> dict[str, Trace]:
        pre1, pre2, post1, post2 = self.taus
        return {"x_pre1": Trace("pre", pre1), "x_pre2": Trace("pre", pre2),
                "x_post1": Trace("post", post1), "x_post2": Trace("post", post2)}

    def _mlp(self, last: Array, w: Array, first: Array, second: Array, x: Synapses) -> Array:
        n = x.neuron
        cols = [2.0 * first, 2.0 * second, w, 15.0 * n["vtrace"], 15.0 * n["cexc"], 15.0 * n["cinh"]]
        shape = jnp.broadcast_shapes(*(jnp.shape(c) for c in cols))
        inputs = jnp.stack([jnp.broadcast_to(c, shape) for c in cols], axis=-1)
        hidden = jax.nn.sigmoid(inputs @ jnp.asarray(self.hidden[0].array).T)
        hidden = jax.nn.sigmoid(hidden @ jnp.asarray(self.hidden[1].array).T)
        return self.eta * (jnp.sum(hidden * last[..., :4], axis=-1) + last[..., 4])

    def on_pre(self, w: Array, x: Synapses) -> Array:
        return self._mlp(self.last_pre, w, x.pre["x_pre2"], x.post["x_post1"], x)

    def on_post(self, w: Array, x: Synapses) -> Array:
        return self._mlp(self.last_post, w, x.pre["x_pre1"], x.post["x_post2"], x)


__all__ = ["MLPPlasticity", "PlasticityRule", "PolynomialPlasticity", "per_member", "polynomial_pair_window", "Synapses", "Trace", "at_members", "check_rule", "pair_window", "trace_decay"]
