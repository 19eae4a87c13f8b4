"""fSBI throughput on an accelerator: rules per second of the 70 s protocol with the static strategy.

    python benchmarks/gpu_throughput.py [--json]          # on a GPU: the full network
    python benchmarks/gpu_throughput.py --smoke [--json]  # the same code on a CPU, small network, < 3 min

For each rule family and batch size R (polynomial R = 256, 1024, 4096; MLP R = 256, 1024 by default) it
builds the fSBI network as the library does (``jaxsnn.fsbi`` families, ``jaxsnn.networks.fsbi``), steps
it with ``jaxsnn.network_step`` and the static strategy (fixed shapes per step: spikes compacted into
slots, no data-dependent loop) in jitted chunks of ``--chunk`` steps with the state donated, compiles
and warms up on one chunk, then times ``--steps`` steps from there and extrapolates to the protocol's
700 000 steps (the recorded window's streaming metrics are not timed: they add about 20 % on a CPU).
Overflowing slots are doubled and the chunk rerun, as ``jaxsnn.simulate`` does; the number of reruns
is printed.

Printed per row: ms per step, rules/s for 70 s, the copies of [R, n] state arrays per step in the compiled
program (0 where every field is updated in place), the compiled chunk's memory (``memory_analysis``:
arguments + temporaries, per rule), the device's peak memory where it reports one, and XLA's cost model:
``cost_analysis`` bytes accessed per rule and step (it counts the body of the time loop once, so the
figure is one step's, and it counts every scatter as reading and writing its whole operand, so it
overstates what an in-place scatter moves) and the rules/s that ``--bandwidth`` (GB/s; H100 SXM: 3350)
would allow at those bytes: a pessimistic bound, not a roofline. ``--json`` prints one JSON object as the
last line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

PROTOCOL_STEPS = 700_000  # 70 s at dt = 0.1 ms


def setup(family_name: str, n_rules: int, options: dict):
    """(net, params, state, member keys, slots) of ``n_rules`` rules of a family on the fSBI network."""
    from jaxsnn import fsbi
    from jaxsnn.fsbi.run import get_structure
    from jaxsnn.fsbi.simulator import default_ext_capacity
    from jaxsnn.networks.fsbi import fsbi_network, fsbi_params, unbatched
    from jaxsnn.simulate import static_slots

    config = fsbi.make_config(family_name, **options)
    theta = np.tile(config.family.published, (n_rules, 1))  # the paper's rule of the family
    theta32 = jnp.asarray(theta, jnp.float32)
    family = config.family
    rules = family.rules(theta32, config)
    structure = get_structure(config, 0)
    net = fsbi_network(config, structure.conns, family.neuron(config), unbatched(rules),
                       ext_capacity=default_ext_capacity(config, float(theta[:, -1].max())), block=32)
    params = fsbi_params(net, rules, theta32[:, -1])
    state = net.init_state(params, n_rules)._replace(overflow=jnp.zeros((n_rules,), jnp.int32))
    state = jax.tree_util.tree_map(jnp.copy, state)  # one buffer per leaf: init shares some, and donation needs them apart
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(0), i))(jnp.arange(n_rules, dtype=jnp.uint32))
    return net, params, state, keys, static_slots(net, params, n_rules)


def chunk_program(net, n_steps: int, slots: dict):
    """A jitted ``(params, state, keys) -> state`` advancing ``n_steps`` steps, the state donated."""
    from jaxsnn import network_step

    structure = net.structure()

    def advance(params, state, keys):
        def body(s, _):
            step_keys = jax.vmap(lambda k: jax.random.fold_in(k, s.step))(keys)
            return network_step(net, structure, params, s, step_keys, keys, slots)[0], None
        return jax.lax.scan(body, state, None, length=n_steps)[0]

    return jax.jit(advance, donate_argnums=1)


def measure(family_name: str, n_rules: int, options: dict, steps: int, chunk: int, bandwidth: float) -> dict:
    from jaxsnn.simulate import grow_slots

    net, params, state, keys, slots = setup(family_name, n_rules, options)
    reruns = 0

    def run_chunk(state):
        nonlocal slots, reruns, program
        before = np.asarray(state.overflow)
        saved = jax.tree_util.tree_map(jnp.copy, state)  # the donated state is gone after the call
        new = program(params, state, keys)
        while np.any(np.asarray(new.overflow) > before):
            reruns += 1
            slots = grow_slots(net, slots, n_rules)
            program = chunk_program(net, chunk, slots)
            new = program(params, jax.tree_util.tree_map(jnp.copy, saved), keys)
        return new

    program = chunk_program(net, chunk, slots)
    t0 = time.perf_counter()
    compiled = program.lower(params, state, keys).compile()
    compile_s = time.perf_counter() - t0
    memory = compiled.memory_analysis()
    state_shapes = {tuple(x.shape) for x in jax.tree_util.tree_leaves(state) if getattr(x, "ndim", 0) == 2}
    state_copies = sum((int(a), int(b)) in state_shapes
                       for a, b in re.findall(r"= f32\[(\d+),(\d+)\]\S* copy\(", compiled.as_text()))
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    state = run_chunk(state)  # warm-up (also settles the slots)
    jax.block_until_ready(state)
    t0 = time.perf_counter()
    for _ in range(max(1, steps // chunk)):
        state = run_chunk(state)
    jax.block_until_ready(state)
    wall = time.perf_counter() - t0
    timed_steps = max(1, steps // chunk) * chunk
    s_per_step = wall / timed_steps
    # the cost model counts a while loop's body once: the chunk's figure is one step's
    bytes_per_rule_step = float(cost.get("bytes accessed", float("nan"))) / n_rules
    device_bytes = None
    if memory is not None:
        device_bytes = int(memory.argument_size_in_bytes + memory.temp_size_in_bytes + memory.output_size_in_bytes
                           - memory.alias_size_in_bytes)
    stats = jax.devices()[0].memory_stats() or {}
    return {
        "family": family_name, "rules": n_rules, "device": str(jax.devices()[0].device_kind),
        "n_exc": net.population("E").size, "steps_timed": timed_steps, "compile_s": compile_s,
        "ms_per_step": 1e3 * s_per_step, "rules_per_s_70s": n_rules / (PROTOCOL_STEPS * s_per_step),
        "reruns": reruns, "slots": slots, "state_copies_per_step": state_copies, "alive": int(np.sum(np.asarray(state.guard.alive))),
        "chunk_bytes": device_bytes, "mb_per_rule": None if device_bytes is None else device_bytes / n_rules / 2**20,
        "peak_device_bytes": stats.get("peak_bytes_in_use"),
        "bytes_per_rule_step": bytes_per_rule_step,
        "rules_per_s_70s_at_cost_bytes": bandwidth * 1e9 / (bytes_per_rule_step * PROTOCOL_STEPS),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="a small network and batches on any backend (< 3 min on a CPU)")
    p.add_argument("--poly", type=int, nargs="*", default=None, help="polynomial batch sizes (default 256 1024 4096)")
    p.add_argument("--mlp", type=int, nargs="*", default=None, help="MLP batch sizes (default 256 1024)")
    p.add_argument("--steps", type=int, default=2000, help="steps timed per row (after one warm-up chunk)")
    p.add_argument("--chunk", type=int, default=500, help="steps per compiled call")
    p.add_argument("--bandwidth", type=float, default=3350.0, help="device memory bandwidth for the bound at XLA's cost-model bytes (GB/s)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.smoke:
        options = dict(n_exc=400, n_inh=100, n_ext=1000)
        poly, mlp = args.poly or [4, 16], args.mlp or [4]
        steps, chunk = min(args.steps, 1000), min(args.chunk, 250)
    else:
        options = {}
        poly, mlp = (args.poly if args.poly is not None else [256, 1024, 4096]), (args.mlp if args.mlp is not None else [256, 1024])
        steps, chunk = args.steps, args.chunk
    print(f"backend {jax.default_backend()}, devices {jax.devices()}", flush=True)
    rows = []
    for family_name, batches in (("polynomial", poly), ("mlp", mlp)):
        for r in batches:
            try:
                row = measure(family_name, r, options, steps, chunk, args.bandwidth)
            except Exception as error:  # e.g. out of device memory at the largest batch: report, go on
                row = {"family": family_name, "rules": r, "error": f"{type(error).__name__}: {str(error)[:300]}"}
            rows.append(row)
            if "error" in row:
                print(f"{family_name:10s} R={r:5d}: {row['error']}", flush=True)
            else:
                print(f"{family_name:10s} R={r:5d}: {row['ms_per_step']:8.3f} ms/step, {row['rules_per_s_70s']:8.3f} rules/s "
                      f"(70 s), {row['mb_per_rule'] or float('nan'):6.2f} MB/rule, XLA cost model {row['bytes_per_rule_step']:.0f} "
                      f"B/rule-step (bandwidth bound {row['rules_per_s_70s_at_cost_bytes']:.3f} rules/s), compile {row['compile_s']:.1f} s, "
                      f"reruns {row['reruns']}, [R, n] state copies per step {row['state_copies_per_step']}", flush=True)
    if args.json:
        print(json.dumps({"backend": jax.default_backend(), "smoke": args.smoke, "rows": rows}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
