"""GLM simulation speed: milliseconds per time step against the number of synapses, one network and a batch.

Bernoulli GLM (the reference's defaults, T = 10) on E/I normal networks with Dale's law (half of all
ordered pairs connected), from about 1 000 to 2.5 M synapses; a batch of ``--batch`` copies runs once as a
disjoint graph and once by ``vmap``. Reference figures (spikeometric docs, CPU): 0.15 ms/step at 1 000
synapses, 30 ms/step at 2.5 M; V100 GPU: about 0.3 ms/step up to 2.5 M, and about 0.15 ms/step per network
for batches of >= 10 networks of 2.5 M synapses.

    python benchmarks/glm_speed.py [--layout auto|sparse|dense] [--threads 1] [--batch 10] [--json]

With ``--layout auto`` these dense-ish networks (density 1/2, up to 2236 neurons) use the dense matrix
layout; ``--layout sparse`` times the edge-list gather/segment-sum path.

Compile time is excluded (each configuration runs once before it is timed) and reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synapses", type=float, nargs="+", default=[1e3, 1e4, 1e5, 1e6, 2.5e6],
                        help="approximate synapse counts of one network")
    parser.add_argument("--batch", type=int, default=10, help="networks in the batched runs")
    parser.add_argument("--layout", default="auto", choices=["auto", "sparse", "dense"],
                        help="synaptic-sum layout of the single and vmapped networks (the union is always auto)")
    parser.add_argument("--threads", type=int, default=0, help="1: single-threaded XLA CPU (0: default)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on the last line")
    return parser.parse_args()


def main() -> None:
    args = _parse()
    if args.threads == 1:  # must be set before jax is imported
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    import jax
    import numpy as np

    from jaxsnn import glm

    model = glm.BernoulliGLM()

    def time_per_step(run, n_steps: int) -> tuple[float, float]:
        start = time.perf_counter()
        jax.block_until_ready(run(n_steps, 0))
        compile_s = time.perf_counter() - start
        best = np.inf
        for seed in (1, 2):
            start = time.perf_counter()
            jax.block_until_ready(run(n_steps, seed))
            best = min(best, time.perf_counter() - start)
        return best / n_steps * 1e3, compile_s

    rows = []
    print(f"device: {jax.devices()[0].device_kind}, threads: {'1' if args.threads == 1 else 'default'}")
    print(f"{'synapses':>10} {'neurons':>8} {'layout':>7} {'single ms/step':>15} {'union ms/step/net':>18} "
          f"{'vmap ms/step/net':>17} {'compile s':>10}")
    for target in args.synapses:
        n = max(2, 2 * round(np.sqrt(2 * target) / 2))  # density 1/2 -> n^2 / 2 synapses
        generated = glm.normal_connectivity(jax.random.key(0), n, std=1.0, glorot=True)
        net = glm.from_edges(generated.pre, generated.post, generated.weight, n, layout=args.layout)
        n_steps = int(min(2000, max(50, 2e8 / (net.n_edges * args.batch))))
        single, compile_single = time_per_step(
            lambda steps, seed: glm.simulate(model, net, steps, jax.random.key(seed)).spikes, n_steps)
        union = glm.disjoint_union([net] * args.batch)
        batched, _ = time_per_step(
            lambda steps, seed: glm.simulate(model, union, steps, jax.random.key(seed)).spikes, n_steps)
        stacked = glm.stack_networks([net] * args.batch)
        run_vmap = jax.vmap(lambda network, key, steps: glm.simulate(model, network, steps, key).spikes,
                            in_axes=(0, 0, None))
        vmapped, _ = time_per_step(
            lambda steps, seed: run_vmap(stacked, jax.random.split(jax.random.key(seed), args.batch), steps),
            n_steps)
        row = dict(synapses=net.n_edges, neurons=n, steps=n_steps, layout=net.layout, union_layout=union.layout,
                   single_ms_per_step=single,
                   union_ms_per_step_per_network=batched / args.batch,
                   vmap_ms_per_step_per_network=vmapped / args.batch, compile_s=compile_single)
        rows.append(row)
        print(f"{net.n_edges:>10} {n:>8} {net.layout:>7} {single:>15.4f} {batched / args.batch:>18.4f} "
              f"{vmapped / args.batch:>17.4f} {compile_single:>10.2f}", flush=True)
    if args.json:
        print(json.dumps(dict(model="BernoulliGLM", batch=args.batch,
                              threads=1 if args.threads == 1 else "default", rows=rows)))


if __name__ == "__main__":
    main()
