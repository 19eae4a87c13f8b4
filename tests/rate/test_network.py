"""Rate-network dynamics against closed forms and independent numpy evaluations of single steps:
each switch (rate dynamics, synaptic filtering, NMDA, adaptation, low-passed and adapting input,
noise, STP, Hebbian rules), batching over a parameter grid, trial seeding, flags and validation."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.rate import (
    Cosine,
    InputSchedule,
    Projection,
    RateNetwork,
    Uniform,
    all_to_all,
    broadcast_batch,
    grid_batch,
    init_state,
    rate_params,
    simulate,
    simulate_batch,
    sparse,
)

DT = 1e-3
KEY = jax.random.key(0)


def _run(net, params, steps, *, inputs=None, state=None, key=KEY, record=("rates",)):
    inputs = InputSchedule.empty(net.n) if inputs is None else inputs
    return simulate(net, params, inputs, key, duration=steps * DT, window=DT, record=record, state=state)


def uniform_net(n=50, **switches):
    return RateNetwork(sizes=(n,), projections=(Projection(0, 0, all_to_all(Uniform(), n, n)),), dt=DT, **switches)


def test_exponential_euler_relaxation_is_exact():
    net = RateNetwork(sizes=(3,), projections=(), dt=DT, synaptic_filter=False)
    params = rate_params(net, J=[], ff_baseline=5.0, theta=1.0, tau=0.02)
    _, out = _run(net, params, 100)
    t = np.arange(1, 101) * DT
    np.testing.assert_allclose(np.asarray(out.windows["rates"][:, 0]), 4.0 * (1 - np.exp(-t / 0.02)), rtol=1e-5)


@pytest.mark.parametrize("synaptic_filter", [False, True])
@pytest.mark.parametrize("nmda", [False, True])
def test_fixed_point_of_uniform_network(synaptic_filter, nmda):
    # r = I + J r (+ R J r): r* = I / (1 - J (1 + R))
    net = uniform_net(synaptic_filter=synaptic_filter, nmda=nmda)
    params = rate_params(net, J=[-1.0], ff_baseline=3.0, r_nmda=0.5, tau_nmda=0.05)
    _, out = _run(net, params, 3000)
    expected = 3.0 / (1 + 1.0 * (1.5 if nmda else 1.0))
    np.testing.assert_allclose(np.asarray(out.windows["rates"][-1]), expected, rtol=1e-4)


def test_threshold_adaptation_steady_state():
    net = RateNetwork(sizes=(4,), projections=(), dt=DT, adaptation=True)
    params = rate_params(net, J=[], ff_baseline=5.0, theta=1.0, a_adapt=0.5, tau_adapt=0.1)
    final, out = _run(net, params, 4000)
    np.testing.assert_allclose(np.asarray(out.windows["rates"][-1]), 4.0 / 1.5, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(final.adapt), 0.5 * 4.0 / 1.5, rtol=1e-4)


def test_low_passed_feedforward_input_is_exact():
    net = RateNetwork(sizes=(2,), projections=(), dt=DT, rate_dynamics=False, ff_lowpass=True)
    params = rate_params(net, J=[], ff_baseline=2.0, tau_ff=0.05)
    _, out = _run(net, params, 200)
    t = np.arange(1, 201) * DT
    np.testing.assert_allclose(np.asarray(out.windows["rates"][:, 0]), 2.0 * (1 - np.exp(-t / 0.05)), rtol=1e-5)


def test_adapting_feedforward_input_steady_state():
    # adapted = |f| - a, a -> A adapted: adapted* = f / (1 + A)
    net = RateNetwork(sizes=(2,), projections=(), dt=DT, rate_dynamics=False, ff_adaptation=True)
    params = rate_params(net, J=[], ff_baseline=3.0, a_ff_adapt=2.0, tau_ff_adapt=0.05)
    _, out = _run(net, params, 2000)
    np.testing.assert_allclose(np.asarray(out.windows["rates"][-1]), 1.0, rtol=1e-4)


def test_one_instantaneous_step_matches_numpy():
    n = 80
    block = sparse(KEY, Cosine(0.7), n, n, 20)
    net = RateNetwork(sizes=(n,), projections=(Projection(0, 0, block),), dt=DT, rate_dynamics=False, synaptic_filter=False, transfer="erf")
    params = rate_params(net, J=[1.7], ff_baseline=0.2, theta=0.1)
    r0 = np.random.default_rng(0).random(n).astype(np.float32)
    _, out = _run(net, params, 1, state=init_state(net, params, r0))
    from scipy.special import erf

    x = 0.2 + 1.7 * np.asarray(block.dense(), np.float64) @ r0
    np.testing.assert_allclose(np.asarray(out.windows["rates"][0]), erf((x - 0.1) / np.sqrt(2)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("form", ["euler", "exponential"])
def test_stp_drive_matches_numpy(form):
    n = 30
    op = all_to_all(Cosine(1.0), n, n)
    net = RateNetwork(sizes=(n,), projections=(Projection(0, 0, op, stp=True),), dt=DT, rate_dynamics=False, synaptic_filter=False, stp_form=form)
    params = rate_params(net, J=[0.5], J_stp=[8.0], stp_U=0.1, stp_tau_fac=0.8, stp_tau_rec=0.3)
    r0 = 20 * np.random.default_rng(1).random(n)
    state = init_state(net, params, r0)._replace(stp_u=jnp.full((n,), 0.3), stp_x=jnp.full((n,), 0.6))
    final, out = _run(net, params, 1, state=state, record=("rates", "stp_u", "stp_x"))
    u0, x0, U, tf, tr = 0.3, 0.6, 0.1, 0.8, 0.3
    if form == "euler":
        x = x0 + DT * (1 - x0) / tr - DT * u0 * x0 * r0
        u = u0 + DT * (U - u0) / tf + DT * U * (1 - u0) * r0
    else:
        kx = 1 / tr + u0 * r0
        x = (1 / tr) / kx + (x0 - (1 / tr) / kx) * np.exp(-DT * kx)
        ku = 1 / tf + U * r0
        u = U * (1 / tf + r0) / ku + (u0 - U * (1 / tf + r0) / ku) * np.exp(-DT * ku)
    c = np.asarray(op.dense(), np.float64)
    expected = np.maximum(0.5 * c @ r0 + 8.0 * c @ (u * x * r0), 0)
    np.testing.assert_allclose(np.asarray(final.stp_u), u, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(final.stp_x), x, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(out.windows["rates"][0]), expected, rtol=1e-4)


def test_input_noise_std_and_reproducibility():
    net = RateNetwork(sizes=(200,), projections=(), dt=DT, rate_dynamics=False, input_noise=True)
    params = rate_params(net, J=[], ff_baseline=100.0, noise_std=2.5)
    _, a = _run(net, params, 200)
    _, b = _run(net, params, 200)
    _, c = _run(net, params, 200, key=jax.random.key(9))
    r = np.asarray(a.windows["rates"])
    assert abs(r.std() / 2.5 - 1) < 0.02 and abs(r.mean() - 100) < 0.05
    np.testing.assert_array_equal(r, np.asarray(b.windows["rates"]))
    assert not np.allclose(r, np.asarray(c.windows["rates"]))


def _hebbian_reference(rule, w, r, mean, sq, eta_dt):
    z = lambda x: (x - x.mean()) / (x.std() + 1e-9)
    if rule == "hebb":
        f = np.outer(r, r)
    elif rule == "covariance":
        f = np.outer(r - mean, r - mean)
    elif rule == "bcm":
        f = np.outer(r * (r - sq), r)
    else:
        f = np.outer(z(r), z(r))
    return w + eta_dt * f


@pytest.mark.parametrize("rule", ["hebb", "covariance", "bcm", "correlation"])
@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_hebbian_rules_one_step(rule, kind):
    from jaxsnn.rate import Dense

    n = 40
    rng = np.random.default_rng(2)
    if kind == "dense":
        op = Dense(jnp.asarray(rng.normal(0, 0.1, (n, n)), jnp.float32))
    else:
        op = sparse(KEY, Uniform(), n, n, 10)
    net = RateNetwork(sizes=(n,), projections=(Projection(0, 0, op, plastic=True),), dt=DT, rate_dynamics=False, synaptic_filter=False, hebbian=rule)
    params = rate_params(net, J=[1.0], ff_baseline=1.0, eta=0.5, tau_avg=0.01)
    r0 = rng.random(n).astype(np.float32)
    state = init_state(net, params, r0)._replace(mean_rate=jnp.asarray(rng.random(n), jnp.float32), mean_sq=jnp.asarray(rng.random(n), jnp.float32))
    final, out = _run(net, params, 1, state=state)
    w0 = np.asarray(op.dense(), np.float64)
    r1 = np.maximum(1.0 + w0 @ r0, 0.0)
    np.testing.assert_allclose(np.asarray(out.windows["rates"][0]), r1, rtol=1e-5)
    e = np.exp(-DT / 0.01)
    mean = np.asarray(state.mean_rate) * e + r1 * (1 - e)
    sq = np.asarray(state.mean_sq) * e + r1 * r1 * (1 - e)
    expected = _hebbian_reference(rule, w0, r1, mean, sq, 0.5 * DT)
    if kind == "dense":
        np.testing.assert_allclose(np.asarray(final.plastic[0]), expected, rtol=1e-4, atol=1e-6)
    else:
        edges = expected[np.asarray(op.post), np.asarray(op.pre)]
        np.testing.assert_allclose(np.asarray(final.plastic[0]), edges, rtol=1e-4, atol=1e-6)


def test_grid_batch_matches_individual_runs_and_shares_structure():
    net = uniform_net(n=20)
    params = rate_params(net, J=[-1.0], ff_baseline=1.0)
    J_values, I_values = [-0.5, -1.0], [1.0, 2.0, 3.0]
    set_J = lambda p, v: eqx.tree_at(lambda q: q.J, p, p.J.at[0].set(v))
    set_I = lambda p, v: eqx.tree_at(lambda q: q.ff_baseline, p, jnp.full_like(p.ff_baseline, v))
    batch = grid_batch(params, set_J, J_values, set_I, I_values)
    assert batch.J.shape == (6, 1) and batch.tau.shape == (6, 1)
    inputs = broadcast_batch(InputSchedule.empty(20), 6)
    _, out = simulate_batch(net, batch, inputs, jax.random.split(KEY, 6), duration=0.5, window=0.1)
    assert out.windows["rates"].shape == (6, 5, 20)
    for i, (J, I) in enumerate((J, I) for J in J_values for I in I_values):
        _, single = simulate(net, rate_params(net, J=[J], ff_baseline=I), InputSchedule.empty(20), KEY, duration=0.5, window=0.1)
        np.testing.assert_allclose(np.asarray(out.windows["rates"][i]), np.asarray(single.windows["rates"]), rtol=1e-5)
        assert float(single.windows["rates"][-1, 0]) == pytest.approx(I / (1 - J), rel=1e-2)


def test_state_seeds_the_next_trial():
    net = uniform_net(n=10, nmda=True, adaptation=True)
    params = rate_params(net, J=[-0.5], ff_baseline=2.0, a_adapt=0.3)
    pulse = InputSchedule.from_times(jnp.asarray([0.02]), jnp.asarray([0.05]), jnp.ones((1, 10)), DT)
    first, _ = simulate(net, params, pulse, KEY, duration=0.1, window=0.05)
    _, second = simulate(net, params, InputSchedule.empty(10), KEY, duration=0.1, window=0.05, state=first)
    _, both = simulate(net, params, pulse, KEY, duration=0.2, window=0.05)
    np.testing.assert_allclose(np.asarray(second.windows["rates"]), np.asarray(both.windows["rates"][2:]), rtol=1e-5)


def test_input_schedule_switches_stimuli_on_and_off():
    net = RateNetwork(sizes=(2,), projections=(), dt=DT, rate_dynamics=False)
    sched = InputSchedule(jnp.asarray([3, 5]), jnp.asarray([6, 7]), jnp.asarray([[1.0, 0.0], [0.0, 2.0]]))
    params = rate_params(net, J=[])
    _, out = _run(net, params, 9)
    assert np.all(np.asarray(out.windows["rates"]) == 0)
    _, out = simulate(net, params, sched, KEY, duration=9 * DT, window=DT)
    r = np.asarray(out.windows["rates"])  # window k holds the step with counter k
    np.testing.assert_array_equal(r[:, 0], [0, 0, 0, 1, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(r[:, 1], [0, 0, 0, 0, 0, 2, 2, 0, 0])


def test_nonfinite_flag():
    net = uniform_net(n=5, rate_dynamics=False, synaptic_filter=False)
    _, ok = _run(net, rate_params(net, J=[0.5], ff_baseline=1.0), 100)
    _, bad = _run(net, rate_params(net, J=[3.0], ff_baseline=1.0), 1000)
    assert not bool(ok.nonfinite) and bool(bad.nonfinite)


def test_validation():
    op = all_to_all(Uniform(), 10, 10)
    with pytest.raises(ValueError, match="projection 0"):
        RateNetwork(sizes=(10, 5), projections=(Projection(1, 0, op),), dt=DT)
    with pytest.raises(ValueError, match="no Hebbian rule"):
        RateNetwork(sizes=(10,), projections=(Projection(0, 0, sparse(KEY, Uniform(), 10, 10, 3), plastic=True),), dt=DT)
    with pytest.raises(ValueError, match="LowRank"):
        RateNetwork(sizes=(10,), projections=(Projection(0, 0, op, plastic=True),), dt=DT, hebbian="hebb")
    with pytest.raises(ValueError, match="transfer must be one of"):
        RateNetwork(sizes=(10,), projections=(), dt=DT, transfer="tanh")
    net = uniform_net(n=10)
    with pytest.raises(ValueError, match=r"J must be a scalar or have shape \[1\]"):
        rate_params(net, J=[1.0, 2.0])
    with pytest.raises(ValueError, match="tau must be finite and > 0"):
        rate_params(net, J=[1.0], tau=-0.01)
    with pytest.raises(ValueError, match="unknown RateParams fields"):
        rate_params(net, J=[1.0], tau_m=0.01)
    params = rate_params(net, J=[1.0])
    with pytest.raises(ValueError, match="not a whole multiple"):
        simulate(net, params, InputSchedule.empty(10), KEY, duration=0.15, window=0.1)
    with pytest.raises(ValueError, match="record must be one of"):
        simulate(net, params, InputSchedule.empty(10), KEY, duration=0.1, window=0.1, record=("voltage",))
    with pytest.raises(ValueError, match="10 columns"):
        simulate(net, params, InputSchedule.empty(7), KEY, duration=0.1, window=0.1)
    with pytest.raises(ValueError, match="10 columns"):
        simulate_batch(net, broadcast_batch(params, 2), broadcast_batch(InputSchedule.empty(7), 2), jax.random.split(KEY, 2), duration=0.1, window=0.1)
