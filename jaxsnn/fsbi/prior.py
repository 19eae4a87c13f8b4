"""The box priors over rule parameters θ of specs/fsbi.md §7, and the rule id of the original release.

Polynomial θ (25): per projection EE, EI, IE, II the six numbers (τ_pre, τ_post, α, β, γ, κ), then r_ext.
MLP θ (23): η_EE, η_IE, the 20 last-layer weights, then r_ext.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .._validation import check_choice, check_int

_POLY_PROJECTION_LOW = [0.01, 0.01, -2.0, -2.0, -2.0, -2.0]
_POLY_PROJECTION_HIGH = [0.1, 0.1, 2.0, 2.0, 2.0, 2.0]
R_EXT_BOUNDS = (5.0, 15.0)


def prior_bounds(task: str = "polynomial") -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the prior box, each ``[P]`` float64 (P = 25 polynomial, 23 MLP);
    τ in s, r_ext (last entry) in Hz."""
    check_choice("task", task, ("polynomial", "mlp"))
    if task == "polynomial":
        low = _POLY_PROJECTION_LOW * 4 + [R_EXT_BOUNDS[0]]
        high = _POLY_PROJECTION_HIGH * 4 + [R_EXT_BOUNDS[1]]
    else:
        low = [0.0, 0.0] + [-1.0] * 20 + [R_EXT_BOUNDS[0]]
        high = [1.0, 1.0] + [1.0] * 20 + [R_EXT_BOUNDS[1]]
    return np.asarray(low, np.float64), np.asarray(high, np.float64)


def sample_prior(task: str, n: int, seed: int) -> np.ndarray:
    """``n`` draws from the uniform prior box of ``task``, ``[n, P]`` float64, deterministic in ``seed``."""
    check_int("n", n, minimum=1)
    low, high = prior_bounds(task)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5B1]))
    return low + (high - low) * rng.random((n, low.size))


def in_prior(theta: np.ndarray, task: str = "polynomial") -> np.ndarray:
    """``[N]`` bool: which rows of θ ``[N, P]`` lie inside the prior box (bounds inclusive)."""
    low, high = prior_bounds(task)
    theta = np.atleast_2d(np.asarray(theta, np.float64))
    if theta.shape[1] != low.size:
        raise ValueError(f"theta for task {task!r} must have {low.size} columns; got {theta.shape[1]}")
    return np.all((theta >= low) & (theta <= high), axis=1)


def rule_id(theta: np.ndarray) -> str:
    """The release's rule id: the md5 hex digest of θ as little-endian float64 bytes (a ``[P]`` row)."""
    row = np.ascontiguousarray(np.asarray(theta, dtype="<f8"))
    if row.ndim != 1:
        raise ValueError(f"rule_id takes one θ row of shape [P]; got shape {list(row.shape)}")
    return hashlib.md5(row.tobytes()).hexdigest()
