"""jaxsnn: fast, differentiable spiking-network simulation in JAX.

The core: neuron models (:mod:`jaxsnn.neurons`), connectivity (:mod:`jaxsnn.connectivity`),
networks (:class:`Network` of :class:`Population`, :class:`Projection`, :class:`PoissonInput`,
:class:`CurrentInput`), and :func:`simulate` / :func:`integrate` to run them.

Tasks built on the core: :mod:`jaxsnn.fsbi` (plasticity-rule networks, metrics and plausibility of
filter-SBI), :mod:`jaxsnn.nto1` and :mod:`jaxsnn.conntest` (connection inference from a neuron's
membrane voltage).
"""

from . import conntest, connectivity, fsbi, neurons, nto1
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
    "conntest", "connectivity", "fsbi", "neurons", "nto1", "Connectivity", "CurrentInput", "Network", "NetworkParams", "NetworkState",
    "PoissonInput", "PoissonTarget", "Population", "Projection", "broadcast_params", "network_step",
    "stack_params", "AdEx", "COBALIF", "CVAIF", "LIF", "ConductanceIF", "NeuronInput", "Record",
    "SimulationResult", "SpikeEvents", "integrate", "simulate",
]
