"""Activity and weight metrics of an fSBI run (spec fsbi.md §5), float64 numpy reference.

``compute_metrics`` turns the spikes recorded in the window [t_start, t_stop) (default [60, 70) s) and
the monitored weights of the plastic projections into the 17 numbers of the original pipeline. It is
the host-side reference; ``jaxsnn.fsbi.metrics_stream`` computes the same numbers on the device from
running statistics.

Choices where §5 is silent (each one is tested):

- Window: a spike counts when ``t_start <= t < t_stop``; spikes outside are ignored by every metric.
  Rates divide by ``t_stop - t_start``. ISIs are taken between consecutive in-window spikes of a neuron.
- Bins: edges ``np.arange(t_start, t_stop, width)`` for width 0.1 s (Fano factors), 0.01 s
  (auto_cov) and 0.001 s (fft, std_rate_temporal), so the bin that would end at ``t_stop`` is dropped
  (99, 999 and 9999 bins for the default window). Edge ``k`` lies at ``t_start + k * width``. Bins are
  half-open except the last, which is closed as in ``np.histogram``. Times within ``TIME_TOLERANCE``
  (1 ns) of an edge count as on it: a spike stamped 60.3 s belongs to the bin starting at 60.3 s even
  though ``np.arange`` puts that edge at 60.300000000000004 s. Spikes of the window after the last
  edge (e.g. in [69.9, 70) s for 0.1 s bins) enter only the rates and ISIs.
- kl_isi: the "population rate" of the 0.01 Hz fallback is ``rate`` (E neurons). Bin masses of the
  exponential law are formed in log space, ``log q_i = -r x_{i-1} + log(1 - e^{-r (x_i - x_{i-1})})``,
  so a bin whose mass underflows float64 gives a finite term rather than the reference's ``inf``.
  With no ISI at all (every histogram entry 0) kl_isi is 0.
- auto_cov: the maximum of a full autocorrelation is its lag-0 value (Cauchy-Schwarz), so the
  normalised value at lag L is ``|C(L)| / C(0)``; the window must hold at least 51 bins of 10 ms.
- Weights: a sample is strictly inside (t_start, t_stop) when it is more than 1 ns from both ends.
  w_creep uses the first and the last sample whatever their times. With no plastic projection,
  w_blow = w_creep = 0 (nothing can blow up or creep).
- A run without any spike gives defined numbers: rate = rate_i = 0, cv_isi = std_cv = 0, kl_isi = 0,
  spatial_Fano = temporal_Fano = 0, auto_cov = 1 (every neuron is "almost constant"), fft = 0,
  std_rate_temporal = std_rate_spatial = 0. Populations must hold at least one neuron.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._validation import check_int, check_positive

METRIC_NAMES: tuple[str, ...] = (
    "rate",
    "cv_isi",
    "kl_isi",
    "spatial_Fano",
    "temporal_Fano",
    "auto_cov",
    "fft",
    "w_blow",
    "std_rate_temporal",
    "std_rate_spatial",
    "std_cv",
    "w_creep",
    "rate_i",
    "weef",
    "weif",
    "wief",
    "wiif",
)
"""Metric order of the released polynomial data (spec §9)."""

MLP_METRIC_NAMES: tuple[str, ...] = tuple(m for m in METRIC_NAMES if m not in ("weif", "wiif"))
"""Metric order of the released MLP data (EI and II are static there)."""

PROJECTIONS: tuple[str, ...] = ("ee", "ei", "ie", "ii")
FINAL_WEIGHT_METRIC: dict[str, str] = {"ee": "weef", "ei": "weif", "ie": "wief", "ii": "wiif"}
WEIGHT_DRIFT_METRIC: dict[str, str] = {"ee": "w_drift_ee", "ei": "w_drift_ei", "ie": "w_drift_ie", "ii": "w_drift_ii"}
"""Signed relative drift of a plastic projection's mean monitored weight over the window,
``2 (end - start) / (end + start)`` (0 where ``end + start <= W_CREEP_MIN_SUM``), so that
``w_creep = max |w_drift_*|``. Not part of the original's 17 metrics (nor of its release format):
w_creep folds away the sign and which projection moved; the drifts say whether each projection is
still potentiating or depressing. On the scaled-down network they follow the mean-field drift of
the polynomial rule, ``α r_pre + β r_post + r_pre r_post (κ τ_post + γ τ_pre)`` with the measured
rates (Spearman correlation 0.97–0.98 over 427 simulated prior and posterior rules)."""

DRIFT_METRIC_NAMES: tuple[str, ...] = tuple(WEIGHT_DRIFT_METRIC.values())
"""Extra metrics after the 17 of ``METRIC_NAMES``, for the plastic projections (polynomial: all four)."""

MLP_DRIFT_METRIC_NAMES: tuple[str, ...] = ("w_drift_ee", "w_drift_ie")
"""The extra metrics of MLP runs (EE and IE plastic)."""


def run_metric_names(task: str) -> tuple[str, ...]:
    """Every metric a ``task`` run reports (``jaxsnn.fsbi.simulate``, sweep stores): the release's
    metrics, then the signed weight drifts."""
    if task == "polynomial":
        return METRIC_NAMES + DRIFT_METRIC_NAMES
    if task == "mlp":
        return MLP_METRIC_NAMES + MLP_DRIFT_METRIC_NAMES
    raise ValueError(f"task must be 'polynomial' or 'mlp'; got {task!r}")

FANO_BIN = 0.1  # s
AUTOCOV_BIN = 0.01  # s
FFT_BIN = 0.001  # s
AUTOCOV_MAX_LAG = 50  # bins of AUTOCOV_BIN on each side
AUTOCOV_MIN_STD = 0.05  # spikes/bin; below, a neuron's autocovariance counts as 1
FANO_MIN_SPIKES = 3  # a Fano factor over at most this many spikes is 0
KL_N_EDGES = 100  # edges of the ISI histogram on [0, KL_ISI_MAX]
KL_ISI_MAX = 1.0  # s
KL_LOW_RATE = 0.1  # Hz; at or below this E rate the reference law has rate KL_FALLBACK_RATE
KL_FALLBACK_RATE = 0.01  # Hz
CV_MIN_ISIS = 3  # a CV needs more than 2 ISIs
W_CREEP_MIN_SUM = 0.1  # start + end mean weight below or at this gives w_creep 0
TIME_TOLERANCE = 1e-9  # s


def n_bins(t_start: float, t_stop: float, width: float) -> int:
    """Number of bins of ``width`` (s) in the window: ``len(np.arange(t_start, t_stop, width)) - 1``."""
    return len(np.arange(t_start, t_stop, width)) - 1


def _binned_counts(
    times: np.ndarray, ids: np.ndarray, n: int, t_start: float, t_stop: float, width: float
) -> np.ndarray:
    """``[n, n_bins]`` spike counts per neuron in bins of ``width`` (s) on the window's edges."""
    count = n_bins(t_start, t_stop, width)
    x = (times - t_start) / width
    tol = TIME_TOLERANCE / width
    index = np.floor(x + tol).astype(np.int64)
    on_last_edge = (index == count) & (x <= count + tol)
    index = np.where(on_last_edge, count - 1, index)
    inside = (index >= 0) & (index < count)
    counts = np.zeros((n, count), dtype=np.int64)
    np.add.at(counts, (ids[inside], index[inside]), 1)
    return counts


def _fano(counts: np.ndarray, axis: int) -> np.ndarray:
    """var/mean of ``counts`` along ``axis`` (ddof 0), 0 where the counts sum to at most 3."""
    total = counts.sum(axis=axis)
    mean = counts.mean(axis=axis)
    var = counts.var(axis=axis)
    enough = total > FANO_MIN_SPIKES
    return np.where(enough, var / np.where(enough, mean, 1.0), 0.0)


def _isis(times: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inter-spike intervals (s) of each neuron and the neuron each belongs to."""
    order = np.lexsort((times, ids))
    t, owner = times[order], ids[order]
    same = owner[1:] == owner[:-1]
    return np.diff(t)[same], owner[1:][same]


def _cvs(isis: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Per-neuron std/mean of ISIs, 0 for neurons with at most 2 ISIs."""
    count = np.bincount(owner, minlength=n)
    safe = np.maximum(count, 1)
    mean = np.bincount(owner, weights=isis, minlength=n) / safe
    var = np.bincount(owner, weights=(isis - mean[owner]) ** 2, minlength=n) / safe
    enough = count >= CV_MIN_ISIS
    return np.where(enough, np.sqrt(var) / np.where(enough, mean, 1.0), 0.0)


def _exponential_log_mass(rate: float, edges: np.ndarray) -> np.ndarray:
    """log of the mass an exponential law of ``rate`` (Hz) puts in each bin between ``edges`` (s)."""
    lower, width = edges[:-1], np.diff(edges)
    return -rate * lower + np.log(-np.expm1(-rate * width))


def _kl_isi(isis: np.ndarray, rate: float) -> float:
    edges = np.linspace(0.0, KL_ISI_MAX, KL_N_EDGES)
    if isis.size == 0:
        return 0.0
    hist, _ = np.histogram(np.clip(isis, 0.0, KL_ISI_MAX), bins=edges)
    p = hist / isis.size
    law_rate = KL_FALLBACK_RATE if rate <= KL_LOW_RATE else 1.0 / isis.mean()
    log_q = _exponential_log_mass(law_rate, edges)
    seen = p > 0
    return float(abs(np.sum(p[seen] * (np.log(p[seen]) - log_q[seen]))))


def _auto_cov(counts: np.ndarray) -> float:
    """Mean over neurons of the normalised |autocorrelation| over lags -50..50 (1 if std <= 0.05)."""
    n_bin = counts.shape[1]
    x = counts.astype(np.float64)
    active = x.std(axis=1) > AUTOCOV_MIN_STD
    y = x[active] - x[active].mean(axis=1, keepdims=True)
    lags = np.stack([np.sum(y[:, : n_bin - lag] * y[:, lag:], axis=1) for lag in range(AUTOCOV_MAX_LAG + 1)])
    normalised = np.abs(lags) / lags[0]
    per_neuron = np.ones(counts.shape[0])
    per_neuron[active] = (normalised[0] + 2.0 * normalised[1:].sum(axis=0)) / (2 * AUTOCOV_MAX_LAG + 1)
    return float(per_neuron.mean())


def _fft_and_std(counts: np.ndarray) -> tuple[float, float]:
    """fft metric and std_rate_temporal from ``[n, N]`` counts in 1 ms bins."""
    population = counts.mean(axis=0)
    n_bin = population.size
    spectrum = 2.0 / n_bin * np.abs(np.fft.fft(population)[: n_bin // 2])
    return float(spectrum[1:].sum()), float(population.std())


def _weight_metrics(
    weights: Mapping[str, tuple[np.ndarray, np.ndarray]], t_start: float, t_stop: float, w_max: float
) -> dict[str, float]:
    blow, creep, finals = [], 0.0, {}
    for name in PROJECTIONS:
        if name not in weights:
            continue
        times, values = weights[name]
        inside = (times > t_start + TIME_TOLERANCE) & (times < t_stop - TIME_TOLERANCE)
        window = values[inside]
        blow.append(float(np.mean((window == 0.0) | (window == w_max))))
        start, end = values[0].mean(), values[-1].mean()
        drift = float(2.0 * (end - start) / (end + start)) if start + end > W_CREEP_MIN_SUM else 0.0
        creep = max(creep, abs(drift))
        finals[FINAL_WEIGHT_METRIC[name]] = float(end)
        finals[WEIGHT_DRIFT_METRIC[name]] = drift
    return {"w_blow": float(np.mean(blow)) if blow else 0.0, "w_creep": creep, **finals}


def _check_spikes(name: str, times: Any, ids: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    times = np.asarray(times, dtype=np.float64)
    ids_raw = np.asarray(ids)
    if times.ndim != 1 or ids_raw.shape != times.shape:
        raise ValueError(
            f"{name}_times and {name}_ids must be 1-D arrays of equal length; "
            f"got shapes {list(times.shape)} and {list(ids_raw.shape)}"
        )
    if ids_raw.size and not np.all(np.equal(np.mod(ids_raw, 1), 0)):
        raise ValueError(f"{name}_ids must be integer neuron indices")
    ids = ids_raw.astype(np.int64)
    if not np.all(np.isfinite(times)):
        raise ValueError(f"{name}_times must be finite (s)")
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise ValueError(f"{name}_ids must lie in [0, {n - 1}] (n_{name} = {n}); got [{ids.min()}, {ids.max()}]")
    return times, ids


def _check_weights(
    weights: Mapping[str, Any], t_start: float, t_stop: float
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    checked = {}
    for name, entry in weights.items():
        if name not in PROJECTIONS:
            raise ValueError(f"weights keys must be among {list(PROJECTIONS)}; got {name!r}")
        times, values = entry
        times = np.asarray(times, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        if times.ndim != 1 or values.ndim != 2 or values.shape[0] != times.shape[0] or values.size == 0:
            raise ValueError(
                f"weights[{name!r}] must be (sample_times [S], values [S, n_monitored]) with S, n_monitored >= 1; "
                f"got shapes {list(times.shape)} and {list(values.shape)}"
            )
        if not (np.all(np.isfinite(times)) and np.all(np.isfinite(values))):
            raise ValueError(f"weights[{name!r}] must hold finite sample times and weights")
        inside = (times > t_start + TIME_TOLERANCE) & (times < t_stop - TIME_TOLERANCE)
        if not inside.any():
            raise ValueError(
                f"weights[{name!r}] has no sample strictly inside ({t_start}, {t_stop}) s, so w_blow is undefined"
            )
        checked[name] = (times, values)
    return checked


def compute_metrics(
    e_times: Any,
    e_ids: Any,
    i_times: Any,
    i_ids: Any,
    weights: Mapping[str, tuple[Any, Any]],
    *,
    t_start: float = 60.0,
    t_stop: float = 70.0,
    n_e: int = 1000,
    n_i: int = 500,
    w_max: float = 20.0,
) -> dict[str, float]:
    """The metrics of spec §5 for one run (float64).

    Args:
        e_times, e_ids: ``[K_e]`` spike times (s) and indices in ``[0, n_e)`` of the recorded E neurons,
            in any order; spikes outside [t_start, t_stop) are ignored.
        i_times, i_ids: the same for the recorded I neurons (``[0, n_i)``).
        weights: plastic projection name (``"ee"``, ``"ei"``, ``"ie"``, ``"ii"``) ->
            ``(sample_times [S] in s, values [S, n_monitored])``, weights in units of the leak
            conductance.
        t_start, t_stop: recording window (s).
        n_e, n_i: number of recorded E and I neurons (silent ones included).
        w_max: upper weight bound of the rule (same unit as the weights).

    Returns:
        ``{name: value}`` in the order of ``METRIC_NAMES``, then ``DRIFT_METRIC_NAMES``;
        weef/weif/wief/wiif and w_drift_* only for the projections present in ``weights``. Units: rate and rate_i in Hz, std_rate_spatial in Hz,
        std_rate_temporal in spikes per 1 ms bin per neuron, the rest dimensionless.
        See the module docstring for the conventions where the spec is silent.
    """
    n_e = check_int("n_e", n_e, minimum=1)
    n_i = check_int("n_i", n_i, minimum=1)
    check_positive("w_max", w_max)
    if not (np.isfinite(t_start) and np.isfinite(t_stop) and t_stop > t_start):
        raise ValueError(f"need finite t_start < t_stop (s); got t_start={t_start}, t_stop={t_stop}")
    if n_bins(t_start, t_stop, AUTOCOV_BIN) < AUTOCOV_MAX_LAG + 1:
        raise ValueError(
            f"the window [{t_start}, {t_stop}) s must hold at least {AUTOCOV_MAX_LAG + 1} bins of "
            f"{AUTOCOV_BIN} s for auto_cov; make it at least 0.52 s long"
        )
    e_times, e_ids = _check_spikes("e", e_times, e_ids, n_e)
    i_times, i_ids = _check_spikes("i", i_times, i_ids, n_i)
    weights = _check_weights(weights, t_start, t_stop)

    def in_window(times: np.ndarray) -> np.ndarray:
        return (times >= t_start - TIME_TOLERANCE) & (times < t_stop - TIME_TOLERANCE)

    keep_e, keep_i = in_window(e_times), in_window(i_times)
    e_times, e_ids = e_times[keep_e], e_ids[keep_e]
    duration = t_stop - t_start

    spike_counts = np.bincount(e_ids, minlength=n_e)
    rate = e_times.size / n_e / duration
    isis, owner = _isis(e_times, e_ids)
    cvs = _cvs(isis, owner, n_e)
    fano_counts = _binned_counts(e_times, e_ids, n_e, t_start, t_stop, FANO_BIN)
    fft, std_rate_temporal = _fft_and_std(_binned_counts(e_times, e_ids, n_e, t_start, t_stop, FFT_BIN))
    weight_metrics = _weight_metrics(weights, t_start, t_stop, w_max)

    values = {
        "rate": rate,
        "cv_isi": float(cvs.mean()),
        "kl_isi": _kl_isi(isis, rate),
        "spatial_Fano": float(_fano(fano_counts, axis=0).mean()),
        "temporal_Fano": float(_fano(fano_counts, axis=1).mean()),
        "auto_cov": _auto_cov(_binned_counts(e_times, e_ids, n_e, t_start, t_stop, AUTOCOV_BIN)),
        "fft": fft,
        "std_rate_temporal": std_rate_temporal,
        "std_rate_spatial": float(np.std(spike_counts / duration)),
        "std_cv": float(cvs.std()),
        "rate_i": int(keep_i.sum()) / n_i / duration,
        **weight_metrics,
    }
    return {name: float(values[name]) for name in METRIC_NAMES + DRIFT_METRIC_NAMES if name in values}
