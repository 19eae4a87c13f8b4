import hashlib

import numpy as np
import pytest

from jaxsnn.fsbi import in_prior, prior_bounds, rule_id, sample_prior


def test_polynomial_box_matches_spec():
    low, high = prior_bounds("polynomial")
    assert low.shape == high.shape == (25,)
    per_projection = np.stack([low[:24].reshape(4, 6), high[:24].reshape(4, 6)])
    np.testing.assert_array_equal(per_projection[0, :, :2], 0.01)
    np.testing.assert_array_equal(per_projection[1, :, :2], 0.1)
    np.testing.assert_array_equal(per_projection[0, :, 2:], -2.0)
    np.testing.assert_array_equal(per_projection[1, :, 2:], 2.0)
    assert (low[-1], high[-1]) == (5.0, 15.0)


def test_mlp_box_matches_spec():
    low, high = prior_bounds("mlp")
    assert low.shape == (23,)
    assert list(low[:2]) == [0.0, 0.0] and list(high[:2]) == [1.0, 1.0]
    assert np.all(low[2:22] == -1.0) and np.all(high[2:22] == 1.0)


@pytest.mark.parametrize("task", ["polynomial", "mlp"])
def test_samples_fill_the_box_and_are_reproducible(task):
    theta = sample_prior(task, 4000, seed=3)
    low, high = prior_bounds(task)
    assert in_prior(theta, task).all()
    # uniform: each coordinate's mean near the box centre (4000 draws: sd of mean ≈ 0.0046 of width)
    np.testing.assert_allclose((theta.mean(0) - low) / (high - low), 0.5, atol=0.025)
    np.testing.assert_array_equal(theta, sample_prior(task, 4000, seed=3))
    assert not np.array_equal(theta, sample_prior(task, 4000, seed=4))


def test_in_prior_flags_rows_outside():
    theta = sample_prior("polynomial", 3, seed=0)
    theta[1, 0] = 0.2
    np.testing.assert_array_equal(in_prior(theta), [True, False, True])
    with pytest.raises(ValueError, match="25 columns"):
        in_prior(theta[:, :24])


def test_rule_id_is_md5_of_float64_bytes():
    theta = sample_prior("polynomial", 1, seed=0)[0]
    assert rule_id(theta) == hashlib.md5(theta.astype("<f8").tobytes()).hexdigest()
    assert rule_id(theta.astype(np.float32).astype(np.float64)) != rule_id(theta)
    with pytest.raises(ValueError, match="one θ row"):
        rule_id(theta[None])
