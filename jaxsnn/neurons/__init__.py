"""Neuron models: each an Equinox module of parameters with pure ``init`` and ``step`` methods."""

from .adex import AdEx, AdExState
from .base import NeuronInput, NeuronModel, heaviside
from .conductance_if import (
    CVAIF,
    CVAIF_TRACES,
    CVAIF_TRACES_CONFIGURED,
    CVAIF_TRACES_INTENDED,
    CVAIF_TRACES_REFERENCE,
    ConductanceIF,
    ConductanceIFState,
    CVAIFState,
)
from .lif import COBALIF, LIF, COBAState, LIFState
from .scheduled import ScheduledSpikes, ScheduledState

__all__ = [
    "AdEx", "AdExState", "NeuronInput", "NeuronModel", "heaviside", "CVAIF", "CVAIFState",
    "CVAIF_TRACES", "CVAIF_TRACES_CONFIGURED", "CVAIF_TRACES_INTENDED", "CVAIF_TRACES_REFERENCE", "ConductanceIF", "ConductanceIFState",
    "COBALIF", "COBAState", "LIF", "LIFState", "ScheduledSpikes", "ScheduledState",
]
