"""A filter-SBI search of a rule family defined in this script, on a network that is not fSBI's.

    python experiments/custom_rule_search.py --out results/custom-rule-search [--json]

What a user writes, with jaxsnn's public API only:

- a plasticity rule of their own: inhibitory STDP of Vogels et al. (2011) on I→E (:class:`VogelsISTDP`);
- a network: a scaled COBA network (Vogels & Abbott 2005; 320 E + 80 I conductance LIF neurons with
  the benchmark's in-degrees, 64 E and 16 I inputs per neuron, and its weights), with plastic E→E (the
  built-in polynomial pair rule) and I→E (the rule above), a blow-up guard on E (:func:`build_network`);
- a rule family (:class:`CustomRuleFamily`): θ = 6 rule parameters and the constant drive (a nuisance),
  the metrics (fSBI's set from :class:`jaxsnn.FSBIMetrics`, by population and projection names) and its
  own constraints: E and I rates in an interval, relative drift of the mean E→E and I→E weights over
  the recorded window within ±5 %, irregular firing (CV of the ISIs);
- the rounds (:data:`PIPELINE`): π0 from the prior, then two rounds from NPE posteriors conditioned
  on the constraints, through jaxsnn's sweep, NPE and report (:func:`jaxsnn.sbi.run_and_report`).

With ``--json`` the last line printed is ``{"rounds": [{"name", "simulated", "fraction_passing"}, …],
"wall_s": …}``, ``fraction_passing`` being the fraction of a round's simulated rules that meet every
constraint. Results (stores, posteriors, report.md with its figures, summary.json) go to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import jaxsnn
from jaxsnn import connectivity
from jaxsnn.sbi import FlowConfig, PipelineConfig, Round, TrainConfig, run_and_report
from jaxsnn.sweep import ChunkResult, SweepSimulator


# ---- the rule ---------------------------------------------------------------------------------

class VogelsISTDP(jaxsnn.PlasticityRule):
    """Inhibitory STDP (Vogels et al. 2011): every pre/post pair potentiates by ``η e^{−|Δt|/τ}``
    and every presynaptic spike depresses by ``η 2 ρ0 τ``, which steers the postsynaptic rate to
    ``rho0`` (Hz). ``eta``: learning rate (units of the weight); ``tau`` (s)."""

    eta: Any
    rho0: Any
    tau: float = eqx.field(static=True, default=0.02)

    def traces(self) -> dict[str, jaxsnn.Trace]:
        return {"x_pre": jaxsnn.Trace("pre", self.tau), "x_post": jaxsnn.Trace("post", self.tau)}

    def on_pre(self, w, x):
        return self.eta * (x.post["x_post"] - 2.0 * self.rho0 * self.tau)

    def on_post(self, w, x):
        return self.eta * x.pre["x_pre"]


# ---- the network ------------------------------------------------------------------------------

TAU_EE = 0.02  # s, both traces of the E→E rule
ETA_EE = 0.01  # E→E learning rate (units of the leak conductance)
W_EE, W_EI, W_IE, W_II = 0.6, 0.6, 6.7, 6.7  # the COBA benchmark's conductance jumps (units of g_L)
W_MAX_EE, W_MAX_IE = 2.4, 30.0


def rules_of(theta: np.ndarray) -> dict[str, jaxsnn.PlasticityRule]:
    """The batched rules of θ ``[R, 7]`` (every parameter one value per rule)."""
    t = jnp.asarray(theta, jnp.float32)
    full = lambda v: jnp.full((t.shape[0],), v, jnp.float32)  # noqa: E731
    ee = jaxsnn.PolynomialPlasticity(full(TAU_EE), full(TAU_EE), t[:, 0], t[:, 1], t[:, 2], t[:, 3], eta=full(ETA_EE),
                                     w_max=W_MAX_EE)
    return {"EE": ee, "IE": VogelsISTDP(eta=t[:, 4], rho0=t[:, 5], w_max=W_MAX_IE)}


def build_network(seed: int, *, n_exc: int = 320, n_inh: int = 80, p: float = 0.2, dt: float = 1e-4,
                  guard_rate: float = 80.0) -> jaxsnn.Network:
    """The scaled COBA network with plastic E→E and I→E (rules of θ = 0 as templates; the values come
    from θ at run time) and a blow-up guard stopping a run whose E rate passes ``guard_rate`` (Hz)."""
    template = {name: jax.tree_util.tree_map(lambda x: x[0], rule) for name, rule in rules_of(np.zeros((1, 7))).items()}
    key = jax.random.key(seed)
    size = {"E": n_exc, "I": n_inh}
    spec = [("EE", "E", "E", W_EE, "exc"), ("EI", "E", "I", W_EI, "exc"), ("IE", "I", "E", W_IE, "inh"),
            ("II", "I", "I", W_II, "inh")]
    projections = tuple(
        jaxsnn.Projection(name, pre, post, connectivity.bernoulli(jax.random.fold_in(key, i), size[pre], size[post], p),
                          w, receptor, plasticity=template.get(name))
        for i, (name, pre, post, w, receptor) in enumerate(spec))
    neuron = jaxsnn.COBALIF()
    return jaxsnn.Network(dt=dt, populations=(jaxsnn.Population("E", n_exc, neuron), jaxsnn.Population("I", n_inh, neuron)),
                          projections=projections, propagation="events",
                          guard=jaxsnn.RateGuard("E", guard_rate, tau=0.05))


# ---- the rule family ----------------------------------------------------------------------------

METRICS = ("rate", "rate_i", "cv_isi", "w_drift_ee", "w_drift_ie", "weef", "wief")


def initial(net: jaxsnn.Network, theta: np.ndarray, rule_index: np.ndarray, seed: int):
    """Params and initial state of rules θ ``[R, 7]``: their plasticity rules and drive; voltages
    U[−60, −50] mV (as COBA) drawn from (seed, rule index): the network has no other randomness, so a
    rule's run does not depend on the chunk it is simulated in."""
    r = len(theta)
    params = jaxsnn.broadcast_params(net.default_params(), r)
    drive = jnp.asarray(theta[:, 6] * 1e-3, jnp.float32)  # mV -> V
    neurons = {pop: eqx.tree_at(lambda m: m.v_drive, model, drive) for pop, model in params.neurons.items()}
    params = params._replace(neurons=neurons, plasticity=rules_of(theta))
    state = net.init_state(params, r)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(jnp.asarray(rule_index))
    neurons = dict(state.neurons)
    for j, pop in enumerate(net.populations):
        v = jax.vmap(lambda k, n=pop.size, j=j: jax.random.uniform(jax.random.fold_in(k, j), (n,), jnp.float32,
                                                                   -0.060, -0.050))(keys)
        neurons[pop.name] = neurons[pop.name]._replace(v=v)
    return params, state._replace(neurons=neurons)


class CustomRuleFamily(jaxsnn.RuleFamily):
    """θ = [α, β, γ, κ of the E→E polynomial rule, η and ρ0 of the I→E iSTDP rule, drive (nuisance)].
    Options: ``duration`` (s) of each run, metrics over [``record_start``, duration); network size."""

    def simulator(self, seed: int, *, duration: float = 3.0, record_start: float = 2.0, n_exc: int = 320,
                  n_inh: int = 80) -> SweepSimulator:
        net = build_network(seed, n_exc=n_exc, n_inh=n_inh)
        record = jaxsnn.Record(metrics=jaxsnn.FSBIMetrics("E", "I", weights=("EE", "IE"), start=record_start,
                                                          n_monitored=500, w_max=W_MAX_EE), period=0.1)

        def simulate(theta: np.ndarray, rule_index: np.ndarray) -> ChunkResult:
            params, state = initial(net, theta, rule_index, seed)
            result = jaxsnn.simulate(net, duration, jax.random.key(seed), params=params, state=state, record=record,
                                     chunk_duration=0.5, early_exit=True)
            blowup = np.where(result.alive, -1.0, result.blowup_step * net.dt)  # s
            return ChunkResult({m: result.metrics[m] for m in METRICS}, blowup, np.zeros(len(theta), np.int64))

        description = {"simulator": "custom_rule_search", "seed": seed, "duration": duration,
                       "record_start": record_start, "n_exc": n_exc, "n_inh": n_inh}
        # plastic weights (2 x ~20k synapses), the metric statistics and samples: ~1 MB per rule
        return SweepSimulator(simulate, description, self.theta_size, self.metric_names, bytes_per_rule=2**20)

    def best_score(self, metrics: dict[str, np.ndarray]) -> np.ndarray:
        """The report's best rule: the most stable weights (NaN for a blown-up run)."""
        return np.abs(metrics["w_drift_ee"]) + np.abs(metrics["w_drift_ie"])

    def pair_windows(self, theta_row: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        dts = np.linspace(-0.1, 0.1, 201)
        rules = {name: jax.tree_util.tree_map(lambda x: x[0], rule) for name, rule in rules_of(theta_row[None]).items()}
        return {"EE": (dts, jaxsnn.pair_window(rules["EE"], dts) / ETA_EE),
                "IE": (dts, jaxsnn.pair_window(rules["IE"], dts) / float(theta_row[4]))}

    def raster_spikes(self, theta_row: np.ndarray, seed: int, *, duration: float = 3.0, record_start: float = 2.0,
                      n_exc: int = 320, n_inh: int = 80) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The spikes (times in s, neuron ids) of one rule's run in the recorded window [record_start, duration)."""
        net = build_network(seed, n_exc=n_exc, n_inh=n_inh)
        params, state = initial(net, theta_row[None], np.zeros(1, np.int64), seed)
        result = jaxsnn.simulate(net, duration, jax.random.key(seed), params=params, state=state,
                                 record=jaxsnn.Record(spikes={"E": None, "I": None}, period=0.1))
        out = {}
        for pop in ("E", "I"):
            steps, ids = result.spikes[pop].of_member(0)
            keep = steps * net.dt >= record_start
            out[pop] = (steps[keep] * net.dt, ids[keep])
        return out


FAMILY = CustomRuleFamily(
    name="coba-ee-poly-ie-istdp",
    parameters=(
        jaxsnn.Parameter("alpha_ee", "", -0.5, 0.5),
        jaxsnn.Parameter("beta_ee", "", -0.5, 0.5),
        jaxsnn.Parameter("gamma_ee", "", -1.0, 1.0),
        jaxsnn.Parameter("kappa_ee", "", -1.0, 1.0),
        jaxsnn.Parameter("eta_ie", "g_L", 0.02, 1.0),
        jaxsnn.Parameter("rho0_ie", "Hz", 2.0, 40.0),
        jaxsnn.Parameter("drive", "mV", 18.0, 22.0, nuisance=True),
    ),
    metric_names=METRICS,
    plausibility={
        "low_rate": {"rate": (6.0, 12.0), "rate_i": (1.0, 50.0)},
        "stable_weights": {"w_drift_ee": (-0.05, 0.05), "w_drift_ie": (-0.05, 0.05)},
        "irregular": {"cv_isi": (0.7, 2.0)},
    },
)
"""The constraints: an E rate of 6–12 Hz (the static network fires at ~15 Hz: the iSTDP rule must bring it
down), weights that no longer drift (mean weight change over the recorded second within ±5 %),
irregular firing. Over the prior about one rule in seven meets all of them."""

CONSTRAINTS = {"rate": (6.0, 12.0), "cv_isi": (0.7, 2.0), "w_drift_ee": (-0.05, 0.05), "w_drift_ie": (-0.05, 0.05)}

PIPELINE = PipelineConfig(
    name="custom-rule-search",
    family=FAMILY,
    rounds=(Round("π0", 256), Round("π1", 128, CONSTRAINTS), Round("π2", 128, CONSTRAINTS)),
    network=dict(duration=3.0, record_start=2.0, n_exc=320, n_inh=80),
    flow=FlowConfig(n_transforms=3, hidden=16),
    n_members=2,
    train=TrainConfig(batch_size=16, learning_rate=1e-3, validation_fraction=0.2, patience=30, max_epochs=500),
    chunk_size=64,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="results/custom-rule-search", help="output folder")
    parser.add_argument("--json", action="store_true", help="print the per-round summary as the last line, JSON")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    summary = run_and_report(PIPELINE, args.out, progress=not args.json)
    rounds = [{"name": r["name"], "simulated": r["n_simulated"], "fraction_passing": r["fraction_plausible"]}
              for r in summary["rounds"]]
    if args.json:
        print(json.dumps({"rounds": rounds, "wall_s": round(time.perf_counter() - t0, 1)}))
    else:
        for r in rounds:
            print(f"{r['name']}: {r['simulated']} rules simulated, {r['fraction_passing']:.3f} pass every constraint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
