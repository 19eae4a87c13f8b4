"""Neuron models against closed forms and independent float64 integrations of their equations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from jaxsnn.neurons import AdEx, COBALIF, CVAIF, LIF, ConductanceIF, NeuronInput

DT = 1e-4


def run(model, n_steps, exc=None, inh=None, current=None, n=1, state=None):
    """Step ``model`` n_steps times with per-step inputs ([n_steps, n] arrays or None)."""
    z = jnp.zeros((n_steps, n), jnp.float32)
    xs = NeuronInput(z if exc is None else jnp.asarray(exc, jnp.float32),
                     z if inh is None else jnp.asarray(inh, jnp.float32),
                     z if current is None else jnp.asarray(current, jnp.float32))
    state = model.init(n) if state is None else state

    def body(s, x):
        s, spk = model.step(s, x, DT)
        return s, (s, spk)

    final, (states, spikes) = jax.lax.scan(body, state, xs)
    return final, states, np.asarray(spikes)


def test_lif_interspike_interval_matches_closed_form():
    model = LIF(tau_m=0.02, v_rest=-0.070, v_reset=-0.070, v_th=-0.050, r_m=1e8, tau_ref=0.002)
    current = 0.3e-9  # r_m I = 30 mV > 20 mV threshold distance
    _, _, spikes = run(model, 20000, current=np.full((20000, 1), current))
    steps = np.flatnonzero(spikes[:, 0])
    isi = np.diff(steps) * DT
    expected = 0.002 + 0.02 * np.log(30.0 / (30.0 - 20.0))
    assert len(isi) > 50
    np.testing.assert_allclose(isi.mean(), expected, atol=1.5 * DT)
    assert isi.max() - isi.min() <= DT * 1.01  # regular firing, jitter at most one step


def test_lif_below_threshold_never_spikes_and_relaxes_exactly():
    model = LIF()
    current = 0.15e-9  # r_m I = 15 mV < 20 mV
    _, states, spikes = run(model, 3000, current=np.full((3000, 1), current))
    assert spikes.sum() == 0
    t = np.arange(1, 3001) * DT
    expected = -0.070 + 0.015 * (1 - np.exp(-t / 0.02))
    np.testing.assert_allclose(np.asarray(states.v[:, 0]), expected, atol=2e-6)


@pytest.mark.parametrize("model, field, tau", [(COBALIF(), "g_exc", 0.005), (COBALIF(), "g_inh", 0.010),
                                               (LIF(), "i_exc", 0.005), (AdEx(), "g_exc", None)])
def test_synaptic_variable_decay(model, field, tau):
    n_steps = 500
    kick = np.zeros((n_steps, 1))
    kick[0] = 1.0
    kwargs = {"inh": kick} if field.endswith("inh") else {"exc": kick}
    _, states, _ = run(model, n_steps, **kwargs)
    g = np.asarray(getattr(states, field)[:, 0], np.float64)
    k = np.arange(1, n_steps + 1)
    if tau is None:  # AdEx decays by forward Euler, as the reference notebook does
        expected = (1 - DT / 0.007) ** k
    else:
        expected = np.exp(-k * DT / tau)
    np.testing.assert_allclose(g, expected, rtol=1e-4, atol=1e-7)


def test_coba_subthreshold_matches_ode_solution():
    """COBA V under a conductance pulse train against scipy's float64 ODE solution."""
    model = COBALIF(v_drive=0.0)
    n_steps = 2000
    exc = np.zeros((n_steps, 1))
    exc[::200] = 0.05
    state = model.init(1)._replace(v=jnp.array([-0.060]))
    _, states, spikes = run(model, n_steps, exc=exc, state=state)
    assert spikes.sum() == 0

    def rhs(t, y):
        v, g = y
        return [((-0.060 - v) + g * (0.0 - v)) / 0.02, -g / 0.005]

    v, g, out = -0.060, 0.0, []
    for k in range(n_steps):
        g += exc[k, 0]
        sol = solve_ivp(rhs, (0, DT), [v, g], rtol=1e-10, atol=1e-13)
        v, g = sol.y[:, -1]
        out.append(v)
    # exponential Euler holds g constant over a step: error O(dt/tau_exc) of the synaptic swing
    np.testing.assert_allclose(np.asarray(states.v[:, 0]), out, atol=2e-5)


def low_pass(x, target, k):
    """Two in-place saxpy calls, as Auryn writes its low-passes."""
    x += k * target
    return x - k * x


def numpy_if_reference(n_steps, exc, inh, cvaif=False, traces=(1.0, 1.0, 1.0)):
    """Auryn's IFGroup and fSBI's CVAIFGroup (integrate_linear_nmda_synapses, integrate_membrane,
    check_thresholds) written out in float64 numpy, independently of the JAX models: in-place
    low-passes (x += k·target; x -= k·x), CVAIF's NMDA reading the decayed AMPA, threshold set to
    100 mV after a spike."""
    v, ga, gn, gg, th, gad = -0.070, 0.0, 0.0, 0.0, 0.0, 0.0
    cexc, cinh, vtr = 0.0, 0.0, -0.070
    a_ampa, a_nmda = 0.3 / 1.3, 1 / 1.3
    vs, spikes = [], []
    for k in range(n_steps):
        ga += exc[k]
        gg += inh[k]
        if not cvaif:
            i_exc = -(a_ampa * ga + a_nmda * gn) * v
            i_inh = (v + 0.080) * gg
            gn = low_pass(gn, ga, 1 - np.exp(-DT / 0.1))
            ga *= np.exp(-DT / 0.005)
            gg *= np.exp(-DT / 0.010)
        else:
            ga *= np.exp(-DT / 0.005)
            gg *= np.exp(-DT / 0.010)
            gad *= np.exp(-DT / 0.1)
            gn = low_pass(gn, ga, DT / 0.1)
            i_exc = -(a_ampa * ga + a_nmda * gn) * v
            i_inh = (v + 0.080) * (gg + gad)
            cexc = low_pass(cexc, i_exc, DT / traces[1])
            cinh = low_pass(cinh, i_inh, DT / traces[2])
            vtr = low_pass(vtr, v, DT / traces[0])
        th *= np.exp(-DT / 0.005)
        v += DT / 0.020 * (i_exc - i_inh - (v + 0.070))
        v = min(max(v, -0.080), 0.0)
        s = v > -0.050 + th
        if s:
            v = -0.070
            th = 0.100
            gad += 0.1
        vs.append(v)
        spikes.append(s)
    return np.array(vs), np.array(spikes), (cexc, cinh, vtr)


@pytest.mark.parametrize("cvaif", [False, True])
def test_fsbi_if_neurons_match_float64_reference(cvaif):
    rng = np.random.default_rng(0)
    n_steps = 5000
    exc = rng.poisson(0.05, n_steps) * 0.6  # strong enough to make it fire
    inh = rng.poisson(0.02, n_steps) * 0.5
    model = CVAIF() if cvaif else ConductanceIF()
    final, states, spikes = run(model, n_steps, exc=exc[:, None], inh=inh[:, None])
    v_ref, s_ref, traces = numpy_if_reference(n_steps, exc, inh, cvaif=cvaif)
    assert s_ref.sum() >= 5
    np.testing.assert_array_equal(spikes[:, 0] > 0, s_ref)
    np.testing.assert_allclose(np.asarray(states.v[:, 0]), v_ref, atol=1e-5)
    if cvaif:
        np.testing.assert_allclose([final.cexc[0], final.cinh[0], final.vtrace[0]], traces, rtol=1e-3, atol=1e-6)


def test_cvaif_trace_options():
    taus = lambda m: (float(m.tau_vtrace), float(m.tau_cexc), float(m.tau_cinh))  # noqa: E731
    assert taus(CVAIF()) == (1.0, 1.0, 1.0)  # the released runs
    # the original's binary with the configured values passes tau_cexc to set_tau_vtrace
    assert taus(CVAIF(traces="configured")) == pytest.approx((0.01, 0.01, 0.1))
    assert taus(CVAIF(traces="intended")) == pytest.approx((0.1, 0.01, 0.1))
    assert float(CVAIF(traces="configured", tau_cexc=0.5).tau_cexc) == 0.5
    with pytest.raises(ValueError, match="traces"):
        CVAIF(traces="wired")


def test_if_voltage_is_clipped_and_threshold_jumps():
    model = ConductanceIF()
    exc = np.zeros((300, 1))
    exc[0] = 50.0  # a huge excitatory kick drives V towards E_exc = 0
    _, states, spikes = run(model, 300, exc=exc)
    assert np.all(np.asarray(states.v) <= 0.0) and np.all(np.asarray(states.v) >= -0.080)
    first = np.flatnonzero(spikes[:, 0])[0]
    np.testing.assert_allclose(float(states.theta_dyn[first, 0]), 0.100, rtol=1e-5)


@pytest.mark.parametrize("model", [ConductanceIF(), CVAIF()], ids=["IF", "CVAIF"])
def test_rate_ceiling_is_set_by_the_reset_threshold(model):
    # Under a drive that pins V at its 0 V ceiling, a neuron fires again once the threshold, *set*
    # to theta_rest + 100 mV at the spike, has decayed below 0 V: after tau_thr ln 2 = 3.47 ms, so
    # every 35th step (285.7 Hz). An increment added to the remaining one would give 1/(tau_thr ln 3)
    # = 182 Hz. The original simulator's inhibitory neurons reach 278-286 Hz near this ceiling.
    exc = np.full((4000, 1), 50.0)
    _, _, spikes = run(model, 4000, exc=exc)
    isi = np.diff(np.flatnonzero(spikes[:, 0]))
    assert len(isi) > 50
    assert np.all(isi[5:] == 35), np.unique(isi)


def test_adex_adaptation_lengthens_interspike_intervals():
    model = AdEx()
    current = np.full((20000, 1), 0.3e-9)  # 300 pA step
    _, _, spikes = run(model, 20000, current=current)
    isi = np.diff(np.flatnonzero(spikes[:, 0]))
    assert len(isi) >= 4
    assert np.all(np.diff(isi[:4]) > 0), isi[:6]  # spike-frequency adaptation
    no_adapt = AdEx(a=0.0, b=0.0)
    _, _, spikes2 = run(no_adapt, 20000, current=current)
    isi2 = np.diff(np.flatnonzero(spikes2[:, 0]))
    assert isi2.max() - isi2.min() <= 1 and isi.mean() > isi2.mean()


def test_adex_subthreshold_matches_ode_solution():
    model = AdEx(a=-0.8e-9)
    n_steps = 3000
    current = np.full((n_steps, 1), 0.02e-9)
    _, states, spikes = run(model, n_steps, current=current)
    assert spikes.sum() == 0
    p = model

    def rhs(t, y):
        v, w = y
        dv = (-4.3e-9 * (v + 0.065) + 4.3e-9 * 0.8e-3 * np.exp((v + 0.052) / 0.8e-3) - w + 0.02e-9) / 104e-12
        dw = (-0.8e-9 * (v + 0.065) - w) / 0.088
        return [dv, dw]

    t_eval = np.arange(1, n_steps + 1) * DT
    sol = solve_ivp(rhs, (0, t_eval[-1]), [float(p.v_reset), 0.0], t_eval=t_eval, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(np.asarray(states.v[:, 0]), sol.y[0], atol=2e-4)


def test_models_reject_bad_parameters():
    with pytest.raises(ValueError, match="LIF.tau_m"):
        LIF(tau_m=0.0)
    with pytest.raises(ValueError, match="COBALIF.tau_ref"):
        COBALIF(tau_ref=-1e-3)
    with pytest.raises(ValueError, match="AdEx.c_m"):
        AdEx(c_m=float("nan"))


def test_models_vmap_over_parameter_batches():
    models = jax.vmap(lambda tau: LIF(tau_m=tau))(jnp.array([0.01, 0.02, 0.04]))
    state = jax.vmap(lambda m: m.init(1))(models)
    inputs = NeuronInput(*(jnp.zeros((3, 1)),) * 2, jnp.full((3, 1), 0.3e-9))
    state, _ = jax.vmap(lambda m, s, x: m.step(s, x, DT))(models, state, inputs)
    dv = np.asarray(state.v[:, 0]) + 0.070
    np.testing.assert_allclose(dv, 0.030 * (1 - np.exp(-DT / np.array([0.01, 0.02, 0.04]))), rtol=1e-4)
