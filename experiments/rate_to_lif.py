"""Rate-to-LIF conversion of the Lava E/I-network tutorial, in both regimes, compared quantitatively.

Builds the tutorial's E/I rate network (N = 400, 80 % excitatory, dr = 0.01, bias 0.1, g = 4.5) for
q = 1 (stable fixed point) and q = sqrt(N/6) (chaotic, long memory), converts it with
``jaxsnn.convert.rate_to_lif`` and runs both networks. One step is taken to be dt = 1 ms.

Population activity: the mean state ``mean_i r_i`` of the rate network (driven by weak independent
noise of std 0.01 per step so that the stable fixed point has fluctuations to measure) and the
population spike count per step of the LIF network. Each regime's tau is the 1/e decay time of the
normalised auto-covariance of its population activity (lags up to 1000 steps, first 2000 steps
discarded).

    python experiments/rate_to_lif.py [--json] [--steps 20000]

With --json the last line is
{"stable": {"rate_tau": s, "lif_tau": s, "lif_rate_hz": Hz}, "chaotic": {...}}.
Besides the converted network, the LIF network with unscaled weights (the conversion's fallback,
scale 1) is reported for comparison.
"""

from __future__ import annotations

import argparse
import json

import jax
import numpy as np

from jaxsnn.convert import autocovariance, decay_time, ei_gaussian_weights, rate_to_lif, simulate_lif_ei, simulate_rate_ei

N, N_EXC, G, DT = 400, 320, 4.5, 1e-3
RATE_NOISE = 0.01
TRANSIENT, MAX_LAG = 2000, 1000


def lif_summary(conv, steps, key):
    population, counts = simulate_lif_ei(conv, n_exc=N_EXC, steps=steps, key=key)
    population = np.asarray(population)[TRANSIENT:]
    tau = decay_time(autocovariance(population, MAX_LAG), DT)
    rate_hz = float(population.mean() / N / DT)
    silent = float(np.mean(np.asarray(counts) == 0))
    return tau, rate_hz, silent


def run_regime(q: float, steps: int, seed: int) -> dict:
    k_w, k_rate, k_lif = jax.random.split(jax.random.key(seed), 3)
    weights = ei_gaussian_weights(k_w, N, n_exc=N_EXC, q=q, g=G)
    activity = np.asarray(simulate_rate_ei(weights, n_exc=N_EXC, steps=steps, key=k_rate, noise_std=RATE_NOISE))[TRANSIENT:]
    rate_tau = decay_time(autocovariance(activity, MAX_LAG), DT)
    conv = rate_to_lif(weights, n_exc=N_EXC, g=G)
    lif_tau, lif_rate, silent = lif_summary(conv, steps, k_lif)
    unscaled = conv._replace(weights=conv.weights / conv.weight_scale, weight_scale=1.0)
    u_tau, u_rate, u_silent = lif_summary(unscaled, steps, k_lif)
    return dict(q=q, conversion=conv.message, converged=conv.converged, weight_scale=conv.weight_scale,
                rate_tau=rate_tau, lif_tau=lif_tau, lif_rate_hz=lif_rate, lif_silent=silent,
                unscaled_lif_tau=u_tau, unscaled_lif_rate_hz=u_rate, unscaled_lif_silent=u_silent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="end with the one-line JSON summary")
    parser.add_argument("--steps", type=int, default=20000, help="steps per run (1 step = 1 ms)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    results = {"stable": run_regime(1.0, args.steps, args.seed), "chaotic": run_regime(float(np.sqrt(N / 6)), args.steps, args.seed)}
    print(f"dt = {DT * 1e3:g} ms per step, {args.steps} steps, rate-network noise std {RATE_NOISE} per step")
    for name, r in results.items():
        print(f"{name} (q = {r['q']:.3g}): {r['conversion']}")
        print(f"  rate tau {r['rate_tau'] * 1e3:7.1f} ms | LIF tau {r['lif_tau'] * 1e3:7.1f} ms, {r['lif_rate_hz']:6.1f} Hz, "
              f"{r['lif_silent']:.0%} silent | unscaled LIF tau {r['unscaled_lif_tau'] * 1e3:7.1f} ms, "
              f"{r['unscaled_lif_rate_hz']:6.1f} Hz, {r['unscaled_lif_silent']:.0%} silent")
    if args.json:
        print(json.dumps({name: {k: r[k] for k in ("rate_tau", "lif_tau", "lif_rate_hz")} for name, r in results.items()}))


if __name__ == "__main__":
    main()
