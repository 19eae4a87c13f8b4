"""Published fSBI rules on the full network and the full 70 s protocol (slow: minutes per seed on a
CPU), against the original simulator's figures for them (Confavreux et al. 2023 and runs of the original
code): the polynomial rule must land in the reference regime (plausible, rate ≈ 3.5 Hz, rate_i ≈ 1.8 Hz,
cv_isi, Fano factors and auto_cov near the reference values), the MLP rule of Figure 4 near the
original's rates, and a high-rate prior rule at the set-threshold rate ceiling."""

import numpy as np
import pytest

from jaxsnn import fsbi
from jaxsnn.fsbi.published import PUBLISHED_MLP_RULE, PUBLISHED_POLYNOMIAL_RULE

REFERENCE_RULE = PUBLISHED_POLYNOMIAL_RULE


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


MLP_RULE = PUBLISHED_MLP_RULE


#: Relative bounds on the seed means against the original's run. Measured on 2026-12-07 (seeds 0, 1):
#: rate -3 %, rate_i +9 %, weef -13 %, wief +1 %, seed-to-seed SDs about 1 %: a residual the seed spread
#: does not explain (see BENCHMARKS.md). The bounds hold the model to that agreement; with the model of
#: before (random hidden layers, added threshold, CVAIF order) this rule blew up within 2 s.
MLP_RELATIVE_BOUND = {"rate": 0.08, "rate_i": 0.15, "weef": 0.25, "wief": 0.05}


@pytest.mark.slow
def test_published_mlp_rule_reproduces_the_original_rates():
    """The MLP rule of the paper's Figure 4 with the original's hidden layers and the released trace
    constants. The original's run (one network, one input stream: its MLP binary never seeds) gives
    rate 11.87 Hz, rate_i 6.75 Hz, weef 0.157, wief 1.00; jaxsnn's network and input are other draws of
    the same model, so seed means are compared."""
    seeds = (0, 1, 2)
    runs = [fsbi.simulate(MLP_RULE, task="mlp", seed=s) for s in seeds]
    metrics = {k: np.array([r.metrics[k][0] for r in runs]) for k in runs[0].metrics}
    assert np.all(np.array([r.blowup_time[0] for r in runs]) == -1)
    for name, original in (("rate", 11.87), ("rate_i", 6.75), ("weef", 0.157), ("wief", 1.00)):
        mean = metrics[name].mean()
        assert abs(mean - original) <= MLP_RELATIVE_BOUND[name] * original, (name, metrics[name], original)


@pytest.mark.slow
def test_inhibitory_rates_reach_the_set_threshold_ceiling():
    """A prior rule whose I population fires at the neurons' ceiling: with the threshold set to 100 mV at
    a spike the ceiling is 1/(τ_thr ln 2) ≈ 288 Hz (the original: 278-286 Hz on such rules); an added
    threshold would cap it at 182 Hz."""
    theta = np.asarray(fsbi.sample_prior("polynomial", 32, 12))[9]
    res = fsbi.simulate(theta, seed=0, duration=20.0, record_start=10.0)
    assert res.blowup_time[0] == -1
    assert 250.0 < res.metrics["rate_i"][0] <= 288.6
