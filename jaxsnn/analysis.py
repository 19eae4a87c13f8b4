"""Spike-train statistics computed on the host (numpy), shared by experiments and benchmarks."""

from __future__ import annotations

import numpy as np


def mean_cv_isi(times: np.ndarray, ids: np.ndarray, *, min_spikes: int = 3) -> float:
    """Mean over neurons (with at least ``min_spikes`` spikes) of std(ISI)/mean(ISI); NaN if none.

    Args:
        times: spike times (s) or steps; ids: neuron index of each spike (same length).
    """
    times = np.asarray(times, np.float64)
    ids = np.asarray(ids)
    order = np.lexsort((times, ids))
    times, ids = times[order], ids[order]
    cvs = []
    for run in np.split(np.arange(ids.size), np.flatnonzero(np.diff(ids)) + 1):
        if run.size >= min_spikes:
            isi = np.diff(times[run])
            cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else float("nan")


def population_rate(times: np.ndarray, n_neurons: int, duration: float, bin_width: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Population firing rate (Hz per neuron) in bins of ``bin_width`` s: returns (bin starts, rate)."""
    edges = np.arange(0.0, duration + 0.5 * bin_width, bin_width)
    counts, _ = np.histogram(times, edges)
    return edges[:-1], counts / (n_neurons * bin_width)
