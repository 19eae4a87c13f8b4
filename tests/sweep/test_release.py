"""The original release's structured-array format (specs/fsbi.md §9) and plausibility filtering."""

import numpy as np
import pandas as pd
import pytest

from jaxsnn.fsbi import rule_id, sample_prior
from jaxsnn.sweep import filter_plausible, from_release, load, load_release, release_dtype, run_sweep, save_release, to_release

from .toy import toy_simulator

# written out from the spec text, independently of the package's metric lists
SPEC_ORDER = ["rate", "cv_isi", "kl_isi", "spatial_Fano", "temporal_Fano", "auto_cov", "fft", "w_blow",
              "std_rate_temporal", "std_rate_spatial", "std_cv", "w_creep", "rate_i", "weef", "weif", "wief", "wiif"]


def test_dtype_is_the_release_dtype():
    poly = np.dtype([("seed", "<U64"), ("theta", "<f8", (25,))] + [(m, "<f8") for m in SPEC_ORDER])
    mlp = np.dtype([("seed", "<U64"), ("theta", "<f8", (23,))]
                   + [(m, "<f8") for m in SPEC_ORDER if m not in ("weif", "wiif")])
    assert release_dtype("polynomial") == poly
    assert release_dtype("mlp") == mlp
    assert poly.itemsize == 64 * 4 + 25 * 8 + 17 * 8


def _published_like(task, n, seed=0):
    """Records as the release would hold them: md5 ids, θ from the prior, metrics with NaN rows."""
    theta = sample_prior(task, n, seed)
    records = np.zeros(n, release_dtype(task))
    records["seed"] = [rule_id(row, printed_as="torch") for row in theta]
    records["theta"] = theta
    rng = np.random.default_rng(seed)
    for name in records.dtype.names[2:]:
        values = rng.random(n)
        values[1] = np.nan  # a blown-up rule
        records[name] = values
    return records


@pytest.mark.parametrize("task", ["polynomial", "mlp"])
def test_release_round_trip_through_table_and_file(tmp_path, task):
    records = _published_like(task, 6)
    table = from_release(records)
    assert table["release_id"].tolist() == records["seed"].tolist()
    assert table["rule_id"].tolist() == [rule_id(row) for row in records["theta"]]
    assert table["status"].tolist() == ["done", "blown_up", "done", "done", "done", "done"]
    np.testing.assert_array_equal(table[[f"theta_{i}" for i in range(records.dtype["theta"].shape[0])]].to_numpy(),
                                  records["theta"])
    again = to_release(table, task)
    assert again.dtype == records.dtype
    assert again.tobytes() == records.tobytes()  # bit-identical, NaNs included
    path = save_release(tmp_path / "rules.npy", again)
    loaded = load_release(path)
    assert loaded.dtype == records.dtype and loaded.tobytes() == records.tobytes()


def test_store_to_release_and_back(tmp_path):
    theta = sample_prior("polynomial", 7, 3)
    table = run_sweep(theta, out=tmp_path, seed=3, chunk_size=4, simulator=toy_simulator(seed=3), progress=False)
    records = to_release(tmp_path, "polynomial")
    assert records["seed"].tolist() == [rule_id(row, printed_as="torch") for row in theta]
    np.testing.assert_array_equal(records["theta"], theta)
    for name in SPEC_ORDER:
        np.testing.assert_array_equal(records[name], table[name].to_numpy())
    back = from_release(records)
    pd.testing.assert_frame_equal(back[["rule_id", "release_id", *SPEC_ORDER]],
                                  table[["rule_id", "release_id", *SPEC_ORDER]])
    with pytest.raises(ValueError, match="mlp"):
        to_release(table, "mlp")


def test_release_errors(tmp_path):
    with pytest.raises(ValueError, match="not a release array"):
        from_release(np.zeros(3, [("seed", "<U32"), ("theta", "<f8", (25,))]))
    np.save(tmp_path / "plain.npy", np.zeros((3, 25)))
    with pytest.raises(ValueError, match="not a release array"):
        load_release(tmp_path / "plain.npy")


def _table(rows):
    return pd.DataFrame(rows)


GOOD = {"rate": 5.0, "rate_i": 10.0, "w_blow": 0.05, "w_creep": 0.01, "weef": 0.2, "weif": 0.2, "wief": 1.0,
        "wiif": 1.0, "cv_isi": 0.9, "spatial_Fano": 1.0, "temporal_Fano": 1.0, "auto_cov": 0.03, "fft": 0.5,
        "std_rate_temporal": 0.1, "std_rate_spatial": 2.0, "std_cv": 0.1}


def test_filter_plausible_by_group():
    rows = [dict(GOOD, index=0),
            dict(GOOD, index=1, rate=60.0),          # fails stable activity only
            dict(GOOD, index=2, w_creep=0.2),        # fails stable weights only
            dict(GOOD, index=3, std_cv=0.3),         # fails AI only through std_cv
            dict({k: np.nan for k in GOOD}, index=4)]  # blown up
    table = _table(rows)
    assert filter_plausible(table)["index"].tolist() == [0]
    assert filter_plausible(table, include_std_cv=False)["index"].tolist() == [0, 3]
    assert filter_plausible(table, groups=["stable_activity"])["index"].tolist() == [0, 2, 3]
    assert filter_plausible(table, groups=["stable_weights", "asynchronous_irregular"])["index"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="group"):
        filter_plausible(table, groups=["stable"])


def test_load_with_plausibility(tmp_path):
    theta = sample_prior("polynomial", 6, 3)
    run_sweep(theta, out=tmp_path, seed=3, chunk_size=6, simulator=toy_simulator(seed=3), progress=False)
    table = load(tmp_path)
    expected = filter_plausible(table, groups=["stable_activity"])
    assert 0 < len(expected) < len(table)  # the toy's rates are r_ext × U(0, 1)
    pd.testing.assert_frame_equal(load(tmp_path, groups=["stable_activity"]), expected)
    assert len(load(tmp_path, plausible=True)) == len(filter_plausible(table))
