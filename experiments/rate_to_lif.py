"""Rate-to-LIF conversion of the Lava E/I-network tutorial, in both regimes, compared with Lava's own run.

Reproduces the tutorial (lava-nc 0.10.0, tutorials/end_to_end/tutorial02) by default: N = 400, 80 %
excitatory, dr = 0.01, bias 0.1, g = 4.5; q = 1 (stable fixed point) and q = sqrt(N/6) (chaotic);
weights with standard deviation (2q)^2/N as its code draws them (independent draws per regime);
rates and LIF states start at 0; 1000 steps, dt = 1 ms per step; no noise. The rate network is
converted with ``jaxsnn.convert.rate_to_lif`` (variant "reference": Lava's formulas and fsolve root;
the "grytskyy" variant is reported alongside) and both networks are run.

Measure (the tutorial's ``auto_cov_fct``, :func:`jaxsnn.convert.network_autocovariance`): drop the
first and last 200 steps, remove each neuron's temporal mean and, at each step, the across-neuron
mean, and average the neurons' auto-covariances (lags 0..100). For the LIF network it is applied to
spike counts in a sliding 25-step window, as the tutorial bins them. ``rate_tau`` and ``lif_tau`` are
the first 1/e crossings of the normalised auto-covariance (:func:`jaxsnn.convert.decay_time`, s);
``lif_rate`` is the mean LIF rate over the whole run (Hz).

    python experiments/rate_to_lif.py [--json] [--seeds 30] [--seed 0] [--steps 1000]
        [--weights tutorial|sqrt_n] [--v-init zero|uniform] [--measure tutorial|population]
        [--rate-noise 0.0] [--offset 200] [--max-lag 100] [--bin 25]

The options give the earlier choices of this experiment: ``--weights sqrt_n`` (std 2q/sqrt(N), 10x the
tutorial's at q = 1), ``--v-init uniform`` (LIF voltages uniform in [0, 1)), ``--measure population``
(auto-covariance of the population mean), ``--rate-noise 0.01`` (noise per step and neuron in the
rate network), longer runs with ``--steps``. With --json the last line is
{"stable": {"rate_tau": s, "lif_tau": s, "lif_rate": Hz, "lif_rate_hz": Hz}, "chaotic": {...}}, means
over the seeds (``lif_rate_hz`` repeats ``lif_rate`` under its earlier name; a tau is null if some
seed's auto-covariance stays above 1/e for all lags, which the tutorial's settings do not produce),
for the "reference" variant. Before it: per-seed figures, mean +- SD over the seeds, and, with the
default settings, the comparison with Lava's own run of the tutorial (``LAVA``, below).

What it showed (2026-12-07, 30 seeds each; BENCHMARKS.md): every mean within the seed-to-seed SD of
both jaxsnn and Lava. Stable: rate tau 55.28 ms in both, LIF tau 2.78 +- 0.16 ms (Lava 2.85 +- 0.21),
LIF rate 37.8 +- 1.3 Hz (Lava 37.4 +- 1.6), bias-driven. Chaotic: rate tau 88.4 +- 5.7 ms (Lava
86.6 +- 6.1), LIF tau 45.7 +- 5.7 ms (Lava 46.4 +- 8.2), LIF rate 268 +- 110 Hz (Lava 286 +- 122).
"""

from __future__ import annotations

import argparse
import json

import jax
import numpy as np

from jaxsnn.convert import (
    MEASURES, V_INITS, VARIANTS, WEIGHT_SCALINGS, box_filter, decay_time, ei_gaussian_weights, network_autocovariance,
    rate_to_lif, simulate_lif_ei, simulate_rate_ei,
)

N, N_EXC, G, DT = 400, 320, 4.5, 1e-3
REGIMES = {"stable": 1.0, "chaotic": float(np.sqrt(N / 6))}
DEFAULTS = dict(steps=1000, weights="tutorial", v_init="zero", measure="tutorial", rate_noise=0.0, offset=200, max_lag=100, bin=25)
QUANTITIES = ("rate_tau", "lif_tau", "lif_rate")
ROUNDING = 1e-4  # relative difference put down to float32 (jaxsnn) against float64 (Lava)

# Lava's own run of the tutorial: lava-nc 0.10.0 (numpy 1.26.4, scipy 1.15.3, Python 3.10.13), the
# notebook's cells as written (float LIF and Dense models) with np.random.seed(s) for s = 0..29 in
# place of 1234, measured as above; 2026-12-07. Mean and SD (ddof = 1) over the 30 seeds; s, s, Hz.
LAVA = {
    "seeds": 30,
    "stable": {"rate_tau": (0.05528390974661831, 8.1e-16), "lif_tau": (0.002847518426552623, 0.00021190640922109848),
               "lif_rate": (37.447, 1.5532956343163418)},
    "chaotic": {"rate_tau": (0.08660915273867999, 0.006065296575044843), "lif_tau": (0.04639339885937207, 0.008158336986490065),
                "lif_rate": (285.6839166666667, 121.60866251983659)},
}


def run_regime(regime: str, seed: int, settings: dict, variants=VARIANTS) -> dict:
    """Rate tau and, per conversion variant, LIF tau, rate and weight scale for one regime and seed."""
    s = settings
    key = jax.random.fold_in(jax.random.key(seed), list(REGIMES).index(regime))  # independent draws per regime, as the tutorial's
    k_w, k_rate, k_lif = jax.random.split(key, 3)
    weights = ei_gaussian_weights(k_w, N, n_exc=N_EXC, q=REGIMES[regime], g=G, scaling=s["weights"])
    states = simulate_rate_ei(weights, n_exc=N_EXC, steps=s["steps"], key=k_rate, noise_std=s["rate_noise"], record="neurons")
    acov = network_autocovariance(states, s["max_lag"], offset=s["offset"], measure=s["measure"])
    result = dict(rate_tau=decay_time(acov, DT))
    for variant in variants:
        conv = rate_to_lif(weights, n_exc=N_EXC, g=G, variant=variant)
        spikes, counts = simulate_lif_ei(conv, n_exc=N_EXC, steps=s["steps"], key=k_lif, v_init=s["v_init"], record="neurons")
        spikes = np.asarray(spikes)
        acov = network_autocovariance(box_filter(spikes, s["bin"]), s["max_lag"], offset=s["offset"], measure=s["measure"])
        result[variant] = dict(
            lif_tau=decay_time(acov, DT), lif_rate=float(spikes.sum() / N / (s["steps"] * DT)),
            lif_silent=float(np.mean(np.asarray(counts) == 0)), weight_scale=conv.weight_scale, converged=conv.converged,
        )
    return result


def run_seeds(seeds, settings: dict, variants=VARIANTS) -> dict:
    """``{regime: [per-seed result]}``."""
    return {regime: [run_regime(regime, seed, settings, variants) for seed in seeds] for regime in REGIMES}


def per_seed_values(runs: dict, variant: str = "reference") -> dict:
    """``{regime: {quantity: array over seeds}}`` for the rate tau and ``variant``'s LIF figures."""
    return {regime: {"rate_tau": np.array([r["rate_tau"] for r in rs]),
                     "lif_tau": np.array([r[variant]["lif_tau"] for r in rs]),
                     "lif_rate": np.array([r[variant]["lif_rate"] for r in rs])} for regime, rs in runs.items()}


def compare_with_lava(values: dict) -> dict:
    """Per regime and quantity: jaxsnn's and Lava's mean and SD, the difference of the means, Welch's t,
    and whether the difference lies within the seed-to-seed SD of both, or within ``ROUNDING`` of the
    mean where that SD vanishes (the stable rate network's tau is the same for every draw of the
    weights, to 1e-14 in Lava's float64; jaxsnn's float32 gives it to ~1e-5)."""
    out = {}
    for regime in REGIMES:
        for q in QUANTITIES:
            x = values[regime][q]
            m, sd = float(np.mean(x)), float(np.std(x, ddof=1))
            lm, lsd = LAVA[regime][q]
            diff = m - lm
            t = diff / np.sqrt(sd**2 / x.size + lsd**2 / LAVA["seeds"])
            out[(regime, q)] = dict(mean=m, sd=sd, lava_mean=lm, lava_sd=lsd, diff=diff, welch_t=float(t),
                                    within=bool(abs(diff) <= max(min(sd, lsd), ROUNDING * abs(lm))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="end with the one-line JSON summary (means over the seeds)")
    parser.add_argument("--seeds", type=int, default=30, help="number of seeds (seed, seed + 1, ...)")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--steps", type=int, default=DEFAULTS["steps"], help="steps per run (1 step = 1 ms)")
    parser.add_argument("--weights", choices=WEIGHT_SCALINGS, default=DEFAULTS["weights"], help="weight std: (2q)^2/N (tutorial) or 2q/sqrt(N)")
    parser.add_argument("--v-init", choices=V_INITS, default=DEFAULTS["v_init"], help="LIF voltages start at 0 (Lava) or uniform in [0, 1)")
    parser.add_argument("--measure", choices=MEASURES, default=DEFAULTS["measure"], help="auto-covariance: the tutorial's per-neuron one or the population mean's")
    parser.add_argument("--rate-noise", type=float, default=DEFAULTS["rate_noise"], help="std of the noise added per step and neuron to the rate network")
    parser.add_argument("--offset", type=int, default=DEFAULTS["offset"], help="steps dropped at both ends before measuring")
    parser.add_argument("--max-lag", type=int, default=DEFAULTS["max_lag"], help="largest lag (steps)")
    parser.add_argument("--bin", type=int, default=DEFAULTS["bin"], help="sliding window (steps) for the LIF spike counts")
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1; got {args.seeds}")
    settings = {k: getattr(args, k) for k in DEFAULTS}
    seeds = range(args.seed, args.seed + args.seeds)

    runs = run_seeds(seeds, settings)
    changed = {k: v for k, v in settings.items() if v != DEFAULTS[k]}
    print(f"dt = {DT * 1e3:g} ms per step; seeds {seeds.start}..{seeds.stop - 1}; settings {settings}"
          + (f" (differs from the tutorial in {sorted(changed)})" if changed else " (the tutorial's)"))
    for regime, rs in runs.items():
        print(f"{regime} (q = {REGIMES[regime]:.3g}):")
        for seed, r in zip(seeds, rs):
            line = f"  seed {seed:3d}: rate tau {r['rate_tau'] * 1e3:7.2f} ms"
            for variant in VARIANTS:
                v = r[variant]
                line += (f" | {variant}: scale {v['weight_scale']:.3g}{'' if v['converged'] else ' (failed)'}, "
                         f"LIF tau {v['lif_tau'] * 1e3:6.2f} ms, {v['lif_rate']:6.1f} Hz, {v['lif_silent']:.0%} silent")
            print(line)
    values = per_seed_values(runs)
    print(f"over {len(seeds)} seeds, reference variant (mean +- SD, min .. max):")
    for regime in REGIMES:
        for q in QUANTITIES:
            x = values[regime][q] * (1e3 if q.endswith("tau") else 1.0)
            unit = "ms" if q.endswith("tau") else "Hz"
            finite = x[np.isfinite(x)]
            sd = finite.std(ddof=1) if finite.size > 1 else float("nan")
            note = "" if finite.size == x.size else f"; {x.size - finite.size} seeds never fall below 1/e within {settings['max_lag']} lags (tau = inf, left out)"
            print(f"  {regime:7s} {q:8s} {finite.mean() if finite.size else np.inf:8.2f} +- {sd:6.2f} {unit}   ({x.min():.2f} .. {x.max():.2f}){note}")
    print(f"  chaotic / stable tau (means): rate {values['chaotic']['rate_tau'].mean() / values['stable']['rate_tau'].mean():.2f}, "
          f"LIF {values['chaotic']['lif_tau'].mean() / values['stable']['lif_tau'].mean():.2f}")
    if not changed and len(seeds) > 1:
        print(f"against Lava 0.10.0's own run of the tutorial ({LAVA['seeds']} seeds): "
              "within = |difference of means| <= the seed-to-seed SD of both (or 1e-4 relative: float32 rounding)")
        for (regime, q), c in compare_with_lava(values).items():
            f = 1e3 if q.endswith("tau") else 1.0
            print(f"  {regime:7s} {q:8s} jaxsnn {c['mean'] * f:8.2f} +- {c['sd'] * f:6.2f}, Lava {c['lava_mean'] * f:8.2f} +- {c['lava_sd'] * f:6.2f}, "
                  f"difference {c['diff'] * f:+7.2f} (Welch t {c['welch_t']:+.2f}): {'within' if c['within'] else 'NOT within'}")
    if args.json:
        def mean(x):  # null where a seed's tau is inf (no 1/e crossing within the lags), keeping the line valid JSON
            m = float(np.mean(x))
            return m if np.isfinite(m) else None

        print(json.dumps({regime: {"rate_tau": mean(v["rate_tau"]), "lif_tau": mean(v["lif_tau"]),
                                   "lif_rate": mean(v["lif_rate"]), "lif_rate_hz": mean(v["lif_rate"])}
                          for regime, v in values.items()}))


if __name__ == "__main__":
    main()
