"""The `jaxsnn sweep / simulate / metrics / export` commands: option checks, and each command's output
against the Python API."""

import json

import numpy as np
import pytest

from jaxsnn.cli import main
from jaxsnn.fsbi import compute_metrics, load_recording, sample_prior, save_recording
from jaxsnn.sweep import load, load_release, run_sweep, to_release

from .toy import toy_simulator


@pytest.mark.parametrize("argv, message", [
    (["sweep", "--n", "0", "--out", "x"], "--n must be >= 1"),
    (["sweep", "--n", "4", "--out", "x", "--chunk-size", "0"], "--chunk-size must be >= 1"),
    (["sweep", "--n", "4", "--out", "x", "--n-exc", "0"], "--n-exc must be a positive"),
    (["sweep", "--n", "4", "--out", "x", "--duration", "1", "--record-start", "2"], "record_start"),
    (["sweep", "--n", "4", "--out", "x", "--duration", "1", "--record-start", "0.7"], "at least 0.52 s"),
    (["sweep", "--n", "4", "--out", "x", "--duration", "-1"], "duration"),
    (["sweep", "--n", "4", "--out", "x", "--memory-budget", "0"], "--memory-budget must be > 0"),
    (["sweep", "--n", "4", "--out", "x", "--task", "stdp"], "invalid choice"),
    (["sweep", "--out", "x"], "one of the arguments --n --theta is required"),
    (["sweep", "--n", "4", "--theta", "t.npy", "--out", "x"], "not allowed with argument"),
    (["sweep", "--theta", "missing.npy", "--out", "x"], "does not exist"),
    (["simulate", "--n", "40"], "between 1 and 16"),
    (["simulate", "--rows", "1"], "--rows selects rows of --theta"),
    (["metrics", "missing.npz"], "does not exist"),
    (["export", "nostore", "--out", "x.npy"], "not a sweep store"),
])
def test_invalid_options_are_explained(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_help_names_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("run", "coba", "sweep", "simulate", "metrics", "export"):
        assert command in text


def test_sweep_theta_file_must_match_the_task(tmp_path, capsys):
    np.save(tmp_path / "t.npy", np.zeros((3, 23)))
    with pytest.raises(SystemExit):
        main(["sweep", "--theta", str(tmp_path / "t.npy"), "--out", str(tmp_path / "s")])
    assert "25 columns" in capsys.readouterr().err


def _synthetic_recording(tmp_path):
    rng = np.random.default_rng(0)
    e_times = np.sort(rng.uniform(0.0, 2.0, 3000))
    i_times = np.sort(rng.uniform(0.0, 2.0, 800))
    e_ids, i_ids = rng.integers(0, 50, e_times.size), rng.integers(0, 20, i_times.size)
    sample_times = np.arange(0.0, 2.0, 0.1)
    weights = {"ee": (sample_times, rng.uniform(0, 1, (20, 10))), "ie": (sample_times, rng.uniform(0, 3, (20, 10)))}
    meta = {"t_start": 0.5, "t_stop": 2.0, "n_e": 50, "n_i": 20, "w_max": 20.0}
    path = save_recording(tmp_path / "rec.npz", e_times, e_ids, i_times, i_ids, weights, meta)
    return path, (e_times, e_ids, i_times, i_ids, weights), meta


def test_metrics_command_recomputes_from_recordings(tmp_path, capsys):
    path, data, meta = _synthetic_recording(tmp_path)
    assert main(["metrics", str(path), "--out", str(tmp_path / "m.json")]) == 0
    printed = json.loads(capsys.readouterr().out.strip())
    expected = compute_metrics(*data, **meta)
    assert printed["metrics"] == pytest.approx(expected, rel=1e-12)
    assert json.loads((tmp_path / "m.json").read_text())[0]["metrics"] == printed["metrics"]
    # options override the recording's metadata
    main(["metrics", str(path), "--t-start", "1.0"])
    later = json.loads(capsys.readouterr().out.strip())["metrics"]
    assert later == pytest.approx(compute_metrics(*data, **dict(meta, t_start=1.0)), rel=1e-12)
    assert later["rate"] != printed["metrics"]["rate"]


def test_export_command_writes_release_records(tmp_path, capsys):
    store = tmp_path / "store"
    run_sweep(sample_prior("polynomial", 6, 3), out=store, seed=3, chunk_size=4, simulator=toy_simulator(seed=3),
              progress=False)
    assert main(["export", str(store), "--out", str(tmp_path / "rules.npy")]) == 0
    assert "wrote 6 polynomial records" in capsys.readouterr().out
    records = load_release(tmp_path / "rules.npy")
    expected = to_release(load(store), "polynomial")
    assert records.dtype == expected.dtype and records.tobytes() == expected.tobytes()
    main(["export", str(store), "--out", str(tmp_path / "plausible.npy"), "--plausible"])
    assert len(load_release(tmp_path / "plausible.npy")) == len(load(store, plausible=True))


@pytest.mark.slow
def test_simulate_command_writes_recordings_plots_and_metrics(tmp_path, capsys):
    """`jaxsnn simulate` on two tiny rules: recordings, three plots per rule, metrics.json; the metrics
    recomputed from the recordings (numpy, float64) agree with the simulator's streaming metrics."""
    out = tmp_path / "sim"
    assert main(["simulate", "--n", "2", "--seed", "1", "--out", str(out), "--n-exc", "80", "--n-inh", "20",
                 "--duration", "1", "--record-start", "0.4"]) == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert len(summary) == 2
    for r in range(2):
        for suffix in ("_raster.png", "_rates.png", "_weights.png"):
            assert (out / f"rule-{r}{suffix}").stat().st_size > 1000
        rec = load_recording(out / f"rule-{r}.npz")
        assert rec["meta"]["t_start"] == 0.4 and rec["meta"]["n_e"] == 80
        if summary[r]["blowup_time"] >= 0:
            continue
        capsys.readouterr()
        main(["metrics", str(out / f"rule-{r}.npz")])
        recomputed = json.loads(capsys.readouterr().out.strip())["metrics"]
        for name in ("rate", "rate_i", "cv_isi", "spatial_Fano", "weef", "w_blow"):
            assert recomputed[name] == pytest.approx(summary[r]["metrics"][name], rel=1e-3, abs=1e-4), name


def test_run_rejects_an_unknown_config(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--config", "nope"])
    assert "polynomial-small" in capsys.readouterr().err


def test_coba_rejects_a_non_positive_duration(capsys):
    with pytest.raises(SystemExit):
        main(["coba", "--duration", "0"])
    assert "--duration must be > 0" in capsys.readouterr().err
