"""The published polynomial rule on the full network and the full 70 s protocol (slow: minutes per
seed on a CPU). It must land in the reference regime (specs/reference_rules.md): plausible, with
rate, rate_i, cv_isi, Fano factors and auto_cov near the reference values."""

import numpy as np
import pytest

from jaxsnn import fsbi

REFERENCE_RULE = np.array([
    0.04660005, 0.02327882, 0.49659052, -0.35899994, -0.37540221, -1.278193,
    0.0707294, 0.07955258, 0.63596439, -1.72025657, 0.56049812, 0.06629736,
    0.03651253, 0.04398145, -0.31592822, -0.04090761, 1.60054791, 1.11010623,
    0.09858324, 0.04056259, -1.94945908, 1.7757206, 0.19681023, 1.9772824, 6.0])


@pytest.mark.slow
def test_reference_rule_is_plausible_on_the_full_protocol():
    seeds = (0, 1, 2)
    runs = [fsbi.simulate(np.tile(REFERENCE_RULE, (2, 1)), seed=s, rule_ids=[0, 1]) for s in seeds]
    metrics = {k: np.concatenate([r.metrics[k] for r in runs]) for k in runs[0].metrics}
    assert np.all(np.concatenate([r.blowup_time for r in runs]) == -1)
    assert np.all(fsbi.is_plausible(metrics))
    assert abs(np.mean(metrics["rate"]) - 3.5) < 0.5
    assert abs(np.mean(metrics["rate_i"]) - 1.8) < 0.5
    assert 0.8 < np.mean(metrics["cv_isi"]) < 1.1
    assert 0.8 < np.mean(metrics["spatial_Fano"]) < 1.3 and 0.8 < np.mean(metrics["temporal_Fano"]) < 1.3
    assert np.mean(metrics["auto_cov"]) < 0.1
