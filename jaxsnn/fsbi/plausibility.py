"""Plausibility of an fSBI run (docs/models/fsbi.md, "Plausibility"): every metric inside its inclusive interval.

Metrics come as a mapping name -> scalar or ``[R]`` array (R runs), e.g. the output of
``compute_metrics`` or ``finalize_metrics`` (possibly vmapped), or columns of a results table.
A NaN metric (a blown-up run) fails its interval. weif and wiif are checked only where present,
since EI and II are static in the MLP search space. std_cv can be left out, as in some of the
original analyses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._validation import check_choice

OPTIONAL_METRICS: tuple[str, ...] = ("weif", "wiif")
"""Metrics checked only when present (projections that are plastic in one search space only)."""

PLAUSIBILITY_GROUPS: dict[str, dict[str, tuple[float, float]]] = {
    "stable_activity": {
        "rate": (1.0, 50.0),  # Hz
        "rate_i": (1.0, 50.0),  # Hz
    },
    "stable_weights": {
        "w_blow": (0.0, 0.1),
        "w_creep": (0.0, 0.05),
        "weef": (0.0, 0.5),
        "weif": (0.0, 0.5),
        "wief": (0.0, 5.0),
        "wiif": (0.0, 5.0),
    },
    "asynchronous_irregular": {
        "cv_isi": (0.7, np.inf),
        "spatial_Fano": (0.5, 2.5),
        "temporal_Fano": (0.5, 2.5),
        "auto_cov": (0.0, 0.1),
        "fft": (0.0, 1.0),
        "std_rate_temporal": (0.0, 0.5),
        "std_rate_spatial": (0.0, 5.0),  # Hz
        "std_cv": (0.0, 0.2),
    },
}
"""Group name -> metric -> inclusive interval (low, high) of a plausible run."""


def _inside(values: Any, low: float, high: float) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return (values >= low) & (values <= high)


def group_pass(metrics: Mapping[str, Any], group: str, include_std_cv: bool = True) -> np.ndarray:
    """Whether each run satisfies every interval of ``group`` (bool, shape of the metrics).

    Raises ``ValueError`` for an unknown group or a missing required metric.
    """
    check_choice("group", group, PLAUSIBILITY_GROUPS)
    checks = []
    for name, (low, high) in PLAUSIBILITY_GROUPS[group].items():
        if name == "std_cv" and not include_std_cv:
            continue
        if name not in metrics:
            if name in OPTIONAL_METRICS:
                continue
            raise ValueError(f"metric {name!r} is needed for group {group!r}; got metrics {sorted(metrics)}")
        checks.append(_inside(metrics[name], low, high))
    return np.asarray(np.logical_and.reduce(np.broadcast_arrays(*checks)))


def is_plausible(metrics: Mapping[str, Any], *, include_std_cv: bool = True) -> np.ndarray:
    """Whether each run passes all three plausibility groups (bool array, shape of the metrics)."""
    passes = [group_pass(metrics, group, include_std_cv) for group in PLAUSIBILITY_GROUPS]
    return np.asarray(np.logical_and.reduce(np.broadcast_arrays(*passes)))
