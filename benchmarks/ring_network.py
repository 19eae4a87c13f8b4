"""Benchmark: a 10 000-neuron rate ring network, dt = 1 ms, 10 s biological time.

The network is experiments/ring_attractor.py's ring scaled to N neurons: uniform all-to-all
inhibition plus cosine excitation through facilitating STP synapses, threshold-linear rates, input
noise, one cue. The all-to-all blocks are applied through their exact low-rank factors (rank 1 and
3); for comparison the same ring is run with the blocks as dense matrices (NeuroFlame's storage) and
as sparse edge lists (mean in-degree K), over a shorter time and scaled to 10 s. Recording: window
means every 100 ms.

Cases (NeuroFlame reference on one GPU: one trial 6 s, 10 x 10 grid 61 s):
- single: one trial;
- grid: a 10 x 10 grid of (J_STP, baseline input) flattened into a vmapped batch of 100 trials;
- dense, sparse: one trial with dense / sparse blocks (``--short`` seconds, scaled to 10 s);
- dense_grid: the 10 x 10 grid with dense blocks (NeuroFlame's storage; ``--short`` seconds, scaled
  to 10 s; meant for a GPU, on a CPU it takes hours).

    python benchmarks/ring_network.py [--cases single grid dense sparse] [--threads 1] [--n 10000]

Prints one JSON line per case: compile and run time (s), time per biological second, and memory:
the state and recordings per batch member (analytic) and XLA's temporary buffers per member.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=["single", "grid", "dense", "sparse"], choices=["single", "grid", "dense", "sparse", "dense_grid"])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=10.0, help="biological time of single and grid (s)")
    parser.add_argument("--short", type=float, default=0.5, help="biological time of the dense and sparse cases (s)")
    parser.add_argument("--k", type=float, default=500.0, help="mean in-degree of the sparse case")
    parser.add_argument("--threads", type=int, default=0, help="1: single-threaded XLA CPU (0: XLA's default)")
    return parser.parse_args()


ARGS = parse()
if ARGS.threads == 1:
    # must be set before jax is imported
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxsnn.rate import (  # noqa: E402
    Cosine,
    Dense,
    InputSchedule,
    Projection,
    RateNetwork,
    Uniform,
    all_to_all,
    broadcast_batch,
    cosine_bump,
    grid_batch,
    rate_params,
    simulate_batch,
    sparse,
)

DT, WINDOW = 1e-3, 0.1


def ring(n: int, storage: str, k: float) -> tuple[RateNetwork, float]:
    """The ring with its blocks stored as ``storage`` and the gain scale that keeps the mean drive."""
    if storage == "lowrank":
        blocks, scale = (all_to_all(Uniform(), n, n), all_to_all(Cosine(1.0), n, n)), 1.0
    elif storage == "dense":
        blocks, scale = (Dense(b.dense()) for b in (all_to_all(Uniform(), n, n), all_to_all(Cosine(1.0), n, n))), 1.0
    else:
        keys = jax.random.split(jax.random.key(0))
        blocks, scale = (sparse(keys[0], Uniform(), n, n, k), sparse(keys[1], Cosine(1.0), n, n, k)), 1.0 / np.sqrt(k)
    inh, exc = blocks
    net = RateNetwork(sizes=(n,), projections=(Projection(0, 0, inh), Projection(0, 0, exc, stp=True)), dt=DT, input_noise=True)
    return net, scale


def run_case(name: str, n: int, duration: float, batch_shape: tuple[int, int] | None, storage: str, k: float) -> dict:
    net, scale = ring(n, storage, k)
    params = rate_params(net, J=[-4.0 * scale, 0.0], J_stp=[0.0, 40.0 * scale], ff_baseline=0.5, theta=2.0, noise_std=1.0)
    if batch_shape is None:
        batch = 1
        params = broadcast_batch(params, 1)
    else:
        batch = batch_shape[0] * batch_shape[1]
        set_stp = lambda p, v: eqx.tree_at(lambda q: q.J_stp, p, p.J_stp.at[1].set(v * scale))
        set_base = lambda p, v: eqx.tree_at(lambda q: q.ff_baseline, p, jnp.full_like(p.ff_baseline, v))
        params = grid_batch(params, set_stp, np.linspace(30, 50, batch_shape[0]), set_base, np.linspace(0.2, 1.1, batch_shape[1]))
    cue = InputSchedule.from_times(jnp.asarray([0.2]), jnp.asarray([0.4]), cosine_bump(n, jnp.pi, 10.0, 1.0)[None], DT)
    inputs = broadcast_batch(cue, batch)
    keys = jax.random.split(jax.random.key(1), batch)

    # the network is an argument, not a closure, so its arrays are not baked into the program as constants
    run = eqx.filter_jit(lambda net_, p, i, k_: simulate_batch(net_, p, i, k_, duration=duration, window=WINDOW))
    t0 = time.perf_counter()
    compiled = jax.jit(lambda net_, p, i, k_: run(net_, p, i, k_)).lower(net, params, inputs, keys).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    state, out = compiled(net, params, inputs, keys)
    jax.block_until_ready(out)
    run_s = time.perf_counter() - t0

    state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(state)) / batch
    record_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(out)) / batch
    memory = compiled.memory_analysis()
    temp = getattr(memory, "temp_size_in_bytes", None) if memory is not None else None
    rates = np.asarray(out.windows["rates"])
    return dict(
        case=name, storage=storage, n=n, batch=batch, biological_s=duration, compile_s=round(compile_s, 2),
        run_s=round(run_s, 3), run_s_per_bio_s=round(run_s / duration, 4), run_s_for_10s=round(run_s * 10.0 / duration, 2),
        state_bytes_per_member=int(state_bytes), recording_bytes_per_member=int(record_bytes),
        xla_temp_bytes_per_member=None if temp is None else int(temp / batch),
        mean_rate=float(rates.mean()), nonfinite=bool(np.any(np.asarray(out.nonfinite))),
        device=jax.devices()[0].device_kind, threads="1" if ARGS.threads == 1 else "default",
        edges=int(sum(p.op.n_edges for p in net.projections)) if storage == "sparse" else None,
    )


def main() -> None:
    cases = {
        "single": lambda: run_case("single", ARGS.n, ARGS.duration, None, "lowrank", ARGS.k),
        "grid": lambda: run_case("grid", ARGS.n, ARGS.duration, (10, 10), "lowrank", ARGS.k),
        "dense": lambda: run_case("dense", ARGS.n, ARGS.short, None, "dense", ARGS.k),
        "sparse": lambda: run_case("sparse", ARGS.n, ARGS.short, None, "sparse", ARGS.k),
        "dense_grid": lambda: run_case("dense_grid", ARGS.n, ARGS.short, (10, 10), "dense", ARGS.k),
    }
    for name in ARGS.cases:
        print(json.dumps(cases[name]()), flush=True)


if __name__ == "__main__":
    sys.exit(main())
