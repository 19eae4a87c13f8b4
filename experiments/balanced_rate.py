"""Balanced sparse E/I rate network: mean rates grow linearly with the feed-forward input, with the
slope predicted by balance theory.

Two populations (N_E = N_I = N), sparse uniform connectivity with mean in-degree K and J/sqrt(K)
weights, threshold-linear rates (tau_E = 20 ms, tau_I = 10 ms), feed-forward input
``sqrt(K) J_A0 m0``. Balance theory (van Vreeswijk & Sompolinsky 1996): as K grows the recurrent
input cancels the feed-forward one to leading order, ``J m + J_0 m0 = O(1/sqrt(K))``, so
``m = -J^{-1} J_0 m0``: linear in m0, independent of the transfer function. With
J = [[1, -1], [2, -1.5]] and J_0 = [1.2, 1] (which satisfy the balance conditions
J_E0/J_I0 > J_EI/J_II > J_EE/J_IE) the predicted slopes are 1.6 (E) and 2.8 (I).

    python experiments/balanced_rate.py [--n 2000] [--k 500]

Prints the measured slopes (least-squares over m0 in 0.5..3, rates averaged over 0.5 s after 0.3 s),
the predictions, their relative differences, the largest deviation from linearity, and writes
results/rate/balanced_rate.png.
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np

from jaxsnn.rate import InputSchedule, Projection, RateNetwork, Uniform, broadcast_batch, rate_params, simulate_batch, sparse

J = np.array([[1.0, -1.0], [2.0, -1.5]])
J0 = np.array([1.2, 1.0])
M0 = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
BLOCKS = ((0, 0), (0, 1), (1, 0), (1, 1))


def balanced_network(n: int, k: float, seed: int = 0) -> RateNetwork:
    keys = jax.random.split(jax.random.key(seed), len(BLOCKS))
    projections = tuple(Projection(post, pre, sparse(key, Uniform(), n, n, k)) for key, (post, pre) in zip(keys, BLOCKS))
    return RateNetwork(sizes=(n, n), projections=projections, dt=1e-3, transfer="relu", synaptic_filter=False)


def measure(n: int, k: float, seed: int = 0) -> dict:
    """Mean E and I rates for each m0 in ``M0`` and the balance-theory comparison."""
    net = balanced_network(n, k, seed)
    batch = jax.tree_util.tree_map(
        lambda *x: jnp.stack(x),
        *[rate_params(net, J=[J[post, pre] for post, pre in BLOCKS], tau=[0.02, 0.01], ff_baseline=np.sqrt(k) * J0 * m0) for m0 in M0],
    )
    inputs = broadcast_batch(InputSchedule.empty(net.n), len(M0))
    _, out = simulate_batch(net, batch, inputs, jax.random.split(jax.random.key(seed), len(M0)), duration=0.5, window=0.5, steady=0.3)
    rates = np.asarray(out.windows["rates"][:, 0])
    means = np.stack([rates[:, :n].mean(1), rates[:, n:].mean(1)], axis=1)  # [m0, population]
    fits = [np.polyfit(M0, means[:, a], 1) for a in range(2)]
    slopes = np.array([f[0] for f in fits])
    predicted = -np.linalg.solve(J, J0)
    nonlinearity = max(np.max(np.abs(np.polyval(f, M0) - means[:, a])) / means[-1, a] for a, f in enumerate(fits))
    return dict(means=means, slopes=slopes, intercepts=np.array([f[1] for f in fits]), predicted=predicted,
                relative_error=slopes / predicted - 1, nonlinearity=nonlinearity,
                active=float(np.mean(rates > 0)), nonfinite=bool(np.any(out.nonfinite)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="neurons per population")
    parser.add_argument("--k", type=float, default=500.0, help="mean in-degree from each population")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    r = measure(args.n, args.k, args.seed)
    print(f"N = {args.n} per population, K = {args.k:g}; active neurons {r['active']:.1%}; non-finite: {r['nonfinite']}")
    for a, name in enumerate(("E", "I")):
        print(f"  {name}: measured slope {r['slopes'][a]:.4f} (intercept {r['intercepts'][a]:+.4f}), "
              f"balance theory {r['predicted'][a]:.4f}, relative difference {r['relative_error'][a]:+.2%}")
    print(f"  largest deviation from the linear fit: {r['nonlinearity']:.2%} of the top rate")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs("results/rate", exist_ok=True)
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    for a, name in enumerate(("E", "I")):
        ax.plot(M0, r["means"][:, a], "o", label=f"{name} (simulated)")
        ax.plot(M0, r["predicted"][a] * M0, "-", lw=1, label=f"{name}: -J^-1 J0 m0")
    ax.set(xlabel="feed-forward input m0", ylabel="mean rate", title=f"balanced network, K = {args.k:g}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig("results/rate/balanced_rate.png", dpi=120)
    print("wrote results/rate/balanced_rate.png")


if __name__ == "__main__":
    main()
