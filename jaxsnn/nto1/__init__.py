"""N-to-1 network: one AdEx neuron driven by N independent Poisson inputs (E:I = 4:1), its membrane
potential recorded every step, for testing connection-inference methods (the N-to-1 setting of the connection-inference reference)."""

from .inputs import (
    SCALING,
    InputSpikes,
    conductance_increments,
    conductance_jumps,
    input_rates,
    n_excitatory,
    poisson_spikes,
    scaling_for,
    spike_capacity,
)
from .simulate import CHUNK_STEPS, Nto1Result, VoltageRun, run_voltage, simulate_nto1, simulate_nto1_seeds

__all__ = [
    "SCALING", "InputSpikes", "conductance_increments", "conductance_jumps", "input_rates", "n_excitatory",
    "poisson_spikes", "scaling_for", "spike_capacity", "CHUNK_STEPS", "Nto1Result", "VoltageRun",
    "run_voltage", "simulate_nto1", "simulate_nto1_seeds",
]
