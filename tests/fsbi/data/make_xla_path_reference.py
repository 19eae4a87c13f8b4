"""Writes xla_path_reference.npz: spikes, weight samples and blow-up times of fsbi.simulate's XLA path
for the published rule and three prior rules of each family, on a scaled network over 6000 steps.

Generated with the fSBI-only network step that the core engine replaced (commit a4a58d4, run with
that tree first on the path); tests/fsbi/test_one_engine.py checks that the core engine reproduces it.
"""

import sys

import numpy as np

from jaxsnn import fsbi

OPTIONS = dict(seed=3, n_exc=400, n_inh=100, n_ext=1000, duration=0.6, record_start=0.0, n_rec_e=400, n_rec_i=100,
               weight_sample_period=0.05, record_spikes=True, synapse_kernel="xla")


def rules(task: str) -> np.ndarray:
    published = fsbi.PUBLISHED_POLYNOMIAL_RULE if task == "polynomial" else fsbi.PUBLISHED_MLP_RULE
    theta = np.vstack([published, fsbi.sample_prior(task, 3, 7)])
    theta[:, -1] = [40.0, 45.0, 50.0, 70.0]  # a scaled network needs more drive to spike
    return theta


def main(out: str) -> None:
    data = {}
    for task in ("polynomial", "mlp"):
        theta = rules(task)
        res = fsbi.simulate(theta, task=task, **OPTIONS)
        data[f"{task}/theta"] = theta
        data[f"{task}/blowup_time"] = res.blowup_time
        for p in ("E", "I"):
            rule = np.concatenate([np.full(len(t), r) for r, (t, _) in enumerate(res.spikes[p])])
            times = np.concatenate([t for t, _ in res.spikes[p]])
            ids = np.concatenate([i for _, i in res.spikes[p]])
            data[f"{task}/spikes_{p}"] = np.stack([rule, np.round(times / 1e-4).astype(np.int64), ids])
        for name, (_, values) in res.weights.items():
            data[f"{task}/weights_{name}"] = values
        print(task, "spikes", [len(t) for t, _ in res.spikes["E"]], "blow-up", res.blowup_time)
    np.savez_compressed(out, **data)


if __name__ == "__main__":
    main(sys.argv[1])
