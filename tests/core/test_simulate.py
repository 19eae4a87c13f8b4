"""simulate / integrate: Poisson inputs, chunking, batching, vmap, recording, input checks."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn import connectivity as C
from jaxsnn.network import (
    CurrentInput, Network, PoissonInput, PoissonTarget, Population, Projection, broadcast_params, stack_params,
)
from jaxsnn.networks import coba_initial_state, coba_network
from jaxsnn.neurons import LIF
from jaxsnn.simulate import Record, integrate, simulate


def counting_network(n, rate, dt=1e-4):
    """n Poisson sources, source i -> neuron i, into LIF neurons whose synaptic current never decays
    and never makes them fire: i_exc / weight counts the source's spikes."""
    counter = LIF(tau_exc=1e9, r_m=1e-3, v_th=1.0)
    conn = C.from_edges(np.arange(n), np.arange(n), n, n)
    return Network(dt=dt, populations=(Population("P", n, counter),),
                   poisson_inputs=(PoissonInput("src", n, rate, (PoissonTarget("P", conn, 1.0),)),))


def test_poisson_input_counts_are_binomial():
    n, rate, duration = 400, 40.0, 1.0
    net = counting_network(n, rate)
    res = simulate(net, duration, jax.random.key(0), record=Record(state={"P": {"i_exc": None}}, period=duration))
    counts = res.state["P"]["i_exc"][0, -1]
    steps, p = 10000, rate * 1e-4
    mean, var = steps * p, steps * p * (1 - p)  # at most one spike per source per step: Binomial(steps, p)
    assert abs(counts.mean() - mean) < 4 * np.sqrt(var / n)
    assert abs(counts.var() / var - 1) < 4 * np.sqrt(2 / n)


def test_poisson_rate_is_a_batched_value():
    net = counting_network(200, 20.0)
    params = stack_params([net.default_params()._replace(rates={"src": jnp.float32(r)}) for r in (10.0, 80.0)])
    res = simulate(net, 0.5, jax.random.key(0), params=params, record=Record(state={"P": {"i_exc": None}}, period=0.5))
    means = res.state["P"]["i_exc"][:, -1].mean(axis=1) / 0.5
    np.testing.assert_allclose(means, [10.0, 80.0], rtol=0.1)


def small_coba(**kw):
    return coba_network(jax.random.key(0), n_exc=400, n_inh=100, p=0.1, w_exc=0.3, w_inh=3.0, **kw)


def test_chunking_does_not_change_results():
    net = small_coba()
    params = broadcast_params(net.default_params(), 2)
    state = coba_initial_state(net, params, jax.random.key(1), 2)
    rec = Record(spikes={"E": None, "I": None}, counts={"E": [0, 1, 2]}, period=0.01)
    a = simulate(net, 0.2, jax.random.key(5), params=params, state=state, record=rec, chunk_duration=0.2)
    b = simulate(net, 0.2, jax.random.key(5), params=params, state=state, record=rec, chunk_duration=0.05)
    for pop in ("E", "I"):
        for field in ("member", "step", "neuron"):
            np.testing.assert_array_equal(getattr(a.spikes[pop], field), getattr(b.spikes[pop], field))
    np.testing.assert_array_equal(a.counts["E"], b.counts["E"])
    assert a.spikes["E"].step.size > 100


def test_batch_members_are_independent_and_match_single_runs():
    net = small_coba()
    params = broadcast_params(net.default_params(), 3)
    state = coba_initial_state(net, params, jax.random.key(1), 3)
    rec = Record(spikes={"E": None})
    batched = simulate(net, 0.1, jax.random.key(5), params=params, state=state, record=rec)
    single_state = jax.tree_util.tree_map(lambda x: x[:, 1:2] if x.ndim == 3 else x, state)
    single_state = single_state._replace(neurons=jax.tree_util.tree_map(lambda x: x[1:2], state.neurons))
    # COBA draws no random numbers after its initial state, so member 1 of the batch must equal a
    # single run started from member 1's initial state, whatever its key
    single = simulate(net, 0.1, jax.random.key(77), params=broadcast_params(net.default_params(), 1),
                      state=single_state, record=rec)
    s_b, n_b = batched.spikes["E"].of_member(1)
    s_s, n_s = single.spikes["E"].of_member(0)
    np.testing.assert_array_equal(s_b, s_s)
    np.testing.assert_array_equal(n_b, n_s)
    assert not np.array_equal(batched.spikes["E"].of_member(0)[1], n_b)


def test_integrate_under_vmap_equals_native_batch():
    net = small_coba()
    params = broadcast_params(net.default_params(), 2)
    state = coba_initial_state(net, params, jax.random.key(1), 2)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(9), i))(jnp.arange(2))
    run = jax.jit(lambda p, s, k: integrate(net, p, s, k, 500))
    _, native = run(params, state, keys)
    # vmap over members, each a batch of one
    p1 = jax.tree_util.tree_map(lambda x: x[:, None], params)
    s1 = state._replace(neurons=jax.tree_util.tree_map(lambda x: x[:, None], state.neurons),
                        ring={k: jnp.moveaxis(v, 1, 0)[:, :, None] for k, v in state.ring.items()},
                        step=jnp.zeros(2, jnp.int32))
    _, vmapped = jax.jit(jax.vmap(lambda p, s, k: integrate(net, p, s, k[None], 500)))(p1, s1, keys)
    np.testing.assert_array_equal(np.asarray(native["E"]), np.asarray(vmapped["E"][:, 0]))
    assert float(native["E"].sum()) > 0


def test_integrate_and_simulate_agree():
    net = counting_network(50, 30.0)
    params = broadcast_params(net.default_params(), 1)
    state = net.init_state(params, 1)
    keys = jax.random.fold_in(jax.random.key(3), 0)[None]
    final, _ = integrate(net, params, state, keys, 1000)
    res = simulate(net, 0.1, jax.random.key(3), record=Record(state={"P": {"i_exc": None}}, period=0.1))
    np.testing.assert_allclose(np.asarray(final.neurons["P"].i_exc[0]), res.state["P"]["i_exc"][0, -1])


def test_recording_overflow_is_reported():
    net = small_coba()
    params = broadcast_params(net.default_params(), 1)
    state = coba_initial_state(net, params, jax.random.key(1), 1)
    rec = Record(spikes={"E": None}, max_rate=0.5, spike_format="events")
    with pytest.warns(RuntimeWarning, match="overflowed"):
        res = simulate(net, 0.1, jax.random.key(0), params=params, state=state, record=rec)
    assert res.spikes["E"].overflow > 0
    with pytest.raises(RuntimeError, match="max_rate"):
        simulate(net, 0.1, jax.random.key(0), params=params, state=state, record=rec, on_overflow="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = simulate(net, 0.1, jax.random.key(0), params=params, state=state,
                      record=Record(spikes={"E": None}, spike_format="events"))
    assert ok.spikes["E"].overflow == 0


def test_bitmask_and_event_recordings_agree():
    """Both spike formats give the same events, over several chunks and a batch, for all neurons and
    for a chosen subset (neuron ids index the recorded list)."""
    net = small_coba()
    params = broadcast_params(net.default_params(), 3)
    state = coba_initial_state(net, params, jax.random.key(1), 3)
    subset = [5, 0, 33, 17]
    results = {
        fmt: simulate(net, 0.06, jax.random.key(0), params=params, state=state, chunk_duration=0.02,
                      record=Record(spikes={"E": None, "I": subset}, spike_format=fmt))
        for fmt in ("bitmask", "events")
    }
    for pop in ("E", "I"):
        a, b = results["bitmask"].spikes[pop], results["events"].spikes[pop]
        assert a.step.size > (100 if pop == "E" else 5)
        for field in ("member", "step", "neuron"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
            assert getattr(a, field).dtype == getattr(b, field).dtype == np.int64
    with pytest.raises(ValueError, match="spike_format"):
        simulate(net, 0.01, jax.random.key(0), record=Record(spikes={"E": None}, spike_format="dense"))


def test_time_varying_current_and_state_samples():
    net = Network(dt=1e-4, populations=(Population("P", 2, LIF()),),
                  currents=(CurrentInput("ramp", "P", jnp.array([0.1e-9, 0.2e-9]), time_course=lambda t: t / 0.01),))
    res = simulate(net, 0.01, jax.random.key(0), record=Record(state={"P": {"v": None}}, period=0.005))
    v = res.state["P"]["v"][0]  # [2 samples, 2 neurons]
    assert v.shape == (2, 2)
    assert np.all(v[1] > v[0]) and v[1, 1] - (-0.070) > 1.8 * (v[1, 0] - (-0.070))


@pytest.mark.parametrize("make, match", [
    (lambda: simulate(small_coba(), 0.00015, jax.random.key(0)), "whole multiple of dt"),
    (lambda: simulate(small_coba(), 0.1, jax.random.key(0), record=Record(period=0.03)), "record periods"),
    (lambda: simulate(small_coba(), 0.1, jax.random.key(0), on_overflow="silent"), "on_overflow"),
    (lambda: PoissonInput("x", 10, -1.0, ()), "rate"),
    (lambda: Projection("p", "A", "B", C.all_to_all(2, 2), weight=[1.0, 2.0]), "weight"),
    (lambda: Projection("p", "A", "B", C.all_to_all(2, 2), receptor="gaba"), "receptor"),
    (lambda: Network(1e-4, (Population("A", 2, LIF()),), (Projection("p", "A", "B", C.all_to_all(2, 2)),)), "unknown post"),
    (lambda: Network(1e-4, (Population("A", 2, LIF()),), (Projection("p", "A", "A", C.all_to_all(2, 2), delay=1.5e-4),)), "whole number"),
    (lambda: Network(1e-4, (Population("A", 3, LIF()),), (Projection("p", "A", "A", C.all_to_all(2, 2)),)), "connectivity is"),
    (lambda: Network(1e-4, (Population("A", 2, LIF()),), propagation="sparse"), "propagation"),
    (lambda: counting_network(10, 20000.0), "exceeds 1"),
    (lambda: simulate(small_coba(), 0.1, jax.random.key(0), record=Record(spikes={"E": [5000]})), "recorded indices"),
])
def test_bad_input_raises_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_fused_delivery_equals_one_loop_per_projection():
    """The fused event loop (all scalar-weight recurrent projections at once) gives the same spikes as
    one loop per projection, with several delays, per-member weights and a projection given
    per-synapse weights at run time (which then leaves the fused loop)."""
    from jaxsnn.network import FUSED_KEY, Projection, fused_layout

    base = small_coba()
    projections = tuple(
        Projection(p.name, p.pre, p.post, p.connectivity, p.weight, p.receptor, delay=(1 + i) * base.dt)
        for i, p in enumerate(base.projections)
    )
    net = Network(base.dt, base.populations, projections, propagation="events")
    layout = fused_layout(net)
    assert layout is not None and len(layout.weight_names) == 4 and len(layout.sources) == 4
    params = broadcast_params(net.default_params(), 2)
    weights = dict(params.weights)
    weights["EE"] = jnp.array([0.3, 0.2])
    n_syn = net.projections[3].connectivity.n_synapses
    weights["II"] = jnp.stack([jnp.full((n_syn,), 3.0), jnp.linspace(2.0, 4.0, n_syn)])  # per synapse
    params = params._replace(weights=weights)
    state = coba_initial_state(net, params, jax.random.key(1), 2)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(5), i))(jnp.arange(2))
    fused_structure = net.structure()
    separate_structure = {k: v for k, v in fused_structure.items() if k != FUSED_KEY}
    (a, ca), (b, cb) = (integrate(net, params, state, keys, 400, s) for s in (fused_structure, separate_structure))
    assert float(ca["E"].sum()) > 100
    for pop in ("E", "I"):
        np.testing.assert_array_equal(np.asarray(ca[pop]), np.asarray(cb[pop]))
        np.testing.assert_allclose(np.asarray(a.neurons[pop].v), np.asarray(b.neurons[pop].v), rtol=1e-6, atol=1e-9)


def test_fusion_is_skipped_when_rows_are_very_unequal():
    """One ELL has one row width: a population with far more targets per neuron than the others
    would pad every row, so such a network keeps one loop per projection."""
    from jaxsnn.network import Projection, fused_layout

    key = jax.random.key(0)
    pops = (Population("A", 50, LIF()), Population("B", 200, LIF()))
    dense = Projection("AB", "A", "B", C.bernoulli(key, 50, 200, 0.9), 0.1)  # ~180 targets per A neuron
    sparse = Projection("BA", "B", "A", C.bernoulli(key, 200, 50, 0.01), 0.1)  # ~0.5 per B neuron
    assert fused_layout(Network(1e-4, pops, (dense, sparse), propagation="events")) is None
    assert fused_layout(Network(1e-4, pops, (sparse, Projection("BB", "B", "B", C.bernoulli(key, 200, 200, 0.02), 0.1)),
                                propagation="events")) is not None


def test_batches_beyond_int32_event_indices_are_refused():
    from jaxsnn.simulate import flat_index_span

    net = counting_network(1000, 5.0)
    span = flat_index_span(net)
    assert span > 1000  # the population and the Poisson sources (synapses are addressed per member)
    too_many = (2**31 - 1) // span + 1
    with pytest.raises(ValueError, match="int32 index range.*at most"):
        simulate(net, 0.001, jax.random.key(0), batch=too_many)
