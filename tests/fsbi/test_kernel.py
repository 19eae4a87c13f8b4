"""The compiled CPU kernels (jaxsnn.fsbi.kernel) against the XLA path."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxsnn
from jaxsnn import fsbi
from jaxsnn.fsbi import kernel
from jaxsnn.fsbi import run as fsbi_run
from jaxsnn.fsbi.config import make_config
from jaxsnn.fsbi.rules import MLPRule
from jaxsnn.fsbi.run import get_structure
from jaxsnn.fsbi.simulator import default_ext_capacity, external_draws, external_uniforms
from jaxsnn.networks.fsbi import fsbi_network, fsbi_params, unbatched
from jaxsnn.neurons import CVAIF, ConductanceIF

from .test_fsbi_network import REFERENCE_RULE, small

@pytest.fixture
def built_kernel():
    """Skip where no C++ compiler is found (the XLA path runs instead); where one is, a kernel that does
    not build fails the test with the compiler's error instead of skipping it."""
    if kernel.compiler() is None:
        pytest.skip("no C++ compiler: the XLA path runs instead of the kernels")
    ok, reason = kernel.available()
    if not ok:
        pytest.fail(f"a C++ compiler ({kernel.compiler()}) is here, but the fSBI kernels did not build: {reason}",
                    pytrace=False)


needs_kernel = pytest.mark.usefixtures("built_kernel")


def test_a_kernel_that_does_not_compile_reports_the_compiler_error(tmp_path, monkeypatch):
    if kernel.compiler() is None:
        pytest.skip("no C++ compiler")
    broken = tmp_path / "broken.cc"
    broken.write_text('#include "fsbi_operands.h"\nint f() { return polynomial::arg::no_such_operand; }\n')
    monkeypatch.setenv("JAXSNN_CACHE", str(tmp_path))
    monkeypatch.setattr(kernel, "SOURCE", broken)
    monkeypatch.setattr(kernel, "_state", {})
    ok, reason = kernel.available()
    assert not ok and "compiling broken.cc failed" in reason and "no_such_operand" in reason, reason


def test_the_source_reads_every_declared_operand_and_attribute():
    """The operand indices and attributes come from the tables of kernel.py (a generated header), so they
    cannot be out of order; this asks that no declared operand or attribute is left unread (each
    kernel's function reads its operands through ``namespace op = <kernel>::arg``)."""
    source = kernel.SOURCE.read_text()
    parts = source.split("namespace op = ")[1:]
    assert sorted(p.split("::", 1)[0] for p in parts) == sorted(k.namespace for k in kernel.KERNELS)
    for part in parts:
        k = next(k for k in kernel.KERNELS if part.startswith(f"{k.namespace}::arg;"))
        read = set(re.findall(r"\bop::(\w+)", part))
        declared = [op.name for op in k.operands]
        assert len(set(declared)) == len(declared)
        assert read == set(declared), (k.namespace, set(declared) ^ read)
        for a in k.attributes:
            assert re.search(rf"\.{a.name}\b", source), (k.namespace, a.name)
    header = kernel.header()
    for k in kernel.KERNELS:  # the header lists the operands in the table's order
        enum = header.split(f"namespace {k.namespace} {{")[1].split("}  // namespace arg")[0]
        listed = re.findall(r"^  (\w+),  //", enum, re.M)
        assert listed == [op.name for op in k.operands]


def test_the_constants_come_from_the_neuron_model_and_the_config():
    cfg = make_config("polynomial", dt=1e-4)
    a = kernel.attributes(kernel.POLYNOMIAL, cfg, ConductanceIF(tau_mem=0.04, v_max=0.01), allow_fma=False)
    assert set(a) == {x.name for x in kernel.POLYNOMIAL.attributes}
    assert a["dt_tau"] == np.float32(np.float32(1e-4) / np.float32(0.04)) and a["v_max"] == np.float32(0.01)
    assert a["eta"] == np.float32(cfg.eta) and a["allow_fma"] is False
    assert all(isinstance(v, np.float32) for name, v in a.items() if name != "allow_fma")
    # the default is the config's model, also when traced (attributes are constants of the call)
    mlp = make_config("mlp", mlp_traces="configured")
    default = jax.jit(lambda: jnp.float32(kernel.attributes(kernel.MLP, mlp)["vtrace_rate"]))()
    assert default == kernel.attributes(kernel.MLP, mlp, CVAIF(traces="configured"))["vtrace_rate"]
    assert default != kernel.attributes(kernel.MLP, mlp, CVAIF(traces="reference"))["vtrace_rate"]
    with pytest.raises(ValueError, match="ConductanceIF.step; got a CVAIF"):
        kernel.attributes(kernel.POLYNOMIAL, cfg, CVAIF())
    with pytest.raises(ValueError, match="known when the kernel is traced"):
        jax.jit(lambda tau: kernel.attributes(kernel.POLYNOMIAL, cfg, ConductanceIF(tau_mem=tau))["dt_tau"])(0.02)


@needs_kernel
def test_kernel_and_xla_simulations_agree():
    """Whole runs through the block kernel and through XLA ops agree (bit for bit where the processor's
    multiply-adds are XLA's; to float32 rounding, amplified by the network's chaos, elsewhere)."""
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
    with pytest.raises(ValueError, match="no compiler"):
        fsbi_run.uses_synapse_kernel(make_config("mlp", synapse_kernel="cpu"))
    with pytest.raises(ValueError, match="synapse_kernel"):
        make_config("polynomial", synapse_kernel="gpu")


def setup(theta, cfg):
    """The fSBI network of ``cfg`` on the cached connectivity, the values of rules θ, and the kernel's
    view of them: (net, params, kernel, rule, decays, core state at rest, kernel state at rest)."""
    cached = get_structure(cfg, 0)  # shared by configs that differ only in e.g. eta: take its connectivity
    theta32 = jnp.asarray(theta, jnp.float32)
    rules = cfg.family.rules(theta32, cfg)
    capacity = default_ext_capacity(cfg, float(theta[:, -1].max()))
    net = fsbi_network(cfg, cached.conns, cfg.family.neuron(cfg), unbatched(rules), ext_capacity=capacity, block=4)
    params = fsbi_params(net, rules, theta32[:, -1])
    chosen, reason = kernel.kernel_for(cfg, net, params)
    assert chosen is not None, reason
    rule, decays = kernel.kernel_rule(chosen, params, cfg.dt)
    state = net.init_state(params, theta.shape[0])
    return net, params, chosen, rule, decays, state, kernel.kernel_state(chosen, cfg, net, params, state)


def run_both_paths(theta, n_blocks, block=100, kernel_block=None, allow_fma=True, xla_path=True, **overrides):
    """Advance a small network ``n_blocks * block`` steps from rest through the core engine
    (``jaxsnn.network_step``, XLA ops; skipped unless ``xla_path``) and through the block kernel
    (``kernel_block`` steps per call); return, for each, the final state in the kernel's layout and the
    spikes of every step ``{"E": [steps, R, n_E], "I": ...}``. The task follows from θ's size (25
    polynomial, 23 MLP)."""
    task = "polynomial" if theta.shape[1] == 25 else "mlp"
    defaults = dict(n_exc=400, n_inh=100, duration=1.0, record_start=0.5)
    if task == "polynomial":
        defaults["eta"] = 0.05
    cfg = make_config(task, **{**defaults, **overrides})
    net, params, chosen, rule, decays, state0, kstate0 = setup(theta, cfg)
    structure = net.structure()
    conns = get_structure(cfg, 0).conns
    r = theta.shape[0]
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(1), i))(jnp.arange(r, dtype=jnp.uint32))
    capacity = default_ext_capacity(cfg, float(theta[:, -1].max()))
    n_steps = n_blocks * block
    kernel_block = kernel_block or block
    flat = lambda spikes: {p: x.reshape((n_steps,) + x.shape[2:]) for p, x in spikes.items()}  # noqa: E731

    @jax.jit
    def xla(state):
        def body(s, _):
            step_keys = jax.vmap(lambda k: jax.random.fold_in(k, s.step))(keys)
            return jaxsnn.network_step(net, structure, params, s, step_keys, keys)
        state, spikes = jax.lax.scan(body, state, None, length=n_steps)
        return kernel.kernel_state(chosen, cfg, net, params, state), spikes

    @jax.jit
    def blocks(state):
        def outer(s, b):
            uniforms = external_uniforms(keys, b * kernel_block - cfg.delay_steps, kernel_block, capacity)
            ids, over, ext_next = external_draws(uniforms, s.ext_next, b * kernel_block, params.rates["ext"], cfg)
            return kernel._call_block(chosen, cfg, net.population("E").model, conns, rule, decays, ids, over,
                                      s._replace(ext_next=ext_next), (cfg.n_exc, cfg.n_inh), allow_fma)
        state, spikes = jax.lax.scan(outer, state, jnp.arange(n_steps // kernel_block))
        assert spikes["E"].dtype == jnp.bool_
        return state, flat({p: x.astype(jnp.float32) for p, x in spikes.items()})

    return (xla(state0) if xla_path else None), blocks(kstate0)


def rest_state(theta, cfg):
    """(rule, decays, kernel state at rest) of rules θ on ``cfg``'s network."""
    _, _, _, rule, decays, _, state = setup(theta, cfg)
    return rule, decays, state


def three_rules(rates=(20.0, 25.0, 30.0)):
    theta = np.stack([REFERENCE_RULE, fsbi.sample_prior("polynomial", 1, 3)[0], REFERENCE_RULE])
    theta[:, 24] = rates
    return theta


def assert_states_agree(a, b):
    """Same spikes-derived state exactly; float state to float32 rounding."""
    leaves_a, tree_a = jax.tree_util.tree_flatten(a)
    leaves_b, tree_b = jax.tree_util.tree_flatten(b)
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape and x.dtype == y.dtype
        if x.dtype == np.float32:
            np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(y, x)


@needs_kernel
@pytest.mark.parametrize("allow_fma", [True, False], ids=["fma", "no-fma"])
def test_block_kernel_steps_equal_the_xla_steps(allow_fma):
    """400 steps of three rules from rest: the same spikes in every step and the same state (neurons,
    pending conductances, delay ring, weights, traces, guard). The kernel does the XLA path's float32
    operations in its order (with FMAs where XLA's CPU backend fuses them), so on the development
    machine the two agree bit for bit over thousands of steps, and without FMAs (the variant for
    processors without them) to rounding, with the same spikes over 2000 steps; the test asks for
    exact spikes over 400 steps and the float state to 1e-5."""
    (state_x, spikes_x), (state_k, spikes_k) = run_both_paths(three_rules(), 4, allow_fma=allow_fma)
    for p in ("E", "I"):
        counts = np.asarray(spikes_x[p]).sum(axis=(0, 2))
        assert np.all(counts > 20), counts  # every rule is active
        np.testing.assert_array_equal(np.asarray(spikes_k[p]), np.asarray(spikes_x[p]), err_msg=p)
    moved = sum(int(np.sum(np.asarray(state_x.weights[k]) != 0.1 if k in ("ee", "ei") else
                           np.asarray(state_x.weights[k]) != 1.0)) for k in state_x.weights)
    assert moved > 1000  # plasticity acted
    assert int(state_k.step) == 400
    assert_states_agree(state_x, state_k)


def rules_of(task, rates=(20.0, 25.0, 30.0)):
    """Three active rules of ``task`` ("polynomial" or "mlp") with external rates ``rates`` (Hz)."""
    return three_rules(rates) if task == "polynomial" else mlp_rules(rates)


@needs_kernel
@pytest.mark.parametrize("task", ["polynomial", "mlp"])
def test_block_kernel_does_not_depend_on_the_block_length(task):
    _, (state_a, spikes_a) = run_both_paths(rules_of(task), 2, block=100, xla_path=False)
    _, (state_b, spikes_b) = run_both_paths(rules_of(task), 5, block=40, kernel_block=40, xla_path=False)
    for p in ("E", "I"):
        np.testing.assert_array_equal(np.asarray(spikes_a[p]), np.asarray(spikes_b[p]))
    for x, y in zip(jax.tree_util.tree_leaves(state_a), jax.tree_util.tree_leaves(state_b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@needs_kernel
@pytest.mark.parametrize("task, blowup_rate", [("polynomial", 1.2), ("mlp", 1.0)])
def test_block_kernel_freezes_a_blown_up_rule_inside_a_block(task, blowup_rate):
    """With a low guard limit the most active rules trip it mid-block: the kernel stops them at the same
    step as XLA (stop time (step + 1) dt), emits nothing for them afterwards, and leaves the others
    running."""
    (state_x, spikes_x), (state_k, spikes_k) = run_both_paths(rules_of(task, (12.0, 30.0, 40.0)), 4,
                                                              blowup_rate=blowup_rate)
    stop = np.asarray(state_k.stop_time)
    np.testing.assert_array_equal(stop, np.asarray(state_x.stop_time))
    np.testing.assert_array_equal(np.asarray(state_k.alive), np.asarray(state_x.alive))
    stopped = stop > 0
    assert stopped.any() and not stopped.all(), stop
    for r in np.nonzero(stopped)[0]:
        k = round(stop[r] / 1e-4)  # steps emitted before the stop: 0 .. k-1
        assert k % 100 != 0  # inside a block, not at its edge
        assert np.asarray(spikes_k["E"])[:k, r].sum() > 0 and np.asarray(spikes_k["E"])[k:, r].sum() == 0
    for p in ("E", "I"):
        np.testing.assert_array_equal(np.asarray(spikes_k[p]), np.asarray(spikes_x[p]))
    assert_states_agree(state_x, state_k)


@needs_kernel
def test_block_kernel_rejects_what_it_cannot_read():
    cfg = make_config("polynomial", n_exc=40, n_inh=10, n_ext=20, duration=1.0, record_start=0.5)
    structure = get_structure(cfg, 0)
    rule, decays, state = rest_state(three_rules()[:2], cfg)
    ids, over = jnp.zeros((10, 2, 16), jnp.int32), jnp.zeros((10, 2), jnp.int32)
    with pytest.raises(ValueError, match="ext_ids"):
        kernel.polynomial_block(cfg, structure.conns, rule, decays, ids[:, :1], over, state)
    with pytest.raises(ValueError, match="rule.alpha"):
        kernel.polynomial_block(cfg, structure.conns, rule._replace(alpha=rule.alpha[:1]), decays, ids, over, state)
    with pytest.raises(ValueError, match="the polynomial kernel computes ConductanceIF.step; got a CVAIF"):
        kernel.polynomial_block(make_config("mlp", n_exc=40, n_inh=10), structure.conns, rule, decays, ids, over, state)
    with pytest.raises(ValueError, match="reads decays.ii_post, which is missing"):
        kernel.polynomial_block(cfg, structure.conns, rule, {k: v for k, v in decays.items() if k != "ii_post"},
                                ids, over, state)
    with pytest.raises(ValueError, match=r"conns.ee.out_post must have shape \[E\+1, \*\] \(E = 40"):
        kernel.polynomial_block(cfg, {**structure.conns, "ee": structure.conns["ie"]}, rule, decays, ids, over, state)
    with pytest.raises(ValueError, match="does not advance state.traces.extra"):
        kernel.polynomial_block(cfg, structure.conns, rule, decays, ids, over,
                                state._replace(traces={**state.traces, "extra": state.traces["ee_pre"]}))
    with pytest.raises(ValueError, match="state.ext_overflow must be int32"):
        kernel.polynomial_block(cfg, structure.conns, rule, decays, ids, over,
                                state._replace(ext_overflow=state.ext_overflow.astype(jnp.float32)))


# --- MLP rules ---------------------------------------------------------------------------------------

def mlp_rules(rates=(20.0, 25.0, 30.0), eta=((0.05, 0.05), (0.1, 0.02), (0.02, 0.1))):
    """Three MLP rules with random last layers (prior draws) and learning rates large enough that the
    weights move within a few hundred steps."""
    theta = fsbi.sample_prior("mlp", len(rates), 5)
    theta[:, :2] = eta
    theta[:, 22] = rates
    return theta


@needs_kernel
def test_uses_the_kernel_for_mlp_rules_unless_xla_is_asked_for():
    assert fsbi_run.uses_synapse_kernel(make_config("mlp")) is True
    assert fsbi_run.uses_synapse_kernel(make_config("mlp", synapse_kernel="cpu")) is True
    assert fsbi_run.uses_synapse_kernel(make_config("mlp", synapse_kernel="xla")) is False


@needs_kernel
@pytest.mark.parametrize("allow_fma, mlp_traces", [(True, "reference"), (False, "reference"), (True, "configured")],
                         ids=["fma", "no-fma", "configured-traces"])
def test_mlp_block_kernel_steps_agree_with_the_xla_steps(allow_fma, mlp_traces):
    """400 steps of three MLP rules from rest: the same spikes in every step, and the state (CVAIF neurons
    with their traces, pending conductances, ring, weights, rule traces, guard) to float32 rounding. The
    neuron arithmetic is XLA's (with FMAs where XLA fuses them: with the learning rates at 0 the two
    paths agree bit for bit on the development machine); the MLP's sigmoids use another exp and its
    sums another order, so the weights differ by rounding (about 1e-7 relative here)."""
    theta = mlp_rules()
    (state_x, spikes_x), (state_k, spikes_k) = run_both_paths(theta, 4, allow_fma=allow_fma, mlp_traces=mlp_traces)
    for p in ("E", "I"):
        counts = np.asarray(spikes_x[p]).sum(axis=(0, 2))
        assert np.all(counts > 20), counts  # every rule is active
        np.testing.assert_array_equal(np.asarray(spikes_k[p]), np.asarray(spikes_x[p]), err_msg=p)
    assert set(state_k.weights) == {"ee", "ie"}
    for name, w0 in (("ee", 0.1), ("ie", 1.0)):
        moved = np.abs(np.asarray(state_x.weights[name]) - w0)
        assert np.sum(moved > 1e-4) > 1000, name  # the MLP rule acted on many synapses
    assert int(state_k.step) == 400
    assert_states_agree(state_x, state_k)


@needs_kernel
def test_mlp_kernel_and_xla_simulations_agree():
    """Whole short runs (1.6 s, plasticity on, the last 0.6 s recorded) through simulate: the first rule
    blows up, at the same time on both paths, and its metrics are NaN; the rounding differences of the
    MLP leave the others' metrics within a few percent (here they agree to 4 digits)."""
    theta = mlp_rules((8.0, 12.0, 14.0), eta=((0.01, 0.01), (0.005, 0.02), (0.001, 0.004)))
    a = small(theta, task="mlp", synapse_kernel="cpu")
    b = small(theta, task="mlp", synapse_kernel="xla")
    assert 0 < a.blowup_time[0] < 1.6 and np.all(a.blowup_time[1:] == -1)
    np.testing.assert_allclose(a.blowup_time, b.blowup_time, atol=1e-3)
    assert all(np.isnan(v[0]) for v in a.metrics.values())
    assert np.all(a.metrics["rate"][1:] > 0.5)
    assert np.all(np.abs(a.metrics["weef"][1:] - 0.1) > 1e-3)  # the weights moved
    for name in ("rate", "rate_i", "cv_isi", "weef", "wief"):
        np.testing.assert_allclose(a.metrics[name][1:], b.metrics[name][1:], rtol=0.03, err_msg=name)


@needs_kernel
def test_mlp_block_kernel_rejects_what_it_cannot_read():
    cfg = make_config("mlp", n_exc=40, n_inh=10, n_ext=20, duration=1.0, record_start=0.5)
    structure = get_structure(cfg, 0)
    rule, decays, state = rest_state(mlp_rules()[:2], cfg)
    ids, over = jnp.zeros((10, 2, 16), jnp.int32), jnp.zeros((10, 2), jnp.int32)
    with pytest.raises(ValueError, match="ext_ids"):
        kernel.mlp_block(cfg, structure.conns, rule, decays, ids[:, :1], over, state)
    with pytest.raises(ValueError, match="rule.last"):
        kernel.mlp_block(cfg, structure.conns, MLPRule(rule.hidden1, rule.hidden2, rule.eta, rule.last[:1]), decays,
                         ids, over, state)
    with pytest.raises(ValueError, match="the mlp kernel computes CVAIF.step; got a ConductanceIF"):
        kernel.mlp_block(make_config("polynomial", n_exc=40, n_inh=10), structure.conns, rule, decays, ids, over, state)
