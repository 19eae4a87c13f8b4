"""Synthetic recordings shared by the tests: autocorrelated voltage noise and Poisson spike steps."""

import numpy as np


def ar_noise(rng: np.random.Generator, n: int, phi: float = 0.95, sd: float = 1e-4) -> np.ndarray:
    """AR(1) noise (V) around −55 mV: autocorrelated like a membrane potential."""
    x = np.empty(n)
    x[0] = 0.0
    shocks = rng.normal(0.0, sd, n)
    for k in range(1, n):
        x[k] = phi * x[k - 1] + shocks[k]
    return -0.055 + x


def poisson_steps(rng: np.random.Generator, n_steps: int, p: float) -> np.ndarray:
    return np.flatnonzero(rng.random(n_steps) < p).astype(np.int32)
