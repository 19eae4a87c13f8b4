"""Scoring connection tests: 3×3 confusion matrix, detection rates, precision, ROC curves and AUC.

Connection types are coded ``0`` unconnected, ``1`` excitatory, ``2`` inhibitory
(:data:`CONNECTION_TYPES`). A detection with the wrong sign counts as a miss for its real type (and
as a false detection of the other type in the precision).

Every test yields a signed *score* per train: ``|score|`` ranks the evidence for a connection and
its sign is the predicted type. A threshold θ predicts "connected" where ``|score| > θ``; sweeping θ
over all values traces the ROC curve. At a fixed α the prediction uses the p-value (``p < α``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._validation import check_probability

CONNECTION_TYPES = ("unconnected", "excitatory", "inhibitory")
UNCONNECTED, EXCITATORY, INHIBITORY = 0, 1, 2


def classify(p_value: np.ndarray, sign: np.ndarray, alpha: float) -> np.ndarray:
    """Predicted type per train: unconnected unless ``p < alpha``, then excitatory if ``sign > 0``
    else inhibitory. NaN p-values predict unconnected."""
    check_probability("alpha", alpha)
    p_value = np.asarray(p_value)
    detected = p_value < alpha  # False for NaN
    return np.where(detected, np.where(np.asarray(sign) > 0, EXCITATORY, INHIBITORY), UNCONNECTED)


def confusion_matrix(real: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """int64 ``[3, 3]`` counts indexed ``[real type, predicted type]``."""
    real, predicted = np.asarray(real), np.asarray(predicted)
    if real.shape != predicted.shape:
        raise ValueError(f"real and predicted must have the same shape; got {real.shape} and {predicted.shape}")
    for name, x in (("real", real), ("predicted", predicted)):
        if x.size and (x.min() < 0 or x.max() > 2):
            raise ValueError(f"{name} types must be 0 (unconnected), 1 (excitatory) or 2 (inhibitory)")
    return np.bincount(3 * real.astype(np.int64) + predicted, minlength=9).reshape(3, 3)


class Performance(NamedTuple):
    """Rates from a confusion matrix (NaN where the denominator is zero).

    Attributes:
        fpr: unconnected trains detected as connected / unconnected trains (1 − specificity).
        tpr_exc, tpr_inh: correctly typed detections / real trains of that type (sensitivity).
        tpr: correctly typed detections / all connected trains.
        precision_exc, precision_inh: real trains of that type / trains predicted that type.
    """

    fpr: float
    tpr_exc: float
    tpr_inh: float
    tpr: float
    precision_exc: float
    precision_inh: float


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else float("nan")


def performance(cm: np.ndarray) -> Performance:
    """Detection rates and precision from a ``[real, predicted]`` confusion matrix."""
    cm = np.asarray(cm)
    if cm.shape != (3, 3):
        raise ValueError(f"confusion matrix must be 3×3; got shape {cm.shape}")
    u, e, i = UNCONNECTED, EXCITATORY, INHIBITORY
    return Performance(
        fpr=_ratio(cm[u].sum() - cm[u, u], cm[u].sum()),
        tpr_exc=_ratio(cm[e, e], cm[e].sum()),
        tpr_inh=_ratio(cm[i, i], cm[i].sum()),
        tpr=_ratio(cm[e, e] + cm[i, i], cm[e].sum() + cm[i].sum()),
        precision_exc=_ratio(cm[e, e], cm[:, e].sum()),
        precision_inh=_ratio(cm[i, i], cm[:, i].sum()),
    )


class ROC(NamedTuple):
    """ROC curves from sweeping the threshold, most conservative first.

    Attributes:
        threshold: ``[k]`` thresholds on ``|score|`` (detected where ``|score| > threshold``),
            from +inf (nothing detected) down to 0.
        fpr, tpr_exc, tpr_inh, tpr: ``[k]`` rates at each threshold.
        auc_exc, auc_inh, auc: trapezoidal areas under tpr_exc/tpr_inh/tpr against fpr.
    """

    threshold: np.ndarray
    fpr: np.ndarray
    tpr_exc: np.ndarray
    tpr_inh: np.ndarray
    tpr: np.ndarray
    auc_exc: float
    auc_inh: float
    auc: float


def roc_curve(score: np.ndarray, real: np.ndarray) -> ROC:
    """ROC curves of a signed score (see the module docstring); zero and NaN scores are never detected."""
    score = np.nan_to_num(np.asarray(score, np.float64), nan=0.0)
    real = np.asarray(real)
    n_unc, n_exc, n_inh = (int(np.sum(real == c)) for c in (UNCONNECTED, EXCITATORY, INHIBITORY))
    order = np.argsort(-np.abs(score), kind="stable")
    order = order[score[order] != 0]
    magnitude, real, positive = np.abs(score[order]), real[order], score[order] > 0
    # Trains with equal |score| cross any threshold together: count up to the end of each group.
    group_end = np.flatnonzero(np.r_[magnitude[1:] != magnitude[:-1], True]) if order.size else np.zeros(0, int)
    # After a group is detected, the threshold sits at the next group's |score| (0 after the last).
    threshold = np.r_[np.inf, magnitude[group_end][1:], 0.0] if order.size else np.array([np.inf])
    detected_unc, hit_exc, hit_inh = (
        np.r_[0, np.cumsum(hits)[group_end]]
        for hits in (real == UNCONNECTED, (real == EXCITATORY) & positive, (real == INHIBITORY) & ~positive)
    )

    def rate(count, total):
        return count / total if total else np.full(len(threshold), np.nan)

    fpr, tpr_exc, tpr_inh = rate(detected_unc, n_unc), rate(hit_exc, n_exc), rate(hit_inh, n_inh)
    tpr = rate(hit_exc + hit_inh, n_exc + n_inh)
    return ROC(threshold, fpr, tpr_exc, tpr_inh, tpr, _trapezoid(fpr, tpr_exc), _trapezoid(fpr, tpr_inh), _trapezoid(fpr, tpr))


def _trapezoid(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def tpr_at_fpr(roc: ROC, fpr: float = 0.05) -> tuple[float, float, float]:
    """(tpr_exc, tpr_inh, fpr reached) at the most liberal threshold whose FPR does not exceed ``fpr``."""
    check_probability("fpr", fpr)
    ok = np.flatnonzero(roc.fpr <= fpr + 1e-12)
    k = ok[-1]
    return float(roc.tpr_exc[k]), float(roc.tpr_inh[k]), float(roc.fpr[k])
