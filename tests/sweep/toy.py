"""A cheap deterministic batched simulator with the fSBI metric columns, for testing the sweep machinery
without compiling the network. Each rule's numbers depend only on (seed, global index, θ row)."""

from __future__ import annotations

import os
import signal
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxsnn import RuleFamily, get_family
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


class DaskToy(RuleFamily):
    """The toy simulator as a rule family with the polynomial θ layout, so Dask workers can rebuild it
    from (family, seed, options) (``tests.sweep.toy:DASK_TOY``). Options: ``delay`` (s of sleep per
    batch, to catch a chunk mid-way) and ``die_at`` (a rule index whose batch SIGKILLs its own worker
    process, as a nanny does to a worker past its memory limit; never use it in-process)."""

    def simulator(self, seed: int, delay: float = 0.0, die_at: int = -1) -> SweepSimulator:
        base = toy_simulator(seed, delay)

        def simulate(theta: np.ndarray, index: np.ndarray) -> ChunkResult:
            if die_at in np.asarray(index):
                os.kill(os.getpid(), signal.SIGKILL)
            return base.simulate(theta, index)

        return SweepSimulator(simulate, {"simulator": "toy", "seed": seed, "delay": delay, "die_at": die_at},
                              self.theta_size, self.metric_names, bytes_per_rule=1000)


DASK_TOY = DaskToy("dask-toy", get_family("polynomial").parameters, METRIC_NAMES)
