"""The Equinox flows of jaxsnn.sbi.flows and the simulator-agnostic NPE API.

Invertibility and log-determinants against autodiff Jacobians; a bimodal, correlated posterior checked
against its analytic modes; ``Posterior.sample(key, x, n)``, ``log_prob`` with one observation; and that
``import jaxsnn.sbi`` stays light.
"""

from __future__ import annotations

import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import paramax
import pytest

from jaxsnn.sbi import FlowConfig, LULinear, TrainConfig, box_prior, make_flow, train_npe
from jaxsnn.sbi.flows import partition_flow


def _perturbed(flow, key, scale=0.3):
    """The flow with every parameter moved randomly (away from the identity of the initialisation)."""
    params, static = partition_flow(flow)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    leaves = [a + scale * jax.random.normal(k, a.shape) for a, k in zip(leaves, keys)]
    return paramax.unwrap(eqx.combine(jax.tree_util.tree_unflatten(treedef, leaves), static))


@pytest.mark.parametrize(("kind", "dim", "permutation"), [
    ("nsf", 1, "random"), ("nsf", 3, "random"), ("maf", 1, "random"), ("maf", 3, "random"),
    ("nsf", 5, "alternate"), ("maf", 4, "alternate")])
def test_flow_is_invertible_with_exact_log_det(kind, dim, permutation):
    config = FlowConfig(kind=kind, n_transforms=3, hidden=8, permutation=permutation, lu=permutation == "random")
    flow = _perturbed(make_flow(dim, 2, config, jax.random.key(0)), jax.random.key(1))
    bijection = flow.bijection  # base → θ
    cond = jnp.array([0.3, -1.1])
    z = jax.random.normal(jax.random.key(2), (16, dim)) * 1.5

    @jax.jit
    def check(z):
        theta, log_det = jax.vmap(lambda v: bijection.transform_and_log_det(v, cond))(z)
        back, inv_log_det = jax.vmap(lambda t: bijection.inverse_and_log_det(t, cond))(theta)
        jacobian = jax.vmap(jax.jacfwd(lambda v: bijection.transform(v, cond)))(z)
        return theta, log_det, back, inv_log_det, jnp.linalg.slogdet(jacobian)[1], flow.log_prob(theta, condition=cond)

    theta, log_det, back, inv_log_det, autodiff_log_det, log_prob = check(z)
    np.testing.assert_allclose(back, z, atol=2e-4)
    np.testing.assert_allclose(inv_log_det, -log_det, atol=2e-4)
    np.testing.assert_allclose(log_det, autodiff_log_det, atol=2e-3)
    # log_prob of the samples = base log density − log det (change of variables)
    np.testing.assert_allclose(log_prob, jax.scipy.stats.norm.logpdf(z).sum(-1) - log_det, atol=2e-3)


@pytest.mark.parametrize("kind", ["nsf", "maf"])
def test_identity_start_is_the_standard_normal_and_trains(kind):
    """``identity_start`` zeroes each conditioner's output layer: the flow starts as the base standard
    normal for any condition (a random start is not), and its output layers still get gradients."""
    config = FlowConfig(kind=kind, n_transforms=2, hidden=8, identity_start=True)
    theta = jax.random.normal(jax.random.key(1), (32, 4)) * 2
    cond = jax.random.normal(jax.random.key(2), (32, 2))
    base = jax.scipy.stats.norm.logpdf(theta).sum(-1)
    flow = make_flow(4, 2, config, jax.random.key(0))
    np.testing.assert_allclose(paramax.unwrap(flow).log_prob(theta, condition=cond), base, atol=1e-5)
    random = paramax.unwrap(make_flow(4, 2, FlowConfig(kind=kind, n_transforms=2, hidden=8, identity_start=False),
                                      jax.random.key(0)))
    assert np.max(np.abs(random.log_prob(theta, condition=cond) - base)) > 1e-2
    params, static = partition_flow(flow)
    grads = jax.grad(lambda p: -jnp.mean(paramax.unwrap(eqx.combine(p, static)).log_prob(theta, condition=cond)))(params)
    assert sum(float(jnp.sum(jnp.abs(g))) for g in jax.tree_util.tree_leaves(grads)) > 0


def test_alternating_coupling_layers_swap_even_and_odd_coordinates():
    """With ``permutation="alternate"`` and no LU mixing, the first coupling layer (θ → base) leaves the
    even-indexed coordinates alone and moves the odd ones, the second the reverse: its Jacobian is
    lower-triangular in (even, odd) blocks, so an odd coordinate's image depends on the even ones."""
    config = FlowConfig(kind="nsf", n_transforms=2, hidden=8, lu=False, permutation="alternate")
    flow = _perturbed(make_flow(6, 1, config, jax.random.key(0)), jax.random.key(1), scale=0.5)
    layers = flow.bijection.bijection.bijection  # Invert(Scan(Chain)): the stacked layers, θ → base
    theta = jnp.linspace(-1.0, 1.0, 6)
    cond = jnp.array([0.2])
    even, odd = np.arange(6) % 2 == 0, np.arange(6) % 2 == 1
    for i, moved in enumerate((odd, even)):
        layer = jax.tree_util.tree_map(lambda a: a[i] if eqx.is_array(a) else a, layers)
        jacobian = np.asarray(jax.jacfwd(lambda t: layer.transform(t, cond))(theta))
        np.testing.assert_allclose(jacobian[~moved][:, ~moved], np.eye(int((~moved).sum())), atol=1e-6)
        np.testing.assert_array_equal(jacobian[~moved][:, moved], 0.0)
        assert np.all(np.abs(jacobian[moved][:, ~moved]).max(axis=1) > 1e-4)  # conditioned on the other half


def test_lu_linear_inverse_and_log_det():
    lu = eqx.tree_at(lambda m: (m.lower, m.upper, m.log_diag, m.bias), LULinear(4),
                     tuple(jax.random.normal(k, s) for k, s in zip(jax.random.split(jax.random.key(0), 4),
                                                                      [(4, 4), (4, 4), (4,), (4,)])))
    x = jnp.array([0.5, -1.0, 2.0, 0.1])
    y, log_det = lu.transform_and_log_det(x)
    np.testing.assert_allclose(lu.inverse(y), x, atol=1e-5)
    np.testing.assert_allclose(log_det, jnp.linalg.slogdet(jax.jacfwd(lu.transform)(x))[1], atol=1e-5)
    assert jnp.allclose(LULinear(3).transform(x[:3]), x[:3])  # identity at initialisation


PRIOR = box_prior([-1.5, -1.5], [1.5, 1.5])
SIGMA0, SIGMA1 = 0.05, 0.02


def _bimodal(n, seed):
    """x = (θ₀² + σ₀ε₀, θ₁ − θ₀ + σ₁ε₁): for x = (0.64, 0) the posterior has two separated modes
    θ₀ ≈ ±0.8 (sd ≈ σ₀/1.6), each with θ₁ ≈ θ₀ (correlation ≈ 0.84 within a mode)."""
    theta = PRIOR.sample(jax.random.key(seed), n)
    rng = np.random.default_rng(seed)
    return theta, np.stack([theta[:, 0] ** 2 + SIGMA0 * rng.standard_normal(n),
                            theta[:, 1] - theta[:, 0] + SIGMA1 * rng.standard_normal(n)], axis=1)


def test_bimodal_correlated_posterior():
    theta, x = _bimodal(6000, 0)
    post, _ = train_npe(theta, x, PRIOR, flow=FlowConfig(n_transforms=4, hidden=32),
                        train=TrainConfig(batch_size=256, learning_rate=2e-3, patience=10, max_epochs=150, epochs_per_call=10))
    draws, info = post.sample(jax.random.key(1), np.array([0.64, 0.0]), 4000)
    assert draws.shape == (4000, 2) and info.n_accepted == 4000 and info.n_drawn >= 4000
    upper = draws[:, 0] > 0
    # the two modes carry equal mass (the likelihood is symmetric in θ₀ → −θ₀, θ₁ → −θ₁)
    assert 0.4 < upper.mean() < 0.6, upper.mean()
    # almost every draw lies in one of the analytic modes: |θ₀| ≈ 0.8 and θ₁ − θ₀ ≈ 0
    near = (np.abs(np.abs(draws[:, 0]) - 0.8) < 0.15) & (np.abs(draws[:, 1] - draws[:, 0]) < 0.1)
    assert near.mean() > 0.9, near.mean()
    # within a mode θ₁ follows θ₀ (analytic correlation 0.84); a flow spreading θ₁ independently would give ≈ 0
    corr = np.corrcoef(draws[upper & near].T)[0, 1]
    assert corr > 0.5, corr


def test_sample_n_for_one_observation_and_log_prob():
    rng = np.random.default_rng(0)
    theta = rng.uniform(0, 1, (300, 2))
    x = theta.sum(1) + rng.normal(0, 0.05, 300)  # 1-D x: one column, default name x0
    post, _ = train_npe(theta, x, box_prior([0, 0], [1, 1]), flow=FlowConfig(kind="maf", n_transforms=2, hidden=8),
                        n_members=2, train=TrainConfig(batch_size=50, max_epochs=20))
    assert post.x_names == ("x0",) and post.n_members == 2
    draws, info = post.sample(jax.random.key(0), np.array([0.9]), 500)
    assert draws.shape == (500, 2) and ((draws >= 0) & (draws <= 1)).all()
    assert info.n_accepted == 500 and info.n_drawn >= 500 and info.rejection_rate == pytest.approx(1 - 500 / info.n_drawn)
    rows, _ = post.sample(jax.random.key(0), np.array([[0.5], [1.0], [1.5]]))  # one θ per condition row
    assert rows.shape == (3, 2)
    one = post.log_prob(draws[:5], np.array([0.9]))
    np.testing.assert_allclose(one, post.log_prob(draws[:5], np.full((5, 1), 0.9)), rtol=1e-6)
    with pytest.raises(ValueError, match="one observation x"):
        post.sample(jax.random.key(0), np.array([[0.5], [1.0]]), 10)
    with pytest.raises(ValueError, match="give the number of draws n"):
        post.sample(jax.random.key(0), np.array([0.5]))
    with pytest.raises(ValueError, match="x_names must name the 1 columns"):
        train_npe(theta, x, box_prior([0, 0], [1, 1]), x_names=("a", "b"))


def test_a_file_without_the_permutation_field_loads_the_random_permutations_it_was_built_with(tmp_path):
    """Posterior files written before ``FlowConfig.permutation`` existed hold flows with random
    permutations: loading one must build those (the permutations are not parameters, so a wrong
    guess would load without error and give other densities)."""
    import json

    from jaxsnn.sbi import load_posterior, save_posterior

    rng = np.random.default_rng(0)
    theta = rng.uniform(0, 1, (200, 3))
    x = theta @ np.array([1.0, -1.0, 0.5]) + rng.normal(0, 0.05, 200)
    post, _ = train_npe(theta, x, box_prior([0, 0, 0], [1, 1, 1]), n_members=1, train=TrainConfig(batch_size=50, max_epochs=10),
                        flow=FlowConfig(kind="maf", n_transforms=2, hidden=8, permutation="random", identity_start=False))
    path = tmp_path / "post.npz"
    save_posterior(path, post)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(str(arrays["header"]))
    del header["flow"]["permutation"], header["flow"]["init_scale"]
    arrays["header"] = np.asarray(json.dumps(header))
    np.savez(path, **arrays)
    loaded = load_posterior(path)
    assert loaded.flow.permutation == "random"
    np.testing.assert_allclose(loaded.log_prob(theta[:20], x[:20, None]), post.log_prob(theta[:20], x[:20, None]), rtol=1e-5)


def test_import_is_light():
    code = ("import sys, jaxsnn.sbi; heavy = [m for m in sys.modules if m.startswith(('jaxsnn.fsbi', 'jaxsnn.networks', "
            "'jaxsnn.sweep', 'jaxsnn.sbi.rounds', 'jaxsnn.sbi.workflow', 'sbijax', 'haiku'))]; print(heavy); "
            "assert not heavy, heavy; from jaxsnn.sbi import PipelineConfig, run_pipeline; assert 'jaxsnn.sbi.rounds' in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
