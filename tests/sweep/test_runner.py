"""The sweep machinery with a cheap toy simulator: store layout, resume, refusal of changed inputs,
kill-and-resume, devices, chunk sizing and progress (Dask workers: test_cluster.py)."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jaxsnn.fsbi import METRIC_NAMES, make_config, rule_id, sample_prior
from jaxsnn.sweep import (
    Progress, chunk_size_for_budget, fsbi_bytes_per_rule, load, load_arrays, read_manifest, run_sweep,
)
from jaxsnn.sweep.store import chunk_path

from .toy import BLOWUP_THRESHOLD, toy_simulator

SCRIPT = Path(__file__).with_name("run_toy_sweep.py")
REPO = Path(__file__).resolve().parents[2]


def _theta(n, seed=3):
    return sample_prior("polynomial", n, seed)


def _reference(theta, seed=3):
    """The toy's numbers for every rule, simulated one rule at a time (no chunking at all)."""
    sim = toy_simulator(seed=seed)
    rows = [sim.simulate(theta[i:i + 1], np.array([i])) for i in range(len(theta))]
    return {
        "metrics": {m: np.concatenate([r.metrics[m] for r in rows]) for m in METRIC_NAMES},
        "blowup_time": np.concatenate([r.blowup_time for r in rows]),
        "overflow": np.concatenate([r.overflow for r in rows]),
    }


def test_store_columns_rows_and_values(tmp_path):
    theta = _theta(11)
    table = run_sweep(theta, out=tmp_path, seed=3, chunk_size=4, simulator=toy_simulator(seed=3), progress=False)
    expected_columns = ["index", "rule_id", "release_id", "seed", *[f"theta_{i}" for i in range(25)], "status",
                        "blowup_time", "overflow", *METRIC_NAMES]
    assert list(table.columns) == expected_columns
    assert table["index"].tolist() == list(range(11))
    assert table["rule_id"].tolist() == [rule_id(row) for row in theta]
    assert table["release_id"].tolist() == [rule_id(row, printed_as="torch") for row in theta]
    assert (table["seed"] == 3).all()
    np.testing.assert_array_equal(table[[f"theta_{i}" for i in range(25)]].to_numpy(), theta)
    ref = _reference(theta)
    for m in METRIC_NAMES:
        np.testing.assert_array_equal(table[m].to_numpy(), ref["metrics"][m])
    np.testing.assert_array_equal(table["blowup_time"].to_numpy(), ref["blowup_time"])
    np.testing.assert_array_equal(table["overflow"].to_numpy(), ref["overflow"])
    blown = theta[:, 2] > BLOWUP_THRESHOLD
    assert blown.any() and (~blown).any()
    expected_status = np.where(blown, "blown_up", np.where(ref["overflow"] > 0, "overflow", "done"))
    assert table["status"].tolist() == expected_status.tolist()
    assert sorted(p.name for p in tmp_path.glob("chunk-*.parquet")) == [f"chunk-00000{c}.parquet" for c in range(3)]
    manifest = read_manifest(tmp_path)
    assert (manifest["n_rules"], manifest["chunk_size"], manifest["n_chunks"]) == (11, 4, 3)
    # the same table from disk, and as arrays
    pd.testing.assert_frame_equal(load(tmp_path), table)
    arrays = load_arrays(tmp_path)
    np.testing.assert_array_equal(arrays["theta"], theta)
    np.testing.assert_array_equal(arrays["rate"], table["rate"].to_numpy())
    assert arrays["status"].tolist() == table["status"].tolist()


def test_rerun_skips_finished_chunks_and_fills_missing_ones(tmp_path):
    theta = _theta(10)
    calls = []
    first = run_sweep(theta, out=tmp_path, seed=3, chunk_size=3, simulator=toy_simulator(seed=3, calls=calls), progress=False)
    assert sorted(i for c in calls for i in c[0]) == list(range(10))
    calls.clear()
    again = run_sweep(theta, out=tmp_path, seed=3, simulator=toy_simulator(seed=3, calls=calls), progress=False)
    assert calls == []  # nothing recomputed; chunk size taken from the store
    pd.testing.assert_frame_equal(again, first)
    chunk_path(tmp_path, 1).unlink()
    (tmp_path / ".chunk-000002.parquet.999.tmp").write_bytes(b"half-written")  # a write cut by a kill
    assert len(load(tmp_path)) == 7  # the stray temporary file is never read
    with pytest.raises(ValueError, match="incomplete"):
        load(tmp_path, complete=True)
    resumed = run_sweep(theta, out=tmp_path, seed=3, simulator=toy_simulator(seed=3, calls=calls), progress=False)
    assert [c[0] for c in calls] == [[3, 4, 5]]
    assert not list(tmp_path.glob(".*.tmp"))
    pd.testing.assert_frame_equal(resumed, first)


@pytest.mark.parametrize("change, message", [
    ({"theta_row": True}, "theta_sha256"),
    ({"seed": 4}, "seed"),
    ({"chunk_size": 5}, "chunk_size"),
    ({"n_rules": 9}, "n_rules"),
])
def test_resume_with_different_inputs_is_refused(tmp_path, change, message):
    theta = _theta(8)
    run_sweep(theta, out=tmp_path, seed=3, chunk_size=4, simulator=toy_simulator(seed=3), progress=False)
    other = theta.copy()
    if change.get("theta_row"):
        other[5, 0] += 1e-9
    if "n_rules" in change:
        other = _theta(change["n_rules"])
    with pytest.raises(ValueError, match=f"different sweep.*{message}"):
        run_sweep(other, out=tmp_path, seed=change.get("seed", 3), chunk_size=change.get("chunk_size", 4),
                  simulator=toy_simulator(seed=3), progress=False)


def test_fsbi_options_changed_on_resume_are_named(tmp_path):
    """The fSBI simulator's full configuration is in the manifest: a different duration is refused
    (checked before anything is simulated)."""
    theta = _theta(2)
    from jaxsnn.sweep import fsbi_simulator
    from jaxsnn.sweep.runner import _manifest
    from jaxsnn.sweep.store import write_manifest

    write_manifest(tmp_path, _manifest(fsbi_simulator("polynomial", 0, duration=2.0, record_start=1.0), theta, 0, 2))
    with pytest.raises(ValueError, match=r"config\.duration: 2\.0 -> 3\.0"):
        run_sweep(theta, out=tmp_path, duration=3.0, record_start=1.0, progress=False)


def test_store_of_another_model_version_is_not_resumed(tmp_path):
    """A store simulated by another version of the fSBI model is refused by name."""
    theta = _theta(2)
    from jaxsnn.fsbi.config import MODEL_VERSION
    from jaxsnn.sweep import fsbi_simulator
    from jaxsnn.sweep.runner import _manifest
    from jaxsnn.sweep.store import write_manifest

    manifest = _manifest(fsbi_simulator("polynomial", 0, duration=2.0, record_start=1.0), theta, 0, 2)
    manifest["simulator"]["model_version"] = MODEL_VERSION - 1
    write_manifest(tmp_path, manifest)
    with pytest.raises(ValueError, match=rf"model_version: {MODEL_VERSION - 1} -> {MODEL_VERSION}"):
        run_sweep(theta, out=tmp_path, duration=2.0, record_start=1.0, progress=False)


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match="either theta"):
        run_sweep(out=tmp_path)
    with pytest.raises(ValueError, match="either theta"):
        run_sweep(_theta(2), n=2, out=tmp_path)
    with pytest.raises(ValueError, match="chunk_size"):
        run_sweep(n=2, out=tmp_path, chunk_size=0)
    with pytest.raises(ValueError, match="25 columns"):
        run_sweep(np.zeros((2, 23)), out=tmp_path)
    with pytest.raises(ValueError, match="unknown fSBI option"):
        run_sweep(n=2, out=tmp_path, n_neurons=3)
    with pytest.raises(ValueError, match="task"):
        run_sweep(n=2, out=tmp_path, task="stdp")
    assert not (tmp_path / "manifest.json").exists()


def test_kill_and_resume_gives_the_uninterrupted_table(tmp_path):
    """A sweep process killed (SIGKILL) mid-sweep, then rerun, leaves exactly the table of an
    uninterrupted sweep: no row lost or duplicated, same numbers."""
    n, chunk = 12, 2
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(killed), str(n), str(chunk), "0.4"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(list(killed.glob("chunk-*.parquet"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(killed.glob("chunk-*.parquet")))
    assert 2 <= finished < n // chunk, f"the kill should land mid-sweep; {finished} chunks were finished"
    calls = []
    resumed = run_sweep(_theta(n), out=killed, seed=3, chunk_size=chunk, simulator=toy_simulator(seed=3, calls=calls),
                        progress=False)
    assert len(calls) == n // chunk - finished
    uninterrupted = run_sweep(_theta(n), out=tmp_path / "whole", seed=3, chunk_size=chunk,
                              simulator=toy_simulator(seed=3), progress=False)
    pd.testing.assert_frame_equal(resumed, uninterrupted)


def _run_script(*args, env=None, timeout=120):
    done = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_forced_host_devices_give_the_same_numbers(tmp_path):
    """Each chunk's batch is split over 2 forced CPU devices (an odd chunk is padded): both devices work,
    and the table equals the one-device table."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    report = _run_script(tmp_path / "two", 9, 3, 0.0, env=env)
    assert report["devices"] == 2
    assert {device for _, device in report["calls"]} == {0, 1}
    # each batch of 3 is padded to 4 and split 2 + 2
    assert all(len(indices) == 2 for indices, _ in report["calls"])
    one = run_sweep(_theta(9), out=tmp_path / "one", seed=3, chunk_size=3, simulator=toy_simulator(seed=3), progress=False)
    pd.testing.assert_frame_equal(load(tmp_path / "two"), one)


def test_chunk_size_from_memory_budget():
    config = make_config("polynomial")
    per_rule = fsbi_bytes_per_rule(config)
    # the plastic weights alone: 4 bytes × p × n_pre × n_post per projection, held ~3 times
    synapses = 0.1 * (4096 + 1024) ** 2
    assert 3 * 4 * synapses <= per_rule <= 2 * 3 * 4 * synapses
    small = fsbi_bytes_per_rule(make_config("polynomial", n_exc=400, n_inh=100))
    assert small < per_rule / 5
    assert chunk_size_for_budget(per_rule, 10 * per_rule + 1, 1) == 10
    assert chunk_size_for_budget(per_rule, 10 * per_rule + 1, 2) == 20
    assert chunk_size_for_budget(per_rule, per_rule / 2, 1) == 1
    with pytest.raises(ValueError, match="memory_budget"):
        chunk_size_for_budget(per_rule, -1, 1)


def test_default_chunk_size_follows_the_budget(tmp_path):
    calls = []
    sim = toy_simulator(seed=3, calls=calls)  # 1000 bytes per rule
    run_sweep(_theta(10), out=tmp_path, seed=3, memory_budget=3500, simulator=sim, progress=False)
    assert [len(c[0]) for c in calls] == [3, 3, 3, 1]
    assert read_manifest(tmp_path)["chunk_size"] == 3


def test_default_chunk_size_follows_a_measured_memory(tmp_path):
    """A simulator that measures its compiled program (bytes per rule and fixed bytes) sizes the chunks
    from that instead of its estimate: (3500 - 500) // 1000 = 3 rules per chunk, not 3500 // 100 = 35."""
    import dataclasses

    calls, measured = [], []
    sim = dataclasses.replace(toy_simulator(seed=3, calls=calls), bytes_per_rule=100,
                              measure_memory=lambda: measured.append(1) or (1000, 500))
    run_sweep(_theta(10), out=tmp_path, seed=3, memory_budget=3500, simulator=sim, progress=False)
    assert measured == [1]
    assert [len(c[0]) for c in calls] == [3, 3, 3, 1]
    assert chunk_size_for_budget(1000, 3500, 2, fixed_bytes=500) == 6


def test_static_strategy_sizes_chunks_from_its_compiled_program():
    """The fSBI simulator with the static strategy (the accelerator path) reads its memory off the
    compiled chunk: memory is linear in the batch (fixed + R x per rule, checked at a third size), a
    rule takes at least its own donated state, and the chunk size for a budget fits that budget."""
    import jax

    from jaxsnn.family import get_family
    from jaxsnn.fsbi import compiled_bytes
    from jaxsnn.fsbi.run import _batch, _initial_state

    opts = dict(n_exc=200, n_inh=50, duration=1.0, record_start=0.4, strategy="static")
    sim = get_family("polynomial").simulator(0, **opts)
    assert sim.measure_memory is not None
    assert get_family("polynomial").simulator(0, n_exc=200, n_inh=50, strategy="event").measure_memory is None
    per_rule, fixed = sim.measure_memory()
    config = make_config("polynomial", **opts)
    theta = np.tile(config.family.published, (4, 1))
    _, net, params, *_ = _batch(config, theta, 0)
    state_bytes = sum(x.nbytes for x in jax.tree_util.tree_leaves(_initial_state(net, params, 4, True, False))) / 4
    assert per_rule >= state_bytes
    size = chunk_size_for_budget(per_rule, fixed + 24.5 * per_rule, 1, fixed)
    assert size == 24
    # linear to within the few alignment bytes XLA adds per buffer
    assert abs(compiled_bytes("polynomial", size, **opts) - (fixed + size * per_rule)) <= 0.01 * size * per_rule


def test_progress_line():
    stream = io.StringIO()
    bar = Progress(total=10, already_done=4, quiet=False, stream=stream)
    line = bar.update(3, 1)
    assert line in stream.getvalue()
    assert "7/10 rules (70.0 %)" in line and "1 blown up" in line and "rules/s" in line and "ETA" in line
    quiet = io.StringIO()
    Progress(total=10, already_done=0, quiet=True, stream=quiet).update(3, 0)
    assert quiet.getvalue() == ""
