"""Simulation-based inference for the fSBI rule search: box priors, neural
posterior estimation with sbijax flows (ensembles trained by a jitted ``lax.scan``), the round-0
restriction classifier, the filtering-rounds pipeline and the project's main job, and the same workflow one
step at a time on files (:mod:`jaxsnn.sbi.workflow`: fit, sample, report)."""

from .classifier import RestrictionClassifier, train_restriction_classifier
from .configs import CONFIGS, MLP_FULL, MLP_SMALL, POLYNOMIAL_FULL, POLYNOMIAL_SMALL, SMALL_NETWORK
from .main import main_job, run_and_report
from .npe import FlowConfig, Posterior, SamplingInfo, load_posterior, make_flow, save_posterior, train_npe
from .prior import BoxPrior, box_prior, fsbi_prior, mlp_prior, polynomial_prior, theta_names
from .rounds import (
    ACCEPT_FILTERS,
    PipelineConfig,
    Round,
    RoundResult,
    accepted,
    format_table,
    pass_fractions,
    run_pipeline,
)
from .training import TrainConfig, TrainInfo, train_ensemble
from .workflow import Source, fit_posterior, read_sources, sample_theta, source_family, write_source_report

__all__ = [
    "RestrictionClassifier", "train_restriction_classifier", "CONFIGS", "MLP_FULL", "MLP_SMALL", "POLYNOMIAL_FULL",
    "POLYNOMIAL_SMALL", "SMALL_NETWORK", "main_job", "run_and_report", "FlowConfig", "Posterior", "SamplingInfo",
    "load_posterior", "make_flow", "save_posterior", "train_npe", "BoxPrior", "box_prior", "fsbi_prior", "mlp_prior",
    "polynomial_prior", "theta_names", "ACCEPT_FILTERS", "PipelineConfig", "Round", "RoundResult", "accepted",
    "format_table", "pass_fractions", "run_pipeline", "TrainConfig", "TrainInfo", "train_ensemble",
    "Source", "fit_posterior", "read_sources", "sample_theta", "source_family", "write_source_report",
]
