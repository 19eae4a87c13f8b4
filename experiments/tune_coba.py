"""Tune the COBA benchmark network (4000 conductance LIF neurons) from its ~22 Hz to a new E rate of 15 Hz.

The network is :func:`jaxsnn.networks.coba_network` (Vogels & Abbott 2005 in the Brian2 benchmark form:
3200 E / 800 I, p = 0.02, jumps 0.6 / 6.7 g_L, 20 mV drive, dt = 0.1 ms, V drawn in [-60, -50] mV). It has
no external input, so the knobs are the log-scales of its four projection weights (EE, EI, IE, II). Each
iteration simulates 0.1 s of warm-up and 0.2 s of measurement through the differentiable path
(:func:`jaxsnn.tune.population_rates`: surrogate FastSigmoid of 1 mV width, gradients stopped at recurrent
spikes) from a fresh random initial V; Adam (momentum 0.5, rate 0.03 decaying to 0.0015 on a cosine) takes
one step; all iterations run as one ``lax.scan``; the returned knobs are the mean of the last 30 %.
Only the E rate has a target; the I rate goes where the network takes it.

"initial" and "verified" come from the ordinary event-driven :func:`jaxsnn.simulate` (2 s after 0.2 s
discarded), "verified" with the tuned weights and a simulation seed not used before; "tuned" is the mean
rate the tuner measured over its averaging window.

    python experiments/tune_coba.py [--json] [--iterations N] [--target HZ]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np
import optax

import jaxsnn
from jaxsnn.network import broadcast_params
from jaxsnn.networks import coba_initial_state, coba_network
from jaxsnn.tune import tune_rates


def simulated_rates(net: jaxsnn.Network, params: jaxsnn.NetworkParams, seed: int) -> dict[str, float]:
    """Mean rates (Hz) over 2 s of the event-driven simulation from a random V, first 0.2 s discarded."""
    key = jax.random.key(seed)
    batched = broadcast_params(params, 1)
    state = coba_initial_state(net, batched, jax.random.fold_in(key, 0), 1)
    record = jaxsnn.Record(counts={"E": None, "I": None}, period=0.2)
    result = jaxsnn.simulate(net, 2.2, jax.random.fold_in(key, 1), params=batched, state=state, record=record)
    return {p: float(result.counts[p][0, 1:].sum() / (result.counts[p].shape[2] * 2.0)) for p in ("E", "I")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON on the last line")
    parser.add_argument("--iterations", type=int, default=60, help="tuner iterations (default 60)")
    parser.add_argument("--target", type=float, default=15.0, help="target E rate in Hz (default 15)")
    args = parser.parse_args()
    n, target = args.iterations, args.target
    window = max(1, (3 * n) // 10)

    net = coba_network(jax.random.key(0))
    params = net.default_params()
    initial = simulated_rates(net, params, seed=1)
    print(f"initial rates: E {initial['E']:.2f} Hz, I {initial['I']:.2f} Hz")

    log_scales = {"weights": {w: 0.0 for w in ("EE", "EI", "IE", "II")}}
    optimizer = optax.adam(optax.cosine_decay_schedule(0.03, n, alpha=0.05), b1=0.5)
    initial_state = lambda key: coba_initial_state(net, broadcast_params(params, 1), key, 1)  # noqa: E731
    run = jax.jit(lambda key: tune_rates(net, params, {"E": target}, key, log_scales=log_scales, n_iterations=n,
                                         optimizer=optimizer, duration=0.2, warmup=0.1, initial_state=initial_state,
                                         average_last=window))
    start = time.perf_counter()
    result = jax.block_until_ready(run(jax.random.key(2)))
    wall = time.perf_counter() - start
    tuned = {p: float(np.mean(result.rates[p][n - window:])) for p in ("E", "I")}
    for p in ("E", "I"):
        print(f"rates of {p} every 10th iteration:", np.round(np.asarray(result.rates[p][::10]), 2).tolist())
    print(f"tuned in {wall:.1f} s ({n} iterations, compile included): E {tuned['E']:.2f} Hz, I {tuned['I']:.2f} Hz")
    print("log-scales:", {k: round(float(v), 3) for k, v in result.log_scales["weights"].items()})

    verified = simulated_rates(net, result.params, seed=3)
    print(f"verified (event-driven simulate, new seed): E {verified['E']:.2f} Hz (target {target} Hz), "
          f"I {verified['I']:.2f} Hz")
    if args.json:
        lower = lambda rates: {p.lower(): round(v, 4) for p, v in rates.items()}  # noqa: E731
        print(json.dumps({"targets": {"e": target}, "initial": lower(initial), "tuned": lower(tuned),
                          "verified": lower(verified), "iterations": n, "wall_s": round(wall, 2)}))


if __name__ == "__main__":
    main()
