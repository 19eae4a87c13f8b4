"""Confusion matrix, rates and ROC/AUC on hand-worked examples."""

import numpy as np
import pytest

from jaxsnn.conntest import classify, confusion_matrix, performance, roc_curve, tpr_at_fpr

# 0 unconnected, 1 excitatory, 2 inhibitory
REAL = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
PRED = np.array([0, 1, 0, 2, 1, 1, 2, 2, 0, 1])


def test_confusion_matrix_counts_real_by_predicted():
    cm = confusion_matrix(REAL, PRED)
    np.testing.assert_array_equal(cm, [[2, 1, 1], [0, 2, 1], [1, 1, 1]])


def test_rates_from_the_hand_made_matrix():
    perf = performance(confusion_matrix(REAL, PRED))
    assert perf.fpr == pytest.approx(2 / 4)
    assert perf.tpr_exc == pytest.approx(2 / 3)
    assert perf.tpr_inh == pytest.approx(1 / 3)  # one inh predicted exc: wrong sign is a miss
    assert perf.tpr == pytest.approx(3 / 6)
    assert perf.precision_exc == pytest.approx(2 / 4)
    assert perf.precision_inh == pytest.approx(1 / 3)


def test_classify_uses_alpha_and_sign():
    p = np.array([0.5, 1e-4, 1e-4, 2e-3, np.nan])
    sign = np.array([1.0, 1.0, -1.0, -1.0, 1.0])
    np.testing.assert_array_equal(classify(p, sign, 1e-3), [0, 1, 2, 0, 0])
    with pytest.raises(ValueError, match="alpha"):
        classify(p, sign, 1.5)


def test_roc_on_a_known_case():
    score = np.array([0.5, -0.2, 3.0, 1.0, -2.0, -4.0, 0.1])
    real = np.array([0, 0, 1, 1, 1, 2, 2])
    roc = roc_curve(score, real)
    np.testing.assert_allclose(roc.threshold, [np.inf, 3, 2, 1, 0.5, 0.2, 0.1, 0])
    np.testing.assert_allclose(roc.fpr, [0, 0, 0, 0, 0, 0.5, 1, 1])
    np.testing.assert_allclose(roc.tpr_exc, [0, 0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(roc.tpr_inh, [0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert roc.auc_exc == pytest.approx(2 / 3)
    assert roc.auc_inh == pytest.approx(0.5)
    assert roc.auc == pytest.approx(3 / 5)
    assert tpr_at_fpr(roc, 0.0) == pytest.approx((2 / 3, 0.5, 0.0))


def test_roc_of_a_perfect_score_has_unit_area_and_ties_move_together():
    real = np.array([0, 0, 1, 1, 2])
    perfect = roc_curve(np.array([0.1, -0.2, 5.0, 4.0, -3.0]), real)
    assert perfect.auc_exc == pytest.approx(1.0) and perfect.auc_inh == pytest.approx(1.0)
    tied = roc_curve(np.array([2.0, 0.1, -2.0, 1.0, 0.0]), real)
    # |2| is shared by an unconnected and a wrong-signed excitatory train: one step, both at once.
    np.testing.assert_allclose(tied.fpr[:2], [0, 0.5])
    np.testing.assert_allclose(tied.tpr_exc[:3], [0, 0, 0.5])
    assert tied.tpr_inh[-1] == 0  # a zero score is never detected
