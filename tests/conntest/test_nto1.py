"""The N-to-1 simulation: input rates and trains, conductance jumps, the neuron run in chunks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxsnn.neurons import AdEx
from jaxsnn.nto1 import (
    conductance_increments,
    conductance_jumps,
    input_rates,
    n_excitatory,
    poisson_spikes,
    run_voltage,
    scaling_for,
    simulate_nto1,
    simulate_nto1_seeds,
    spike_capacity,
)

DT = 1e-4


def test_input_rates_are_lognormal_with_median_4hz_and_geometric_sd_2():
    rates = np.asarray(input_rates(jax.random.key(0), 20_000))
    log_rates = np.log(rates)
    assert np.median(rates) == pytest.approx(4.0, rel=0.03)
    assert np.std(log_rates) == pytest.approx(np.log(2.0), rel=0.02)
    assert stats.kstest(log_rates, stats.norm(np.log(4.0), np.log(2.0)).cdf).pvalue > 1e-3


def test_poisson_trains_have_the_right_counts_and_geometric_intervals():
    n_steps = 50_000  # 5 s
    rates = jnp.repeat(jnp.array([2.0, 20.0, 80.0], jnp.float32), 300)
    capacity = spike_capacity(rates, n_steps, DT)
    spikes = jax.jit(poisson_spikes, static_argnums=(2, 3, 4))(jax.random.key(1), rates, n_steps, DT, capacity)
    assert int(spikes.overflow) == 0
    step, train, count = map(np.asarray, (spikes.step, spikes.train, spikes.count))
    valid = step < n_steps
    assert np.array_equal(np.bincount(train[valid], minlength=900), count)
    p = -np.expm1(-np.array([2.0, 20.0, 80.0]) * DT)
    for j in range(3):
        c = count[300 * j : 300 * (j + 1)]
        assert c.mean() == pytest.approx(n_steps * p[j], rel=0.05)
        assert c.var() == pytest.approx(n_steps * p[j], rel=0.25)  # Poisson: variance = mean
    # Intervals of the 80 Hz trains: ascending, within range, geometric with success probability p.
    sel = valid & (train >= 600)
    isis = np.diff(step[sel])[np.diff(train[sel]) == 0]
    assert isis.min() >= 1 and step[sel].max() < n_steps
    assert isis.mean() == pytest.approx(1 / p[2], rel=0.02)
    assert np.mean(isis == 1) == pytest.approx(p[2], abs=0.004)


def test_conductance_jumps_follow_the_table():
    dg_e, dg_i = conductance_jumps(6500)
    assert dg_e == pytest.approx(60e-9 / (0.5 * 6500)) and dg_i == pytest.approx(4 * dg_e)
    assert conductance_jumps(5)[0] == pytest.approx(60e-9 / (2.4 * 5))
    assert n_excitatory(6500) == 5200 and n_excitatory(5) == 4
    with pytest.raises(ValueError, match="scaling"):
        scaling_for(1000)
    assert conductance_jumps(1000, scaling=0.5)[0] == pytest.approx(60e-9 / 500)


def test_each_spike_adds_its_jump_one_step_later():
    n_steps, n_inputs = 20_000, 50
    rates = jnp.full((n_inputs,), 30.0, jnp.float32)
    capacity = spike_capacity(rates, n_steps, DT)
    spikes = jax.jit(poisson_spikes, static_argnums=(2, 3, 4))(jax.random.key(2), rates, n_steps, DT, capacity)
    n_exc = n_excitatory(n_inputs)
    dg_e, dg_i = conductance_jumps(n_inputs, scaling=1.0)
    increments = jax.jit(conductance_increments, static_argnums=(1, 4))
    exc, inh = map(np.asarray, increments(spikes, n_exc, dg_e, dg_i, n_steps))
    step, train = np.asarray(spikes.step), np.asarray(spikes.train)
    valid = step < n_steps - 1  # a spike in the last step arrives after the recording
    n_e = np.bincount(step[valid & (train < n_exc)] + 1, minlength=n_steps)
    n_i = np.bincount(step[valid & (train >= n_exc) & (train < n_inputs)] + 1, minlength=n_steps)
    np.testing.assert_allclose(exc, n_e * dg_e, rtol=1e-6)
    np.testing.assert_allclose(inh, n_i * dg_i, rtol=1e-6)
    assert exc[0] == 0 and inh[0] == 0


def adex_reference(exc, inh, model, dt):
    """Independent float64 Euler loop of the spec's equations; V after each step."""
    c, gl, el, vt, dlt = 104e-12, 4.3e-9, -0.065, -0.052, 0.8e-3
    a, b, tw, tau = float(model.a), 65e-12, 0.088, 0.007
    v, w, ge, gi = -0.053, 0.0, 0.0, 0.0
    out = np.empty(len(exc))
    for k in range(len(exc)):
        ge += exc[k]
        gi += inh[k]
        isyn = ge * v + gi * (v + 0.080)
        dv = (-gl * (v - el) + gl * dlt * np.exp(min((v - vt) / dlt, 30.0)) - isyn - w) / c
        dw = (a * (v - el) - w) / tw
        v, w = v + dt * dv, w + dt * dw
        ge, gi = ge - dt * ge / tau, gi - dt * gi / tau
        if v > 0.0:
            v, w = -0.053, w + b
        out[k] = v
    return out


@pytest.mark.parametrize("a", [0.8e-9, -0.8e-9])
def test_neuron_run_matches_a_float64_euler_reference_for_both_signs_of_a(a):
    rng = np.random.default_rng(3)
    n_steps = 8_000
    exc = (rng.random(n_steps) < 0.25) * 0.6e-9
    inh = (rng.random(n_steps) < 0.06) * 1.2e-9
    model = AdEx(a=a)
    v = run_voltage(model, jnp.asarray(exc[None], jnp.float32), jnp.asarray(inh[None], jnp.float32), DT).voltage[0]
    ref = adex_reference(exc, inh, model, DT)
    spikes, ref_spikes = np.flatnonzero(np.diff(v) < -0.02), np.flatnonzero(np.diff(ref) < -0.02)
    assert len(ref_spikes) >= 10 and np.array_equal(spikes, ref_spikes)
    # float32 rounding is amplified by the exponential upstroke; compare below it.
    below = ref < -0.048
    assert below.mean() > 0.95
    np.testing.assert_allclose(v[below], ref[below], atol=2e-6)


def _adex_float64(model: AdEx, exc: np.ndarray, inh: np.ndarray, dt: float) -> np.ndarray:
    """The AdEx Euler step of ``AdEx.step`` in float64 numpy: the run without float32 rounding."""
    from jaxsnn.neurons.adex import _MAX_EXPONENT

    p = {name: float(getattr(model, name)) for name in (
        "c_m", "g_l", "e_l", "v_t", "delta_t", "v_spike", "v_reset", "a", "b", "tau_w", "e_exc", "e_inh", "tau_syn")}
    exc, inh = np.asarray(exc, np.float64), np.asarray(inh, np.float64)
    v = np.full(exc.shape[0], p["v_reset"])
    w, g_exc, g_inh = np.zeros_like(v), np.zeros_like(v), np.zeros_like(v)
    voltage = np.empty(exc.shape)
    for t in range(exc.shape[1]):
        g_exc, g_inh = g_exc + exc[:, t], g_inh + inh[:, t]
        i_syn = g_exc * (v - p["e_exc"]) + g_inh * (v - p["e_inh"])
        spike_current = p["g_l"] * p["delta_t"] * np.exp(np.minimum((v - p["v_t"]) / p["delta_t"], _MAX_EXPONENT))
        dv = (-p["g_l"] * (v - p["e_l"]) + spike_current - i_syn - w) / p["c_m"]
        dw = (p["a"] * (v - p["e_l"]) - w) / p["tau_w"]
        v, w = v + dt * dv, w + dt * dw
        g_exc, g_inh = g_exc - dt * g_exc / p["tau_syn"], g_inh - dt * g_inh / p["tau_syn"]
        spiked = v > p["v_spike"]
        v, w = np.where(spiked, p["v_reset"], v), w + spiked * p["b"]
        voltage[:, t] = v
    return voltage


@pytest.mark.parametrize("chunk_steps", [777, 4])
def test_chunked_run_equals_unchunked_run(chunk_steps):
    # What chunking guarantees: the state crosses chunk boundaries exactly, so every step computes
    # the same float32 arithmetic. It does not guarantee the same bits: XLA compiles a loop of another
    # length (or its unroll remainder) with other fusions and FMA contractions, a few ulp per step,
    # which the exponential upstroke amplifies. So: the same spike steps, and voltages that differ by
    # less than float32 arithmetic itself differs from exact (float64) arithmetic on the same inputs.
    # A state lost or misplaced at a boundary moves the voltage by millivolts and fails both.
    rng = np.random.default_rng(4)
    n_steps = 5_000
    exc = jnp.asarray((rng.random((2, n_steps)) < 0.3) * 4e-9, jnp.float32)
    inh = jnp.asarray((rng.random((2, n_steps)) < 0.05) * 4e-9, jnp.float32)
    model = AdEx()
    whole = run_voltage(model, exc, inh, DT, chunk_steps=n_steps)
    chunked = run_voltage(model, exc, inh, DT, chunk_steps=chunk_steps)
    exact = _adex_float64(model, exc, inh, DT)
    reset = np.float32(model.v_reset)
    assert whole.spike_count.min() > 0
    np.testing.assert_array_equal(chunked.spike_count, whole.spike_count)
    np.testing.assert_array_equal(chunked.voltage == reset, whole.voltage == reset)  # same spike steps
    np.testing.assert_array_equal(whole.voltage == reset, exact == model.v_reset)
    float32_error = np.abs(whole.voltage - exact).max(axis=1)
    assert (float32_error < 1e-3).all()  # the float32 run follows the exact one (no spike shifted)
    chunking_error = np.abs(chunked.voltage - whole.voltage).max(axis=1)
    assert (chunking_error <= float32_error).all(), (chunking_error, float32_error)


def test_seeds_in_one_batch_equal_separate_runs():
    keys = jax.random.split(jax.random.key(5), 2)
    batch = simulate_nto1_seeds(keys, 100, 0.5)
    single = simulate_nto1(keys[1], 100, 0.5)
    np.testing.assert_array_equal(batch[1].trains.steps, single.trains.steps)
    np.testing.assert_allclose(batch[1].voltage, single.voltage, rtol=1e-4, atol=1e-7)
    assert batch[1].output_spikes == single.output_spikes
    assert not np.array_equal(batch[0].trains.steps, batch[1].trains.steps)
    assert single.trains.n_trains == 100 and single.voltage.shape == (5_000,)
    assert single.voltage.dtype == np.float32 and single.n_exc == 80
    np.testing.assert_array_equal(single.trains.counts, np.bincount(np.repeat(np.arange(100), single.trains.counts)))


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="duration"):
        simulate_nto1(jax.random.key(0), 100, 0.00015)
    with pytest.raises(ValueError, match="N = 7"):
        simulate_nto1(jax.random.key(0), 7, 0.1)


def test_silent_and_sparse_trains_have_no_spurious_spikes_in_long_recordings():
    # 2^29 steps: capped intervals of a silent train would overflow int32 sums without the guard.
    n_steps = 1 << 29
    rates = jnp.array([0.0, 1e-6, 0.0], jnp.float32)
    spikes = jax.jit(poisson_spikes, static_argnums=(2, 3, 4))(jax.random.key(7), rates, n_steps, DT, 64)
    step, count = np.asarray(spikes.step), np.asarray(spikes.count)
    assert count[0] == 0 and count[2] == 0 and count[1] <= 3
    assert np.all(step[step < n_steps] >= 0) and int(spikes.overflow) == 0
    with pytest.raises(ValueError, match="rates"):
        poisson_spikes(jax.random.key(0), jnp.array([-1.0]), 100, DT, 32)
