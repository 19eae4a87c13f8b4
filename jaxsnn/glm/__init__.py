"""GLM spiking networks with parity to spikeometric: models, edge-list networks, stimuli, simulation,
expected-rate tuning, connectivity generators, and saving/loading of model parameters.

Time in these discrete-time models is in milliseconds (``dt``, time constants), as in the reference;
rates are in Hz.
"""

from .connectivity import mexican_hat_connectivity, normal_connectivity, uniform_connectivity
from .io import load_model, save_model
from .models import (
    MODELS,
    ActivationState,
    BernoulliGLM,
    GLMModel,
    HistoryState,
    PoissonGLM,
    RectifiedLNP,
    RectifiedSAM,
    ThresholdSAM,
)
from .network import (
    GLMNetwork,
    disjoint_union,
    from_dense,
    from_edges,
    load_dense,
    load_network,
    save_network,
    split_neurons,
    stack_networks,
)
from .simulate import GLMRecord, expected_rates, firing_rates, simulate
from .stimulus import (
    FunctionStimulus,
    LoadedStimulus,
    PoissonStimulus,
    RegularStimulus,
    SinStimulus,
    Stimulus,
    external_input,
    load_stimulus,
)
from .tuning import GLMTuneResult, tune_rate

__all__ = [
    "MODELS", "ActivationState", "BernoulliGLM", "FunctionStimulus", "GLMModel", "GLMNetwork", "GLMRecord",
    "GLMTuneResult", "HistoryState", "LoadedStimulus", "PoissonGLM", "PoissonStimulus", "RectifiedLNP",
    "RectifiedSAM", "RegularStimulus", "SinStimulus", "Stimulus", "ThresholdSAM", "disjoint_union",
    "expected_rates", "external_input", "firing_rates", "from_dense", "from_edges", "load_dense", "load_model",
    "load_network", "load_stimulus", "mexican_hat_connectivity", "normal_connectivity", "save_model",
    "save_network", "simulate", "split_neurons", "stack_networks", "tune_rate", "uniform_connectivity",
]
