"""jaxsnn: fast, differentiable spiking-network simulation in JAX.

The core: neuron models (:mod:`jaxsnn.neurons`), connectivity (:mod:`jaxsnn.connectivity`),
networks (:class:`Network` of :class:`Population`, :class:`Projection`, :class:`PoissonInput`,
:class:`CurrentInput`), and :func:`simulate` / :func:`integrate` to run them.
"""

from . import connectivity, neurons
from .connectivity import Connectivity
from .network import (
    CurrentInput,
    Network,
    NetworkParams,
    NetworkState,
    PoissonInput,
    PoissonTarget,
    Population,
    Projection,
    broadcast_params,
    network_step,
    stack_params,
)
from .neurons import AdEx, COBALIF, CVAIF, LIF, ConductanceIF, NeuronInput
from .simulate import Record, SimulationResult, SpikeEvents, integrate, simulate

__version__ = "0.1.0"

__all__ = [
    "connectivity", "neurons", "Connectivity", "CurrentInput", "Network", "NetworkParams", "NetworkState",
    "PoissonInput", "PoissonTarget", "Population", "Projection", "broadcast_params", "network_step",
    "stack_params", "AdEx", "COBALIF", "CVAIF", "LIF", "ConductanceIF", "NeuronInput", "Record",
    "SimulationResult", "SpikeEvents", "integrate", "simulate",
]
