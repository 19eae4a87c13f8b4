"""Ring attractor with short-term facilitation holding a bump through a delay.

One excitatory ring (N = 1000, threshold-linear rates, tau = 20 ms, synaptic tau 4 ms) with global
inhibition ``J_inh = -4`` (all-to-all, uniform) and cosine-structured excitation carried entirely by
Tsodyks–Markram synapses (``J_STP = 40``, kappa = 1, U = 0.03, tau_fac = 1 s, tau_rec = 0.2 s). The
baseline input (0.5) is below threshold (2), so the network is silent until a cue arrives; the
bump it leaves behind is held by facilitated synapses. Input noise of std 1 per step makes the bump
diffuse. 64 trials with random cue angles: cue 0.5 s, then a 5 s delay.

    python experiments/ring_attractor.py [--trials 64] [--delay 5.0] [--noise 1.0] [--k 100]

Prints the drift (|phase(end of delay) - phase(start of delay)| / delay, in deg/s: mean and RMS over
trials) and the bump amplitude m1 at the start and end of the delay for the all-to-all ring, the
same ring without STP (J_STP = 0), and a sparse ring (mean in-degree K, gains / sqrt(K)) whose
quenched disorder makes the bump drift; writes results/rate/ring_attractor.png.
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxsnn.rate import (
    Cosine,
    InputSchedule,
    Projection,
    RateNetwork,
    Uniform,
    all_to_all,
    broadcast_batch,
    cosine_bump,
    decode_bump,
    rate_params,
    simulate_batch,
    sparse,
    wrap_angle,
)

N, DT, WINDOW = 1000, 1e-3, 0.1
CUE_ON, CUE_OFF = 1.0, 1.5


def ring_network(k: float | None = None, seed: int = 0) -> RateNetwork:
    """Excitatory ring: uniform inhibition plus facilitating cosine excitation, all-to-all (exact
    low-rank factors) or, with ``k``, sparse with mean in-degree ``k`` (shared with serial_bias.py)."""
    if k is None:
        blocks = all_to_all(Uniform(), N, N), all_to_all(Cosine(1.0), N, N)
    else:
        k_inh, k_exc = jax.random.split(jax.random.key(seed))
        blocks = sparse(k_inh, Uniform(), N, N, k), sparse(k_exc, Cosine(1.0), N, N, k)
    return RateNetwork(
        sizes=(N,),
        projections=(Projection(0, 0, blocks[0]), Projection(0, 0, blocks[1], stp=True)),
        dt=DT,
        transfer="relu",
        input_noise=True,
    )


def ring_params(net: RateNetwork, *, j_stp: float = 40.0, noise: float = 1.0, k: float | None = None):
    """Gains of the all-to-all ring; a sparse ring's blocks sum sqrt(k) times more, so its gains are
    divided by sqrt(k) to keep the same mean drive."""
    scale = 1.0 if k is None else 1.0 / np.sqrt(k)
    return rate_params(net, J=[-4.0 * scale, 0.0], J_stp=[0.0, j_stp * scale], ff_baseline=0.5, theta=2.0, noise_std=noise, tau=0.02, tau_syn=0.004)


def run(trials: int, delay: float, j_stp: float, noise: float, seed: int, k: float | None = None):
    net = ring_network(k, seed)
    k_phase, k_noise = jax.random.split(jax.random.key(seed))
    phase = jax.random.uniform(k_phase, (trials,), minval=0.0, maxval=2 * np.pi)
    schedule = InputSchedule.from_times(jnp.full((trials, 1), CUE_ON), jnp.full((trials, 1), CUE_OFF), cosine_bump(N, phase, 10.0, 1.0)[:, None], DT)
    params = broadcast_batch(ring_params(net, j_stp=j_stp, noise=noise, k=k), trials)
    _, out = simulate_batch(net, params, schedule, jax.random.split(k_noise, trials), duration=CUE_OFF + delay, window=WINDOW)
    _, m1, decoded = decode_bump(out.windows["rates"])
    start = int(round(CUE_OFF / WINDOW))  # first window of the delay
    drift = np.degrees(np.asarray(wrap_angle(decoded[:, -1] - decoded[:, start])))
    error = np.degrees(np.asarray(wrap_angle(decoded[:, -1] - phase)))
    return dict(phase=np.asarray(phase), decoded=np.asarray(decoded), m1=np.asarray(m1), drift=drift, error=error,
                start=start, nonfinite=bool(np.any(out.nonfinite)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--delay", type=float, default=5.0)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=float, default=100.0, help="mean in-degree of the sparse ring")
    args = parser.parse_args()

    stp = run(args.trials, args.delay, 40.0, args.noise, args.seed)
    plain = run(args.trials, args.delay, 0.0, args.noise, args.seed)
    sparse_stp = run(args.trials, args.delay, 40.0, args.noise, args.seed, k=args.k)
    for name, r in (("all-to-all, with STP", stp), ("all-to-all, J_STP = 0", plain), (f"sparse K = {args.k:g}, with STP", sparse_stp)):
        m1 = r["m1"]
        print(f"{name}: bump m1 {m1[:, r['start']].mean():.2f} at delay start, {m1[:, -1].mean():.2f} after {args.delay:g} s; "
              f"drift mean |d|/T {np.mean(np.abs(r['drift'])) / args.delay:.2f} deg/s, RMS {np.sqrt(np.mean(r['drift'] ** 2)) / args.delay:.2f} deg/s; "
              f"end-of-delay error vs cue RMS {np.sqrt(np.mean(r['error'] ** 2)):.1f} deg; non-finite: {r['nonfinite']}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs("results/rate", exist_ok=True)
    t = (np.arange(stp["decoded"].shape[1]) + 0.5) * WINDOW
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    rel = np.degrees(np.asarray(wrap_angle(sparse_stp["decoded"] - sparse_stp["phase"][:, None])))
    axes[0].plot(t[stp["start"]:], rel[:, stp["start"]:].T, lw=0.6, alpha=0.6)
    axes[0].set(xlabel="time (s)", ylabel="decoded - cue (deg)", title=f"bump phase in the delay (sparse K = {args.k:g})")
    axes[1].plot(t, stp["m1"].mean(0), label="with STP")
    axes[1].plot(t, plain["m1"].mean(0), label="J_STP = 0")
    axes[1].plot(t, sparse_stp["m1"].mean(0), label=f"sparse K = {args.k:g}")
    axes[1].axvspan(CUE_ON, CUE_OFF, color="0.9")
    axes[1].set(xlabel="time (s)", ylabel="bump amplitude m1 (Hz)")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig("results/rate/ring_attractor.png", dpi=120)
    print("wrote results/rate/ring_attractor.png")


if __name__ == "__main__":
    main()
