"""The static propagation strategy (fixed shapes per step, for accelerators) against the event strategy:
the same spikes, a chunk rerun when spikes did not fit, and a step program without data-dependent loops."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxsnn
from jaxsnn import fsbi
from jaxsnn.networks import coba_initial_state, coba_network
from jaxsnn.propagation import pool_spikes


def small_coba():
    net = coba_network(jax.random.key(0), n_exc=400, n_inh=100, p=0.16)
    params = jaxsnn.broadcast_params(net.default_params(), 3)
    return net, params, coba_initial_state(net, params, jax.random.key(1), 3)


def spikes_of(result):
    return {p: (e.member, e.step, e.neuron) for p, e in result.spikes.items()}


@pytest.mark.parametrize("capacity", [None, {"E": 2, "I": 1}], ids=["default-slots", "rerun"])
def test_static_strategy_gives_the_event_strategys_spikes(capacity):
    """Both strategies add each target's inputs in the same order (spikes by increasing id), so the spikes
    are equal, not merely close; slots far too few for the activity (2 E, 1 I per step) make every
    chunk overflow and be rerun with more, which gives the same spikes again."""
    net, params, state = small_coba()
    record = jaxsnn.Record(spikes={"E": None, "I": None}, period=0.01)
    run = lambda strategy, cap=None: jaxsnn.simulate(net, 0.2, jax.random.key(2), params=params, state=state,  # noqa: E731
                                                     record=record, strategy=strategy, spike_capacity=cap)
    event, static = run("event"), run("static", capacity)
    assert len(event.spikes["E"].step) > 2000  # an active network
    for p in ("E", "I"):
        for a, b in zip(spikes_of(event)[p], spikes_of(static)[p]):
            np.testing.assert_array_equal(a, b)
    assert static.final_state.overflow is not None and event.final_state.overflow is None


def test_pooled_slots_are_shared_by_the_batch():
    """The static strategy's slots are shared by the batch: the global ids in increasing order (member by
    member, as the event strategy walks them), a silent member takes no slot, and only the members whose
    spikes fall after the last slot are reported as overflowing."""
    spikes = jnp.asarray([[0, 1, 1, 0, 1], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], jnp.float32)
    pooled = pool_spikes(spikes, 8)
    np.testing.assert_array_equal(pooled.gids(), [1, 2, 4, 10, 11, 12, 13, 14])
    np.testing.assert_array_equal(pooled.count, [3, 0, 5])
    np.testing.assert_array_equal(pooled.overflow, [False, False, False])
    cut = pool_spikes(spikes, 6)
    np.testing.assert_array_equal(cut.gids(), [1, 2, 4, 10, 11, 12])
    np.testing.assert_array_equal(cut.overflow, [False, False, True])
    np.testing.assert_array_equal(pool_spikes(spikes, 2).overflow, [True, False, True])
    np.testing.assert_array_equal(pool_spikes(jnp.zeros((2, 3)), 2).gids(), [6, 6])


def test_default_slots_are_sized_for_the_batch():
    """Default slots cover the batch's total at 50 Hz with headroom: more slots for a larger batch, but
    fewer per member (the total's relative fluctuation shrinks), never more than every neuron."""
    net, params, _ = small_coba()
    one, many = jaxsnn.static_slots(net, params, 1), jaxsnn.static_slots(net, params, 1024)
    for pop, size in (("E", 400), ("I", 100)):
        assert one[pop] <= size and many[pop] <= 1024 * size
        assert one[pop] < many[pop] < 1024 * one[pop] / 2


def test_stopped_members_give_their_slots_back(monkeypatch):
    """Once at most half of the members still run (the others stopped by the rate guard), the static
    strategy's chunks use slots sized for the running ones: the same spikes as the event strategy, and
    fewer slots than at the start."""
    import importlib

    sim = importlib.import_module("jaxsnn.simulate")
    net, _, _ = small_coba()
    guarded = jaxsnn.Network(dt=net.dt, populations=net.populations, projections=net.projections,
                             poisson_inputs=net.poisson_inputs, propagation="events", guard=jaxsnn.RateGuard("E", 100.0))
    params = jaxsnn.broadcast_params(guarded.default_params(), 8)
    state = guarded.init_state(params, 8)
    state = state._replace(guard=state.guard._replace(alive=jnp.arange(8) < 3))  # 5 of 8 stopped
    used = []

    def recording(run, net_, slots, args, donated=True):
        used.append(dict(slots))
        return run_until_no_overflow(run, net_, slots, args, donated)

    run_until_no_overflow = sim.run_until_no_overflow
    monkeypatch.setattr(sim, "run_until_no_overflow", recording)
    record = jaxsnn.Record(spikes={"E": None, "I": None}, period=0.01)
    go = lambda strategy: jaxsnn.simulate(guarded, 0.05, jax.random.key(2), params=params, state=state,  # noqa: E731
                                          record=record, strategy=strategy)
    event, static = go("event"), go("static")
    assert len(event.spikes["E"].step) > 100 and set(np.unique(event.spikes["E"].member)) <= {0, 1, 2}
    for p in ("E", "I"):
        for a, b in zip(spikes_of(event)[p], spikes_of(static)[p]):
            np.testing.assert_array_equal(a, b)
    full = jaxsnn.static_slots(guarded, params, 8)
    assert used and all(u["E"] < full["E"] and u["I"] < full["I"] for u in used), (used, full)


def test_one_static_step_has_no_data_dependent_loop():
    """The compiled step of the static strategy holds no while loop (XLA:GPU waits on the host at every
    turn of a loop whose trip count is data); the event strategy's does (its spike loops)."""
    net, params, state = small_coba()
    plastic = jaxsnn.Network(
        dt=net.dt, populations=net.populations, propagation="events",
        projections=tuple(p if p.name != "EE" else
                          jaxsnn.Projection("EE", "E", "E", p.connectivity, p.weight,
                                            plasticity=jaxsnn.PolynomialPlasticity(0.02, 0.02, 0.1, -0.1, 1.0, -1.0))
                          for p in net.projections),
        guard=jaxsnn.RateGuard("E", 100.0))
    keys = jax.random.split(jax.random.key(0), 3)
    for network in (net, plastic):
        params = jaxsnn.broadcast_params(network.default_params(), 3)
        s = network.init_state(params, 3)._replace(overflow=jnp.zeros((3,), jnp.int32))
        structure = network.structure()

        def loops(capacity):
            state = s if capacity else s._replace(overflow=None)
            step = jax.jit(lambda st, p: jaxsnn.network_step(network, structure, p, st, keys, keys, capacity))
            return len(re.findall(r"\bwhile\(", step.lower(state, params).compile().as_text()))

        assert loops({"E": 16, "I": 8}) == 0
        assert loops(None) > 0


def _state_copies(compiled_text: str, state) -> list[str]:
    """Shapes of the ``copy`` ops of a compiled program that copy an ``[R, n]`` array of the state."""
    shapes = {tuple(leaf.shape) for leaf in jax.tree_util.tree_leaves(state) if getattr(leaf, "ndim", 0) == 2}
    found = re.findall(r"= f32\[(\d+),(\d+)\]\S* copy\(", compiled_text)
    return [f"[{a},{b}]" for a, b in found if (int(a), int(b)) in shapes]


@pytest.mark.skipif(jax.default_backend() == "cpu", reason="XLA:CPU computes each updated neuron field in its own fusion, "
                    "and a field that several of them read is copied first; an accelerator's multi-output fusions do not")
def test_static_step_copies_no_state_array_on_an_accelerator():
    """On a GPU or TPU, the compiled chunk of static steps (the state donated) copies no ``[R, n]`` state
    array: every field is updated in place. (On a CPU, 25 such copies per step remain in this program;
    BENCHMARKS.md, "The static strategy for accelerators".)"""
    import importlib.util
    import pathlib

    spec = importlib.util.spec_from_file_location(
        "gpu_throughput", pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    net, params, state, keys, slots = bench.setup("polynomial", 4, dict(n_exc=200, n_inh=50))
    text = bench.chunk_program(net, 10, slots).lower(params, state, keys).compile().as_text()
    assert _state_copies(text, state) == []


def test_fsbi_recording_chunk_keeps_one_copy_of_the_weights():
    """The compiled recording chunk of the static strategy (what a GPU runs for the metric window) holds
    the plastic weights once: the state is donated (its outputs alias its arguments) and no weight-shaped
    array is copied (the periodic weight samples kept a second copy of every weight array alive before:
    8 such copies in this program; 22.9 instead of 15.2 MiB per rule in the full network's chunk)."""
    from jaxsnn.fsbi.run import _static_record_program

    n_rules = 4
    compiled = _static_record_program("polynomial", n_rules, 0, dict(n_exc=200, n_inh=50)).compile()
    text = compiled.as_text()
    config = fsbi.make_config("polynomial", n_exc=200, n_inh=50)
    from jaxsnn.fsbi.run import _batch

    _, net, params, *_ = _batch(config, np.tile(config.family.published, (n_rules, 1)), 0)
    sizes = {int(w.shape[1]) for w in net.init_state(params, n_rules).weights.values()}
    copied = [m for m in re.findall(r"= f32\[(\d+),(\d+)\]\S* copy\(", text) if int(m[1]) in sizes]
    assert copied == []
    memory = compiled.memory_analysis()
    weights = sum(4 * n_rules * n for n in sizes)
    assert memory.alias_size_in_bytes >= weights


@pytest.mark.slow
def test_fsbi_static_strategy_equals_the_event_strategy(monkeypatch):
    """The fSBI network (plastic projections, renewal input, guard) under both strategies, the static one
    starting with too few slots (4 E, 2 I), so chunks overflow and rerun: the same spikes and metrics."""
    theta = np.asarray(fsbi.sample_prior("polynomial", 2, 5))
    theta[:, -1] = [40.0, 70.0]
    opts = dict(seed=1, n_exc=200, n_inh=50, n_ext=500, duration=0.6, record_start=0.0, n_rec_e=200, n_rec_i=50,
                record_spikes=True, synapse_kernel="xla", chunk_duration=0.3)
    event = fsbi.simulate(theta, strategy="event", **opts)
    assert sum(len(t) for t, _ in event.spikes["E"]) > 500
    import jaxsnn.fsbi.run as fsbi_run

    monkeypatch.setattr(fsbi_run, "static_slots", lambda net, params, batch, given=None: {"E": 4, "I": 2})
    static = fsbi.simulate(theta, strategy="static", **opts)
    for p in ("E", "I"):
        for (ta, ia), (tb, ib) in zip(event.spikes[p], static.spikes[p]):
            np.testing.assert_array_equal(ta, tb)
            np.testing.assert_array_equal(ia, ib)
    for name, value in event.metrics.items():
        np.testing.assert_array_equal(static.metrics[name], value, err_msg=name)


def test_bad_strategy_options_are_refused():
    net, params, state = small_coba()
    with pytest.raises(ValueError, match="strategy"):
        jaxsnn.simulate(net, 0.01, jax.random.key(0), strategy="gpu")
    with pytest.raises(ValueError, match="spike_capacity names"):
        jaxsnn.simulate(net, 0.01, jax.random.key(0), strategy="static", spike_capacity={"X": 3})
    with pytest.raises(ValueError, match="give one of them"):
        fsbi.make_config("polynomial", strategy="static", synapse_kernel="cpu")


def test_gpu_benchmark_smoke_runs_on_a_cpu():
    """benchmarks/gpu_throughput.py --smoke: the device benchmark's code on a small network, so a device
    session finds it working."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[2] / "benchmarks" / "gpu_throughput.py"
    out = subprocess.run([sys.executable, str(script), "--smoke", "--poly", "4", "--mlp", "4", "--steps", "250",
                          "--chunk", "250", "--json"], capture_output=True, text=True, timeout=600, check=True)
    rows = json.loads(out.stdout.strip().splitlines()[-1])["rows"]
    assert [(r["family"], r["rules"]) for r in rows] == [("polynomial", 4), ("mlp", 4)]
    for row in rows:
        assert "error" not in row, row
        assert row["ms_per_step"] > 0 and row["rules_per_s_70s"] > 0 and row["alive"] == 4
        assert 0 < row["mb_per_rule"] < 5 and row["bytes_per_rule_step"] > 0
