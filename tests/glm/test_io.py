"""Saving and loading GLM model parameters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn import glm

MODELS = [
    glm.BernoulliGLM(theta=4.2, coupling_window=7, abs_scale=2, rel_scale=4),
    glm.PoissonGLM(alpha=12.0, T=50),
    glm.RectifiedLNP(theta=3e-4, T=30),
    glm.RectifiedSAM(lambda_0=2.0),
    glm.ThresholdSAM(sigma=0.2),
    glm.ThresholdSAM(noise_exponent=1),
]


@pytest.mark.parametrize("model", MODELS, ids=[f"{type(m).__name__}-{i}" for i, m in enumerate(MODELS)])
def test_save_load_round_trip(tmp_path, model):
    glm.save_model(tmp_path / "model.npz", model)
    loaded = glm.load_model(tmp_path / "model.npz")
    assert type(loaded) is type(model)
    assert jax.tree.structure(loaded) == jax.tree.structure(model)  # static settings (windows) included
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(model)):
        np.testing.assert_array_equal(a, b)


def test_batched_model_round_trip(tmp_path):
    batch = jax.tree.map(lambda *a: jnp.stack(a), glm.RectifiedLNP(theta=1e-4), glm.RectifiedLNP(theta=2e-4))
    glm.save_model(tmp_path / "batch.npz", batch)
    np.testing.assert_array_equal(glm.load_model(tmp_path / "batch.npz").theta, batch.theta)


def test_load_rejects_other_files(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.ones(3))
    with pytest.raises(ValueError, match="not a jaxsnn.glm model"):
        glm.load_model(tmp_path / "other.npz")


def test_load_names_a_missing_field(tmp_path):
    glm.save_model(tmp_path / "model.npz", glm.ThresholdSAM())
    with np.load(tmp_path / "model.npz") as data:
        fields = {k: data[k] for k in data.files if k != "noise_exponent"}
    np.savez(tmp_path / "old.npz", **fields)
    with pytest.raises(ValueError, match="no 'noise_exponent' entry"):
        glm.load_model(tmp_path / "old.npz")
