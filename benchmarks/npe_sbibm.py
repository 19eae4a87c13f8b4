"""sbibm benchmark of jaxsnn's neural posterior estimation (NPE): C2ST against sbibm's reference posteriors.

Tasks (simulators and priors transcribed from ``sbibm/tasks/<task>/task.py`` of the sbibm 1.1.0 wheel;
every prior is a uniform box, so jaxsnn's box-prior NPE applies unchanged):

- ``two_moons``: θ ∈ [−1, 1]², x ∈ R²; bimodal (crescent) posterior.
- ``gaussian_linear_uniform``: θ ∈ [−1, 1]¹⁰, x ~ N(θ, 0.1 I) (sbibm's precision matrix is (0.1 I)⁻¹).
- ``slcp``: θ ∈ [−3, 3]⁵, x = 4 draws of a 2-D normal with mean (θ₁, θ₂), sds θ₃², θ₄², correlation
  tanh θ₅ (8 numbers); four symmetric modes (signs of θ₃, θ₄), strongly correlated.
- ``gaussian_mixture``: θ ∈ [−10, 10]², x ~ ½ N(θ, I) + ½ N(θ, 0.01 I): a posterior mixing a broad and
  a narrow component (sbibm 1.1.0's simulator: one mixture index per simulation; the paper's runs had one
  per batch, so its published figures are those of sbi-benchmark's rerun, see below).

Data: the sbibm 1.1.0 wheel from PyPI (``pip download sbibm==1.1.0 --no-deps``) into
``$JAXSNN_SBIBM_CACHE`` (default ``~/.cache/jaxsnn/sbibm``), read with zipfile/bz2/csv; sbibm itself (and its
torch/pyro dependencies) is never imported. Per task, observations 1–10 each have ``observation.csv``
(x_o), ``true_parameters.csv`` and ``reference_posterior_samples.csv.bz2`` (10 000 samples).

Metric: C2ST exactly as ``sbibm/metrics/c2st.py`` with the settings of sbi-benchmark's published "C2ST"
column (its ``C2ST_Z``): X = the first 10 000 reference samples, Y = 10 000 NPE samples, both z-scored
with X's mean and unbiased sd (float32, as torch), scikit-learn ``MLPClassifier(activation="relu",
hidden_layer_sizes=(10·D, 10·D), max_iter=10000, solver="adam", random_state=1)``, 5-fold
``KFold(shuffle=True, random_state=1)``, mean accuracy. 0.5 = indistinguishable, 1.0 = disjoint.

Training protocol: sbi-benchmark's NPE (``config/algorithm/npe.yaml`` of github.com/sbi-benchmark/results
and ``sbibm/algorithms/sbi/snpe.py``: SNPE_C, 1 round, ``nsf`` with 50 hidden features, z-scored θ and x,
``training_batch_size`` 10 000, no automatic transforms) with sbi's ``train()`` defaults for the rest.
Mapping to :class:`jaxsnn.sbi.TrainConfig`:

===============================================  =======================================================
sbi (sbibm NPE)                                   jaxsnn
===============================================  =======================================================
training_batch_size 10 000 (capped at the         batch_size 10 000 (capped at the training-set size:
training set: full-batch at 1 000 and 10 000)     full-batch too)
learning_rate 5e-4 (Adam)                         learning_rate 5e-4 (Adam)
validation_fraction 0.1                           validation_fraction 0.1
stop_after_epochs 20                              patience 20
max_num_epochs 2³¹−1                              max_epochs ``--max-epochs`` (default 20 000)
clip_max_norm 5.0                                 none: jaxsnn does not clip gradients
nsf: 5 transforms, 10 bins, 50 hidden,           FlowConfig(kind=``--flow``): ``nsf`` 5 coupling
tail bound 3 (z-scored units), LU linear          transforms, each + a permutation and an LU linear
layer after each coupling layer                   layer; ``maf`` (default) 5 autoregressive spline
                                                  layers + permutations; both 50 hidden (2 relu
                                                  layers), 10 bins on [−4, 4] (z-scored units);
                                                  before commit 8786716: sbijax's spline flow on
                                                  [−5, 5], no mixing (``spline``)
z_score_theta / z_score_x independent             train_npe always z-scores θ and x per column
posterior.sample: rejection to the prior support  Posterior.sample: rejection to the prior box
===============================================  =======================================================

sbibm runs the whole algorithm once per observation (new simulations, new network). 1-round NPE never
sees x_o while training, so by default this script trains one network per task and budget and draws the
samples of every requested observation from it (each observation's C2ST has the same distribution as in
sbibm; only their correlation differs); ``--refit-each`` trains one network per observation as sbibm did.

Published figures: ``benchmarks/data/sbibm_npe_published.csv`` (NPE rows of sbi-benchmark/results, commit
741183c: ``main_paper.csv``; for gaussian_mixture ``gaussian_mixture_rerun.csv``), median over its 10
observations; the median over the observations run here is printed too.

Pluggable NPE: :func:`fit_and_sample` at the top is the only code that calls jaxsnn's NPE; swap it to
benchmark another estimator (``--flow`` is passed through as the flow kind).

Examples::

    python benchmarks/npe_sbibm.py --smoke                      # tiny run, under a minute
    python benchmarks/npe_sbibm.py --check-simulators           # simulators vs sbibm's observations
    python benchmarks/npe_sbibm.py --tasks slcp --simulations 10000 --observations 1 2 3 --json
"""

from __future__ import annotations

import argparse
import bz2
import csv
import dataclasses
import io
import json
import os
import platform
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

# ----------------------------------------------------------------------------------------------------------
# The NPE under test (the one place to change to plug in another estimator)
# ----------------------------------------------------------------------------------------------------------

MAX_EPOCHS = 20_000
"""Default training cap in epochs (sbi has none; one full-batch step per epoch)."""

TRAINING = {"batch_size": 10_000, "learning_rate": 5e-4}
FLOW_OPTIONS: dict = {}
"""Further FlowConfig fields (``--flow-option name=value``), e.g. ``{"permutation": "alternate"}``."""
"""Minibatch size and Adam learning rate of :func:`fit_and_sample`: sbibm's NPE protocol by default
(full-batch at 1 000 and 10 000 simulations); ``--batch-size`` and ``--learning-rate`` change them."""


def fit_and_sample(theta: np.ndarray, x: np.ndarray, low: np.ndarray, high: np.ndarray, x_obs: np.ndarray,
                   n_samples: int, seed: int, flow_kind: str | None, max_epochs: int = MAX_EPOCHS) -> tuple[np.ndarray, dict]:
    """Train jaxsnn's NPE on (θ, x) and draw posterior samples for each observation.

    Args:
        theta: ``[N, D]`` prior draws; x: ``[N, K]`` their simulations.
        low, high: ``[D]`` the uniform prior box.
        x_obs: ``[M, K]`` observations to condition on.
        n_samples: samples per observation; seed: training and sampling seed.
        flow_kind: the flow (``--flow``; None: the NPE's default flow); max_epochs: training cap.
    Returns:
        samples ``[M, n_samples, D]`` (inside the box) and a record: ``train_s`` the training wall time in
        seconds (network fit only: without simulation, compiling the sampler and sampling; required), plus
        anything else worth keeping (here ``epochs``, and ``rejection_rate`` of the prior-box rejection).
    """
    import jax

    from jaxsnn.sbi import FlowConfig, TrainConfig, box_prior, train_npe

    train = TrainConfig(batch_size=TRAINING["batch_size"], learning_rate=TRAINING["learning_rate"], validation_fraction=0.1, patience=20,
                        max_epochs=max_epochs, epochs_per_call=10)
    t0 = time.perf_counter()
    flow = FlowConfig(**({} if flow_kind is None else {"kind": flow_kind}), **FLOW_OPTIONS)
    posterior, info = train_npe(theta, x, box_prior(low, high), flow=flow, train=train, seed=seed)
    train_s = time.perf_counter() - t0
    key = jax.random.key(seed + 1)
    draws = [posterior.sample(jax.random.fold_in(key, m), x_o, n_samples) for m, x_o in enumerate(x_obs)]
    record = {"train_s": train_s, "flow": flow.kind, "flow_config": dataclasses.asdict(flow), "batch_size": train.batch_size, "learning_rate": train.learning_rate, "epochs": int(np.max(info.epochs)),
              "rejection_rate": [round(float(d[1].rejection_rate), 4) for d in draws]}
    return np.stack([d[0] for d in draws]), record


def parse_flow_options(items: list[str]) -> dict:
    """``["name=value", ...]`` -> FlowConfig fields, each value converted to the field's type."""
    from jaxsnn.sbi import FlowConfig

    types = {f.name: type(f.default) for f in dataclasses.fields(FlowConfig)}
    options = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in types or name == "kind":
            raise SystemExit(f"--flow-option takes NAME=VALUE with NAME a FlowConfig field other than kind "
                             f"({', '.join(n for n in types if n != 'kind')}); got {item!r}")
        if types[name] is bool:
            if value.lower() not in ("true", "false"):
                raise SystemExit(f"--flow-option {name} takes true or false; got {value!r}")
            options[name] = value.lower() == "true"
        else:
            options[name] = types[name](value)
    return options


# ----------------------------------------------------------------------------------------------------------
# sbibm's data files
# ----------------------------------------------------------------------------------------------------------

SBIBM_VERSION = "1.1.0"
WHEEL_NAME = f"sbibm-{SBIBM_VERSION}-py2.py3-none-any.whl"
N_OBSERVATIONS = 10
REFERENCE_SAMPLES = 10_000
PUBLISHED_CSV = Path(__file__).resolve().parent / "data" / "sbibm_npe_published.csv"


def cache_dir() -> Path:
    """Folder holding the sbibm wheel: ``$JAXSNN_SBIBM_CACHE`` or ``~/.cache/jaxsnn/sbibm``."""
    return Path(os.environ.get("JAXSNN_SBIBM_CACHE", Path.home() / ".cache" / "jaxsnn" / "sbibm")).expanduser()


def sbibm_wheel(download: bool = True) -> Path:
    """Path of the sbibm 1.1.0 wheel in :func:`cache_dir`, fetched with ``pip download`` if absent.

    Raises ``FileNotFoundError`` if it is absent and ``download`` is False or pip could not get it.
    """
    path = cache_dir() / WHEEL_NAME
    if path.is_file():
        return path
    if download:
        path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", f"sbibm=={SBIBM_VERSION}", "--no-deps", "--only-binary=:all:",
               "-d", str(path.parent)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if path.is_file():
            return path
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise FileNotFoundError(f"could not download {WHEEL_NAME} into {path.parent} ({' '.join(cmd)}: {detail[0]}); "
                                f"put the wheel there by hand or set JAXSNN_SBIBM_CACHE to a folder holding it")
    raise FileNotFoundError(f"{WHEEL_NAME} is not in {path.parent}; run `pip download sbibm=={SBIBM_VERSION} --no-deps "
                            f"-d {path.parent}` or set JAXSNN_SBIBM_CACHE")


class SbibmFiles:
    """Reader of a task's observation files inside the sbibm wheel (no sbibm import)."""

    def __init__(self, wheel: Path):
        self.zip = zipfile.ZipFile(wheel)
        self.names = set(self.zip.namelist())

    def _table(self, task: str, observation: int, name: str) -> np.ndarray:
        check_observation(observation)
        path = f"sbibm/tasks/{task}/files/num_observation_{observation}/{name}"
        if path not in self.names:
            raise KeyError(f"{path} is not in the sbibm wheel (task {task!r}, observation {observation})")
        raw = self.zip.read(path)
        text = (bz2.decompress(raw) if name.endswith(".bz2") else raw).decode()
        rows = list(csv.reader(io.StringIO(text)))
        return np.array(rows[1:], dtype=np.float64)  # first row: column names

    def observation(self, task: str, observation: int) -> np.ndarray:
        """x_o ``[K]``."""
        return self._table(task, observation, "observation.csv")[0]

    def true_parameters(self, task: str, observation: int) -> np.ndarray:
        """θ that generated x_o, ``[D]``."""
        return self._table(task, observation, "true_parameters.csv")[0]

    def reference_samples(self, task: str, observation: int) -> np.ndarray:
        """Reference posterior samples ``[10 000, D]``."""
        return self._table(task, observation, "reference_posterior_samples.csv.bz2")

    def source(self, path: str) -> str:
        """Text of a file in the wheel, e.g. ``sbibm/metrics/c2st.py``."""
        return self.zip.read(path).decode()


def check_observation(observation: int) -> None:
    if not (isinstance(observation, (int, np.integer)) and 1 <= observation <= N_OBSERVATIONS):
        raise ValueError(f"observation numbers run from 1 to {N_OBSERVATIONS}; got {observation!r}")


# ----------------------------------------------------------------------------------------------------------
# Tasks: priors and simulators (numpy transcriptions of sbibm 1.1.0's task.py)
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """A benchmark task: uniform prior box ``low``, ``high`` ``[D]``; ``simulate(θ [N, D], rng) -> x [N, K]``."""

    name: str
    low: np.ndarray
    high: np.ndarray
    dim_x: int
    simulate: Callable[[np.ndarray, np.random.Generator], np.ndarray]

    @property
    def dim_theta(self) -> int:
        return self.low.size

    def sample_prior(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws ``[n, D]`` from the uniform box."""
        return rng.uniform(self.low, self.high, size=(n, self.dim_theta))

    def simulator(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """x ``[N, K]`` for θ ``[N, D]`` (shape checked)."""
        theta = np.asarray(theta, np.float64)
        if theta.ndim != 2 or theta.shape[1] != self.dim_theta:
            raise ValueError(f"{self.name}: θ must have shape [N, {self.dim_theta}]; got {list(theta.shape)}")
        return self.simulate(theta, rng)


def simulate_two_moons(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """sbibm two_moons: a ~ U(−π/2, π/2), r ~ N(0.1, 0.01²), p = (r cos a + 0.25, r sin a);
    x = p + (−|z₀|, z₁) with z = θ rotated by −π/4 (z₀ = c θ₀ − s θ₁, z₁ = s θ₀ + c θ₁)."""
    n = theta.shape[0]
    a = rng.uniform(-np.pi / 2, np.pi / 2, size=n)
    r = rng.normal(0.1, 0.01, size=n)
    p = np.stack([np.cos(a) * r + 0.25, np.sin(a) * r], axis=1)
    c, s = np.cos(-np.pi / 4), np.sin(-np.pi / 4)
    z0 = c * theta[:, 0] - s * theta[:, 1]
    z1 = s * theta[:, 0] + c * theta[:, 1]
    return p + np.stack([-np.abs(z0), z1], axis=1)


def simulate_gaussian_linear_uniform(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """sbibm gaussian_linear_uniform: x ~ N(θ, 0.1 I) (precision matrix (0.1 I)⁻¹, so sd √0.1)."""
    return theta + np.sqrt(0.1) * rng.standard_normal(theta.shape)


def simulate_slcp(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """sbibm slcp (no distractors): 4 iid draws of N(m, S), m = (θ₀, θ₁), s₁ = θ₂², s₂ = θ₃², ρ = tanh θ₄,
    S = [[s₁² + 1e−6, ρ s₁ s₂], [ρ s₁ s₂, s₂² + 1e−6]]; x = the draws flattened ``[N, 8]``
    (x₀, y₀, x₁, y₁, …)."""
    n = theta.shape[0]
    s1, s2, rho = theta[:, 2] ** 2, theta[:, 3] ** 2, np.tanh(theta[:, 4])
    cov = np.empty((n, 2, 2))
    cov[:, 0, 0] = s1**2 + 1e-6
    cov[:, 0, 1] = cov[:, 1, 0] = rho * s1 * s2
    cov[:, 1, 1] = s2**2 + 1e-6
    chol = np.linalg.cholesky(cov)  # [N, 2, 2]
    eps = rng.standard_normal((n, 4, 2))
    draws = theta[:, None, :2] + np.einsum("nij,nkj->nki", chol, eps)
    return draws.reshape(n, 8)


def simulate_gaussian_mixture(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """sbibm gaussian_mixture (1.1.0): per simulation an index k ~ Categorical(½, ½), x ~ N(θ, σ_k² I) with
    σ = (1.0, 0.1)."""
    k = rng.integers(0, 2, size=theta.shape[0])
    scale = np.array([1.0, 0.1])[k][:, None]
    return theta + scale * rng.standard_normal(theta.shape)


def _box(bound: float, dim: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(dim, -bound), np.full(dim, bound)


TASKS: dict[str, Task] = {
    "two_moons": Task("two_moons", *_box(1.0, 2), 2, simulate_two_moons),
    "gaussian_linear_uniform": Task("gaussian_linear_uniform", *_box(1.0, 10), 10, simulate_gaussian_linear_uniform),
    "slcp": Task("slcp", *_box(3.0, 5), 8, simulate_slcp),
    "gaussian_mixture": Task("gaussian_mixture", *_box(10.0, 2), 2, simulate_gaussian_mixture),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; allowed: {', '.join(TASKS)}")
    return TASKS[name]


# ----------------------------------------------------------------------------------------------------------
# C2ST (sbibm/metrics/c2st.py)
# ----------------------------------------------------------------------------------------------------------


def c2st(X: np.ndarray, Y: np.ndarray, seed: int = 1, n_folds: int = 5, z_score: bool = True) -> float:
    """Classifier two-sample test accuracy, as sbibm's ``c2st`` (see the module docstring).

    X ``[n, D]`` (the reference: its mean and sd z-score both), Y ``[m, D]``; returns the mean 5-fold
    cross-validated accuracy of an MLP telling them apart (0.5: same distribution, 1.0: disjoint).
    """
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.neural_network import MLPClassifier

    X = np.asarray(X, np.float32)
    Y = np.asarray(Y, np.float32)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must be [n, D] and [m, D] with the same D; got {list(X.shape)} and {list(Y.shape)}")
    if z_score:
        mean = X.mean(axis=0)
        std = X.std(axis=0, ddof=1)  # torch.std is the unbiased estimate
        X = (X - mean) / std
        Y = (Y - mean) / std
    ndim = X.shape[1]
    clf = MLPClassifier(activation="relu", hidden_layer_sizes=(10 * ndim, 10 * ndim), max_iter=10000, solver="adam",
                        random_state=seed)
    data = np.concatenate((X, Y))
    target = np.concatenate((np.zeros((X.shape[0],)), np.ones((Y.shape[0],))))
    shuffle = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    scores = cross_val_score(clf, data, target, cv=shuffle, scoring="accuracy")
    return float(np.asarray(np.mean(scores)).astype(np.float32))


# ----------------------------------------------------------------------------------------------------------
# Published figures
# ----------------------------------------------------------------------------------------------------------


def published_c2st(path: Path = PUBLISHED_CSV) -> dict[tuple[str, int], dict[int, float]]:
    """sbi-benchmark's NPE C2ST: (task, simulations) -> {observation: C2ST}. For gaussian_mixture the rerun
    (sbibm 1.1.0 simulator) replaces the paper's figures."""
    out: dict[tuple[str, int], dict[int, float]] = {}
    rerun: dict[tuple[str, int], dict[int, float]] = {}
    with open(path, encoding="utf-8") as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            target = rerun if "rerun" in row["source"] else out
            target.setdefault((row["task"], int(row["num_simulations"])), {})[int(row["num_observation"])] = float(row["c2st"])
    out.update(rerun)
    return out


# ----------------------------------------------------------------------------------------------------------
# Simulator checks
# ----------------------------------------------------------------------------------------------------------


def _truncated_normal(rng: np.random.Generator, mean: np.ndarray, sd: float, low: np.ndarray, high: np.ndarray,
                      n: int) -> np.ndarray:
    """``n`` draws ``[n, D]`` of independent N(mean_d, sd²) truncated to [low_d, high_d] (inverse CDF)."""
    from scipy.stats import norm

    a, b = norm.cdf((low - mean) / sd), norm.cdf((high - mean) / sd)
    u = a + (b - a) * rng.uniform(size=(n, mean.size))
    return mean + sd * norm.ppf(u)


def exact_posterior(task: str, x_o: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray | None:
    """Exact posterior draws ``[n, D]`` where the posterior is analytic (a uniform box times a Gaussian
    likelihood), else None: gaussian_linear_uniform (truncated N(x_o, 0.1 I)) and gaussian_mixture
    (mixture of truncated N(x_o, I) and N(x_o, 0.01 I), weighted by ½ times each one's box mass)."""
    from scipy.stats import norm

    t = get_task(task)
    if task == "gaussian_linear_uniform":
        return _truncated_normal(rng, x_o, np.sqrt(0.1), t.low, t.high, n)
    if task == "gaussian_mixture":
        sds = np.array([1.0, 0.1])
        mass = np.array([np.prod(norm.cdf((t.high - x_o) / s) - norm.cdf((t.low - x_o) / s)) for s in sds])
        k = rng.choice(2, size=n, p=mass / mass.sum())
        out = np.empty((n, t.dim_theta))
        for j, s in enumerate(sds):
            out[k == j] = _truncated_normal(rng, x_o, s, t.low, t.high, int(np.sum(k == j)))
        return out
    return None


def pit_values(files: SbibmFiles, task: Task, observations: list[int], rng: np.random.Generator,
               n: int = 10_000, at: str = "true") -> np.ndarray:
    """Quantile of each observation entry among ``n`` simulations, ``[len(observations) · K]``.

    ``at="true"``: simulations at the observation's true θ (sbibm drew x_o from exactly this distribution,
    so the values are uniform on (0, 1) if the simulator is sbibm's); ``at="reference"``: one simulation at
    each of the first ``n`` reference posterior samples (the posterior predictive; x_o should be typical).
    """
    if at not in ("true", "reference"):
        raise ValueError(f"at must be 'true' or 'reference'; got {at!r}")
    out = []
    for k in observations:
        x_o = files.observation(task.name, k)
        if at == "true":
            theta = np.tile(files.true_parameters(task.name, k), (n, 1))
        else:
            theta = files.reference_samples(task.name, k)[:n]
        out.append(np.mean(task.simulator(theta, rng) < x_o, axis=0))
    return np.concatenate(out)


def check_simulators(files: SbibmFiles, tasks: list[str], observations: list[int], seed: int,
                     c2st_samples: int) -> dict:
    """Compare each simulator with sbibm's files.

    PIT (:func:`pit_values` at the true θ): over observations and x-entries uniform on (0, 1) if the
    simulator is sbibm's (reported: Kolmogorov–Smirnov p-value, extremes, and the fraction beyond
    0.01 / 0.99, expected ≈ 0.02). Predictive: the range of the quantiles at the reference posterior samples.
    Exact: where the posterior is analytic, C2ST of ``c2st_samples`` exact draws against as many reference
    samples (≈ 0.5 if simulator, prior and reference agree).
    """
    from scipy.stats import kstest

    report = {}
    for name in tasks:
        task = get_task(name)
        rng = np.random.default_rng([seed, 7])
        pit = pit_values(files, task, observations, rng)
        predictive = pit_values(files, task, observations, rng, at="reference")
        exact = {}
        for k in observations:
            draws = exact_posterior(name, files.observation(name, k), c2st_samples, rng)
            if draws is not None:
                exact[k] = round(c2st(files.reference_samples(name, k)[:c2st_samples], draws), 4)
        report[name] = {
            "pit_ks_pvalue": float(kstest(pit, "uniform").pvalue),
            "pit_extreme_fraction": float(np.mean((pit < 0.01) | (pit > 0.99))),
            "pit_min": float(pit.min()), "pit_max": float(pit.max()),
            "predictive_quantile_min": float(predictive.min()), "predictive_quantile_max": float(predictive.max()),
            "exact_posterior_c2st": exact or None,
        }
    return report


# ----------------------------------------------------------------------------------------------------------
# The benchmark
# ----------------------------------------------------------------------------------------------------------


def fit_all(tasks: list[str], budgets: list[int], x_obs: dict[str, np.ndarray], observations: list[int],
            flow: str | None, seed: int, n_samples: int, refit_each: bool, max_epochs: int,
            log: Callable[[str], None]) -> tuple[dict, dict]:
    """Simulate and fit every (task, budget) and draw the samples of every observation.

    The simulations of (task, budget) come from ``np.random.default_rng([seed, task number in TASKS, budget,
    observation or 0])``, so a task's data do not depend on which other tasks run. Returns
    ``samples[(task, budget)][k]`` ``[n_samples, D]`` and ``fits[(task, budget)]``: per fit, the record
    of :func:`fit_and_sample` with ``train_s`` rounded to 0.1 s.
    """
    samples, fits = {}, {}
    for name in tasks:
        task = get_task(name)
        for budget in budgets:
            groups = [[k] for k in observations] if refit_each else [list(observations)]
            samples[(name, budget)], fits[(name, budget)] = {}, []
            for group in groups:
                rng = np.random.default_rng([seed, list(TASKS).index(name), budget, group[0] if refit_each else 0])
                theta = task.sample_prior(budget, rng)
                x = task.simulator(theta, rng)
                rows = [observations.index(k) for k in group]
                t0 = time.perf_counter()
                draws, record = fit_and_sample(theta, x, task.low, task.high, x_obs[name][rows], n_samples, seed, flow,
                                             max_epochs=max_epochs)
                secs = float(record["train_s"])
                fits[(name, budget)].append({**record, "train_s": round(secs, 1)})
                samples[(name, budget)].update(zip(group, draws))
                log(f"{name} {budget} sims: trained in {secs:.1f} s, sampled {len(group)} observation(s) in "
                    f"{time.perf_counter() - t0 - secs:.1f} s")
    return samples, fits


def run_benchmark(files: SbibmFiles, tasks: list[str], budgets: list[int], observations: list[int], flow: str | None,
                  seed: int, n_samples: int, refit_each: bool, max_epochs: int, log: Callable[[str], None],
                  stream: Callable[[dict], None] | None = None) -> list[dict]:
    """Fit every (task, budget) first (:func:`fit_all`), then compute the C2STs observation by observation
    (so that a run cut short still has every task and budget for the first observations); ``stream`` gets
    one row per C2ST. Returns :func:`summarize`'s records."""
    x_obs = {name: np.stack([files.observation(name, k) for k in observations]) for name in tasks}
    samples, fits = fit_all(tasks, budgets, x_obs, observations, flow, seed, n_samples, refit_each, max_epochs, log)
    rows = []
    for k in observations:
        for name in tasks:
            ref = files.reference_samples(name, k)[:n_samples]
            for budget in budgets:
                t0 = time.perf_counter()
                row = {"task": name, "simulations": budget, "observation": k,
                       "c2st": round(c2st(ref, samples[(name, budget)][k]), 5),
                       "train_s": [f["train_s"] for f in fits[(name, budget)]], "fits": fits[(name, budget)], "c2st_s": 0.0, "flow": flow, "refit_each": refit_each,
                       "samples": n_samples}
                row["c2st_s"] = round(time.perf_counter() - t0, 1)
                log(f"{name} {budget} sims obs {k}: C2ST {row['c2st']:.4f} ({row['c2st_s']:.0f} s)")
                rows.append(row)
                if stream is not None:
                    stream(row)
    return summarize(rows)


def summarize(rows: list[dict]) -> list[dict]:
    """Per (task, budget) record from per-C2ST rows (as streamed by :func:`run_benchmark`): jaxsnn's C2ST per
    observation and median, training seconds, published NPE medians (all 10 observations; the ones run)."""
    published = published_c2st()
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["simulations"]), []).append(row)
    records = []
    for (name, budget), group in groups.items():
        c2sts = {r["observation"]: r["c2st"] for r in group}
        pub = published.get((name, budget), {})
        records.append({
            "task": name, "simulations": budget, "observations": sorted(c2sts),
            "c2st": {str(k): c2sts[k] for k in sorted(c2sts)}, "c2st_median": float(np.median(list(c2sts.values()))),
            "published_median": float(np.median(list(pub.values()))) if pub else None,
            "published_median_same_obs": (float(np.median([pub[k] for k in c2sts]))
                                          if pub and all(k in pub for k in c2sts) else None),
            "train_s": group[0]["train_s"], "fits": group[0].get("fits"), "c2st_s": [r["c2st_s"] for r in group], "flow": group[0]["flow"],
            "refit_each": group[0]["refit_each"], "samples": group[0]["samples"],
        })
    return records


def format_table(records: list[dict]) -> str:
    lines = ["| task | sims | observations | jaxsnn C2ST median | published NPE median (10 obs) | published, same obs "
             "| train s | jaxsnn C2ST per observation |", "|---|---|---|---|---|---|---|---|"]
    for r in records:
        pub = "–" if r["published_median"] is None else f"{r['published_median']:.3f}"
        same = "–" if r["published_median_same_obs"] is None else f"{r['published_median_same_obs']:.3f}"
        obs = ",".join(str(k) for k in r["observations"])
        per = " ".join(f"{v:.3f}" for v in r["c2st"].values())
        secs = "+".join(f"{s:.0f}" for s in r["train_s"])
        lines.append(f"| {r['task']} | {r['simulations']} | {obs} | {r['c2st_median']:.3f} | {pub} | {same} | {secs} | {per} |")
    return "\n".join(lines)


def versions() -> dict[str, str]:
    import jax
    import sklearn

    out = {"python": platform.python_version(), "numpy": np.__version__, "jax": jax.__version__, "sklearn": sklearn.__version__,
           "sbibm_data": SBIBM_VERSION}
    try:
        import jaxsnn

        root = Path(jaxsnn.__file__).resolve().parents[1]
        out["jaxsnn_path"] = str(root)
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        if commit.returncode == 0:
            out["jaxsnn_commit"] = commit.stdout.strip()
    except Exception:  # noqa: BLE001 - informational only
        pass
    for mod in ("sbijax", "flowjax", "equinox"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - optional
            pass
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=list(TASKS), help=f"tasks (default all: {' '.join(TASKS)})")
    p.add_argument("--simulations", nargs="+", type=int, default=[1000, 10_000], help="budgets (default 1000 10000)")
    p.add_argument("--observations", nargs="+", type=int, default=list(range(1, N_OBSERVATIONS + 1)),
                   help="observation numbers 1..10 (default all)")
    p.add_argument("--flow", default=None, help="flow kind passed to the NPE's FlowConfig(kind=...) (default: its default)")
    p.add_argument("--flow-option", action="append", default=[], metavar="NAME=VALUE",
                   help="a further FlowConfig field, e.g. permutation=alternate or identity_start=true (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=REFERENCE_SAMPLES, help="posterior samples per C2ST (default 10 000)")
    p.add_argument("--max-epochs", type=int, default=MAX_EPOCHS, help=f"training cap (default {MAX_EPOCHS})")
    p.add_argument("--refit-each", action="store_true", help="train one network per observation (sbibm's protocol)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny run: two_moons and slcp, 500 simulations, observation 1, 1000 samples, 200 epochs")
    p.add_argument("--check-simulators", action="store_true", help="check the simulators against sbibm's files and exit")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    p.add_argument("--jsonl", type=Path, help="append one JSON line per C2ST to this file as it is computed")
    p.add_argument("--summarize", type=Path, nargs="+", metavar="JSONL",
                   help="print the table (and --json) of the C2ST lines in these --jsonl files and exit")
    p.add_argument("--batch-size", type=int, default=TRAINING["batch_size"],
                   help=f"training minibatch (default {TRAINING['batch_size']}: sbibm's, full-batch)")
    p.add_argument("--learning-rate", type=float, default=TRAINING["learning_rate"],
                   help=f"Adam learning rate (default {TRAINING['learning_rate']}: sbibm's)")
    args = p.parse_args(argv)
    TRAINING.update(batch_size=args.batch_size, learning_rate=args.learning_rate)
    FLOW_OPTIONS.update(parse_flow_options(args.flow_option))

    if args.smoke:
        args.tasks, args.simulations, args.observations = ["two_moons", "slcp"], [500], [1]
        args.samples, args.max_epochs = 1000, 200
    for name in args.tasks:
        get_task(name)
    for k in args.observations:
        check_observation(k)
    if len(set(args.observations)) != len(args.observations):
        raise SystemExit(f"--observations must not repeat; got {args.observations}")
    if any(n < 20 for n in args.simulations):
        raise SystemExit(f"--simulations must each be at least 20; got {args.simulations}")
    if not 2 <= args.samples <= REFERENCE_SAMPLES:
        raise SystemExit(f"--samples must lie in 2..{REFERENCE_SAMPLES} (the reference has {REFERENCE_SAMPLES}); got {args.samples}")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.summarize:
        rows = [json.loads(line) for path in args.summarize for line in open(path, encoding="utf-8") if line.strip()]
        records = summarize(rows)
        print(format_table(records))
        if args.json:
            print(json.dumps({"benchmark": "npe_sbibm", "versions": versions(), "results": records}))
        return 0

    files = SbibmFiles(sbibm_wheel())
    if args.check_simulators:
        report = check_simulators(files, args.tasks, args.observations, args.seed, min(args.samples, 2000))
        for name, r in report.items():
            print(f"{name}: {json.dumps(r)}")
        if args.json:
            print(json.dumps({"benchmark": "npe_sbibm_check_simulators", "report": report}))
        return 0

    t0 = time.perf_counter()
    def stream(row: dict) -> None:
        with open(args.jsonl, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    records = run_benchmark(files, args.tasks, args.simulations, args.observations, args.flow, args.seed, args.samples,
                            args.refit_each, args.max_epochs, log, stream if args.jsonl else None)
    print(format_table(records))
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.json:
        print(json.dumps({"benchmark": "npe_sbibm", "flow": args.flow, "seed": args.seed, "samples": args.samples,
                          "max_epochs": args.max_epochs, "training": dict(TRAINING), "smoke": args.smoke, "versions": versions(), "results": records}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
