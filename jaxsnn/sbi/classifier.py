"""The optional round-0 restriction classifier: screens out θ predicted to blow up.

A small MLP (z-scored θ → two tanh hidden layers → logit of P(blow-up)) is trained with the binary
cross-entropy on prior simulations (labels: the run blew up or not), with the same jitted
``lax.scan`` training loop and early stopping as the flows. The decision threshold is then tuned on
the held-out validation set so that at most ``false_negative_rate`` (default 1 %) of the rules that
did *not* blow up are rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._validation import check_int, check_probability
from .training import TrainConfig, TrainInfo, train_ensemble


def _init_mlp(key: jax.Array, sizes: tuple[int, ...]) -> list[dict[str, jax.Array]]:
    keys = jax.random.split(key, len(sizes) - 1)
    return [{"w": jax.random.normal(k, (a, b)) / np.sqrt(a), "b": jnp.zeros(b)}
            for k, a, b in zip(keys, sizes[:-1], sizes[1:])]


def _logit(params: list[dict[str, jax.Array]], z: jax.Array) -> jax.Array:
    h = z
    for layer in params[:-1]:
        h = jnp.tanh(h @ layer["w"] + layer["b"])
    return (h @ params[-1]["w"] + params[-1]["b"])[..., 0]


@dataclass
class RestrictionClassifier:
    """Trained blow-up classifier. ``accept(θ)`` is True where P(blow-up) < ``threshold``.

    params: MLP parameters; theta_mean, theta_std ``[D]``: z-scoring; threshold: probability cut;
    false_negative_rate: the measured fraction of non-blown-up validation rules rejected;
    true_rejection_rate: the measured fraction of blown-up validation rules rejected.
    """

    params: Any
    theta_mean: np.ndarray
    theta_std: np.ndarray
    threshold: float
    false_negative_rate: float
    true_rejection_rate: float

    def probability(self, theta: Any) -> np.ndarray:
        """P(blow-up) ``[N]`` for θ ``[N, D]``."""
        z = (np.atleast_2d(np.asarray(theta, np.float64)) - self.theta_mean) / self.theta_std
        return np.asarray(jax.nn.sigmoid(_logit(self.params, jnp.asarray(z, jnp.float32))), np.float64)

    def accept(self, theta: Any) -> np.ndarray:
        """``[N]`` bool: θ not predicted to blow up."""
        return self.probability(theta) < self.threshold


def train_restriction_classifier(theta: Any, blown_up: Any, *, false_negative_rate: float = 0.01,
                                 hidden: int = 50, train: TrainConfig = TrainConfig(batch_size=256),
                                 seed: int = 0, progress: bool = False) -> tuple[RestrictionClassifier, TrainInfo]:
    """Train the classifier on θ ``[N, D]`` and labels ``blown_up`` ``[N]`` (bool).

    The threshold is the (1 − ``false_negative_rate``) quantile of P(blow-up) over the validation
    rules that did not blow up (so that fraction of good rules would be rejected).
    """
    check_probability("false_negative_rate", false_negative_rate)
    check_int("hidden", hidden, minimum=1)
    theta = np.asarray(theta, np.float64)
    labels = np.asarray(blown_up, bool)
    if theta.ndim != 2 or labels.shape != (theta.shape[0],):
        raise ValueError(f"theta must be [N, D] and blown_up [N]; got {list(theta.shape)} and {list(labels.shape)}")
    if labels.all() or not labels.any():
        raise ValueError("the classifier needs both blown-up and surviving rules among the simulations")
    mean, std = theta.mean(0), theta.std(0)
    std = np.where(std > 0, std, 1.0)
    z = (theta - mean) / std
    key = jax.random.key(seed)
    init_key, train_key = jax.random.split(key)
    params = jax.vmap(lambda k: _init_mlp(k, (theta.shape[1], hidden, hidden, 1)))(init_key[None])

    def loss(p, batch):
        logit = _logit(p, batch["z"])
        return jnp.mean(jnp.maximum(logit, 0) - logit * batch["y"] + jnp.log1p(jnp.exp(-jnp.abs(logit))))

    params, info = train_ensemble(loss, params, {"z": z, "y": labels.astype(np.float32)}, train, train_key,
                                  progress=progress, label="restriction classifier")
    params = jax.tree_util.tree_map(lambda a: a[0], params)
    val_idx = info.validation_index
    clf = RestrictionClassifier(params, mean, std, 1.0, 0.0, 0.0)
    prob = clf.probability(theta[val_idx])
    good = ~labels[val_idx]
    if good.any():
        threshold = float(np.quantile(prob[good], 1.0 - false_negative_rate, method="higher")) + 1e-7
    else:
        threshold = 1.0
    clf.threshold = threshold
    clf.false_negative_rate = float(np.mean(prob[good] >= threshold)) if good.any() else 0.0
    bad = labels[val_idx]
    clf.true_rejection_rate = float(np.mean(prob[bad] >= threshold)) if bad.any() else float("nan")
    return clf, info
