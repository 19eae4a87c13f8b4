"""benchmarks/npe_sbibm.py: sbibm's C2ST, the transcribed task simulators against sbibm's own files, the
published figures, and (slow) the smoke run.

The simulator and data tests need the sbibm 1.1.0 wheel (a data-only read, sbibm is never imported): it is
taken from ``$JAXSNN_SBIBM_CACHE`` / ``~/.cache/jaxsnn/sbibm`` or fetched with ``pip download``; without it
and without network they are skipped, saying so.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kstest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "npe_sbibm.py"


def _load():
    spec = importlib.util.spec_from_file_location("npe_sbibm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["npe_sbibm"] = module
    spec.loader.exec_module(module)
    return module


bench = _load()


@pytest.fixture(scope="module")
def files():
    try:
        return bench.SbibmFiles(bench.sbibm_wheel())
    except FileNotFoundError as err:
        pytest.skip(f"sbibm {bench.SBIBM_VERSION} wheel unavailable (no cache, no network?): {err}")


# --- C2ST -------------------------------------------------------------------------------------------------


def test_c2st_same_distribution_is_chance():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 2))
    Y = rng.standard_normal((1000, 2))
    assert 0.44 <= bench.c2st(X, Y) <= 0.56


def test_c2st_separated_samples_is_one():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((500, 2))
    Y = rng.standard_normal((500, 2)) + np.array([8.0, 0.0])
    assert bench.c2st(X, Y) >= 0.99


def test_c2st_sees_a_wrong_scale():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((1000, 2))
    Y = 2.0 * rng.standard_normal((1000, 2))
    assert bench.c2st(X, Y) >= 0.6


def test_c2st_rejects_mismatched_dims():
    with pytest.raises(ValueError, match="same D"):
        bench.c2st(np.zeros((10, 2)), np.zeros((10, 3)))


def test_c2st_settings_are_sbibms(files):
    """The settings transcribed in bench.c2st are those of the wheel's sbibm/metrics/c2st.py."""
    src = files.source("sbibm/metrics/c2st.py")
    for fragment in ('activation="relu"', "hidden_layer_sizes=(10 * ndim, 10 * ndim)", "max_iter=10000",
                     'solver="adam"', "random_state=seed", "KFold(n_splits=n_folds, shuffle=True, random_state=seed)",
                     "seed: int = 1", "n_folds: int = 5", "X_std = torch.std(X, dim=0)"):
        assert fragment in src, fragment


# --- tasks ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(bench.TASKS))
def test_task_shapes_and_files(files, name):
    task = bench.get_task(name)
    rng = np.random.default_rng(3)
    theta = task.sample_prior(7, rng)
    assert theta.shape == (7, task.dim_theta)
    assert np.all((theta >= task.low) & (theta <= task.high))
    x = task.simulator(theta, rng)
    assert x.shape == (7, task.dim_x) and np.all(np.isfinite(x))
    assert files.observation(name, 1).shape == (task.dim_x,)
    assert files.true_parameters(name, 10).shape == (task.dim_theta,)
    ref = files.reference_samples(name, 1)
    assert ref.shape == (bench.REFERENCE_SAMPLES, task.dim_theta)
    assert np.all((ref >= task.low) & (ref <= task.high))
    with pytest.raises(ValueError, match="shape"):
        task.simulator(np.zeros((3, task.dim_theta + 1)), rng)


def test_prior_boxes_are_sbibms(files):
    """The boxes transcribed in TASKS are the defaults of the wheel's task.py files."""
    expected = {"two_moons": "prior_bound = 1.0", "gaussian_linear_uniform": "prior_bound: float = 1.0",
                "slcp": "torch.tensor([-3.0 for _ in range(self.dim_parameters)])",
                "gaussian_mixture": "prior_bound: float = 10.0"}
    bounds = {"two_moons": 1.0, "gaussian_linear_uniform": 1.0, "slcp": 3.0, "gaussian_mixture": 10.0}
    for name, fragment in expected.items():
        assert fragment in files.source(f"sbibm/tasks/{name}/task.py"), name
        task = bench.get_task(name)
        assert np.all(task.high == bounds[name]) and np.all(task.low == -bounds[name])


@pytest.mark.parametrize("name", list(bench.TASKS))
def test_simulator_reproduces_observations(files, name):
    """sbibm drew each observation from its simulator at the true θ: the observations' quantiles among our
    simulations there are uniform (pooled over 10 observations and all x entries)."""
    pit = bench.pit_values(files, bench.get_task(name), list(range(1, 11)), np.random.default_rng(4), n=4000)
    assert kstest(pit, "uniform").pvalue > 1e-3
    assert np.mean((pit < 0.005) | (pit > 0.995)) < 0.05


def test_pit_check_catches_a_wrong_simulator(files):
    """The check above can fail: gaussian_linear_uniform with sd 0.1 (reading sbibm's (0.1 I)⁻¹ precision as a
    covariance of 0.01 I) puts the observations in the tails."""
    task = bench.get_task("gaussian_linear_uniform")
    wrong = bench.Task(task.name, task.low, task.high, task.dim_x,
                       lambda theta, rng: theta + 0.1 * rng.standard_normal(theta.shape))
    pit = bench.pit_values(files, wrong, list(range(1, 11)), np.random.default_rng(5), n=4000)
    assert kstest(pit, "uniform").pvalue < 1e-6


def test_simulator_noise_is_the_exact_posteriors_likelihood():
    """x − θ of the simulators is the likelihood exact_posterior assumes: N(0, 0.1) per entry for
    gaussian_linear_uniform, ½ N(0, 1) + ½ N(0, 0.01) for gaussian_mixture (a wrong scale or weight fails)."""
    from scipy.stats import norm

    rng = np.random.default_rng(7)
    glu = bench.get_task("gaussian_linear_uniform")
    theta = glu.sample_prior(2000, rng)
    noise = (glu.simulator(theta, rng) - theta).ravel()
    assert kstest(noise, norm(scale=np.sqrt(0.1)).cdf).pvalue > 1e-3
    assert kstest(noise, norm(scale=0.1).cdf).pvalue < 1e-6
    gm = bench.get_task("gaussian_mixture")
    theta = gm.sample_prior(10_000, rng)
    noise = gm.simulator(theta, rng) - theta

    def mixture_cdf(z, weight=0.5):
        return weight * norm.cdf(z) + (1 - weight) * norm.cdf(z / 0.1)

    assert kstest(noise.ravel(), mixture_cdf).pvalue > 1e-3
    assert kstest(noise.ravel(), lambda z: mixture_cdf(z, 0.6)).pvalue < 1e-6
    # one mixture index per simulation, shared by both entries (the sbibm 1.1.0 fix): both entries beyond 1 in
    # ½ · 0.317² ≈ 0.050 of the simulations (independent indices: 0.159² ≈ 0.025)
    assert 0.042 < np.mean(np.all(np.abs(noise) > 1.0, axis=1)) < 0.058


@pytest.mark.parametrize("name", ["gaussian_linear_uniform", "gaussian_mixture"])
def test_reference_matches_exact_posterior(files, name):
    """Where the posterior is analytic, sbibm's reference samples agree with our exact draws (mean and
    quantiles), which ties prior box, likelihood and files together."""
    rng = np.random.default_rng(6)
    for k in (1, 5):
        ref = files.reference_samples(name, k)
        exact = bench.exact_posterior(name, files.observation(name, k), 200_000, rng)
        sd = exact.std(axis=0)
        assert np.all(np.abs(ref.mean(axis=0) - exact.mean(axis=0)) < 0.05 * sd)
        for q in (0.1, 0.5, 0.9):
            assert np.all(np.abs(np.quantile(ref, q, axis=0) - np.quantile(exact, q, axis=0)) < 0.06 * sd)
    assert bench.exact_posterior("slcp", np.zeros(8), 10, rng) is None


# --- published figures ------------------------------------------------------------------------------------


def test_published_figures_cover_the_benchmark():
    published = bench.published_c2st()
    for name in bench.TASKS:
        for budget in (1000, 10_000):
            values = published[(name, budget)]
            assert sorted(values) == list(range(1, 11)), (name, budget)
            assert all(0.5 <= v <= 1.0 for v in values.values())
    # the gaussian_mixture figures are the rerun's (sbibm 1.1.0 simulator), not the paper's
    assert abs(np.median(list(published[("gaussian_mixture", 10_000)].values())) - 0.6019) < 1e-4


def test_summarize_rows():
    rows = [{"task": "slcp", "simulations": 1000, "observation": k, "c2st": c, "train_s": [3.0], "c2st_s": 1.0,
             "flow": None, "refit_each": False, "samples": 10} for k, c in ((1, 0.9), (2, 0.8), (3, 0.7))]
    (record,) = bench.summarize(rows)
    assert record["c2st_median"] == pytest.approx(0.8)
    assert record["observations"] == [1, 2, 3]
    published = bench.published_c2st()[("slcp", 1000)]
    assert record["published_median_same_obs"] == pytest.approx(np.median([published[k] for k in (1, 2, 3)]))
    assert "| slcp | 1000 | 1,2,3 | 0.800 |" in bench.format_table([record])


def test_cli_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown task"):
        bench.main(["--tasks", "nope"])
    with pytest.raises(ValueError, match="1 to 10"):
        bench.main(["--observations", "11"])


# --- smoke run --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_smoke_run(files, tmp_path):
    """The whole benchmark, tiny: trains, samples inside the box and reports C2ST in (0.4, 1]."""
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--json", "--jsonl", str(tmp_path / "c.jsonl")],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert {r["task"] for r in result["results"]} == {"two_moons", "slcp"}
    for r in result["results"]:
        assert 0.4 < r["c2st_median"] <= 1.0 and r["train_s"][0] > 0
    assert len((tmp_path / "c.jsonl").read_text().splitlines()) == 2
