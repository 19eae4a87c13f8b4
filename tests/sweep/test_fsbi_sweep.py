"""Sweeps of the real fSBI network (tiny) through the Python API and the CLI.

All slow: compiling the network's programs alone takes 30-90 s on the shared 2-core machine."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jaxsnn.cli import main
from jaxsnn.fsbi import METRIC_NAMES, sample_prior, simulate
from jaxsnn.sweep import load, read_manifest, run_sweep

TINY = dict(n_exc=80, n_inh=20, duration=1.0, record_start=0.4)
TINY_CLI = ["--n-exc", "80", "--n-inh", "20", "--duration", "1", "--record-start", "0.4"]
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("api")
    return out, run_sweep(n=4, seed=0, out=out, chunk_size=2, progress=False, **TINY)


def test_sweep_rows_equal_direct_simulation(api_store):
    """Each chunk's rows are exactly what jaxsnn.fsbi.simulate gives for those rules with their global
    indices as random streams."""
    out, table = api_store
    theta = sample_prior("polynomial", 4, 0)
    capacity = read_manifest(out)["simulator"]["config"]["ext_capacity"]  # one for all chunks of the sweep
    direct = simulate(theta[2:], seed=0, rule_ids=[2, 3], ext_capacity=capacity, **TINY)
    rows = table.iloc[2:]
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(rows[name].to_numpy(), direct.metrics[name])
    np.testing.assert_array_equal(rows["blowup_time"].to_numpy(), direct.blowup_time)
    np.testing.assert_array_equal(rows["overflow"].to_numpy(), direct.overflow)
    assert (table["rate"] > 0).any()  # the tiny network is active
    blown = table["blowup_time"].to_numpy() >= 0
    assert np.isnan(table.loc[blown, METRIC_NAMES].to_numpy()).all()
    assert np.isfinite(table.loc[~blown, METRIC_NAMES].to_numpy()).all()


def test_cli_sweep_writes_the_same_store(api_store, tmp_path, capsys):
    api_dir, table = api_store
    out = tmp_path / "cli"
    assert main(["sweep", "--task", "polynomial", "--n", "4", "--seed", "0", "--out", str(out), *TINY_CLI,
                 "--chunk-size", "2", "--quiet"]) == 0
    assert "4 rules in" in capsys.readouterr().out
    pd.testing.assert_frame_equal(load(out), table)


def test_fsbi_two_forced_host_devices_match_one_device(api_store, tmp_path):
    """The tiny fSBI sweep with each chunk split over 2 forced CPU devices gives the one-device table
    (statuses and blow-up times exactly, metrics to float32 rounding)."""
    _, table = api_store
    out = tmp_path / "two"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-m", "jaxsnn.cli", "sweep", "--n", "4", "--seed", "0", "--out", str(out),
                           *TINY_CLI, "--chunk-size", "2", "--quiet"], env=env, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    two = load(out)
    # the per-device batch (1 rule) differs from the one-device batch (2 rules), which changes XLA's
    # vectorisation of the float32 metric arithmetic: equal up to float32 rounding, not bit for bit
    pd.testing.assert_frame_equal(two.drop(columns=list(METRIC_NAMES)), table.drop(columns=list(METRIC_NAMES)))
    np.testing.assert_allclose(two[list(METRIC_NAMES)].to_numpy(), table[list(METRIC_NAMES)].to_numpy(),
                               rtol=1e-6, atol=1e-7)


def test_fsbi_cli_sweep_killed_and_resumed(api_store, tmp_path):
    """`jaxsnn sweep` killed after its first chunk, then rerun: the same table as an uninterrupted sweep."""
    _, table = api_store
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "jaxsnn.cli", "sweep", "--n", "4", "--seed", "0", "--out", str(out), *TINY_CLI,
               "--chunk-size", "2", "--quiet"]
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax-cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 500
    while not list(out.glob("chunk-*.parquet")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(list(out.glob("chunk-*.parquet"))) == 1, "the kill should land between the two chunks"
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    pd.testing.assert_frame_equal(load(out), table)
