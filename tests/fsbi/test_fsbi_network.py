"""The fSBI network: plasticity against closed forms, blow-up handling, batching, API checks."""

import jax
import numpy as np
import pytest

import jaxsnn
from jaxsnn import connectivity as C
from jaxsnn import fsbi
from jaxsnn.fsbi.published import PUBLISHED_POLYNOMIAL_RULE
from jaxsnn.fsbi.rules import pair_window
from jaxsnn.neurons import ScheduledSpikes
from jaxsnn.plasticity import PolynomialPlasticity

REFERENCE_RULE = PUBLISHED_POLYNOMIAL_RULE
DT = 1e-4


def run_pair_protocol(theta_ee, pre_steps, post_steps, n_steps, w0=1.0, eta=0.01, w_max=20.0):
    """One plastic synapse between two neurons spiking at ``pre_steps`` and ``post_steps`` (delay one step:
    a spike arrives at the end of its own step, as an fSBI spike ``delay`` steps after emission), the
    polynomial rule ``theta_ee`` on it, through the core engine; the weight after each step."""
    tau_pre, tau_post, alpha, beta, gamma, kappa = theta_ee
    rule = PolynomialPlasticity(tau_pre, tau_post, alpha, beta, gamma, kappa, eta=eta, w_max=w_max)
    net = jaxsnn.Network(
        dt=DT,
        populations=(jaxsnn.Population("pre", 1, ScheduledSpikes.from_lists([sorted(pre_steps)])),
                     jaxsnn.Population("post", 1, ScheduledSpikes.from_lists([sorted(post_steps)]))),
        projections=(jaxsnn.Projection("ee", "pre", "post", C.from_edges([0], [0], 1, 1), w0, plasticity=rule),),
    )
    params = jaxsnn.broadcast_params(net.default_params(), 1)
    structure = net.structure()
    keys = jax.random.split(jax.random.key(0), 1)

    @jax.jit
    def run(state):
        def body(s, _):
            s, _ = jaxsnn.network_step(net, structure, params, s, keys)
            return s, s.weights["ee"][0, 0]
        return jax.lax.scan(body, state, None, length=n_steps)[1]

    return np.asarray(run(net.init_state(params, 1)))


@pytest.mark.parametrize("delta_steps", [-150, -30, -1, 1, 25, 200])
def test_single_pair_reproduces_the_pair_window(delta_steps):
    theta_ee = np.array([0.02, 0.04, 0.3, -0.2, 1.5, -1.1])  # tau_pre, tau_post, alpha, beta, gamma, kappa
    t_pre = 300
    t_post = t_pre + delta_steps
    w = run_pair_protocol(theta_ee, {t_pre}, {t_post}, 700)
    expected = 0.01 * pair_window(theta_ee, np.array([delta_steps * DT]))[0]
    np.testing.assert_allclose(w[-1] - 1.0, expected, rtol=2e-4, atol=1e-7)


def test_traces_decay_with_their_time_constant():
    # only the gamma term (post reads x_pre) is nonzero: w change = eta * gamma * x_pre(t_post)
    tau_pre = 0.015
    theta_ee = np.array([tau_pre, 0.05, 0.0, 0.0, 1.0, 0.0])
    for lag in (10, 100, 400):
        w = run_pair_protocol(theta_ee, {0}, {lag}, lag + 2)
        np.testing.assert_allclose((w[-1] - 1.0) / 0.01, np.exp(-lag * DT / tau_pre), rtol=2e-4)


def test_weights_are_clipped_after_every_update():
    # strong depression from zero stays at zero; strong potentiation stops at w_max
    theta_ee = np.array([0.02, 0.02, -2.0, -2.0, 0.0, 0.0])
    w = run_pair_protocol(theta_ee, set(range(0, 200, 10)), set(range(5, 200, 10)), 200, w0=0.05)
    assert w.min() == 0.0 and w[-1] == 0.0
    theta_ee = np.array([0.02, 0.02, 2.0, 2.0, 0.0, 0.0])
    w = run_pair_protocol(theta_ee, set(range(0, 200, 2)), set(range(1, 200, 2)), 200, w0=19.9, eta=0.05)
    assert w.max() == 20.0 and w[-1] == 20.0
    # each single update is clipped: from 19.9, +0.1 reaches exactly 20 and further steps stay there
    assert np.all(np.diff(w[w < 20.0]) >= 0)


def small(theta, **kw):
    opts = dict(n_exc=400, n_inh=100, duration=1.6, record_start=1.0, n_rec_e=400, n_rec_i=100)
    opts.update(kw)
    return fsbi.simulate(theta, **opts)


def test_blown_up_rule_is_stopped_and_batch_neighbours_are_unaffected():
    exploding = REFERENCE_RULE.copy()
    exploding[:6] = [0.1, 0.1, 2.0, 2.0, 2.0, 2.0]  # strong EE potentiation
    exploding[12:18] = [0.1, 0.1, -2.0, -2.0, -2.0, -2.0]  # and IE depression
    exploding[24] = 15.0
    stable = REFERENCE_RULE.copy()
    both = small(np.stack([stable, exploding]), eta=0.2, blowup_rate=40.0, rule_ids=[7, 8])
    alone = small(stable, eta=0.2, blowup_rate=40.0, rule_ids=[7])
    assert both.blowup_time[1] > 0 and np.isnan(both.metrics["rate"][1])
    assert all(np.isnan(v[1]) for v in both.metrics.values())
    assert both.blowup_time[0] == -1 and alone.blowup_time[0] == -1
    for name, value in alone.metrics.items():
        np.testing.assert_allclose(both.metrics[name][0], value[0], rtol=1e-5, atol=1e-6, err_msg=name)


def test_same_seed_same_result_and_streaming_metrics_equal_host_metrics():
    a = small(REFERENCE_RULE, record_spikes=True)
    b = small(REFERENCE_RULE)
    for name in a.metrics:
        assert a.metrics[name][0] == pytest.approx(b.metrics[name][0], rel=1e-6, abs=1e-7), name
    (e_t, e_i), (i_t, i_i) = a.spikes["E"][0], a.spikes["I"][0]
    weights = {k: (t, v[0]) for k, (t, v) in a.weights.items()}
    host = fsbi.compute_metrics(e_t, e_i, i_t, i_i, weights, t_start=1.0, t_stop=1.6, n_e=400, n_i=100)
    assert host["rate"] > 0.5
    for name, value in host.items():
        assert a.metrics[name][0] == pytest.approx(value, rel=1e-3, abs=1e-5), name
    assert a.overflow[0] == 0


def test_mlp_task_runs_and_a_zero_rule_leaves_weights_unchanged():
    theta = np.zeros(23)
    theta[22] = 8.0
    res = small(theta, task="mlp", record_spikes=False)
    assert list(res.metrics) == list(fsbi.MLP_METRIC_NAMES + fsbi.MLP_DRIFT_METRIC_NAMES) == list(fsbi.run_metric_names("mlp"))
    assert res.metrics["w_drift_ee"][0] == 0.0 and res.metrics["w_drift_ie"][0] == 0.0
    assert res.metrics["weef"][0] == pytest.approx(0.1) and res.metrics["wief"][0] == pytest.approx(1.0)
    assert res.metrics["w_creep"][0] == 0.0 and res.metrics["rate"][0] > 0
    theta[0], theta[6] = 0.001, 1.0  # eta_EE and the bias of the EE pre-spike MLP: slow potentiation
    res = small(theta, task="mlp")
    assert res.blowup_time[0] == -1 and res.metrics["weef"][0] > 0.1


@pytest.mark.parametrize("call, match", [
    (lambda: fsbi.simulate(np.zeros(24)), r"shape \[25\]"),
    (lambda: fsbi.simulate(np.zeros(25), task="mlp"), r"shape \[23\]"),
    (lambda: fsbi.simulate(REFERENCE_RULE, durations=3.0), "unknown fSBI option"),
    (lambda: fsbi.simulate(REFERENCE_RULE, task="stdp"), "task"),
    (lambda: fsbi.simulate(np.where(np.arange(25) == 0, -0.01, REFERENCE_RULE)), "tau_pre"),
    (lambda: fsbi.simulate(np.where(np.arange(25) == 24, -1.0, REFERENCE_RULE)), "r_ext"),
    (lambda: fsbi.simulate(REFERENCE_RULE, duration=1.0, record_start=1.0), "record_start"),
    (lambda: fsbi.simulate(REFERENCE_RULE, duration=1.05, record_start=0.5), "weight_sample_period"),
])
def test_bad_input_is_rejected(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_window_stops_once_every_rule_has_blown_up(capsys):
    """Early exit: once all rules of a batch have blown up, the rest of the recorded window is not
    simulated; the result keeps its shapes (NaN weight samples, empty spike trains)."""
    exploding = REFERENCE_RULE.copy()
    exploding[:6] = [0.1, 0.1, 2.0, 2.0, 2.0, 2.0]
    exploding[12:18] = [0.1, 0.1, -2.0, -2.0, -2.0, -2.0]
    exploding[24] = 15.0
    res = small(np.stack([exploding, exploding]), eta=0.2, blowup_rate=40.0, record_start=0.0, duration=2.0,
                chunk_duration=0.1, record_spikes=True, progress=True)
    calls = [line for line in capsys.readouterr().out.splitlines() if "(recording)" in line]  # one per chunk run
    assert np.all(res.blowup_time > 0) and np.all(res.blowup_time < 1.9)
    assert all(np.all(np.isnan(v)) for v in res.metrics.values())
    n_periods = 20  # 2 s window sampled every 0.1 s
    assert len(calls) < n_periods  # stopped early (one call per 0.1 s chunk otherwise)
    assert len(calls) >= round(res.blowup_time.max() / 0.1)  # but not before the last rule stopped
    times, values = res.weights["ee"]
    assert times.shape == (n_periods,) and values.shape[:2] == (2, n_periods)
    assert np.all(np.isnan(values[:, len(calls):]))
    assert all(t.size == ids.size for t, ids in res.spikes["E"])
