"""The rounds pipeline: a toy simulator with a known plausible region (fast), and the scaled-down
fSBI network (slow)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jaxsnn import fsbi
from jaxsnn.sbi import (
    FlowConfig,
    PipelineConfig,
    Round,
    TrainConfig,
    accepted,
    format_table,
    load_posterior,
    pass_fractions,
    run_pipeline,
)
from jaxsnn.sbi.configs import RATE
from jaxsnn.sbi.report import write_report
from jaxsnn.sweep import ChunkResult, SweepSimulator

# where a metric of the toy simulator sits when it does not depend on θ: the middle of its interval
_MIDDLE = {"rate_i": 10.0, "weef": 0.2, "weif": 0.2, "wief": 2.0, "wiif": 2.0, "spatial_Fano": 1.0,
           "temporal_Fano": 1.0, "auto_cov": 0.05, "fft": 0.5, "std_rate_temporal": 0.1, "std_rate_spatial": 2.0,
           "std_cv": 0.1, "kl_isi": 0.1, "w_blow": 0.05}


def toy_metrics(theta: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Metrics as functions of θ: rate from α_EE (θ2), w_creep from α_EI (θ8), cv_isi from α_IE (θ14);
    a rule blows up when α_II (θ20) > 1.6. Plausible under the prior: 0.41 · 0.125 · 0.5 · 0.9 ≈ 2.3 %."""
    n = theta.shape[0]
    metrics = {name: np.full(n, _MIDDLE.get(name, 0.0)) for name in fsbi.METRIC_NAMES}
    metrics["rate"] = 25.0 + 30.0 * theta[:, 2]
    metrics["w_creep"] = 0.05 + 0.1 * theta[:, 8]
    metrics["cv_isi"] = 0.7 + 0.3 * theta[:, 14]
    blown = theta[:, 20] > 1.6
    for v in metrics.values():
        v[blown] = np.nan
    return metrics, np.where(blown, 1.0, -1.0)


def toy_simulator() -> SweepSimulator:
    def simulate(theta, rule_index):
        metrics, blowup = toy_metrics(theta)
        return ChunkResult(metrics, blowup, np.zeros(theta.shape[0], np.int64))

    return SweepSimulator(simulate=simulate, description={"simulator": "toy"}, theta_size=25,
                          metric_names=fsbi.METRIC_NAMES, bytes_per_rule=1)


def test_toy_pipeline_raises_plausible_fraction(tmp_path):
    config = PipelineConfig(
        name="toy", task="polynomial",
        rounds=(Round("π0", 1200), Round("π1", 240, RATE), Round("π2", 240, {"w_creep": (0.0, 0.05), "cv_isi": (0.7, 1.3)})),
        flow=FlowConfig(kind="maf", n_transforms=2, hidden=32), n_members=2,
        train=TrainConfig(batch_size=128, learning_rate=2e-3, patience=10, max_epochs=200), chunk_size=240)
    results = run_pipeline(config, tmp_path, progress=False, simulator=toy_simulator())
    prior_fraction = results[0].fraction_plausible
    assert 0.005 < prior_fraction < 0.06
    # every conditioned round passes its own target far more often than the prior does
    prior_rate = results[0].fractions["stable_activity"]
    assert results[1].fractions["stable_activity"] > min(0.95, 1.8 * prior_rate)
    assert results[-1].fraction_plausible >= 3 * prior_fraction
    # blown-up rules are counted, stored, and not trained on
    assert results[0].n_blown_up == int((results[0].table["status"] == "blown_up").sum()) > 0
    assert not accepted(results[0].table, "finite")[results[0].table["status"] == "blown_up"].any()
    # posteriors were saved with their round's metadata, and the record of the rounds
    post = load_posterior(tmp_path / "posterior_2.npz")
    assert post.x_names == ("w_creep", "cv_isi") and post.metadata["trained_on_rounds"] == ["π0", "π1"]
    record = json.loads((tmp_path / "rounds.json").read_text())
    assert [r["name"] for r in record["rounds"]] == ["π0", "π1", "π2"]
    assert record["rounds"][1]["rejection_rate"] >= 0
    table = format_table(results)
    assert table.count("\n") == 4 and "| π2 | 240 |" in table
    print(table)
    report = write_report(tmp_path / "report", results, config_name="toy", network={}, raster_spikes=None,
                          best=None, wall_s=1.0, table=table, include_std_cv=True, rounds=config.rounds)
    text = report.read_text()
    finite = [int((r.table["status"] == "done").sum()) for r in results]
    assert "| π0 | prior | – | – | %d (finite) |" % finite[0] in text
    assert "| π2 | posterior | w_creep ∈ [0, 0.05], cv_isi ∈ [0.7, 1.3] |" in text


def test_accept_filter_decides_the_training_set(tmp_path):
    """Only the π0 simulations passing the round's filter (stable weights: w_creep from α_EI) train π1."""
    config = PipelineConfig(
        name="toy-filter", task="polynomial",
        rounds=(Round("π0", 400, accept="stable_weights"), Round("π1", 200, RATE)),
        flow=FlowConfig(kind="maf", n_transforms=2, hidden=32), n_members=1,
        train=TrainConfig(batch_size=64, learning_rate=2e-3, patience=10, max_epochs=200), chunk_size=200)
    results = run_pipeline(config, tmp_path, progress=False, simulator=toy_simulator())
    kept = accepted(results[0].table, "stable_weights")
    theta0 = results[0].table[[f"theta_{i}" for i in range(25)]].to_numpy()
    assert 0 < kept.sum() < (results[0].table["status"] == "done").sum()
    assert np.all(theta0[kept, 8] <= 0.0)  # w_creep = 0.05 + 0.1 α_EI passes only for α_EI <= 0
    post = load_posterior(tmp_path / "posterior_1.npz")
    assert post.metadata["n_training"] == kept.sum() and post.metadata["training_filters"] == {"π0": "stable_weights"}
    # the posterior was fitted inside the filtered region: most of its rules have stable weights too
    assert results[1].fractions["stable_weights"] > 0.8 > 2 * results[0].fractions["stable_weights"]


def test_pass_fractions_match_plausibility():
    theta = fsbi.sample_prior("polynomial", 400, seed=3)
    metrics, _ = toy_metrics(theta)
    table = pd.DataFrame({**metrics, "status": np.where(np.isnan(metrics["rate"]), "blown_up", "done")})
    fractions = pass_fractions(table)
    expected = np.mean((theta[:, 2] >= -0.8) & (theta[:, 2] <= 25 / 30) & (theta[:, 8] <= 0) & (theta[:, 8] >= -0.5)
                       & (theta[:, 14] >= 0) & (theta[:, 20] <= 1.6))
    assert fractions["plausible"] == pytest.approx(expected)
    assert fractions["stable_activity"] == pytest.approx(np.mean((theta[:, 2] >= -0.8) & (theta[:, 2] <= 25 / 30) & (theta[:, 20] <= 1.6)))


def test_round_validation():
    with pytest.raises(ValueError, match="accept"):
        Round("x", 10, accept="nonsense")
    with pytest.raises(ValueError, match="interval"):
        Round("x", 10, {"rate": (5.0, 1.0)})
    with pytest.raises(ValueError, match="first round"):
        PipelineConfig(name="bad", task="polynomial", rounds=(Round("π1", 10, RATE),))
    with pytest.raises(ValueError, match="unknown fSBI option"):
        PipelineConfig(name="bad", task="polynomial", rounds=(Round("π0", 10),), network={"n_neurons": 5})


@pytest.mark.slow
def test_small_fsbi_pipeline_raises_plausible_fraction(tmp_path):
    from jaxsnn.sbi import POLYNOMIAL_SMALL

    results = run_pipeline(POLYNOMIAL_SMALL, tmp_path, progress=True)
    print(format_table(results))
    assert results[-1].fraction_plausible >= 3 * results[0].fraction_plausible
    assert results[-1].fraction_plausible > 0


def test_corner_groups_cover_every_rule_parameter_once():
    from jaxsnn.sbi.report import corner_groups

    for task, dim in (("polynomial", 24), ("mlp", 22)):
        columns = [c for group in corner_groups(task).values() for c in group]
        assert sorted(columns) == list(range(dim)), task
