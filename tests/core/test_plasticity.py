"""Plastic projections of the core engine against pair windows written out by hand.

One presynaptic neuron and one postsynaptic neuron per projection spike at prescribed steps (a test
neuron model); batch member ``b`` holds the ``b``-th spike pair of a grid of lags, and three projections
with delays of 1, 2 and 3 steps run side by side. Timing convention (``jaxsnn.network``): a spike emitted
in step k reaches the plastic synapse at the end of step ``k + delay − 1``, together with the
postsynaptic spikes of that step; so a pre spike at ``s_pre`` and a post spike at
``s_post = s_pre + delay − 1 + n`` are a pair at ``Δt = t_post − t_pre = n dt`` for the rule.

Float32 tolerance of the comparisons: the simulated Δw is ``w_end − w0`` (exact: Sterbenz), ``w0 = 0.5``.
Each of the two updates adds a float32 rounding of at most 2⁻²⁵ relative to w ≈ 0.5 (≈ 3e-8
absolute, 6e-8 for both); the partner's trace is the float32 factor ``exp(−dt/τ)`` (rounded once) raised
by n float32 products, relative error ≤ 2 n 2⁻²⁴ ≈ 3.6e-5 at the largest lag n = 300. Hence
``atol = 1e-7`` plus ``rtol = 5e-5`` of the trace's contribution (taken on the whole Δw).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array

import jaxsnn
from jaxsnn import connectivity
from jaxsnn.fsbi.rules import load_mlp_hidden_layers
from jaxsnn.neurons.base import NeuronInput, NeuronModel
from jaxsnn.plasticity import polynomial_pair_window

DT = 1e-4
W0 = 0.5
S_PRE = 400  # emission step of the presynaptic spike
LAGS = np.array([-300, -120, -37, -5, -1, 0, 1, 4, 29, 150, 300])  # n: Δt = n dt at the synapse
DELAYS = (1, 2, 3)  # steps
N_STEPS = 800  # covers s_post up to 400 + 2 + 300
ATOL, RTOL = 1e-7, 5e-5  # see the module docstring


class ScheduledState(NamedTuple):
    step: Array
    vtrace: Array
    cexc: Array
    cinh: Array


class Scheduled(NeuronModel):
    """Neuron i spikes in the steps ``steps[i]`` (-1: padding); its inputs are ignored. It also holds the
    CVAIF variables an MLP rule reads (``vtrace``, ``cexc``, ``cinh``, V) at constant values."""

    steps: Array
    vtrace: Array = eqx.field(default=-0.055, converter=jnp.asarray)
    cexc: Array = eqx.field(default=0.01, converter=jnp.asarray)
    cinh: Array = eqx.field(default=0.02, converter=jnp.asarray)

    def init(self, n: int) -> ScheduledState:
        full = lambda v: jnp.full((n,), v, jnp.float32)  # noqa: E731
        return ScheduledState(jnp.zeros((n,), jnp.int32), full(self.vtrace), full(self.cexc), full(self.cinh))

    def step(self, state: ScheduledState, inputs: NeuronInput, dt: float) -> tuple[ScheduledState, Array]:
        spikes = jnp.any(self.steps == state.step[:, None], axis=-1).astype(jnp.float32)
        return state._replace(step=state.step + 1), spikes


class VogelsISTDP(jaxsnn.PlasticityRule):
    """Inhibitory STDP of Vogels et al. (2011), written as a user would: a symmetric window that
    potentiates near-coincident pairs and depresses every presynaptic spike by ``2 ρ0 τ``, steering the
    postsynaptic rate to ``rho0`` (Hz). ``eta``: learning rate (weight units); ``tau`` (s)."""

    eta: Any
    rho0: Any
    tau: float = eqx.field(static=True, default=0.02)

    def traces(self) -> dict[str, jaxsnn.Trace]:
        return {"x_pre": jaxsnn.Trace("pre", self.tau), "x_post": jaxsnn.Trace("post", self.tau)}

    def on_pre(self, w, x):
        return self.eta * (x.post["x_post"] - 2.0 * self.rho0 * self.tau)

    def on_post(self, w, x):
        return self.eta * x.pre["x_pre"]


def vogels_window(eta: float, rho0: float, tau: float, dts: np.ndarray) -> np.ndarray:
    """By hand: each pair adds η e^{−|Δt|/τ} (the later spike reads the earlier one's trace) and the
    presynaptic spike −η 2ρ0τ; at Δt = 0 both spikes read traces still at 0 (before this step's
    increments): only −η 2ρ0τ."""
    return eta * (np.where(dts == 0, 0.0, np.exp(-np.abs(dts) / tau)) - 2.0 * rho0 * tau)


def pair_network(rule: jaxsnn.PlasticityRule) -> jaxsnn.Network:
    """One pre neuron; for each delay d a post population ``post{d}`` of one neuron and a plastic
    projection ``d{d}`` (weight W0) onto it."""
    pops = [jaxsnn.Population("pre", 1, Scheduled(jnp.full((1, 1), S_PRE, jnp.int32)))]
    projections = []
    for d in DELAYS:
        pops.append(jaxsnn.Population(f"post{d}", 1, Scheduled(jnp.full((1, 1), -1, jnp.int32))))
        projections.append(jaxsnn.Projection(f"d{d}", "pre", f"post{d}", connectivity.from_edges([0], [0], 1, 1), W0,
                                             delay=d * DT, plasticity=rule))
    return jaxsnn.Network(dt=DT, populations=tuple(pops), projections=tuple(projections))


def simulated_dw(rule: jaxsnn.PlasticityRule, lags: np.ndarray = LAGS) -> dict[int, np.ndarray]:
    """Delay (steps) -> ``[len(lags)]`` Δw of one pre/post pair per batch member at each lag."""
    net = pair_network(rule)
    params = jaxsnn.broadcast_params(net.default_params(), len(lags))
    neurons = dict(params.neurons)
    for d in DELAYS:
        post_steps = jnp.asarray(S_PRE + d - 1 + lags, jnp.int32).reshape(-1, 1, 1)
        neurons[f"post{d}"] = eqx.tree_at(lambda m: m.steps, neurons[f"post{d}"], post_steps)
    result = jaxsnn.simulate(net, N_STEPS * DT, jax.random.key(0), params=params._replace(neurons=neurons),
                             record=jaxsnn.Record(weights={f"d{d}": None for d in DELAYS}, period=N_STEPS * DT))
    return {d: result.weights[f"d{d}"][:, -1, 0].astype(np.float64) - W0 for d in DELAYS}


def test_polynomial_rule_matches_its_analytic_window() -> None:
    rule = jaxsnn.PolynomialPlasticity(0.02, 0.04, 0.3, -0.2, 1.5, -1.1, eta=0.01, w_max=20.0)
    expected = polynomial_pair_window(rule, LAGS * DT)
    assert np.ptp(expected) > 0.01  # both lobes present: the comparison is not of a constant
    for d, dw in simulated_dw(rule).items():
        np.testing.assert_allclose(dw, expected, rtol=RTOL, atol=ATOL, err_msg=f"delay {d} steps")


def test_user_rule_matches_its_window_by_hand() -> None:
    eta, rho0, tau = 0.01, 5.0, 0.02
    expected = vogels_window(eta, rho0, tau, LAGS * DT)
    for d, dw in simulated_dw(VogelsISTDP(eta=eta, rho0=rho0, tau=tau)).items():
        np.testing.assert_allclose(dw, expected, rtol=RTOL, atol=ATOL, err_msg=f"delay {d} steps")
    # the generic pair_window agrees with the hand-written one (it reads traces the same way)
    np.testing.assert_allclose(jaxsnn.pair_window(VogelsISTDP(eta=eta, rho0=rho0, tau=tau), LAGS * DT), expected,
                               rtol=1e-6, atol=1e-9)


def test_mlp_rule_matches_pair_window() -> None:
    # fSBI's fixed hidden layers; last layers chosen for a window with both signs (the published rules'
    # windows are nearly flat: Δw varies by < 1 % over the lags), the bias centring it on 0
    h1, h2 = load_mlp_hidden_layers()
    rule = jaxsnn.MLPPlasticity.with_hidden(h1, h2, eta=1e-3, last_pre=jnp.asarray([-0.4, 4.1, -2.0, 1.0, 1.63]),
                                            last_post=jnp.asarray([0.3, -2.2, -2.8, -1.4, 0.0]), w_max=20.0)
    neuron = {"vtrace": -0.055, "cexc": 0.01, "cinh": 0.02}  # Scheduled's constants
    expected = jaxsnn.pair_window(rule, LAGS * DT, w=W0, neuron=neuron)
    assert expected.min() < -1e-4 and expected.max() > 5e-5  # depression and potentiation lobes
    # pair_window evaluates both updates at w0; the engine's second update reads w0 + Δw_first. The
    # difference is about (∂Δw_second/∂w) Δw_first: bounded here by twice the largest slope in w times
    # the largest single update, over traces in {0, 1/2, 1} (η = 1e-3 keeps it ~1e-8)
    values = {k: jnp.float32(v) for k, v in neuron.items()}
    grid = [jaxsnn.Synapses(pre={"x_pre1": jnp.float32(a), "x_pre2": jnp.float32(a)},
                            post={"x_post1": jnp.float32(b), "x_post2": jnp.float32(b)}, neuron=values)
            for a in (0.0, 0.5, 1.0) for b in (0.0, 0.5, 1.0)]
    updates = [f(jnp.float32(W0), x) for f in (rule.on_pre, rule.on_post) for x in grid]
    slopes = [jax.grad(f)(jnp.float32(W0), x) for f in (rule.on_pre, rule.on_post) for x in grid]
    second_order = 2.0 * float(np.abs(slopes).max()) * float(np.abs(updates).max())
    assert second_order < 1e-6
    for d, dw in simulated_dw(rule).items():
        np.testing.assert_allclose(dw, expected, rtol=RTOL, atol=ATOL + second_order, err_msg=f"delay {d} steps")


def test_weights_clip_to_bounds_after_every_update() -> None:
    # one pair, pre first: on-pre +0.1, on-post −0.05 within [0.45, 0.55] from 0.5: clipped after each
    # update, 0.5 → clip(0.6) = 0.55 → 0.50; clipped only at the end it would be 0.55
    rule = jaxsnn.PolynomialPlasticity(0.02, 0.02, 1.0, -0.5, 0.0, 0.0, eta=0.1, w_min=0.45, w_max=0.55)
    for d, dw in simulated_dw(rule, np.array([5])).items():
        np.testing.assert_allclose(dw + W0, [0.5], rtol=0, atol=1e-7, err_msg=f"delay {d} steps")
    # many pairs: a single run with pre and post spiking every 5 steps saturates at the bound exactly
    for alpha, bound in ((-1.0, 0.45), (1.0, 0.55)):
        rule = jaxsnn.PolynomialPlasticity(0.02, 0.02, alpha, alpha, 0.0, 0.0, eta=0.02, w_min=0.45, w_max=0.55)
        net = jaxsnn.Network(dt=DT, populations=(
            jaxsnn.Population("pre", 1, Scheduled(jnp.arange(0, 100, 5, dtype=jnp.int32)[None])),
            jaxsnn.Population("post", 1, Scheduled(jnp.arange(2, 100, 5, dtype=jnp.int32)[None]))),
            projections=(jaxsnn.Projection("pq", "pre", "post", connectivity.from_edges([0], [0], 1, 1), W0,
                                           plasticity=rule),))
        result = jaxsnn.simulate(net, 100 * DT, jax.random.key(0), record=jaxsnn.Record(weights={"pq": None}, period=DT))
        w = result.weights["pq"][0, :, 0]
        assert w[-1] == np.float32(bound)
        assert np.all(w >= np.float32(0.45)) and np.all(w <= np.float32(0.55))


def test_on_pre_comes_before_on_post_in_the_same_step() -> None:
    # on-pre +1, on-post −1 (α = 1, β = −1, no trace terms), bounds [0, 1], w0 = 0.5, both in one step:
    # pre first: clip(0.5 + 1) = 1, then 1 − 1 = 0; post first would give clip(0.5 − 1) = 0, then 1
    rule = jaxsnn.PolynomialPlasticity(0.02, 0.02, 1.0, -1.0, 0.0, 0.0, eta=1.0, w_min=0.0, w_max=1.0)
    for d, dw in simulated_dw(rule, np.array([0])).items():
        assert dw[0] + W0 == 0.0, f"delay {d} steps"
    # one step apart, each order shows: pre then post → 0; post then pre → 1
    dw = simulated_dw(rule, np.array([1, -1]))
    for d in DELAYS:
        np.testing.assert_array_equal(dw[d] + W0, [0.0, 1.0])


def test_timing_convention_arrival_at_end_of_step_k_plus_delay_minus_1() -> None:
    # a causal-only rule (γ term, τ_pre = 20 ms): with the post spike at s_pre + d − 1 + n the synapse
    # sees Δt = n dt for every delay; one step off would change Δw by a factor e^{±dt/τ} (0.5 %)
    rule = jaxsnn.PolynomialPlasticity(0.02, 0.02, 0.0, 0.0, 1.0, 0.0, eta=0.01)
    lags = np.array([1, 2, 10])
    dw = simulated_dw(rule, lags)
    for d in DELAYS:
        np.testing.assert_allclose(dw[d], 0.01 * np.exp(-lags * DT / 0.02), rtol=RTOL, atol=ATOL)
        assert not np.allclose(dw[d], 0.01 * np.exp(-(lags + 1) * DT / 0.02), rtol=1e-3, atol=0)


# ---- bad input: refused when the network is built, before anything is traced -------------------

def _pq(rule: jaxsnn.PlasticityRule, post_model: NeuronModel, propagation: str = "auto") -> jaxsnn.Network:
    return jaxsnn.Network(dt=DT, populations=(jaxsnn.Population("pre", 1, jaxsnn.COBALIF()),
                                              jaxsnn.Population("post", 1, post_model)),
                          projections=(jaxsnn.Projection("pq", "pre", "post", connectivity.from_edges([0], [0], 1, 1),
                                                         0.5, plasticity=rule),),
                          propagation=propagation)


def test_rule_reading_a_variable_the_model_lacks() -> None:
    h1, h2 = load_mlp_hidden_layers()
    rule = jaxsnn.MLPPlasticity.with_hidden(h1, h2, eta=0.1, last_pre=jnp.zeros(5), last_post=jnp.zeros(5))
    with pytest.raises(ValueError, match=r"reads the postsynaptic variable 'vtrace', which COBALIF lacks; it has"):
        _pq(rule, jaxsnn.COBALIF())
    _pq(rule, jaxsnn.CVAIF())  # the model it is written for has them


def test_plastic_projection_refuses_dense_propagation() -> None:
    rule = jaxsnn.PolynomialPlasticity(0.02, 0.02, 0.0, 0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match=r"plastic projections are event-driven.*use propagation='events' or 'auto'"):
        _pq(rule, jaxsnn.COBALIF(), propagation="dense")


class _BadSide(jaxsnn.PlasticityRule):
    def traces(self):
        return {"x": jaxsnn.Trace("both", 0.02)}


class _BadTau(jaxsnn.PlasticityRule):
    def traces(self):
        return {"x": jaxsnn.Trace("pre", 0.0)}


def test_bad_traces_and_bounds() -> None:
    with pytest.raises(ValueError, match=r"trace 'x' of _BadSide must be Trace\(side, tau\) with side in \('pre', 'post'\)"):
        _pq(_BadSide(), jaxsnn.COBALIF())
    with pytest.raises(ValueError, match=r"trace 'x' has time constant 0.0 s; it must be > 0"):
        _pq(_BadTau(), jaxsnn.COBALIF())
    with pytest.raises(ValueError, match=r"w_min \(1.0\) must be below w_max \(0.5\)"):
        jaxsnn.PolynomialPlasticity(0.02, 0.02, 0.0, 0.0, 1.0, 0.0, w_min=1.0, w_max=0.5)
    with pytest.raises(ValueError, match="plasticity must be a jaxsnn.PlasticityRule"):
        _pq("stdp", jaxsnn.COBALIF())
