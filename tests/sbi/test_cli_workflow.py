"""The filter-SBI workflow on the command line, each step reading what the last wrote: ``jaxsnn sweep`` ->
``jaxsnn fit`` -> ``jaxsnn sample`` -> ``jaxsnn sweep --theta`` -> ``jaxsnn report``, on a store of the toy
rule family of tests/sweep/test_families.py and on records in the original release's ``.npy`` format;
posteriors saved by key path with the versions that wrote them, and refused when their layout differs."""

import io
import json

import numpy as np
import pytest

from jaxsnn import get_family
from jaxsnn.cli import main
from jaxsnn.progress import ProgressReport
from jaxsnn.sbi import FlowConfig, PipelineConfig, Round, TrainConfig, load_posterior, run_pipeline, save_posterior
from jaxsnn.sbi.workflow import parse_interval, read_sources
from jaxsnn.sweep import load, release_dtype, save_release
from tests.sweep.test_families import TOY

SPEC = "tests.sweep.test_families:TOY"
SMALL_FLOW = ["--members", "2", "--flow", "maf", "--transforms", "2", "--hidden", "16", "--batch-size", "64",
              "--learning-rate", "3e-3", "--max-epochs", "100", "--patience", "10"]


def test_round_trip_on_a_toy_store(tmp_path, capsys, monkeypatch):
    """A posterior fitted on a prior sweep with x = score, sampled for score in [1.2, 2] and swept, gives
    rules that pass the family's "high" group (score in [1, 2]) far more often than the prior's."""
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "--family", SPEC, "--n", "400", "--seed", "0", "--out", "pi0", "--quiet"]) == 0
    assert main(["fit", "pi0", "--family", SPEC, "--condition", "score=1.2:2.0", "--out", "post.npz", *SMALL_FLOW]) == 0
    out, err = capsys.readouterr()
    assert "fit 2 maf flow(s) of family toy on 383 of 400 rules (383 pass finite), x = score" in out
    assert "NPE (2 maf flows, 383 samples): 10/100 epochs (10.0 %)" in err  # one progress line per compiled call
    post = load_posterior(tmp_path / "post.npz")
    meta = post.metadata
    assert post.x_names == ("score",) and post.prior.names == ("a", "b") and post.n_members == 2
    assert meta["family"] == "toy" and meta["family_spec"] == SPEC and meta["condition"] == {"score": [1.2, 2.0]}
    assert meta["theta_layout"]["nuisance"] == [2] and meta["theta_layout"]["units"] == ["", "mV", "Hz"]
    assert meta["n_training"] == 383 and meta["sources"] == ["pi0"] and meta["accept"] == ["finite"]

    assert main(["sample", "post.npz", "--n", "300", "--seed", "1", "--out", "theta.npy", "--x-out", "x.npy",
                 "--quiet"]) == 0
    assert "sampled 300 rules (θ 3 entries); rejection rate to the prior box" in capsys.readouterr().out
    theta, x = np.load(tmp_path / "theta.npy"), np.load(tmp_path / "x.npy")
    assert theta.shape == (300, 3) and x.shape == (300, 1) and TOY.in_prior(theta).all()
    assert ((x >= 1.2) & (x <= 2.0)).all()
    assert theta[:, 2].std() > 0.2  # the nuisance entry comes from its prior interval [1, 2], not the posterior

    assert main(["sweep", "--family", SPEC, "--theta", "theta.npy", "--seed", "0", "--out", "pi1", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["report", "pi0", "pi1", "--family", SPEC, "--out", "report"]) == 0
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    prior_high, posterior_high = (r["fractions"]["high"] for r in summary["rounds"])
    assert 0.15 < prior_high < 0.3 and posterior_high > 0.8  # score in [1, 2]: a + b >= 1 is a fifth of the prior box
    assert [r["n_simulated"] for r in summary["rounds"]] == [400, 300] and summary["family"] == "toy"
    assert 1.0 <= summary["best_rule"]["metrics"]["score"] <= 2.0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "# Report on 2 source(s) of rule family `toy`" in report and "| pi1 | store | `pi1` | 300 |" in report
    assert "## Best rule" in report and (tmp_path / "report" / "corner_parameters_1–2.png").stat().st_size > 1000
    np.testing.assert_array_equal(load(tmp_path / "pi1")[["theta_0", "theta_1", "theta_2"]].to_numpy(), theta)


@pytest.mark.slow
def test_report_and_fit_read_a_run_folder(tmp_path, capsys):
    """A run folder of run_pipeline is one source per round: report shows its rounds with their
    conditions and rejection rates; fit trains on the union of its rounds."""
    config = PipelineConfig(name="toy-run", family=TOY, rounds=(Round("π0", 200), Round("π1", 100, {"score": (1.2, 2.0)})),
                            flow=FlowConfig(kind="maf", n_transforms=2, hidden=16), n_members=1,
                            train=TrainConfig(batch_size=64, learning_rate=3e-3, patience=10, max_epochs=60))
    results = run_pipeline(config, tmp_path / "run" / "pipeline", progress=False)
    sources = read_sources([tmp_path / "run"])
    assert [s.name for s in sources] == ["π0", "π1"] and [s.kind for s in sources] == ["round", "round"]
    assert sources[1].round.condition == {"score": (1.2, 2.0)} and sources[1].rejection_rate == results[1].rejection_rate
    assert main(["report", str(tmp_path / "run"), "--family", SPEC, "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| π1 | posterior | score ∈ [1.2, 2] |" in report
    assert main(["fit", str(tmp_path / "run"), "--family", SPEC, "--condition", "spread=0:0.5", "--accept", "high",
                 "--out", str(tmp_path / "post.npz"), "--quiet", *SMALL_FLOW]) == 0
    n_high = sum(int(((r.table["score"] >= 1) & (r.table["score"] <= 2)).sum()) for r in results)
    assert load_posterior(tmp_path / "post.npz").metadata["n_training"] == n_high
    # a posterior of the run samples as it is: its θ layout and target intervals are in its metadata
    assert main(["sample", str(tmp_path / "run" / "pipeline" / "posterior_1.npz"), "--n", "20", "--quiet",
                 "--out", str(tmp_path / "theta.npy")]) == 0
    theta = np.load(tmp_path / "theta.npy")
    assert theta.shape == (20, 3) and TOY.in_prior(theta).all()
    capsys.readouterr()


def _release_records(n: int, seed: int) -> np.ndarray:
    """Polynomial records in the release's exact dtype; rate = 5 + 45 (τ_pre^EE − 0.01) / 0.09 Hz, so a
    fifth of the prior has rate in [5, 14]; the other metrics inside the plausible intervals."""
    family = get_family("polynomial")
    rng = np.random.default_rng(seed)
    records = np.zeros(n, release_dtype("polynomial"))
    records["theta"] = family.sample_prior(n, seed)
    records["seed"] = [f"{i:032x}" for i in range(n)]
    for name in records.dtype.names[2:]:
        records[name] = rng.uniform(0.01, 0.05, n)
    records["rate"] = 5 + 45 * (records["theta"][:, 0] - 0.01) / 0.09 + rng.normal(0, 0.5, n)
    records["cv_isi"] = rng.uniform(0.8, 1.2, n)
    records["rate"][:5] = np.nan  # blown-up runs: NaN metrics, status "blown_up"
    return records


@pytest.mark.slow
def test_fit_and_sample_on_release_records(tmp_path, capsys):
    """The release `.npy` format goes into fit and report; sampled θ has all 25 entries, r_ext from its
    prior interval [5, 15] Hz, and τ_pre^EE where the synthetic rate lies in the target interval."""
    path = save_release(tmp_path / "release.npy", _release_records(600, 0))
    assert main(["fit", str(path), "--condition", "rate=5:14", "--out", str(tmp_path / "post.npz"), "--quiet",
                 *SMALL_FLOW]) == 0
    assert "on 595 of 600 rules" in capsys.readouterr().out
    post = load_posterior(tmp_path / "post.npz")
    assert post.prior.dim == 24 and post.metadata["family"] == "polynomial"
    assert main(["sample", str(tmp_path / "post.npz"), "--n", "200", "--out", str(tmp_path / "theta.npy"), "--quiet"]) == 0
    theta = np.load(tmp_path / "theta.npy")
    assert theta.shape == (200, 25) and get_family("polynomial").in_prior(theta).all()
    assert 5 <= theta[:, 24].min() and theta[:, 24].max() <= 15 and theta[:, 24].std() > 2
    rate = 5 + 45 * (theta[:, 0] - 0.01) / 0.09
    assert np.mean((rate >= 4) & (rate <= 15)) > 0.7  # a fifth of the prior is there
    assert main(["report", str(path), "--out", str(tmp_path / "report")]) == 0
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["rounds"][0]["n_simulated"] == 600 and summary["rounds"][0]["n_blown_up"] == 5
    capsys.readouterr()


def _small_posterior(tmp_path):
    from jaxsnn.sbi import box_prior, train_npe

    rng = np.random.default_rng(0)
    theta = rng.uniform(0, 1, (200, 2))
    x = theta.sum(1, keepdims=True) + rng.normal(0, 0.05, (200, 1))
    post, _ = train_npe(theta, x, box_prior([0, 0], [1, 1]), x_names=("s",), flow=FlowConfig(kind="maf", n_transforms=2, hidden=8),
                        n_members=2, train=TrainConfig(batch_size=50, max_epochs=20))
    return post, save_posterior(tmp_path / "post.npz", post)


def _rewrite_header(path, change):
    with np.load(path) as f:
        arrays = {k: np.asarray(f[k]) for k in f.files}
    header = json.loads(str(arrays.pop("header")))
    change(header, arrays)
    np.savez(path, header=np.array(json.dumps(header)), **arrays)


def test_posterior_saved_by_key_path_with_versions(tmp_path):
    post, path = _small_posterior(tmp_path)
    with np.load(path) as f:
        header = json.loads(str(f["header"]))
    assert header["format_version"] == 3 and {"jaxsnn", "jax", "equinox", "flowjax"} <= set(header["versions"])
    paths = [p["key_path"] for p in header["params"]]
    assert any("masked_autoregressive_mlp.layers[0]" in p for p in paths) and header["params"][0]["shape"][0] == 2
    again = load_posterior(path)
    theta, x = np.array([[0.3, 0.4]]), np.array([[0.7]])
    np.testing.assert_allclose(again.log_prob(theta, x), post.log_prob(theta, x), rtol=1e-6)

    # the arrays are matched by key path, not by position: reversing the order in the file changes nothing
    def reverse(h, arrays):
        names = [p["array"] for p in h["params"]]
        for entry, name in zip(h["params"], reversed(names)):
            arrays[name + "_new"] = arrays[entry["array"]]
            entry["array"] = name + "_new"
    _rewrite_header(path, reverse)
    np.testing.assert_allclose(load_posterior(path).log_prob(theta, x), post.log_prob(theta, x), rtol=1e-6)


def test_posterior_of_another_flow_layout_is_refused(tmp_path):
    _, path = _small_posterior(tmp_path)

    def rename(h, arrays):  # as another flowjax version would name a module
        h["params"][0]["key_path"] = h["params"][0]["key_path"].replace("masked_autoregressive_mlp", "made")
        h["versions"]["flowjax"] = "99.0.0"
    _rewrite_header(path, rename)
    with pytest.raises(ValueError, match=r"do not fit the flow this installation builds.*missing \[.*masked_autoregressive_mlp"
                                         r".*unexpected.*made.*written by .*'flowjax': '99.0.0'.*fit the posterior again"):
        load_posterior(path)
    _, path = _small_posterior(tmp_path)
    _rewrite_header(path, lambda h, arrays: h["flow"].update(hidden=16))
    with pytest.raises(ValueError, match=r"other shapes: .*layers\[0\]\.bias: \[2, 8\] in the file, \[2, 16\] here"):
        load_posterior(path)
    with pytest.raises(ValueError, match="does not exist"):
        load_posterior(tmp_path / "nope.npz")


def test_sbijax_posterior_files_are_refused(tmp_path):
    """Formats 1 and 2 held sbijax/haiku flows: refused with an error that says to fit again."""
    _, path = _small_posterior(tmp_path)

    def to_v2(h, arrays):
        h["format_version"] = 2
        h["flow"]["kind"] = "spline"
        h["versions"] = {"jaxsnn": "0.1.0", "sbijax": "0.4.2"}
    _rewrite_header(path, to_v2)
    with pytest.raises(ValueError, match=r"format 2 holds an sbijax/haiku flow \(kind 'spline'.*'sbijax': '0.4.2'.*"
                                         r"no longer builds.*fit the posterior again"):
        load_posterior(path)
    with pytest.raises(ValueError, match=r"kind 'spline' was sbijax's.*use kind='nsf'"):
        FlowConfig(kind="spline")


def test_workflow_errors_name_the_fix(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_interval("cv_isi = 0.7:1.5") == ("cv_isi", (0.7, 1.5))
    for text, message in (("rate", "METRIC=LOW:HIGH"), ("rate=5:1", "LOW <= HIGH"), ("rate=a:1", "must be numbers")):
        with pytest.raises(ValueError, match=message):
            parse_interval(text)
    main(["sweep", "--family", SPEC, "--n", "20", "--out", "store", "--quiet"])
    capsys.readouterr()
    cases = [
        (["fit", "store", "--condition", "score=0:1", "--out", "p.npz"],
         "family 'toy', which is not built in; give it as --family MODULE:ATTRIBUTE"),
        (["fit", "store", "--family", SPEC, "--condition", "rate=0:1", "--out", "p.npz"],
         r"family 'toy' reports no metric\(s\) \['rate'\]"),
        (["fit", "store", "--family", SPEC, "--condition", "score=0:1", "--accept", "stable_weights", "--out", "p.npz"],
         r"accept filter\(s\) \['stable_weights'\] are not filters of family 'toy'; allowed: \['finite', 'plausible', 'high', 'close'\]"),
        (["fit", "store", "--family", "polynomial", "--condition", "rate=0:1", "--out", "p.npz"],
         r"hold rules of family \['toy'\], not of 'polynomial'"),
        (["fit", "missing", "--condition", "rate=0:1", "--out", "p.npz"], "source missing does not exist"),
        (["fit", "store", "--family", SPEC, "--condition", "score=0:1", "--accept", "close", "--accept", "high",
          "--out", "p.npz"], "NPE needs at least 10"),
        (["report", "store", "--out", "r"], "not built in"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert __import__("re").search(message, err), (argv, err)
    assert not (tmp_path / "p.npz").exists()


def test_sample_errors_name_the_fix(tmp_path, capsys):
    _, path = _small_posterior(tmp_path)  # fitted in Python: no target intervals, no family recorded
    with pytest.raises(SystemExit):
        main(["sample", str(path), "--n", "5", "--out", str(tmp_path / "t.npy")])
    assert "records no target intervals; give one per conditioning metric ['s']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sample", str(path), "--n", "5", "--interval", "rate=0:1", "--out", str(tmp_path / "t.npy")])
    assert "(missing ['s'], not conditioned on ['rate'])" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sample", str(path), "--n", "5", "--interval", "s=0.5:1", "--out", str(tmp_path / "t.npy")])
    assert "names no rule family; give the family" in capsys.readouterr().err


def test_progress_fits_where_it_runs():
    """A log gets one plain line per update (or per min_interval); a terminal gets a live tqdm bar."""
    log = io.StringIO()
    with ProgressReport(10, "sweep", "rules", stream=log) as report:
        line = report.update(4, "1 blown up")
        report.update(6)
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[0] == line and line.startswith("sweep: 4/10 rules (40.0 %) | 1 blown up | ")
    assert "ETA" in line and lines[1].startswith("sweep: 10/10 rules (100.0 %)")
    throttled = io.StringIO()
    report = ProgressReport(100, "sampling", "rules", stream=throttled, min_interval=3600)
    for _ in range(10):
        report.update(10)
    assert [ln.split(" |")[0] for ln in throttled.getvalue().splitlines()] == ["sampling: 10/100 rules (10.0 %)",
                                                                               "sampling: 100/100 rules (100.0 %)"]

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    with ProgressReport(10, "NPE", "epochs", stream=term) as report:
        assert report.live
        report.update(5, "loss 1.0")
    assert "\r" in term.getvalue() and "loss 1.0" in term.getvalue() and "5/10" in term.getvalue()
    quiet = io.StringIO()
    ProgressReport(3, "x", stream=quiet, enabled=False).update(1)
    assert quiet.getvalue() == ""
    from jaxsnn.sweep import Progress  # the sweep's report: the same live bar on a terminal, lines in a log

    term, log = Terminal(), io.StringIO()
    for stream in (term, log):
        sweep = Progress(total=8, already_done=2, quiet=False, stream=stream)
        sweep.update(3, 1)
        sweep.update(3, 0, workers=2)
    assert "\r" in term.getvalue() and "8/8" in term.getvalue() and "2 workers" in term.getvalue()
    assert [ln.split(" |")[0] for ln in log.getvalue().splitlines()] == ["sweep: 5/8 rules (62.5 %)", "sweep: 8/8 rules (100.0 %)"]
