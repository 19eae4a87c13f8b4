"""A cheap deterministic batched simulator with the fSBI metric columns, for testing the sweep machinery
without compiling the network. Each rule's numbers depend only on (seed, global index, θ row)."""

from __future__ import annotations

import threading
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxsnn.fsbi import METRIC_NAMES
from jaxsnn.sweep import ChunkResult, SweepSimulator

BLOWUP_THRESHOLD = 1.0  # theta_2 (alpha_EE, prior U[-2, 2]) above this blows the toy rule up


def toy_simulator(seed: int = 0, delay: float = 0.0, calls: list | None = None) -> SweepSimulator:
    """``calls`` (if given) collects (global indices, device) of every batch simulated."""
    lock = threading.Lock()

    def simulate(theta: np.ndarray, index: np.ndarray) -> ChunkResult:
        time.sleep(delay)
        keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(jnp.asarray(index, jnp.uint32))
        noise = jax.vmap(lambda k: jax.random.uniform(k, (len(METRIC_NAMES),)))(keys)
        values = jnp.asarray(theta[:, -1:], jnp.float32) * noise  # r_ext times a rule-specific draw
        if calls is not None:
            with lock:
                calls.append((np.asarray(index).tolist(), next(iter(values.devices())).id))
        values = np.asarray(values, np.float64)
        blown = theta[:, 2] > BLOWUP_THRESHOLD
        values[blown] = np.nan
        blowup_time = np.where(blown, 0.1 * (np.asarray(index) % 5 + 1), -1.0)
        overflow = np.where(~blown & (np.asarray(index) % 4 == 3), 2, 0)
        return ChunkResult({m: values[:, j] for j, m in enumerate(METRIC_NAMES)}, blowup_time, overflow)

    return SweepSimulator(simulate=simulate, description={"simulator": "toy", "task": "polynomial", "seed": seed},
                          theta_size=25, metric_names=METRIC_NAMES, bytes_per_rule=1000)
