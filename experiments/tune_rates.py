"""Tune a 1000-neuron E/I conductance LIF network from about 1 Hz to 5 Hz (E) and 10 Hz (I) by gradient descent.

The network is :func:`jaxsnn.tune.ei_network`: 800 E / 200 I COBA neurons (no constant drive), Bernoulli
connectivity p = 0.05 without autapses (jumps 0.05 g_L from E, 4 g_L from I), each neuron driven by its own
Poisson train (530 Hz at the start, jumps of 0.05 g_L). Tuned: the log-scales of both external rates and of
the four recurrent weights (six knobs for two targets). Each iteration simulates 0.3 s of warm-up from a
random V (uniform between reset and threshold, which avoids the synchronous transient of a start at reset) and
0.25 s of measurement through the differentiable path (:func:`jaxsnn.tune.population_rates`: surrogate
FastSigmoid of 1 mV width, straight-through Poisson input, gradients stopped at recurrent spikes), and Adam
(momentum 0.5, rate 0.06 decaying to 0.003 on a cosine) takes one step; all iterations run as one
``lax.scan``. The returned knobs are the mean of the last 30 % of the iterations (the rates of one iteration
fluctuate by about ±10 %).

"initial" and "verified" are measured with the ordinary event-driven :func:`jaxsnn.simulate` (10 s after 0.2 s
discarded), "verified" with the tuned values and a simulation seed not used before; "tuned" is the mean rate
the tuner measured over its averaging window.

    python experiments/tune_rates.py [--json] [--iterations N]
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
from jaxsnn.tune import ei_network, random_v_state, tune_rates

TARGETS = {"E": 5.0, "I": 10.0}


def simulated_rates(net: jaxsnn.Network, params: jaxsnn.NetworkParams, seed: int) -> dict[str, float]:
    """Mean rates (Hz) over 10 s of the event-driven simulation from a random V, first 0.2 s discarded."""
    key, batched = jax.random.key(seed), broadcast_params(params, 1)
    state = random_v_state(net, batched, jax.random.fold_in(key, 0), 1)
    record = jaxsnn.Record(counts={"E": None, "I": None}, period=0.2)
    result = jaxsnn.simulate(net, 10.2, jax.random.fold_in(key, 1), params=batched, state=state, record=record)
    return {p: float(result.counts[p][0, 1:].sum() / (result.counts[p].shape[2] * 10.0)) for p in ("E", "I")}


def window_of(n: int) -> int:
    """Iterations averaged at the end: the last 30 %."""
    return max(1, (3 * n) // 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON on the last line")
    parser.add_argument("--iterations", type=int, default=120, help="tuner iterations (default 120)")
    args = parser.parse_args()
    n = args.iterations

    net = ei_network(jax.random.key(0))
    params = net.default_params()
    initial = simulated_rates(net, params, seed=1)
    print(f"initial rates: E {initial['E']:.2f} Hz, I {initial['I']:.2f} Hz")

    log_scales = {"rates": {"ext_E": 0.0, "ext_I": 0.0}, "weights": {w: 0.0 for w in ("EE", "EI", "IE", "II")}}
    optimizer = optax.adam(optax.cosine_decay_schedule(0.06, n, alpha=0.05), b1=0.5)
    initial_state = lambda key: random_v_state(net, broadcast_params(params, 1), key, 1)  # noqa: E731
    run = jax.jit(lambda key: tune_rates(net, params, TARGETS, key, log_scales=log_scales, n_iterations=n,
                                         optimizer=optimizer, duration=0.25, warmup=0.3, initial_state=initial_state,
                                         average_last=window_of(n)))
    start = time.perf_counter()
    result = jax.block_until_ready(run(jax.random.key(2)))
    wall = time.perf_counter() - start
    window = slice(n - window_of(n), n)
    tuned = {p: float(np.mean(result.rates[p][window])) for p in ("E", "I")}
    print(f"tuned in {wall:.1f} s ({n} iterations, compile included): E {tuned['E']:.2f} Hz, I {tuned['I']:.2f} Hz")
    for p in ("E", "I"):
        print(f"rates of {p} every 10th iteration:", np.round(np.asarray(result.rates[p][::10]), 2).tolist())
    print("log-scales:", {g: {k: round(float(v), 3) for k, v in d.items()} for g, d in result.log_scales.items()})

    verified = simulated_rates(net, result.params, seed=3)
    print(f"verified (event-driven simulate, new seed): E {verified['E']:.2f} Hz, I {verified['I']:.2f} Hz "
          f"(targets {TARGETS['E']} and {TARGETS['I']} Hz)")
    if args.json:
        lower = lambda rates: {p.lower(): round(v, 4) for p, v in rates.items()}  # noqa: E731
        print(json.dumps({"targets": lower(TARGETS), "initial": lower(initial), "tuned": lower(tuned),
                          "verified": lower(verified), "iterations": n, "wall_s": round(wall, 2)}))


if __name__ == "__main__":
    main()
