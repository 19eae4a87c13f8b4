"""Rule families as objects: a family defined here, outside jaxsnn, goes through the sweep and its store,
the NPE rounds, the report and the CLI (as ``tests.sweep.test_families:TOY``); the built-in families
hold today's layouts; bad input is refused with a ValueError that names what is allowed."""

import dataclasses
import json

import numpy as np
import pytest

from jaxsnn import Parameter, RuleFamily, get_family
from jaxsnn.cli import main
from jaxsnn.sbi import FlowConfig, PipelineConfig, Round, TrainConfig, load_posterior
from jaxsnn.sweep import ChunkResult, SweepSimulator, load, read_manifest, run_sweep
from jaxsnn.sweep.store import chunk_path

SPEC = "tests.sweep.test_families:TOY"


class Toy(RuleFamily):
    """score = scale (a + b), spread = |a - b|; blows up when b < -0.9; ``drive`` is a nuisance."""

    def simulator(self, seed: int, scale: float = 1.0) -> SweepSimulator:
        def simulate(theta, rule_index):
            blown = theta[:, 1] < -0.9
            metrics = {"score": scale * (theta[:, 0] + theta[:, 1]), "spread": np.abs(theta[:, 0] - theta[:, 1])}
            metrics = {m: np.where(blown, np.nan, v) for m, v in metrics.items()}
            return ChunkResult(metrics, np.where(blown, 0.5, -1.0), np.zeros(len(theta), np.int64))

        return SweepSimulator(simulate, {"simulator": "toy", "seed": seed, "scale": scale}, self.theta_size,
                              self.metric_names, bytes_per_rule=8)


TOY = Toy(name="toy",
          parameters=(Parameter("a", "", 0.0, 1.0), Parameter("b", "mV", -1.0, 1.0),
                      Parameter("drive", "Hz", 1.0, 2.0, nuisance=True)),
          metric_names=("score", "spread"),
          plausibility={"high": {"score": (1.0, 2.0)}, "close": {"spread": (0.0, 0.5)}})

TOY_PIPELINE = PipelineConfig(
    name="toy-family", family=TOY, rounds=(Round("π0", 400), Round("π1", 200, {"score": (1.2, 2.0)}, accept="high")),
    flow=FlowConfig(kind="maf", n_transforms=2, hidden=16), n_members=1,
    train=TrainConfig(batch_size=64, learning_rate=3e-3, patience=10, max_epochs=150), chunk_size=200)


def test_toy_family_layout_and_prior():
    assert get_family(SPEC) is TOY and get_family(TOY) is TOY
    assert TOY.theta_size == 3 and TOY.theta_names == ("a", "b", "drive") and TOY.units == ("", "mV", "Hz")
    assert TOY.inferred == (0, 1) and TOY.nuisance == (2,)
    assert TOY.prior(nuisance=False).names == ("a", "b") and TOY.prior().dim == 3
    theta = TOY.sample_prior(500, seed=1)
    assert TOY.in_prior(theta).all() and np.array_equal(theta, TOY.sample_prior(500, seed=1))
    np.testing.assert_allclose(theta.mean(0), [0.5, 0.0, 1.5], atol=0.06)
    theta[0, 1] = 1.5
    assert not TOY.in_prior(theta)[0]
    assert TOY.corner_groups() == {"parameters 1–2": [0, 1]} and TOY.pair_windows(theta[0]) is None
    assert TOY_PIPELINE.family is TOY and TOY_PIPELINE.task == "toy"
    assert dataclasses.replace(TOY_PIPELINE, seed=3).family is TOY  # task (the name) and family agree


def test_toy_family_sweep_store_and_resume(tmp_path):
    out = tmp_path / "store"
    table = run_sweep(n=10, family=TOY, out=out, seed=2, chunk_size=4, progress=False)
    theta = TOY.sample_prior(10, seed=2)
    assert len(table) == 10 and list(table.columns[-2:]) == ["score", "spread"]
    np.testing.assert_array_equal(table[["theta_0", "theta_1", "theta_2"]].to_numpy(), theta)
    blown = theta[:, 1] < -0.9
    np.testing.assert_array_equal(table["status"] == "blown_up", blown)
    np.testing.assert_allclose(table["score"][~blown], (theta[:, 0] + theta[:, 1])[~blown])
    manifest = read_manifest(out)
    assert manifest["simulator"]["family"] == "toy" and manifest["simulator"]["theta_names"] == ["a", "b", "drive"]
    # a rerun resumes: finished chunks are kept as they are, a lost one is simulated again
    stamps = {c: chunk_path(out, c).stat().st_mtime_ns for c in (0, 1)}
    chunk_path(out, 2).unlink()
    again = run_sweep(n=10, family=SPEC, out=out, seed=2, progress=False)
    assert {c: chunk_path(out, c).stat().st_mtime_ns for c in (0, 1)} == stamps
    assert again.equals(table)
    # the store filters by the family's plausibility groups
    plausible = load(out, plausible=True, family=TOY)
    assert 0 < len(plausible) < 10 and plausible["index"].tolist() == table["index"][TOY.is_plausible(table)].tolist()
    with pytest.raises(ValueError, match="holds rules of family 'toy': give family="):
        load(out, plausible=True)
    with pytest.raises(ValueError, match="different sweep.*scale: 1.0 -> 2.0"):
        run_sweep(n=10, family=TOY, out=out, seed=2, scale=2.0, progress=False)


def test_toy_family_through_cli_rounds_and_report(tmp_path, capsys, monkeypatch):
    """`jaxsnn sweep --family module:attr` writes the API's store; `jaxsnn run --config module:attr` runs
    the NPE rounds of the toy family and writes its report, the posterior being over the inferred
    parameters only (the nuisance drawn from its box in every round)."""
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "--family", SPEC, "--n", "6", "--seed", "1", "--out", "cli", "--quiet"]) == 0
    assert "6 rules in cli" in capsys.readouterr().out
    assert load(tmp_path / "cli").equals(run_sweep(n=6, family=TOY, seed=1, out=tmp_path / "api", progress=False))
    assert main(["run", "--config", "tests.sweep.test_families:TOY_PIPELINE", "--out", "run"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    first, second = (r["fractions"]["high"] for r in summary["rounds"])
    assert 0.1 < first < 0.35 and second > 2 * first  # conditioned on the score, π1 passes "high" far more often
    post = load_posterior(tmp_path / "run" / "pipeline" / "posterior_1.npz")
    assert post.prior.names == ("a", "b") and post.metadata["family"] == "toy"
    drive = load(tmp_path / "run" / "pipeline" / "round_1")["theta_2"]
    assert drive.between(1.0, 2.0).all() and drive.std() > 0.2
    report = (tmp_path / "run" / "report.md").read_text()
    assert "| π1 | posterior | score ∈ [1.2, 2] |" in report and "corner_parameters_1–2.png" in report
    assert "pair windows" not in report and (tmp_path / "run" / "corner_parameters_1–2.png").stat().st_size > 1000


def test_builtin_families_hold_the_fsbi_layouts():
    poly, mlp = get_family("polynomial"), get_family("mlp")
    assert (poly.theta_size, mlp.theta_size) == (25, 23) and poly.theta_names[-1] == mlp.theta_names[-1] == "r_ext"
    assert poly.units[:3] == ("s", "s", "") and poly.nuisance == (24,) and mlp.nuisance == (22,)
    assert (poly.blowup_rate, mlp.blowup_rate) == (100.0, 50.0)
    assert poly.plastic == ("ee", "ei", "ie", "ii") and mlp.plastic == ("ee", "ie")
    assert "weif" in poly.plausibility["stable_weights"] and "weif" not in mlp.plausibility["stable_weights"]
    windows = poly.pair_windows(poly.sample_prior(1, 0)[0])
    assert list(windows) == ["EE", "EI", "IE", "II"] and windows["EE"][1].shape == (401,)
    manifest_simulator = poly.sweep_simulator(0, n_exc=8, n_inh=2).description
    assert manifest_simulator["family"] == "polynomial" and len(manifest_simulator["theta_names"]) == 25


def test_a_store_written_before_families_resumes():
    """Stores whose manifest predates families (no family keys) resume when their task names the family."""
    from jaxsnn.sweep.runner import _check_resume

    new = {"simulator": {"task": "polynomial", "seed": 0, "family": "polynomial", "theta_names": ["x"]}, "seed": 0,
           "n_rules": 1, "theta_size": 1, "theta_sha256": "h", "metric_names": ["m"]}
    old = dict(new, simulator={"task": "polynomial", "seed": 0})
    _check_resume("store", old, new, explicit_chunk=False)
    with pytest.raises(ValueError, match="different sweep"):
        _check_resume("store", dict(old, simulator={"task": "mlp", "seed": 0}), new, explicit_chunk=False)


def test_bad_input_is_named(tmp_path):
    shape = r"family 'toy' must have shape \[3\] or \[R, 3\] \(3 columns: a, b, drive\); got shape \[2, 4\]"
    with pytest.raises(ValueError, match=shape):
        run_sweep(np.zeros((2, 4)), family=TOY, out=tmp_path, progress=False)
    with pytest.raises(ValueError, match="parameter 'x': the prior box needs finite low < high; got low=1.0, high=1.0"):
        Parameter("x", "", 1.0, 1.0)
    unknown = r"unknown rule family 'stdp' \(family\); allowed: .*\['polynomial', 'mlp'\].*module:attribute"
    with pytest.raises(ValueError, match=unknown):
        run_sweep(n=2, family="stdp", out=tmp_path)
    with pytest.raises(ValueError, match="cannot import 'NOPE'"):
        get_family("tests.sweep.test_families:NOPE")
    with pytest.raises(ValueError, match=r"family 'toy' takes no option\(s\) \['n_exc'\]; allowed: \['scale'\]"):
        run_sweep(n=2, family=TOY, out=tmp_path, n_exc=3)
    with pytest.raises(ValueError, match="task='mlp' and family='toy' name different rule families"):
        run_sweep(n=2, family=TOY, task="mlp", out=tmp_path)
    assert not (tmp_path / "manifest.json").exists()
    with pytest.raises(ValueError, match="names metric 'rate', which is not among its metric_names"):
        Toy(name="bad", parameters=TOY.parameters, metric_names=("score",), plausibility={"g": {"rate": (0, 1)}})
    with pytest.raises(TypeError, match="abstract"):
        type("NoSimulator", (RuleFamily,), {})(name="x", parameters=TOY.parameters, metric_names=("m",))
    filters = r"accept='stable_weights' is no filter of family 'toy'; allowed: \['finite', 'plausible', 'high', 'close'\]"
    with pytest.raises(ValueError, match=filters):
        PipelineConfig(name="bad", family=TOY, rounds=(Round("π0", 10, accept="stable_weights"),))
    with pytest.raises(ValueError, match=r"condition on \['rate'\], which family 'toy' does not report"):
        PipelineConfig(name="bad", family=TOY, rounds=(Round("π0", 10), Round("π1", 10, {"rate": (1.0, 2.0)})))


def test_cli_names_a_bad_family(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for family, message in (("stdp", "unknown rule family 'stdp'"), ("tests.sweep.test_families:NOPE", "cannot import")):
        with pytest.raises(SystemExit) as exit_info:
            main(["sweep", "--n", "2", "--out", "x", "--family", family])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["simulate", "--family", SPEC])
    assert "not an fSBI family" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
