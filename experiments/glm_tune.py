"""Reproduce spikeometric's tuning tutorial: a rectified LNP on a 100-neuron Mexican-hat ring tuned to 62.5 Hz.

The tutorial (docs/tutorials/tune_model.rst of spikeometric) builds ring networks with
``MexicanHatGenerator(100, a=1.0015, sigma_1=6.98, sigma_2=7)``, the model
``RectifiedLNP(lambda_0=100, theta=1e-4, T=20, tau=10, dt=0.1, r=0.0025, b=0.001)``, reports an initial
rate of 33.9 Hz, tunes ``theta`` with Adam on the expected rate (batches of 5 networks) and reports
62.3 Hz for a target of 62.5 Hz.

Under the model's own equations the listed parameters cannot give 33.9 Hz: an uncoupled neuron fires at
``λ0 [b - θ]_+ = 100 * 0.0009 /ms = 90 Hz`` and the ring's net coupling (``Σ_j W_ji = -0.076``) lowers that
by only ~3 %, so the listed model starts near 87 Hz (we measure 86.6 Hz). The printed 33.9 Hz corresponds to
``θ ≈ 6.6e-4``. This script therefore tunes from both starting points: the tutorial's listed parameters and
the threshold that reproduces its printed initial rate; both must land on 62.5 Hz.

Tuning: 5 copies of the ring as one disjoint graph (the tutorial's batch), 200 epochs of 100 steps, Adam
on ``theta`` (the reference's procedure) with 20 equilibration steps instead of the reference's 10: each
epoch starts from a random state with half the neurons spiking, which stays in the T = 20-step history
for T steps; with 10 steps it inhibits the first recorded steps and the tuned rate overshoots by ~2 %
(63.7 Hz measured). The learning rate decays from 2e-5 to 1e-6 (the tutorial used a constant 1e-6 over
5 x 100 epochs; ``theta`` is of order 1e-4, so the reference's default of 0.1 would not do). Rates are
verified on a fresh 10 000-step simulation (1 s) of the 5 networks with a new seed.

    python experiments/glm_tune.py [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import optax

from jaxsnn import glm

TARGET_HZ = 62.5
TUTORIAL_THETA = 1e-4  # the tutorial's listed threshold
PRINTED_START_THETA = 6.6e-4  # the threshold that gives the tutorial's printed initial 33.9 Hz


def measured_rate(model: glm.RectifiedLNP, network: glm.GLMNetwork, seed: int) -> float:
    """Mean rate (Hz) of a 10 000-step simulation (100 equilibration steps first)."""
    spikes = glm.simulate(model, network, 10_000, jax.random.key(seed)).spikes
    return float(glm.firing_rates(spikes, float(model.dt)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the results as JSON on the last line")
    args = parser.parse_args()

    ring = glm.mexican_hat_connectivity(100, a=1.0015, sigma_1=6.98, sigma_2=7.0)
    batch = glm.disjoint_union([ring] * 5)
    schedule = optax.exponential_decay(2e-5, transition_steps=200, decay_rate=0.05)
    results = {}
    for label, theta in (("tutorial_parameters", TUTORIAL_THETA), ("printed_initial_rate", PRINTED_START_THETA)):
        model = glm.RectifiedLNP(lambda_0=100.0, theta=theta, T=20, tau=10.0, dt=0.1, r=0.0025, b=0.001)
        initial = measured_rate(model, batch, seed=1)
        start = time.perf_counter()
        tuned = glm.tune_rate(model, batch, TARGET_HZ, jax.random.key(2), tunable=("theta",),
                              learning_rate=schedule, n_epochs=200, n_steps=100, equilibration_steps=20)
        jax.block_until_ready(tuned.model.theta)
        wall = time.perf_counter() - start
        final = measured_rate(tuned.model, batch, seed=3)
        predicted = float(tuned.history.aux_history[0][-10:].mean())
        results[label] = dict(theta_initial=theta, theta_tuned=float(tuned.model.theta), initial_hz=initial,
                              final_hz=final, predicted_hz_last10=predicted, tune_wall_s=wall)
        print(f"{label}: theta {theta:.2e} -> {float(tuned.model.theta):.3e}; rate {initial:.1f} Hz -> "
              f"{final:.2f} Hz (target {TARGET_HZ} Hz; tuner's predicted rate {predicted:.2f} Hz; "
              f"tuning {wall:.1f} s incl. compile)")
    if args.json:
        print(json.dumps(dict(target_hz=TARGET_HZ, reference=dict(initial_hz=33.9, final_hz=62.3), **results)))


if __name__ == "__main__":
    main()
