"""Serial bias in an E/I ring with short-term facilitation, NMDA, threshold adaptation and noise.

Network: an excitatory ring (N_E = 1000, threshold 2, baseline input 0.5: silent until cued) whose
cosine-structured recurrent excitation runs through facilitating Tsodyks–Markram synapses
(J_STP = 30, kappa = 1, U = 0.03, tau_fac = 1 s, tau_rec = 0.2 s), an inhibitory population
(N_I = 250, linear above 0), all-to-all; NMDA current (R = 0.3, tau 100 ms), threshold adaptation of
E (A = 0.02, tau 1 s) and input noise (std 1 per step).

Each trial pair: cue 1 at phi_1 (0.5 s), delay, a global negative reset input to E (-20 for 0.5 s),
an inter-trial interval, cue 2 at phi_2 (0.5 s), a 2 s delay, readout of the bump phase. The bias
is the wrapped error ``report - phi_2`` as a function of ``delta = phi_1 - phi_2``; positive bias for
positive delta means attraction towards the previous stimulus.

    python experiments/serial_bias.py [--reps 4] [--itis 1.0 3.0]

Prints the bias curve for each inter-trial interval and writes results/rate/serial_bias.png.
"""

from __future__ import annotations

import argparse
import os

import jax
import numpy as np

from jaxsnn.rate import (
    Cosine,
    Projection,
    RateNetwork,
    Uniform,
    all_to_all,
    broadcast_batch,
    decode_bump,
    rate_params,
    serial_bias_schedule,
    simulate_batch,
    wrap_angle,
)

NE, NI, DT, WINDOW = 1000, 250, 1e-3, 0.1


def ei_ring() -> tuple[RateNetwork, object]:
    net = RateNetwork(
        sizes=(NE, NI),
        projections=(
            Projection(0, 0, all_to_all(Cosine(1.0), NE, NE), stp=True),
            Projection(0, 1, all_to_all(Uniform(), NE, NI)),
            Projection(1, 0, all_to_all(Uniform(), NI, NE)),
            Projection(1, 1, all_to_all(Uniform(), NI, NI)),
        ),
        dt=DT, transfer="relu", input_noise=True, nmda=True, adaptation=True,
    )
    params = rate_params(
        net, J=[0.0, -2.0, 2.0, -0.5], J_stp=[30.0, 0.0, 0.0, 0.0], ff_baseline=[0.5, 0.0], theta=[2.0, 0.0],
        noise_std=[1.0, 0.0], tau=[0.02, 0.01], tau_syn=[0.004, 0.002], r_nmda=0.3, tau_nmda=[0.1, 0.1],
        a_adapt=[0.02, 0.0], tau_adapt=[1.0, 1.0],
    )
    return net, params


def bias_curve(net, params, deltas, reps: int, iti: float, seed: int):
    """Mean and s.e.m. of the second report's error (deg) for each delta (rad), plus the amplitude of
    the bump just before the second cue (to check that the reset erased the first bump)."""
    k_phase, k_noise = jax.random.split(jax.random.key(seed))
    delta = np.repeat(deltas, reps)
    second = np.asarray(jax.random.uniform(k_phase, delta.shape, minval=0.0, maxval=2 * np.pi))
    first = second + delta
    on1, off1 = 0.5, 1.0
    reset_on = off1 + 1.0
    reset_off = reset_on + 0.5
    on2 = reset_off + iti
    off2 = on2 + 0.5
    end = off2 + 2.0
    schedule = serial_bias_schedule(net, first, second, strength=10.0, footprint=1.0, reset_strength=20.0,
                                    times=(on1, off1, reset_on, reset_off, on2, off2))
    batch = delta.size
    _, out = simulate_batch(net, broadcast_batch(params, batch), schedule, jax.random.split(k_noise, batch),
                            duration=round(end / WINDOW) * WINDOW, window=WINDOW)
    _, m1, phase = decode_bump(out.windows["rates"][:, :, :NE])
    error = np.degrees(np.asarray(wrap_angle(phase[:, -1] - second))).reshape(len(deltas), reps)
    before_cue2 = float(np.asarray(m1[:, int(round(on2 / WINDOW)) - 1]).mean())
    held = float(np.asarray(m1[:, -1]).mean())
    return error.mean(1), error.std(1) / np.sqrt(reps), before_cue2, held, bool(np.any(out.nonfinite))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=4, help="trial pairs per delta")
    parser.add_argument("--itis", type=float, nargs="+", default=[1.0, 3.0], help="inter-trial intervals (s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    net, params = ei_ring()
    deltas_deg = np.arange(-180, 180, 15)
    deltas = np.radians(deltas_deg)
    curves = {}
    for iti in args.itis:
        mean, sem, before, held, bad = bias_curve(net, params, deltas, args.reps, iti, args.seed)
        curves[iti] = (mean, sem)
        peak = int(np.argmax(mean))
        print(f"ITI {iti:g} s: bump m1 before cue 2 {before:.2f} Hz (reset), at readout {held:.1f} Hz; non-finite: {bad}")
        print(f"  peak bias {mean[peak]:+.1f} deg at delta {deltas_deg[peak]:+d} deg; "
              f"bias at +-30 deg: {mean[deltas_deg == 30][0]:+.1f} / {mean[deltas_deg == -30][0]:+.1f} deg")
        print("  delta (deg): " + " ".join(f"{d:+4d}" for d in deltas_deg))
        print("  bias  (deg): " + " ".join(f"{b:+4.0f}" for b in mean))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs("results/rate", exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for iti, (mean, sem) in curves.items():
        ax.errorbar(deltas_deg, mean, yerr=sem, marker="o", ms=3, capsize=2, label=f"ITI {iti:g} s")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel="previous - current stimulus (deg)", ylabel="error of current report (deg)", title="serial bias (E/I ring, STP)")
    ax.legend()
    fig.tight_layout()
    fig.savefig("results/rate/serial_bias.png", dpi=120)
    print("wrote results/rate/serial_bias.png")


if __name__ == "__main__":
    main()
