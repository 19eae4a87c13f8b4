"""jaxsnn: fast, differentiable spiking-network simulation in JAX.

The core: neuron models (:mod:`jaxsnn.neurons`), connectivity (:mod:`jaxsnn.connectivity`),
networks (:class:`Network` of :class:`Population`, :class:`Projection`, :class:`PoissonInput`,
:class:`CurrentInput`), and :func:`simulate` / :func:`integrate` to run them; plastic projections
(:class:`PlasticityRule`) and streaming metrics of any network (:mod:`jaxsnn.metrics`).

Tasks built on the core: :mod:`jaxsnn.fsbi` (plasticity-rule networks, metrics and plausibility of
filter-SBI), :mod:`jaxsnn.nto1` and :mod:`jaxsnn.conntest` (connection inference from a neuron's
membrane voltage), :mod:`jaxsnn.surrogate` and :mod:`jaxsnn.tune` (surrogate gradients, gradient tuning
of firing rates), :mod:`jaxsnn.glm` (GLM spiking networks), :mod:`jaxsnn.rate`, :mod:`jaxsnn.stp` and
:mod:`jaxsnn.convert` (rate networks, short-term plasticity, rate-to-LIF conversion).

Rule families (:class:`RuleFamily`, :class:`Parameter`, :func:`get_family`; :mod:`jaxsnn.family`): what a
plasticity-rule search searches (θ layout, prior, metrics, plausibility, simulator) as one object.

Workflows: :mod:`jaxsnn.sweep` (chunked, sharded, resumable sweeps with a Parquet results store and the
original release's .npy format) and :mod:`jaxsnn.sbi` (neural posterior estimation and the rounds of
filter-SBI; :func:`jaxsnn.sbi.main_job` is the main job).
"""

from . import connectivity, neurons, surrogate
from .connectivity import Connectivity
from .family import Parameter, RuleFamily, get_family
from .network import (
    CurrentInput,
    Network,
    NetworkParams,
    NetworkState,
    PoissonInput,
    PoissonTarget,
    Population,
    Projection,
    RateGuard,
    broadcast_params,
    network_step,
    stack_params,
)
from .plasticity import MLPPlasticity, PlasticityRule, PolynomialPlasticity, Synapses, Trace, pair_window
from .sources import BernoulliSources, RenewalSources
from .neurons import AdEx, COBALIF, CVAIF, LIF, ConductanceIF, NeuronInput
from .surrogate import Arctan, EscapeNoise, FastSigmoid, Sigmoid, Triangle
from .simulate import Record, SimulationResult, SpikeEvents, integrate, simulate, static_slots
from . import metrics
from .metrics import FSBIMetrics, RunInfo, StreamingMetric

__version__ = "0.1.0"

__all__ = [
    "conntest", "connectivity", "convert", "fsbi", "glm", "neurons", "nto1", "rate", "sbi", "stp", "surrogate", "sweep", "tune",
    "Arctan", "EscapeNoise", "FastSigmoid", "Sigmoid", "Triangle", "Connectivity", "CurrentInput", "Network", "NetworkParams", "NetworkState",
    "PoissonInput", "PoissonTarget", "Population", "Projection", "broadcast_params", "network_step",
    "stack_params", "AdEx", "COBALIF", "CVAIF", "LIF", "ConductanceIF", "NeuronInput", "Record",
    "SimulationResult", "SpikeEvents", "integrate", "simulate", "static_slots", "RateGuard", "MLPPlasticity", "PlasticityRule",
    "PolynomialPlasticity", "Synapses", "Trace", "pair_window", "BernoulliSources", "RenewalSources",
    "Parameter", "RuleFamily", "get_family",
]


_TASKS = ("conntest", "convert", "fsbi", "glm", "nto1", "rate", "sbi", "stp", "sweep", "tune")


def __getattr__(name: str):
    """The task submodules (:data:`_TASKS`) are imported on first use (PEP 562), so that one task, e.g.
    ``import jaxsnn.sbi``, does not import the others (the fSBI networks and simulator among them)."""
    if name in _TASKS:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_TASKS))
