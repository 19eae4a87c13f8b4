"""Tsodyks–Markram STP against closed forms: steady state of the rate form under a constant rate
(Euler and exact-exponential integrators), the event form under regular spiking, a batch with
different parameters per member, and boundary validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.stp import (
    STPParams,
    stp_init,
    stp_on_spike,
    stp_rate_euler,
    stp_rate_exponential,
    stp_regular_spiking_steady_state,
    stp_steady_state,
)

RATES = jnp.asarray([0.0, 2.0, 10.0, 40.0], jnp.float32)


def _run(update, params, rate, dt, steps):
    def body(state, _):
        state, eff = update(params, state, rate, dt)
        return state, eff

    state, effs = jax.lax.scan(body, stp_init(params, rate.shape[0]), None, length=steps)
    return state, effs[-1]


def _closed_form(U, tau_fac, tau_rec, r):
    """Fixed point of du/dt = (U - u)/tau_fac + U (1 - u) r, dx/dt = (1 - x)/tau_rec - u x r (float64)."""
    u = U * (1 / tau_fac + r) / (1 / tau_fac + U * r)
    x = (1 / tau_rec) / (1 / tau_rec + u * r)
    return u, x


@pytest.mark.parametrize("update", [stp_rate_euler, stp_rate_exponential])
def test_rate_form_reaches_closed_form_steady_state(update):
    params = STPParams()  # U = 0.03, tau_fac = 1 s, tau_rec = 0.2 s
    state, eff = _run(update, params, RATES, 1e-3, 15000)
    u, x = _closed_form(0.03, 1.0, 0.2, np.asarray(RATES, np.float64))
    np.testing.assert_allclose(np.asarray(state.u), u, rtol=2e-4)
    np.testing.assert_allclose(np.asarray(state.x), x, rtol=2e-4)
    np.testing.assert_allclose(np.asarray(eff), u * x * np.asarray(RATES), rtol=5e-4)
    ss = stp_steady_state(params, RATES)
    np.testing.assert_allclose(np.asarray(ss.u), u, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ss.x), x, rtol=1e-6)


def test_exponential_form_is_stable_for_large_steps():
    # dt * u r = 0.5 * 0.5 * 40 = 10 >> 2: explicit Euler oscillates and diverges, the exponential form does not
    params = STPParams(U=0.5, tau_fac=1.0, tau_rec=0.2)
    rate = jnp.asarray([40.0])
    state, _ = _run(stp_rate_exponential, params, rate, 0.5, 200)
    u, x = _closed_form(0.5, 1.0, 0.2, 40.0)
    np.testing.assert_allclose([float(state.u[0]), float(state.x[0])], [u, x], rtol=1e-5)
    bad, _ = _run(stp_rate_euler, params, rate, 0.5, 200)
    assert not np.isclose(float(bad.x[0]), x, rtol=0.1)


def test_parameters_differ_per_batch_member():
    U = jnp.asarray([0.03, 0.2, 0.5])
    tau_fac = jnp.asarray([1.0, 0.5, 0.1])
    tau_rec = jnp.asarray([0.2, 0.5, 0.8])
    params = STPParams(U, tau_fac, tau_rec)
    run = jax.vmap(lambda p: _run(stp_rate_exponential, p, RATES, 1e-3, 15000)[0])
    state = run(params)
    for b in range(3):
        u, x = _closed_form(float(U[b]), float(tau_fac[b]), float(tau_rec[b]), np.asarray(RATES, np.float64))
        np.testing.assert_allclose(np.asarray(state.u[b]), u, rtol=3e-4)
        np.testing.assert_allclose(np.asarray(state.x[b]), x, rtol=3e-4)


@pytest.mark.parametrize("interval_steps", [5, 20, 100])
def test_event_form_regular_spiking_steady_state(interval_steps):
    dt = 1e-3
    params = STPParams(U=0.1, tau_fac=0.5, tau_rec=0.3)
    steps = 40 * interval_steps * 10

    def body(state, t):
        spikes = jnp.asarray([(t % interval_steps) == 0], jnp.float32)
        before = state.x
        state, eff = stp_on_spike(params, state, spikes, dt)
        return state, (eff, before, state.u)

    _, (eff, _, u) = jax.lax.scan(body, stp_init(params, 1), jnp.arange(steps))
    u_plus, x_minus = stp_regular_spiking_steady_state(params, interval_steps * dt)
    last = steps - steps % interval_steps - interval_steps  # index of the last spike
    assert float(u[last, 0]) == pytest.approx(float(u_plus), rel=1e-4)
    # transmitted efficacy of a steady-state spike is u+ x-
    assert float(eff[last, 0]) == pytest.approx(float(u_plus * x_minus), rel=1e-4)
    # independent check of the closed form: first spike from rest transmits U (2 - U)
    assert float(eff[0, 0]) == pytest.approx(0.1 * (2 - 0.1), rel=1e-5)


def test_event_form_without_spikes_relaxes_exactly():
    params = STPParams(U=0.2, tau_fac=0.5, tau_rec=0.3)
    state = stp_init(params, 1)._replace(u=jnp.asarray([0.8]), x=jnp.asarray([0.1]))
    for _ in range(100):
        state, eff = stp_on_spike(params, state, jnp.zeros((1,)), 1e-3)
    assert float(eff[0]) == 0.0
    assert float(state.u[0]) == pytest.approx(0.2 + 0.6 * np.exp(-0.1 / 0.5), rel=1e-5)
    assert float(state.x[0]) == pytest.approx(1 - 0.9 * np.exp(-0.1 / 0.3), rel=1e-5)


def test_validation():
    with pytest.raises(ValueError, match="U must be a probability"):
        STPParams(U=1.5)
    with pytest.raises(ValueError, match="tau_rec must be finite and > 0"):
        STPParams(tau_rec=-0.1)


def test_event_form_drives_a_spiking_population_with_per_member_parameters():
    # 20 presynaptic neurons spiking at 20 Hz drive one jaxsnn LIF neuron through TM synapses;
    # two batch members: facilitating and depressing parameters
    from jaxsnn.neurons import LIF, NeuronInput

    dt, steps, n_pre, period, w = 1e-3, 2000, 20, 50, 2e-11
    params = STPParams(jnp.asarray([0.03, 0.5]), jnp.asarray([1.0, 0.01]), jnp.asarray([0.2, 0.8]))
    lif = LIF()
    weights = jnp.full((1, n_pre), w)

    def member(p):
        def body(carry, t):
            syn, neuron = carry
            spikes = jnp.full((n_pre,), (t % period) == 0, jnp.float32)
            syn, eff = stp_on_spike(p, syn, spikes, dt)
            exc = weights @ eff
            neuron, out = lif.step(neuron, NeuronInput(exc, jnp.zeros(1), jnp.zeros(1)), dt)
            return (syn, neuron), (exc[0], neuron.i_exc[0], out[0])

        _, rec = jax.lax.scan(body, (stp_init(p, n_pre), lif.init(1)), jnp.arange(steps))
        return rec

    exc, i_exc, _ = jax.vmap(member)(params)

    for b, (U, tf, tr) in enumerate([(0.03, 1.0, 0.2), (0.5, 0.01, 0.8)]):
        u, x, i, ref_exc, ref_i = U, 1.0, 0.0, [], []
        for t in range(steps):
            u = U + (u - U) * np.exp(-dt / tf)
            x = 1 + (x - 1) * np.exp(-dt / tr)
            e = 0.0
            if t % period == 0:
                u += U * (1 - u)
                e = u * x
                x -= e
            ref_exc.append(n_pre * w * e)
            i = (i + n_pre * w * e) * np.exp(-dt / 0.005)
            ref_i.append(i)
        np.testing.assert_allclose(np.asarray(exc[b]), ref_exc, rtol=1e-4, atol=1e-20)
        np.testing.assert_allclose(np.asarray(i_exc[b]), ref_i, rtol=1e-4, atol=1e-20)
    spike_times = np.arange(0, steps, period)
    assert exc[0, spike_times[-1]] > 2 * exc[0, 0]  # facilitation
    assert exc[1, spike_times[-1]] < 0.5 * exc[1, 0]  # depression
