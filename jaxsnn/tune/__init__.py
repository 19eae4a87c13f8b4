"""Gradient tuning: an Optax loop compiled as one scan (vmappable), rate losses, checkpointed scans, and a
differentiable simulation path for spiking networks (surrogate spikes, straight-through Poisson input)
with a firing-rate tuner built on them."""

from .checkpoint import checkpoint_step, checkpointed_scan
from .losses import rate_loss
from .networks import ei_network, random_v_state
from .spiking import RateTuneResult, population_rates, scale_params, straight_through_bernoulli, tune_rates
from .tuner import TuneResult, default_filter, tune

__all__ = [
    "RateTuneResult", "TuneResult", "checkpoint_step", "checkpointed_scan", "default_filter", "ei_network",
    "population_rates", "random_v_state", "rate_loss", "scale_params", "straight_through_bernoulli", "tune",
    "tune_rates",
]
