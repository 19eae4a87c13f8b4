"""The fSBI networks run on the core engine (``jaxsnn.network_step`` with plastic projections) and give
what the fSBI-only step they replaced gave: the same spikes, weights and blow-up times, bit for bit,
over 6000 steps of a scaled network, for the published rule and three prior rules of each family
(data: tests/fsbi/data/xla_path_reference.npz, written by make_xla_path_reference.py with the old step)."""

from pathlib import Path

import numpy as np
import pytest

from jaxsnn import fsbi

DATA = Path(__file__).parent / "data"


def load_reference():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_reference", DATA / "make_xla_path_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.OPTIONS, np.load(DATA / "xla_path_reference.npz")


@pytest.mark.parametrize("task", ["polynomial", "mlp"])
def test_core_engine_reproduces_the_fsbi_step(task):
    options, ref = load_reference()
    theta = ref[f"{task}/theta"]
    res = fsbi.simulate(theta, task=task, **options)
    assert res.config.synapse_kernel == "xla"
    np.testing.assert_array_equal(res.blowup_time, ref[f"{task}/blowup_time"])
    for p in ("E", "I"):
        expected = ref[f"{task}/spikes_{p}"]
        assert expected.shape[1] > 500  # the rules are active: the comparison is not of silence
        rule = np.concatenate([np.full(len(t), r) for r, (t, _) in enumerate(res.spikes[p])])
        steps = np.concatenate([np.round(t / 1e-4).astype(np.int64) for t, _ in res.spikes[p]])
        ids = np.concatenate([i for _, i in res.spikes[p]])
        np.testing.assert_array_equal(np.stack([rule, steps, ids]), expected)
    for name, (_, values) in res.weights.items():
        np.testing.assert_array_equal(values, ref[f"{task}/weights_{name}"])


# --- a rule family defined outside jaxsnn, on the fSBI network ------------------------------------

import dataclasses  # noqa: E402

import jax  # noqa: E402

import jaxsnn  # noqa: E402
from jaxsnn.fsbi.families import FSBIFamily  # noqa: E402


class InhibitorySTDP(jaxsnn.PlasticityRule):
    """Vogels et al. (2011): Δw = η (x_post − 2 ρ₀ τ) on a presynaptic, η x_pre on a postsynaptic spike."""

    eta: jax.Array
    rho0: jax.Array  # target rate (Hz)
    tau: float = 0.02

    def traces(self):
        return {"x_pre": jaxsnn.Trace("pre", self.tau), "x_post": jaxsnn.Trace("post", self.tau)}

    def on_pre(self, w, x):
        return self.eta * (x.post["x_post"] - 2 * self.rho0 * self.tau)

    def on_post(self, w, x):
        return self.eta * x.pre["x_pre"]


@dataclasses.dataclass(frozen=True, eq=False)
class ISTDPFamily(FSBIFamily):
    def neuron(self, config):
        return jaxsnn.ConductanceIF()

    def rules(self, theta, config):
        return {"ie": InhibitorySTDP(theta[:, 0], theta[:, 1], w_max=config.w_max)}


ISTDP = ISTDPFamily(
    name="istdp",
    parameters=(jaxsnn.Parameter("eta", "", 0.0, 0.05), jaxsnn.Parameter("rho0", "Hz", 1.0, 20.0),
                jaxsnn.Parameter("r_ext", "Hz", 5.0, 60.0, nuisance=True)),
    metric_names=("rate", "rate_i", "cv_isi", "w_blow", "w_creep", "wief"),
    plausibility={"rates": {"rate": (1.0, 50.0)}}, plastic=("ie",))


def test_a_family_defined_outside_jaxsnn_runs_on_the_fsbi_network():
    theta = np.array([[0.0, 5.0, 50.0], [0.02, 5.0, 50.0]])
    opts = dict(n_exc=400, n_inh=100, n_ext=1000, duration=1.2, record_start=0.6, n_rec_e=400, n_rec_i=100)
    res = fsbi.simulate(theta, task=ISTDP, seed=0, **opts)
    assert set(res.metrics) == set(ISTDP.metric_names) and set(res.weights) == {"ie"}
    _, w = res.weights["ie"]
    np.testing.assert_array_equal(w[0], 1.0)  # η = 0: the I->E weights stay at w_ie
    assert np.abs(w[1] - 1.0).max() > 1e-3  # the rule moved them
    assert np.all(res.metrics["rate"] > 0)
    # the same through the family's sweep simulator (no kernel covers this rule: the core engine runs it)
    chunk = ISTDP.simulator(0, **opts).simulate(theta, np.arange(2))
    np.testing.assert_array_equal(chunk.metrics["wief"], res.metrics["wief"])
    with pytest.raises(ValueError, match="must have shape"):
        fsbi.simulate(theta[:, :2], task=ISTDP, **opts)
