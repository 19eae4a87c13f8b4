"""Box priors and the round-0 restriction classifier."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxsnn import fsbi
from jaxsnn.sbi import TrainConfig, box_prior, fsbi_prior, mlp_prior, polynomial_prior, train_restriction_classifier


def test_builtin_priors_match_spec():
    poly = polynomial_prior()
    assert poly.dim == 24 and poly.names[:6] == ("EE_tau_pre", "EE_tau_post", "EE_alpha", "EE_beta", "EE_gamma", "EE_kappa")
    np.testing.assert_array_equal(poly.low[:6], [0.01, 0.01, -2, -2, -2, -2])
    np.testing.assert_array_equal(poly.high[:6], [0.1, 0.1, 2, 2, 2, 2])
    full = polynomial_prior(with_r_ext=True)
    assert full.dim == 25 and (full.low[-1], full.high[-1]) == (5.0, 15.0)
    mlp = mlp_prior()
    assert mlp.dim == 22 and mlp.names[:3] == ("eta_EE", "eta_IE", "Wpre_EE0") and mlp.names[-1] == "Wpost_IE4"
    np.testing.assert_array_equal(mlp.low, [0, 0] + [-1] * 20)
    low, high = fsbi.prior_bounds("mlp")
    np.testing.assert_array_equal(fsbi_prior("mlp", with_r_ext=True).high, high)


def test_box_prior_density_sampling_and_membership():
    prior = box_prior([0.0, -1.0], [2.0, 3.0])
    draws = prior.sample(jax.random.key(0), 20_000)
    assert prior.contains(draws).all()
    np.testing.assert_allclose(draws.mean(0), [1.0, 1.0], atol=0.03)
    np.testing.assert_allclose(draws.std(0), [2 / np.sqrt(12), 4 / np.sqrt(12)], rtol=0.02)
    inside, outside = np.array([[1.0, 0.0]]), np.array([[2.5, 0.0]])
    assert prior.log_prob(inside)[0] == pytest.approx(-np.log(8.0))
    assert prior.log_prob(outside)[0] == -np.inf
    # the numpyro distribution agrees inside the box
    assert float(prior.distribution.log_prob(inside[0])) == pytest.approx(-np.log(8.0), rel=1e-6)
    assert prior.distribution.event_shape == (2,)


def test_box_prior_validation():
    with pytest.raises(ValueError, match="low < high"):
        box_prior([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="names"):
        box_prior([0.0], [1.0], names=("a", "b"))
    with pytest.raises(ValueError, match="columns"):
        box_prior([0.0], [1.0]).contains(np.zeros((3, 2)))


def test_restriction_classifier_keeps_99_percent_of_good_rules():
    prior = box_prior([-1.0] * 4, [1.0] * 4)
    theta = prior.sample(jax.random.key(1), 6000)
    blown = theta[:, 0] + 0.5 * theta[:, 1] > 0.6  # about a quarter blow up
    clf, info = train_restriction_classifier(theta, blown, seed=0, train=TrainConfig(batch_size=256, learning_rate=3e-3,
                                                                                     patience=10, max_epochs=300))
    assert clf.false_negative_rate <= 0.011
    fresh = prior.sample(jax.random.key(2), 20_000)
    fresh_blown = fresh[:, 0] + 0.5 * fresh[:, 1] > 0.6
    keep = clf.accept(fresh)
    # tuned on held-out rules: about 1 % of good rules lost on fresh ones, most blow-ups screened out
    assert np.mean(~keep[~fresh_blown]) < 0.03
    assert np.mean(~keep[fresh_blown]) > 0.7
    with pytest.raises(ValueError, match="both"):
        train_restriction_classifier(theta, np.zeros(len(theta), bool))
