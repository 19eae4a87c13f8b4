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
