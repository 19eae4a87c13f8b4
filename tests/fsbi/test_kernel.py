"""The compiled CPU synapse kernel (jaxsnn.fsbi.kernel) against the XLA path."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn import connectivity as C
from jaxsnn import fsbi
from jaxsnn.fsbi import kernel
from jaxsnn.fsbi import run as fsbi_run
from jaxsnn.fsbi.config import make_config
from jaxsnn.fsbi.rules import PolynomialRule
from jaxsnn.fsbi.simulator import FSBIStructure, synapses_step, trace_decays, trace_names

from .test_fsbi_network import REFERENCE_RULE, small

needs_kernel = pytest.mark.skipif(not kernel.available()[0], reason=f"kernel not built: {kernel.available()[1]}")


def random_step_inputs(seed=0, r=3, n_e=60, n_i=20, n_ext=80):
    rng = np.random.default_rng(seed)
    cfg = make_config("polynomial", n_exc=n_e, n_inh=n_i, n_ext=n_ext, duration=1.0, record_start=0.0, eta=0.05)
    keys = jax.random.split(jax.random.key(seed), 6)
    sizes = {"E": n_e, "I": n_i}
    conns = {name: C.bernoulli(k, sizes[name[0].upper()], sizes[name[1].upper()], 0.3, autapses=name[0] != name[1])
             for k, name in zip(keys[:4], ("ee", "ei", "ie", "ii"))}
    conns["ext_e"] = C.bernoulli(keys[4], n_ext, n_e, 0.2)
    conns["ext_i"] = C.bernoulli(keys[5], n_ext, n_i, 0.2)
    structure = FSBIStructure(cfg, conns, {k: np.zeros(1, np.int32) for k in cfg.plastic})
    theta = fsbi.sample_prior("polynomial", r, seed)
    rule, _ = PolynomialRule.from_theta(jnp.asarray(theta))
    # weights spread over [0, w_max], some at the bounds, so the clip acts
    weights = {k: jnp.asarray(np.clip(rng.normal(1.0, 2.0, (r, conns[k].n_synapses)), 0, cfg.w_max), jnp.float32)
               for k in cfg.plastic}
    traces = {name: jnp.asarray(rng.exponential(1.0, (r, sizes[pop])), jnp.float32)
              for name, (pop, _) in trace_names(cfg).items()}
    mask = lambda n, p: jnp.asarray(rng.random((r, n)) < p, jnp.float32)  # noqa: E731
    arrived = {"E": mask(n_e, 0.2), "I": mask(n_i, 0.2)}
    spikes = {"E": mask(n_e, 0.2), "I": mask(n_i, 0.2)}
    return structure, rule, weights, traces, arrived, spikes, mask(n_ext, 0.1)


@needs_kernel
@pytest.mark.parametrize("seed", [0, 1])
def test_kernel_step_equals_the_xla_step(seed):
    structure, rule, weights, traces, arrived, spikes, sources = random_step_inputs(seed)
    decays = trace_decays(structure.config, rule)
    out = {}
    for use_kernel in (False, True):
        step = jax.jit(lambda w, t, use_kernel=use_kernel: synapses_step(
            structure, structure.conns, rule, decays, w, t, None, arrived, spikes, sources, 4, use_kernel))
        out[use_kernel] = step(weights, traces)
    (pend_x, w_x, tr_x), (pend_k, w_k, tr_k) = out[False], out[True]
    changed = 0
    for k in w_x:
        np.testing.assert_allclose(np.asarray(w_k[k]), np.asarray(w_x[k]), rtol=1e-6, atol=1e-6, err_msg=k)
        changed += int(np.sum(np.asarray(w_k[k]) != np.asarray(weights[k])))
    assert changed > 100  # the step did update many synapses
    for pop in ("E", "I"):
        for a, b in zip(pend_k[pop], pend_x[pop]):
            assert float(jnp.abs(b).max()) > 0
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
    for name in tr_x:
        np.testing.assert_array_equal(np.asarray(tr_k[name]), np.asarray(tr_x[name]))


@needs_kernel
def test_kernel_and_xla_simulations_agree():
    """Only the summation order of conductance increments differs, so whole runs agree closely."""
    theta = np.stack([REFERENCE_RULE, fsbi.sample_prior("polynomial", 1, 3)[0]])
    theta[1, 24] = 10.0
    a = small(theta, synapse_kernel="cpu")
    b = small(theta, synapse_kernel="xla")
    assert np.all(a.metrics["rate"] > 0.5)
    for name in ("rate", "rate_i", "cv_isi", "weef", "wief"):
        np.testing.assert_allclose(a.metrics[name], b.metrics[name], rtol=0.03, err_msg=name)


def test_unavailable_kernel_falls_back_or_raises(monkeypatch):
    monkeypatch.setattr(kernel, "_state", {"ok": False, "reason": "test: no compiler"})
    monkeypatch.setattr(fsbi_run, "_KERNEL_WARNED", set())
    with pytest.raises(ValueError, match="no compiler"):
        fsbi_run.uses_synapse_kernel(make_config("polynomial", synapse_kernel="cpu"))
    with pytest.warns(RuntimeWarning, match="no compiler"):
        assert fsbi_run.uses_synapse_kernel(make_config("polynomial")) is False
    assert fsbi_run.uses_synapse_kernel(make_config("mlp", synapse_kernel="auto")) is False
    with pytest.raises(ValueError, match="synapse_kernel"):
        make_config("polynomial", synapse_kernel="gpu")


@needs_kernel
def test_kernel_rejects_what_it_cannot_read():
    structure, rule, weights, traces, arrived, spikes, sources = random_step_inputs(0)
    one_rule = rule._replace(alpha=rule.alpha[:1])
    with pytest.raises(ValueError, match="rule.alpha"):
        kernel.polynomial_synapses(structure.conns, one_rule, 0.01, 20.0, 0.075, weights, traces, arrived, spikes, sources)
    with pytest.raises(ValueError, match="weights"):
        kernel.polynomial_synapses(structure.conns, rule, 0.01, 20.0, 0.075, {**weights, "ee": weights["ee"][0]}, traces,
                                   arrived, spikes, sources)
