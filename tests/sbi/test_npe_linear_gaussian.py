"""NPE on a linear-Gaussian simulator with a known posterior, and simulation-based calibration.

Simulator: x = A θ + σ ε, ε ~ N(0, I), θ ~ U[−5, 5]². For an observation x₀ the posterior is the
Gaussian N(A⁻¹x₀, σ²(AᵀA)⁻¹) truncated to the box; the observations below put its mean at least
6 standard deviations inside the box, so the truncation moves moments by < 1e-8 and the Gaussian
moments are the analytic reference.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy import stats

from jaxsnn.sbi import FlowConfig, TrainConfig, box_prior, load_posterior, save_posterior, train_npe

A = np.array([[1.0, 0.5], [-0.3, 1.0]])
SIGMA = 0.5
PRIOR = box_prior([-5.0, -5.0], [5.0, 5.0], names=("a", "b"))
OBSERVED_THETA = [np.array([1.5, -1.0]), np.array([-1.2, 2.0])]


def simulate(theta: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return theta @ A.T + SIGMA * rng.standard_normal(theta.shape)


def analytic_posterior(x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cov = SIGMA**2 * np.linalg.inv(A.T @ A)
    return np.linalg.solve(A, x0), np.sqrt(np.diag(cov))


def fit(n: int, members: int, seed: int = 0, kind: str = "nsf", batch_size: int = 256, patience: int = 15,
        learning_rate: float = 1e-3):
    theta = PRIOR.sample(jax.random.key(seed), n)
    x = simulate(theta, seed)
    train = TrainConfig(batch_size=batch_size, learning_rate=learning_rate, patience=patience, max_epochs=400,
                        epochs_per_call=5)
    return train_npe(theta, x, PRIOR, x_names=("x0", "x1"), flow=FlowConfig(kind=kind), n_members=members, train=train,
                     seed=seed)


def check_against_analytic(posterior, tolerance: float) -> list[tuple[float, float]]:
    errors = []
    for i, theta0 in enumerate(OBSERVED_THETA):
        x0 = theta0 @ A.T + np.array([0.2, -0.3])
        mean, sd = analytic_posterior(x0)
        # the box edges lie beyond 6 sd of the analytic posterior: truncation is negligible
        assert np.all((mean - PRIOR.low) > 6 * sd) and np.all((PRIOR.high - mean) > 6 * sd)
        draws, info = posterior.sample(jax.random.key(10 + i), np.tile(x0, (20_000, 1)))
        assert PRIOR.contains(draws).all() and 0.0 <= info.rejection_rate < 0.01
        mean_err = np.abs(draws.mean(0) - mean) / np.abs(mean)
        sd_err = np.abs(draws.std(0) - sd) / sd
        errors.append((float(mean_err.max()), float(sd_err.max())))
        assert mean_err.max() < tolerance, (mean, draws.mean(0))
        assert sd_err.max() < tolerance, (sd, draws.std(0))
    return errors


def sbc_ranks(posterior, n_calibrations: int, n_draws: int, seed: int) -> np.ndarray:
    """Rank of each true θ* coordinate among ``n_draws`` posterior draws given x* ~ simulator(θ*)."""
    theta_true = PRIOR.sample(jax.random.key(seed), n_calibrations)
    x_true = simulate(theta_true, seed + 1)
    draws, _ = posterior.sample(jax.random.key(seed + 2), np.repeat(x_true, n_draws, axis=0))
    draws = draws.reshape(n_calibrations, n_draws, -1)
    return np.sum(draws < theta_true[:, None, :], axis=1)


def check_sbc(ranks: np.ndarray, n_draws: int, n_bins: int = 10) -> list[float]:
    """χ² test of uniformity of the ranks in every coordinate (p > 0.01)."""
    pvalues = []
    for d in range(ranks.shape[1]):
        counts, _ = np.histogram(ranks[:, d], bins=n_bins, range=(0, n_draws + 1))
        pvalues.append(float(stats.chisquare(counts).pvalue))
    assert min(pvalues) > 0.01, pvalues
    return pvalues


@pytest.fixture(scope="module")
def small_posterior():
    posterior, _ = fit(n=4000, members=1)
    return posterior


def test_posterior_close_to_analytic_small(small_posterior):
    # the fast version: 4000 simulations, one flow, 15 % (the 5 % check is the slow test below)
    check_against_analytic(small_posterior, tolerance=0.15)


def test_sbc_ranks_uniform_small(small_posterior):
    check_sbc(sbc_ranks(small_posterior, n_calibrations=300, n_draws=99, seed=5), n_draws=99)


def test_save_load_roundtrip(small_posterior, tmp_path):
    path = save_posterior(tmp_path / "post.npz", small_posterior)
    loaded = load_posterior(path)
    theta = PRIOR.sample(jax.random.key(3), 16)
    x = simulate(theta, 3)
    np.testing.assert_allclose(loaded.log_prob(theta, x), small_posterior.log_prob(theta, x), rtol=1e-5, atol=1e-5)
    assert loaded.metadata["versions"]["flowjax"] and loaded.metadata["n_samples"] == 4000
    assert loaded.x_names == ("x0", "x1") and loaded.prior.names == ("a", "b")


def test_log_prob_is_normalised(small_posterior):
    # the density integrates to 1 over the box (the box holds all the mass for this observation)
    x0 = OBSERVED_THETA[0] @ A.T
    grid = np.linspace(-5, 5, 301)
    ga, gb = np.meshgrid(grid, grid, indexing="ij")
    theta = np.stack([ga.ravel(), gb.ravel()], axis=1)
    density = np.exp(small_posterior.log_prob(theta, np.tile(x0, (theta.shape[0], 1))))
    integral = density.sum() * (grid[1] - grid[0]) ** 2
    assert abs(integral - 1.0) < 0.02


@pytest.mark.slow
@pytest.mark.parametrize("kind, tolerance", [("nsf", 0.05), ("maf", 0.05)])
def test_posterior_within_5_percent_of_analytic(kind, tolerance):
    posterior, _ = fit(n=30_000, members=1, kind=kind, batch_size=256, patience=30, learning_rate=5e-4)
    print(kind, check_against_analytic(posterior, tolerance=tolerance))
    check_sbc(sbc_ranks(posterior, n_calibrations=1000, n_draws=99, seed=7), n_draws=99)
