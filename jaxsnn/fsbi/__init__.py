"""Filter-SBI plasticity-rule search (Confavreux et al. 2023): the recurrent networks with polynomial
and MLP rules, batched over rules, and the metrics and plausibility of specs/fsbi.md."""

from .config import FSBIConfig, make_config
from .metrics import (
    DRIFT_METRIC_NAMES,
    METRIC_NAMES,
    MLP_DRIFT_METRIC_NAMES,
    MLP_METRIC_NAMES,
    PROJECTIONS,
    compute_metrics,
    run_metric_names,
)
from .metrics_stream import (
    MetricsAccumulator,
    StreamWindow,
    finalize_metrics,
    init_accumulator,
    make_window,
    update_accumulator,
)
from .prior import R_EXT_BOUNDS, in_prior, prior_bounds, rule_id, sample_prior
from .plausibility import PLAUSIBILITY_GROUPS, group_pass, is_plausible
from .recordings import RECORDING_FORMAT_VERSION, load_recording, save_recording
from .rules import MLPRule, PolynomialRule, load_mlp_hidden_layers, pair_window
from .run import FSBIResult, simulate

__all__ = [
    "FSBIConfig", "make_config", "METRIC_NAMES", "MLP_METRIC_NAMES", "DRIFT_METRIC_NAMES", "MLP_DRIFT_METRIC_NAMES",
    "run_metric_names", "PROJECTIONS", "compute_metrics",
    "MetricsAccumulator", "StreamWindow", "finalize_metrics", "init_accumulator", "make_window",
    "update_accumulator", "PLAUSIBILITY_GROUPS", "group_pass", "is_plausible", "RECORDING_FORMAT_VERSION",
    "load_recording", "save_recording", "MLPRule", "PolynomialRule", "load_mlp_hidden_layers", "pair_window",
    "FSBIResult", "simulate", "R_EXT_BOUNDS", "in_prior", "prior_bounds", "rule_id", "sample_prior",
]
