"""Acceptance of the rate tuner on the spiking models (slow: several minutes each).

1. The 1000-neuron E/I conductance LIF network (:func:`jaxsnn.tune.ei_network`, 800 E / 200 I, p = 0.05,
   Poisson drive) tuned from about 1 Hz to 5 Hz (E) and 10 Hz (I): both within 5 %.
2. The COBA benchmark network (4000 neurons) tuned from ~22 Hz to an E rate of 15 Hz: within 5 %.

In both, the rates are verified by a fresh run of the ordinary event-driven ``jaxsnn.simulate`` with a
seed the tuner never used, long enough (10 s and 2 s) that its own noise is ~2 %. The settings are those of
experiments/tune_rates.py and experiments/tune_coba.py.
"""

import jax
import numpy as np
import optax
import pytest

import jaxsnn
from jaxsnn.network import broadcast_params
from jaxsnn.networks import coba_initial_state, coba_network
from jaxsnn.tune import ei_network, random_v_state, tune_rates


def _verified_rates(net, params, initial_state, seed, duration):
    """Event-driven simulation: mean rates (Hz) over ``duration`` after 0.2 s discarded."""
    key, batched = jax.random.key(seed), broadcast_params(params, 1)
    state = initial_state(net, batched, jax.random.fold_in(key, 0), 1)
    record = jaxsnn.Record(counts={"E": None, "I": None}, period=0.2)
    result = jaxsnn.simulate(net, duration + 0.2, jax.random.fold_in(key, 1), params=batched, state=state,
                             record=record)
    return {p: float(result.counts[p][0, 1:].sum() / (result.counts[p].shape[2] * duration)) for p in ("E", "I")}


@pytest.mark.slow
def test_ei_network_tuned_from_1_hz_to_5_and_10_hz():
    net = ei_network(jax.random.key(0))
    params = net.default_params()
    initial = _verified_rates(net, params, random_v_state, seed=1, duration=2.0)
    assert 0.5 < initial["E"] < 2.0 and 0.5 < initial["I"] < 2.0  # "about 1 Hz"

    n = 120
    log_scales = {"rates": {"ext_E": 0.0, "ext_I": 0.0}, "weights": {w: 0.0 for w in ("EE", "EI", "IE", "II")}}
    result = jax.jit(lambda key: tune_rates(
        net, params, {"E": 5.0, "I": 10.0}, key, log_scales=log_scales, n_iterations=n,
        optimizer=optax.adam(optax.cosine_decay_schedule(0.06, n, alpha=0.05), b1=0.5), duration=0.25, warmup=0.3,
        initial_state=lambda k: random_v_state(net, broadcast_params(params, 1), k, 1), average_last=36,
    ))(jax.random.key(2))
    assert not bool(result.tune.non_finite)
    verified = _verified_rates(net, result.params, random_v_state, seed=3, duration=10.0)
    assert verified["E"] == pytest.approx(5.0, rel=0.05)
    assert verified["I"] == pytest.approx(10.0, rel=0.05)


@pytest.mark.slow
def test_coba_network_tuned_to_a_new_e_rate():
    net = coba_network(jax.random.key(0))
    params = net.default_params()
    initial = _verified_rates(net, params, coba_initial_state, seed=1, duration=1.0)
    assert initial["E"] > 20.0

    n = 60
    result = jax.jit(lambda key: tune_rates(
        net, params, {"E": 15.0}, key, log_scales={"weights": {w: 0.0 for w in ("EE", "EI", "IE", "II")}},
        n_iterations=n, optimizer=optax.adam(optax.cosine_decay_schedule(0.03, n, alpha=0.05), b1=0.5),
        duration=0.2, warmup=0.1, initial_state=lambda k: coba_initial_state(net, broadcast_params(params, 1), k, 1),
        average_last=18,
    ))(jax.random.key(2))
    assert not bool(result.tune.non_finite)
    assert np.mean(result.rates["E"][-18:]) == pytest.approx(15.0, rel=0.05)
    verified = _verified_rates(net, result.params, coba_initial_state, seed=3, duration=2.0)
    assert verified["E"] == pytest.approx(15.0, rel=0.05)
