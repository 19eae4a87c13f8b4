"""NPE training speed: one spline flow (5 transforms, 50 hidden, 10 bins) on 50 000 simulations of a
24-D θ with a 2-D x, with the original's settings (batch 1000, Adam 5e-4, 10 % validation, early stop
after 20 epochs without improvement).

θ is drawn from the polynomial prior (without r_ext); x is a fixed nonlinear function of θ plus noise
(a stand-in for two metrics), so the flow has a real posterior to learn. The original pipeline
trained a 10-flow ensemble on 24 000 samples in about 28 min; we print the time
that setting would take at our measured speed (time linear in samples × flows, same epoch count).
``--max-epochs`` caps the run (the time per epoch is then the figure that matters); ``--json``
prints one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import numpy as np

ORIGINAL = {"flows": 10, "samples": 24_000, "minutes": 28.0}


def synthetic_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from jaxsnn.sbi import polynomial_prior

    prior = polynomial_prior()
    theta = prior.sample(jax.random.key(seed), n)
    rng = np.random.default_rng(seed)
    alpha_beta = theta[:, 2] + theta[:, 3]  # EE α + β: a "rate"-like summary
    drift = np.tanh(theta[:, 8] * theta[:, 20]) + 0.3 * theta[:, 14]
    x = np.stack([alpha_beta, drift], axis=1) + 0.1 * rng.standard_normal((n, 2))
    return theta, x


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=50_000, help="simulations (default 50 000)")
    p.add_argument("--members", type=int, default=1, help="flows trained together (default 1)")
    p.add_argument("--max-epochs", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    from jaxsnn.sbi import FlowConfig, TrainConfig, polynomial_prior, train_npe

    theta, x = synthetic_data(args.n, args.seed)
    train = TrainConfig(batch_size=1000, learning_rate=5e-4, validation_fraction=0.1, patience=20,
                        max_epochs=args.max_epochs, epochs_per_call=5)
    t0, cpu0 = time.perf_counter(), time.process_time()
    posterior, info = train_npe(theta, x, polynomial_prior(), x_names=("s0", "s1"), flow=FlowConfig(),
                                n_members=args.members, train=train, seed=args.seed, progress=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    epochs = int(info.epochs.max())
    # the original's setting at our speed, assuming time linear in samples × flows and as many epochs
    per_sample_epoch = wall / (args.n * args.members * max(epochs, 1))
    original_setting_min = per_sample_epoch * ORIGINAL["samples"] * ORIGINAL["flows"] * epochs / 60
    result = {
        "benchmark": "npe_training", "n": args.n, "members": args.members, "theta_dim": 24, "x_dim": 2,
        "epochs": epochs, "stopped_early": bool(epochs < args.max_epochs), "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1), "s_per_epoch": round(wall / max(epochs, 1), 2),
        "best_val_loss": float(info.best_val_loss.min()), "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "original_setting_min_estimate": round(original_setting_min, 1), "original_min": ORIGINAL["minutes"],
    }
    print(f"{args.n} samples, {args.members} flow(s): {epochs} epochs in {wall:.0f} s ({wall / max(epochs, 1):.1f} s/epoch, "
          f"{cpu:.0f} CPU-s); the original's 10 flows on 24 000 samples at this speed: ~{original_setting_min:.0f} min "
          f"(original: {ORIGINAL['minutes']} min)")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
