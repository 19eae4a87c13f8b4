"""Simulation-based inference: box priors, neural posterior estimation for any simulator, and the fSBI
rule search built on it.

Any simulator: :func:`train_npe` fits an ensemble of Equinox-native conditional flows q(θ | x)
(:mod:`jaxsnn.sbi.flows`: a masked autoregressive spline flow, or a spline coupling flow with
permutation and LU mixing) on θ ``[N, D]`` from a :class:`BoxPrior` and x ``[N, K]``;
:meth:`Posterior.sample`, :meth:`Posterior.log_prob`, :func:`save_posterior` and
:func:`load_posterior` use it. Ensembles are trained by a jitted ``lax.scan`` (:func:`train_ensemble`).

The fSBI rule search: the round-0 restriction classifier, the filtering-rounds pipeline and the
project's main job, and the same workflow one step at a time on files (:mod:`jaxsnn.sbi.workflow`:
fit, sample, report). Those names (and the fSBI priors) are imported on first use, so ``import
jaxsnn.sbi`` does not import the fSBI networks or the simulator.
"""

from .flows import FlowConfig, LULinear, make_flow
from .npe import Posterior, SamplingInfo, load_posterior, save_posterior, train_npe
from .prior import BoxPrior, box_prior
from .training import TrainConfig, TrainInfo, train_ensemble

_LAZY = {
    "classifier": ("RestrictionClassifier", "train_restriction_classifier"),
    "configs": ("CONFIGS", "MLP_FULL", "MLP_SMALL", "POLYNOMIAL_FULL", "POLYNOMIAL_SMALL", "SMALL_NETWORK"),
    "main": ("main_job", "run_and_report"),
    "prior": ("fsbi_prior", "mlp_prior", "polynomial_prior", "theta_names"),
    "rounds": ("ACCEPT_FILTERS", "PipelineConfig", "Round", "RoundResult", "accepted", "format_table", "pass_fractions",
               "run_pipeline"),
    "workflow": ("Source", "fit_posterior", "read_sources", "sample_theta", "source_family", "write_source_report"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str):
    """The fSBI names (:data:`_LAZY`) are imported on first use (PEP 562)."""
    if name in _WHERE:
        import importlib

        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_WHERE))


__all__ = [
    "FlowConfig", "LULinear", "make_flow", "Posterior", "SamplingInfo", "load_posterior", "save_posterior", "train_npe",
    "BoxPrior", "box_prior", "TrainConfig", "TrainInfo", "train_ensemble", *_WHERE,
]
