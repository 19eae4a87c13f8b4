"""Balanced sparse network: mean rates linear in the feed-forward input with balance theory's slope
``-J^{-1} J_0`` (slow: a 2 x 1000-neuron network with K = 500, six inputs)."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_balanced_slope_within_ten_percent_of_theory():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("balanced_rate", Path(__file__).parents[2] / "experiments" / "balanced_rate.py")
    experiment = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(experiment)
    result = experiment.measure(n=1000, k=500.0)
    np.testing.assert_allclose(result["predicted"], [1.6, 2.8], rtol=1e-12)
    assert not result["nonfinite"]
    assert np.all(np.abs(result["relative_error"]) < 0.10), result["relative_error"]
    assert result["nonlinearity"] < 0.02
