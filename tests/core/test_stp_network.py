"""Short-term plasticity on spiking-network projections: each delivered spike is scaled by the
Tsodyks–Markram efficacy u x of its presynaptic neuron, in the event-driven and dense paths alike,
with parameters that may differ per batch member."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn import LIF, CurrentInput, Network, Population, Projection, Record, broadcast_params, simulate
from jaxsnn.connectivity import from_edges
from jaxsnn.stp import STPParams

DT = 1e-4
WEIGHT = 1e-10  # A per spike at full efficacy
DRIVE = np.array([0.3e-9, 0.5e-9])  # A: the two presynaptic neurons fire regularly at ~40 and ~80 Hz


def _network(propagation: str, stp: STPParams, delay_steps: int = 3) -> Network:
    pre = Population("P", 2, LIF())
    post = Population("Q", 2, LIF(v_th=1.0))  # never fires: its synaptic current is the read-out
    conn = from_edges(np.array([0, 1]), np.array([0, 1]), 2, 2)
    return Network(
        dt=DT,
        populations=(pre, post),
        projections=(Projection("PQ", "P", "Q", conn, weight=WEIGHT, delay=delay_steps * DT, stp=stp),),
        currents=(CurrentInput("drive", "P", DRIVE),),
        propagation=propagation,
    )


def _reference_efficacies(arrival_steps: np.ndarray, U: float, tau_fac: float, tau_rec: float) -> np.ndarray:
    """Float64 Tsodyks–Markram event model: exact relaxation between arrivals, then facilitate, transmit
    u x and deplete; starts from u = U, x = 1."""
    u, x, last = U, 1.0, 0
    out = []
    for step in arrival_steps:
        gap = (step - last) * DT
        u = U + (u - U) * np.exp(-gap / tau_fac)
        x = 1.0 + (x - 1.0) * np.exp(-gap / tau_rec)
        u = u + U * (1.0 - u)
        out.append(u * x)
        x -= u * x
        last = step
    return np.asarray(out)


def _run(net: Network, params=None, batch: int = 1, duration: float = 0.3):
    record = Record(spikes={"P": None}, state={"Q": {"i_exc": [0, 1]}}, period=DT)
    return simulate(net, duration, jax.random.key(0), params=params, batch=batch, record=record)


def _increments(trace: np.ndarray, tau: float) -> np.ndarray:
    """Per-step input of a LIF synaptic current recorded at the end of each step: i[t] = (i[t-1] + in[t]) e^{-dt/tau}."""
    trace = np.asarray(trace, np.float64)
    prev = np.concatenate([np.zeros((1,) + trace.shape[1:]), trace[:-1]])
    return trace / np.exp(-DT / tau) - prev


@pytest.mark.parametrize("propagation", ["events", "dense"])
def test_delivered_spikes_carry_tsodyks_markram_efficacy(propagation):
    U, tau_fac, tau_rec, delay = 0.2, 0.05, 0.3, 3
    net = _network(propagation, STPParams(U=U, tau_fac=tau_fac, tau_rec=tau_rec), delay)
    res = _run(net)
    events = res.spikes["P"]
    inc = _increments(res.state["Q"]["i_exc"][0], LIF().tau_exc)  # [T, 2]
    for neuron in (0, 1):
        spike_steps = np.asarray(events.step)[np.asarray(events.neuron) == neuron]
        arrivals = spike_steps + delay
        arrivals = arrivals[arrivals < inc.shape[0]]
        assert arrivals.size >= 8, "the presynaptic neuron should fire regularly"
        expected = WEIGHT * _reference_efficacies(arrivals, U, tau_fac, tau_rec)
        np.testing.assert_allclose(inc[arrivals, neuron], expected, rtol=2e-4, atol=1e-16)
        quiet = np.setdiff1d(np.arange(inc.shape[0]), arrivals)
        assert np.max(np.abs(inc[quiet, neuron])) < 1e-3 * WEIGHT  # nothing arrives between spikes
        # depression: the last transmitted efficacy is well below the first
        assert expected[-1] < 0.8 * expected[0]


def test_stp_parameters_differ_per_batch_member():
    net = _network("events", STPParams(U=0.2, tau_fac=0.05, tau_rec=0.3))
    params = broadcast_params(net.default_params(), 2)
    # member 0 depresses (high U, slow recovery), member 1 facilitates (low U, slow facilitation)
    members = STPParams(U=jnp.array([0.5, 0.05]), tau_fac=jnp.array([0.01, 1.0]), tau_rec=jnp.array([0.5, 0.01]))
    params = params._replace(stp={"PQ": members})
    res = _run(net, params=params, batch=2)
    trace = np.asarray(res.state["Q"]["i_exc"])  # [B, T, 2]
    events = res.spikes["P"]
    for member, (U, tf, tr) in enumerate([(0.5, 0.01, 0.5), (0.05, 1.0, 0.01)]):
        inc = _increments(trace[member], LIF().tau_exc)
        mask = (np.asarray(events.member) == member) & (np.asarray(events.neuron) == 0)
        arrivals = np.asarray(events.step)[mask] + 3
        arrivals = arrivals[arrivals < inc.shape[0]]
        expected = WEIGHT * _reference_efficacies(arrivals, U, tf, tr)
        np.testing.assert_allclose(inc[arrivals, 0], expected, rtol=2e-4, atol=1e-16)
    first_vs_last = [_reference_efficacies(np.arange(1, 12) * 240, *p) for p in [(0.5, 0.01, 0.5), (0.05, 1.0, 0.01)]]
    assert first_vs_last[0][-1] < first_vs_last[0][0] and first_vs_last[1][-1] > first_vs_last[1][0]


def test_projection_rejects_a_non_stp_object():
    conn = from_edges(np.array([0]), np.array([0]), 1, 1)
    with pytest.raises(ValueError, match="STPParams"):
        Projection("PQ", "P", "Q", conn, stp={"U": 0.2})
