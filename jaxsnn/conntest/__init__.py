"""Connection tests: is an input spike train connected to a neuron, judged from its voltage alone?

Tests (each jitted and vmapped over blocks of trains; surrogates vmapped too):

- :func:`regression_test`: the reference's line fit through pooled 10 ms post-spike windows.
- :func:`sta_test`: the reference's spike-triggered-average peak-to-peak test against 100
  ISI-shuffled surrogates.
- :func:`whitened_test`: our z-test on the prewhitened voltage increments.

Scoring: :func:`classify`, :func:`confusion_matrix`, :func:`performance`, :func:`roc_curve`,
:func:`tpr_at_fpr`. Spike trains are :class:`SpikeTrains` (step indices, ragged).
"""

from .regression import RegressionResult, regression_test, slope_t_statistic, window_sums
from .scoring import (
    CONNECTION_TYPES,
    EXCITATORY,
    INHIBITORY,
    ROC,
    UNCONNECTED,
    Performance,
    classify,
    confusion_matrix,
    performance,
    roc_curve,
    tpr_at_fpr,
)
from .sta import STAResult, spike_triggered_averages, sta_test
from .trains import PaddedBlock, SpikeTrains, concatenate, padded_blocks, shuffle_isis, shuffled_trains
from .whitened import Innovations, WhitenedResult, innovations, whitened_test

__all__ = [
    "RegressionResult", "regression_test", "slope_t_statistic", "window_sums",
    "CONNECTION_TYPES", "EXCITATORY", "INHIBITORY", "ROC", "UNCONNECTED", "Performance", "classify",
    "confusion_matrix", "performance", "roc_curve", "tpr_at_fpr",
    "STAResult", "spike_triggered_averages", "sta_test",
    "PaddedBlock", "SpikeTrains", "concatenate", "padded_blocks", "shuffle_isis", "shuffled_trains",
    "Innovations", "WhitenedResult", "innovations", "whitened_test",
]
