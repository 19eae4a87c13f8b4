"""Gradient tuning: an Optax loop compiled as one scan (vmappable), rate losses, checkpointed scans."""

from .checkpoint import checkpoint_step, checkpointed_scan
from .losses import rate_loss
from .tuner import TuneResult, default_filter, tune

__all__ = ["TuneResult", "checkpoint_step", "checkpointed_scan", "default_filter", "rate_loss", "tune"]
