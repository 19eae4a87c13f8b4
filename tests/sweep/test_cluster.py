"""Sweeps on Dask distributed, with a real LocalCluster of 2 worker processes (1 thread each) and the
toy family (tests.sweep.toy:DASK_TOY), so no network compiles: the table equals the in-process one row
for row; a worker SIGKILLed mid-chunk, a killed client, a chunk that kills every worker it runs on, an
unreachable scheduler, a store of another sweep; the CLI's cluster options; SLURM job scripts."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
from distributed import Client

from jaxsnn import get_family
from jaxsnn.cli import main
from jaxsnn.sweep import load, read_manifest, run_sweep
from jaxsnn.sweep.cluster import (
    ChunkTask, _walltime_seconds, connect, gpu_worker_specs, local_cluster, simulate_chunk, slurm_cluster,
    worker_simulator,
)
from jaxsnn.sweep.store import chunk_path, completed_chunks

from .toy import DASK_TOY, toy_simulator

SPEC = "tests.sweep.toy:DASK_TOY"
CLIENT_SCRIPT = Path(__file__).with_name("run_dask_sweep.py")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 single-threaded worker processes, shared by this module's tests. A chunk may
    kill at most 2 workers before it is reported failed (allowed-failures 1), so the poisoned-chunk
    test stays short; each worker holds only the chunk it runs (worker-saturation 1), so a worker's
    death counts against that chunk alone."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 1, "distributed.scheduler.worker-saturation": 1.0}):
        cluster = local_cluster(2, threads_per_worker=1)
    with cluster, Client(cluster) as client:
        yield client


def _theta(n):
    return DASK_TOY.sample_prior(n, 3)


def _in_process(theta, out, chunk):
    return run_sweep(theta, out=out, family=DASK_TOY, seed=3, chunk_size=chunk, progress=False)


def test_dask_sweep_equals_the_in_process_sweep(client, tmp_path):
    theta = _theta(24)
    table = run_sweep(theta, out=tmp_path / "dask", family=DASK_TOY, seed=3, chunk_size=3, client=client,
                      progress=False, delay=0.2)
    pd.testing.assert_frame_equal(table, _in_process(theta, tmp_path / "local", 3), check_exact=True)
    assert (table["status"] == "blown_up").any() and (table["status"] == "overflow").any()  # every status travels
    run = read_manifest(tmp_path / "dask")["runs"][-1]
    assert run["engine"] == "dask" and run["workers"] == 2 and run["threads"] == 2 and run["chunks_run"] == 8
    assert run["worker_processes_used"] == 2  # the chunks were spread over both workers
    assert run["chunks_failed"] == [] and "finished" in run
    assert read_manifest(tmp_path / "local")["runs"][-1]["engine"] == "in-process"


def test_a_worker_killed_mid_chunk_loses_and_duplicates_nothing(client, tmp_path):
    theta, out = _theta(16), tmp_path / "killed"
    outcome = {}
    sweep = threading.Thread(target=lambda: outcome.update(table=run_sweep(
        theta, out=out, family=DASK_TOY, seed=3, chunk_size=2, client=client, progress=False, delay=0.5)))
    sweep.start()
    deadline = time.monotonic() + 60
    while not completed_chunks(out) and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = client.run(os.getpid)
    busy = {w: keys for w, keys in client.processing().items() if keys}
    victim = next(iter(busy))
    running = [int(str(k).rsplit("-", 1)[1]) for k in busy[victim]]
    unfinished = [c for c in running if not chunk_path(out, c).exists()]
    os.kill(pids[victim], signal.SIGKILL)
    sweep.join(timeout=120)
    assert unfinished, "the kill should land while the worker holds an unfinished chunk"
    table = outcome["table"]
    assert table["index"].tolist() == list(range(16))  # 0 rows lost, 0 duplicated
    pd.testing.assert_frame_equal(table, _in_process(theta, tmp_path / "local", 2), check_exact=True)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker


def test_a_killed_client_reruns_into_a_resumed_sweep(client, tmp_path):
    theta, out, n_chunks = _theta(16), tmp_path / "resumed", 8
    address = client.scheduler.address
    proc = subprocess.Popen([sys.executable, str(CLIENT_SCRIPT), str(out), address, "16", "2", "0.4"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while len(completed_chunks(out)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {c: chunk_path(out, c).stat().st_mtime_ns for c in completed_chunks(out)}
    assert 2 <= len(before) < n_chunks, f"the kill should land mid-sweep; {len(before)} chunks were finished"
    table = run_sweep(theta, out=out, family=DASK_TOY, seed=3, chunk_size=2, client=client, progress=False, delay=0.4)
    assert {c: chunk_path(out, c).stat().st_mtime_ns for c in before} == before  # finished chunks are not redone
    run = read_manifest(out)["runs"][-1]
    assert 0 < run["chunks_todo"] <= n_chunks - len(before)
    pd.testing.assert_frame_equal(table, _in_process(theta, tmp_path / "local", 2), check_exact=True)


def test_a_chunk_that_kills_every_worker_is_named_and_the_rest_is_kept(client, tmp_path):
    out = tmp_path / "poisoned"
    with pytest.raises(RuntimeError, match=r"chunk\(s\) \[2\] .*killed every worker.*out of memory.*--chunk-size"):
        run_sweep(_theta(8), out=out, family=DASK_TOY, seed=3, chunk_size=2, client=client, progress=False, die_at=5)
    assert sorted(completed_chunks(out)) == [0, 1, 3]
    assert load(out)["index"].tolist() == [0, 1, 2, 3, 6, 7]
    assert read_manifest(out)["runs"][-1]["chunks_failed"] == [2]
    client.wait_for_workers(2, timeout=60)


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(ConnectionError, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}.*dask scheduler"):
            run_sweep(n=4, out=tmp_path, family=DASK_TOY, client=f"tcp://127.0.0.1:{port}", progress=False)
    assert not (tmp_path / "manifest.json").exists()
    missing = tmp_path / "scheduler.json"  # a scheduler file that never appears (a wrong path)
    with pytest.raises(ConnectionError, match=f"cannot reach the Dask scheduler at {missing}.*no scheduler file"):
        connect(str(missing), timeout=0.3)


def test_a_store_of_another_sweep_is_refused(client, tmp_path):
    _in_process(_theta(4), tmp_path, 2)
    with pytest.raises(ValueError, match="seed"):
        run_sweep(_theta(4), out=tmp_path, family=DASK_TOY, seed=4, chunk_size=2, client=client, progress=False)
    assert len(read_manifest(tmp_path)["runs"]) == 1  # refused before any task was submitted


def test_custom_simulators_stay_in_process(tmp_path):
    with pytest.raises(ValueError, match="simulator= runs in this process only.*family="):
        run_sweep(_theta(4), out=tmp_path, seed=3, simulator=toy_simulator(3), client="tcp://127.0.0.1:1")


def test_cli_sweep_on_a_running_scheduler(client, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["sweep", "--family", SPEC, "--n", "6", "--seed", "3", "--chunk-size", "2", "--out", str(out),
                 "--scheduler", client.scheduler.address, "--quiet"]) == 0
    assert capsys.readouterr().out.startswith(f"6 rules in {out}")
    pd.testing.assert_frame_equal(load(out), _in_process(_theta(6), tmp_path / "local", 2))
    assert read_manifest(out)["runs"][-1]["scheduler"] == client.scheduler.address


@pytest.mark.parametrize("extra, message", [
    (["--workers", "2", "--slurm"], "only one of --workers/--gpus, --scheduler and --slurm"),
    (["--queue", "cpu"], "--queue apply only with --slurm"),
    (["--threads-per-worker", "2"], "--threads-per-worker apply only with --workers"),
    (["--workers", "0"], "--workers must be >= 1"),
    (["--print-job-script"], "--print-job-script applies only with --slurm"),
])
def test_cli_cluster_options_are_checked(tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit):
        main(["sweep", "--family", SPEC, "--n", "4", "--out", str(tmp_path), *extra])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "manifest.json").exists()


def test_slurm_job_script(capsys):
    """dask-jobqueue's SLURMCluster writes the job script of a campaign (checked, not submitted)."""
    cluster = slurm_cluster(queue="cpu", account="lab", cores=8, memory="32GB", walltime="12:00:00",
                            job_extra=["--constraint=avx2"], prologue=["source /shared/jaxsnn/.venv/bin/activate"])
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    lines = script.splitlines()
    for directive in ("#SBATCH -p cpu", "#SBATCH -A lab", "#SBATCH --cpus-per-task=8", "#SBATCH -t 12:00:00",
                      "#SBATCH --constraint=avx2"):
        assert directive in lines, script
    assert any(line.startswith("#SBATCH --mem=") for line in lines)
    assert "source /shared/jaxsnn/.venv/bin/activate" in lines
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    # one single-threaded worker (one JAX runtime) per core; retired 5 minutes before the walltime
    assert worker.startswith(sys.executable) and "--nthreads 1" in worker and "--nworkers 8" in worker
    assert "--lifetime 715m" in worker and "--lifetime-stagger 2m" in worker
    # the CLI prints the same script and submits nothing
    assert main(["sweep", "--n", "1", "--out", "unused", "--slurm", "--queue", "cpu", "--account", "lab", "--cores", "8",
                 "--memory", "32GB", "--walltime", "12:00:00", "--job-extra=--constraint=avx2",
                 "--prologue", "source /shared/jaxsnn/.venv/bin/activate", "--print-job-script"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line for line in printed if line.startswith("#SBATCH")] == [line for line in lines if line.startswith("#SBATCH")]
    assert not Path("unused").exists()


def test_slurm_cluster_without_cores_names_the_fix(monkeypatch):
    monkeypatch.setenv("DASK_CONFIG", "/nonexistent")  # no user jobqueue.yaml
    with pytest.raises(ValueError, match="give cores= and memory="):
        slurm_cluster(queue="cpu")


def test_walltime_forms():
    assert _walltime_seconds("12:00:00") == 43200
    assert _walltime_seconds("1-02:00:00") == 93600
    assert _walltime_seconds("90") == 5400 and _walltime_seconds("10:30") == 630 and _walltime_seconds("2-5") == 190800
    with pytest.raises(ValueError, match="HH:MM:SS"):
        _walltime_seconds("soon")


def test_one_worker_per_gpu():
    specs = gpu_worker_specs(["0", "3"], "8GiB")
    assert sorted(specs) == ["gpu-0", "gpu-3"]
    assert [s["options"]["env"]["CUDA_VISIBLE_DEVICES"] for s in specs.values()] == ["0", "3"]
    assert all(s["options"]["nthreads"] == 1 and s["options"]["memory_limit"] == "8GiB" for s in specs.values())
    with pytest.raises(ValueError, match="workers .* must equal their number"):
        local_cluster(3, gpus=["0", "1"])
    with pytest.raises(ValueError, match="exceed this machine's"):
        local_cluster(1, threads_per_worker=(os.cpu_count() or 1) + 1)


@pytest.mark.slow
def test_tiny_fsbi_sweep_on_dask_equals_in_process(client, tmp_path):
    """The polynomial fSBI network (scaled down) on 2 workers: each worker rebuilds the family's simulator
    from its name and options and compiles it once; the table equals the in-process one."""
    tiny = dict(n_exc=40, n_inh=10, n_ext=20, duration=0.8, record_start=0.2)
    theta = get_family("polynomial").sample_prior(8, 1)
    table = run_sweep(theta, out=tmp_path / "dask", family="polynomial", seed=1, chunk_size=2, client=client,
                      progress=False, **tiny)
    local = run_sweep(theta, out=tmp_path / "local", family="polynomial", seed=1, chunk_size=2, progress=False, **tiny)
    pd.testing.assert_frame_equal(table, local, check_exact=True)


def test_a_worker_refuses_a_store_it_cannot_see_and_another_simulator(tmp_path):
    """What a worker checks before simulating, called here in-process: the store must be visible to it
    (a shared file system), and the simulator it builds must be the one the client described."""
    task = ChunkTask(str(tmp_path / "elsewhere"), 0, DASK_TOY, 3, {}, {}, np.arange(2), _theta(2))
    with pytest.raises(FileNotFoundError, match="cannot see the sweep store .* file system shared by the client"):
        simulate_chunk(task)
    with pytest.raises(RuntimeError, match="another simulator than the client's.*same jaxsnn"):
        worker_simulator(DASK_TOY, 3, {"delay": 0.01}, {"simulator": "toy", "seed": 3, "version": "other"})
