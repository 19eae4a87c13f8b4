"""Plausibility intervals of spec §6: inclusive bounds, NaN, batches, optional metrics."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.fsbi.plausibility import PLAUSIBILITY_GROUPS, group_pass, is_plausible

# Metrics of the published polynomial rule in the original C++ simulation (specs/reference_rules.md).
REFERENCE_RULE = {
    "rate": 3.5, "rate_i": 1.8, "cv_isi": 0.93, "kl_isi": 0.13, "spatial_Fano": 1.02, "temporal_Fano": 1.03,
    "auto_cov": 0.034, "fft": 0.19, "w_blow": 0.04, "std_rate_temporal": 0.002, "std_rate_spatial": 0.22,
    "std_cv": 0.12, "w_creep": 0.02, "weef": 0.025, "weif": 0.019, "wief": 0.92, "wiif": 0.99,
}  # fmt: skip

SPEC_INTERVALS = {  # §6, written out again so a typo in the module's table is caught
    "rate": (1, 50), "rate_i": (1, 50), "w_blow": (0, 0.1), "w_creep": (0, 0.05), "weef": (0, 0.5),
    "weif": (0, 0.5), "wief": (0, 5), "wiif": (0, 5), "cv_isi": (0.7, np.inf), "spatial_Fano": (0.5, 2.5),
    "temporal_Fano": (0.5, 2.5), "auto_cov": (0, 0.1), "fft": (0, 1), "std_rate_temporal": (0, 0.5),
    "std_rate_spatial": (0, 5), "std_cv": (0, 0.2),
}  # fmt: skip


def test_table_matches_the_spec() -> None:
    table = {m: bounds for group in PLAUSIBILITY_GROUPS.values() for m, bounds in group.items()}
    assert table == SPEC_INTERVALS
    assert set(PLAUSIBILITY_GROUPS) == {"stable_activity", "stable_weights", "asynchronous_irregular"}


def test_reference_rule_is_plausible() -> None:
    assert is_plausible(REFERENCE_RULE)
    assert all(group_pass(REFERENCE_RULE, g) for g in PLAUSIBILITY_GROUPS)


@pytest.mark.parametrize("metric", sorted(SPEC_INTERVALS))
def test_bounds_are_inclusive(metric: str) -> None:
    low, high = SPEC_INTERVALS[metric]
    for value, expected in ((low, True), (np.nextafter(low, -np.inf), False)):
        assert bool(is_plausible(REFERENCE_RULE | {metric: value})) is expected
    if np.isfinite(high):
        for value, expected in ((high, True), (np.nextafter(high, np.inf), False)):
            assert bool(is_plausible(REFERENCE_RULE | {metric: value})) is expected
    else:
        assert is_plausible(REFERENCE_RULE | {metric: 5.0})  # cv_isi has no upper bound


def test_kl_isi_is_not_a_condition() -> None:
    assert is_plausible(REFERENCE_RULE | {"kl_isi": 10.0})


def test_nan_fails() -> None:
    assert not is_plausible(REFERENCE_RULE | {"rate": np.nan})
    assert not group_pass(REFERENCE_RULE | {"w_blow": np.nan}, "stable_weights")
    assert group_pass(REFERENCE_RULE | {"w_blow": np.nan}, "stable_activity")


def test_batches_of_runs() -> None:
    batch = {k: np.full(4, v) for k, v in REFERENCE_RULE.items()}
    batch["rate"] = np.array([3.5, 0.5, np.nan, 50.0])
    batch["std_cv"] = np.array([0.1, 0.1, 0.1, 0.3])
    np.testing.assert_array_equal(is_plausible(batch), [True, False, False, False])
    np.testing.assert_array_equal(is_plausible(batch, include_std_cv=False), [True, False, False, True])
    np.testing.assert_array_equal(group_pass(batch, "stable_activity"), [True, False, False, True])
    jax_batch = {k: jnp.asarray(v) for k, v in batch.items()}
    np.testing.assert_array_equal(is_plausible(jax_batch), [True, False, False, False])


def test_std_cv_can_be_left_out() -> None:
    loose = REFERENCE_RULE | {"std_cv": 0.5}
    assert not is_plausible(loose) and is_plausible(loose, include_std_cv=False)
    without = {k: v for k, v in REFERENCE_RULE.items() if k != "std_cv"}
    assert is_plausible(without, include_std_cv=False)
    with pytest.raises(ValueError, match="std_cv"):
        is_plausible(without)


def test_weif_wiif_only_where_present() -> None:
    mlp = {k: v for k, v in REFERENCE_RULE.items() if k not in ("weif", "wiif")}
    assert is_plausible(mlp)
    assert not is_plausible(mlp | {"weif": 0.6})
    assert not is_plausible(mlp | {"wiif": 5.5})


def test_missing_metric_and_unknown_group_are_rejected() -> None:
    with pytest.raises(ValueError, match="'wief'"):
        is_plausible({k: v for k, v in REFERENCE_RULE.items() if k != "wief"})
    with pytest.raises(ValueError, match="group"):
        group_pass(REFERENCE_RULE, "stable")
