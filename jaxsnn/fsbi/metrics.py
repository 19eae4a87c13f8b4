"""Activity and weight metrics of an fSBI run (docs/models/fsbi.md, "Metrics"), float64 numpy reference.

``compute_metrics`` turns the spikes recorded in the window [t_start, t_stop) (default [60, 70) s) and
the monitored weights of the plastic projections into the 17 numbers of the original pipeline. It is
the host-side reference; ``jaxsnn.fsbi.metrics_stream`` computes the same numbers on the device from
running statistics.

Choices where the definitions leave a choice (each one is tested):

- Times: the original reads spike times from Auryn's text output (``"%f"``, a spike at step ``k`` of
  0.1 ms becomes the float64 nearest ``k / 10000``, e.g. 60.3) and weight-sample times likewise. By
  default (``resolution=1e-4``) every given time ``t`` is read the same way: ``k = round(t / resolution)``,
  then ``t = k / round(1 / resolution)`` in float64 (the nearest float64 to ``k * resolution``), so
  times computed as ``t_start + k * dt`` and times read from the original's files give the same
  numbers. ``resolution=None`` takes the times as given.
- Window: a spike counts when ``t_start <= t < t_stop`` (no tolerance); spikes outside are ignored by
  every metric (the original's monitor records only that window). Rates divide by
  ``t_stop - t_start``. ISIs are taken between consecutive in-window spikes of a neuron.
- Bins (``binning="reference"``, the default, the original's rule): ``np.histogram`` on the edges
  ``np.arange(t_start, t_stop, width)`` exactly as numpy makes them, for width 0.1 s (Fano factors),
  0.01 s (auto_cov) and 0.001 s (fft, std_rate_temporal), with no tolerance. The bin that would end at
  ``t_stop`` is dropped (99, 999 and 9999 bins for the default window); bins are half-open except the
  last, which is closed as in ``np.histogram``. A spike on an edge goes wherever that comparison puts
  it: ``np.arange(60, 70, 0.1)`` makes the edge 60.3 s at 60.300000000000004 s, so a spike at 60.3 s
  counts in the bin *before* it (96 of the 98 interior 100 ms edges, all but 60.1 and 60.2, lie above
  their decimal value; every interior 10 ms and 1 ms edge lies below or on it), a spike at 69.9 s
  counts in the last 100 ms bin (its closed edge is 69.90000000000015), and a spike at 69.999 s lies
  past the last 1 ms edge (69.99899999999...) and in no bin. Spikes of the window after the last edge (e.g. in
  [69.9, 70) s for 0.1 s bins) enter only the rates and ISIs. ``binning="exact"`` (jaxsnn before
  this rule; kept to compare with stores computed then) puts edge ``j`` at ``t_start + j * width``
  with times within ``TIME_TOLERANCE`` (1 ns) of an edge counted as on it, the last edge included.
- kl_isi: the "population rate" of the 0.01 Hz fallback is ``rate`` (E neurons). Bin masses of the
  exponential law are formed in log space, ``log q_i = -r x_{i-1} + log(1 - e^{-r (x_i - x_{i-1})})``,
  so a bin whose mass underflows float64 gives a finite term rather than the reference's ``inf``.
  With no ISI at all (every histogram entry 0) kl_isi is 0.
- auto_cov: the maximum of a full autocorrelation is its lag-0 value (Cauchy-Schwarz), so the
  normalised value at lag L is ``|C(L)| / C(0)``; the window must hold at least 51 bins of 10 ms.
- Weights: a sample is strictly inside (t_start, t_stop) as read at ``resolution`` (no tolerance).
  The original reads the weights from Auryn's text output, written with 7 significant digits
  (``%.6e``), and compares them with 0 and w_max exactly. By default (``weight_digits=7``) a sample
  therefore counts as w_max when it prints as w_max at 7 significant digits (for w_max = 20: from
  19.999995, i.e. ``"2.000000e+01"``; 19.99999 prints as ``"1.999999e+01"`` and does not count) and as 0
  only when it is 0 (scientific notation keeps 7 digits of any nonzero value). ``weight_digits=None``
  compares the values as given. w_creep uses the first and the last sample whatever their times. With no plastic projection,
  w_blow = w_creep = 0 (nothing can blow up or creep).
- A run without any spike gives defined numbers: rate = rate_i = 0, cv_isi = std_cv = 0, kl_isi = 0,
  spatial_Fano = temporal_Fano = 0, auto_cov = 1 (every neuron is "almost constant"), fft = 0,
  std_rate_temporal = std_rate_spatial = 0. Populations must hold at least one neuron.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._validation import check_choice, check_int, check_positive
from ..family import get_family

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
"""Metric order of the released polynomial data (docs/models/fsbi.md, "The release format")."""

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
    """Every metric a run of rule family ``task`` reports (``jaxsnn.fsbi.simulate``, sweep stores): the
    release's metrics, then the signed weight drifts (:attr:`jaxsnn.RuleFamily.metric_names`)."""
    return get_family(task, what="task").metric_names

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
TIME_TOLERANCE = 1e-9  # s; only for binning="exact"
REFERENCE_RESOLUTION = 1e-4  # s; Auryn's time step, the resolution of the original's spike times
WEIGHT_DIGITS = 7  # significant digits of the weights in the original's weight-monitor files
BINNINGS = ("reference", "exact")


def n_bins(t_start: float, t_stop: float, width: float) -> int:
    """Number of bins of ``width`` (s) in the window: ``len(np.arange(t_start, t_stop, width)) - 1``."""
    return len(np.arange(t_start, t_stop, width)) - 1


def _steps_per_second(resolution: float) -> int:
    check_positive("resolution", resolution)
    per_second = round(1.0 / resolution)
    if per_second < 1 or abs(per_second * resolution - 1.0) > 1e-9:
        raise ValueError(f"resolution must divide 1 s (1 / resolution an integer); got {resolution!r} s")
    return per_second


def step_times(steps: Any, dt: float = REFERENCE_RESOLUTION) -> np.ndarray:
    """Times (s) of absolute time steps ``k`` as the original reads them: the float64 nearest ``k * dt``,
    i.e. ``k / round(1 / dt)`` (Auryn writes ``k * dt`` with ``"%f"``; at dt = 0.1 ms that text is the
    decimal ``k / 10000`` and Python's ``float`` reads it as the nearest float64)."""
    return np.asarray(steps, np.int64) / _steps_per_second(dt)


def read_times(times: Any, resolution: float | None = REFERENCE_RESOLUTION) -> np.ndarray:
    """``times`` (s) as the original would have read them at ``resolution``: each snapped to the nearest
    step ``k`` and returned as ``step_times(k, resolution)``; unchanged (float64) for ``None``."""
    times = np.asarray(times, np.float64)
    if resolution is None:
        return times
    per_second = _steps_per_second(resolution)
    return np.rint(times * per_second) / per_second


def bin_index(
    times: Any, t_start: float, t_stop: float, width: float, binning: str = "reference"
) -> np.ndarray:
    """int64 bin of each time (s) among the ``n_bins(t_start, t_stop, width)`` bins of the window, -1
    for times in no bin. ``binning="reference"``: ``np.histogram(times, np.arange(t_start, t_stop,
    width))`` exactly (bin ``j`` is ``[e_j, e_{j+1})``, the last closed); ``"exact"``: edges at
    ``t_start + j * width`` within ``TIME_TOLERANCE``. See the module docstring."""
    times = np.asarray(times, np.float64)
    if binning == "reference":
        edges = np.arange(t_start, t_stop, width)
        count = len(edges) - 1
        index = np.searchsorted(edges, times, side="right") - 1
        index = np.where(times == edges[-1], count - 1, index)
    elif binning == "exact":
        count = n_bins(t_start, t_stop, width)
        x = (times - t_start) / width
        tol = TIME_TOLERANCE / width
        index = np.floor(x + tol).astype(np.int64)
        index = np.where((index == count) & (x <= count + tol), count - 1, index)
    else:
        raise ValueError(f"binning must be one of {list(BINNINGS)}; got {binning!r}")
    return np.where((index >= 0) & (index < count), index, -1).astype(np.int64)


def _binned_counts(
    times: np.ndarray, ids: np.ndarray, n: int, t_start: float, t_stop: float, width: float,
    binning: str = "reference",
) -> np.ndarray:
    """``[n, n_bins]`` spike counts per neuron in bins of ``width`` (s) on the window's edges."""
    index = bin_index(times, t_start, t_stop, width, binning)
    inside = index >= 0
    counts = np.zeros((n, n_bins(t_start, t_stop, width)), dtype=np.int64)
    np.add.at(counts, (ids[inside], index[inside]), 1)
    return counts


def printed_interval(value: float, digits: int = WEIGHT_DIGITS) -> tuple[float, float]:
    """The float64 interval ``[lo, hi]`` of the numbers that print as ``value`` with ``digits``
    significant digits (``"%.{digits-1}e"``, correctly rounded, as C's printf and Python format) and read
    back equal to ``value``; ``(0.0, 0.0)`` for 0 (only 0 prints as 0), and ``(nan, nan)`` (empty)
    when ``value`` itself does not read back as ``value`` (e.g. 1/3)."""
    check_int("digits", digits, minimum=1)
    value = float(value)
    spec = f"%.{digits - 1}e"

    def prints_as(x: float) -> bool:
        return float(spec % x) == value

    if value == 0.0:
        return 0.0, 0.0
    if not np.isfinite(value) or not prints_as(value):
        return float("nan"), float("nan")
    sign = 1.0 if value > 0 else -1.0
    magnitude = abs(value)
    # float64 >= 0 are ordered like their int64 bit patterns: bisect over those.
    as_int = lambda x: int(np.float64(x).view(np.int64))  # noqa: E731
    as_float = lambda i: float(np.int64(i).view(np.float64))  # noqa: E731
    spread = magnitude * 10.0 ** (1 - digits)  # one unit of the last printed digit, at most
    bounds = []
    for far in (max(magnitude - spread, 0.0), magnitude + spread):
        inside, outside = as_int(magnitude), as_int(far)
        while abs(outside - inside) > 1:
            mid = (inside + outside) // 2
            if prints_as(sign * as_float(mid)):
                inside = mid
            else:
                outside = mid
        bounds.append(as_float(inside))
    lo, hi = sorted(sign * b for b in bounds)
    return lo, hi


def pinned_weights(values: Any, w_max: float, digits: int | None = WEIGHT_DIGITS) -> np.ndarray:
    """bool: which weights the original counts as 0 or w_max in w_blow, i.e. which print as 0 or as
    w_max with ``digits`` significant digits (``None``: equal to 0 or w_max as given)."""
    values = np.asarray(values, np.float64)
    if digits is None:
        return (values == 0.0) | (values == w_max)
    lo, hi = printed_interval(w_max, digits)
    return (values == 0.0) | ((values >= lo) & (values <= hi))


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
    weights: Mapping[str, tuple[np.ndarray, np.ndarray]], t_start: float, t_stop: float, w_max: float,
    weight_digits: int | None,
) -> dict[str, float]:
    blow, creep, finals = [], 0.0, {}
    for name in PROJECTIONS:
        if name not in weights:
            continue
        times, values = weights[name]
        window = values[(times > t_start) & (times < t_stop)]
        blow.append(float(np.mean(pinned_weights(window, w_max, weight_digits))))
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
    weights: Mapping[str, Any], t_start: float, t_stop: float, resolution: float | None
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
        times = read_times(times, resolution)
        if not ((times > t_start) & (times < t_stop)).any():
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
    resolution: float | None = REFERENCE_RESOLUTION,
    binning: str = "reference",
    weight_digits: int | None = WEIGHT_DIGITS,
) -> dict[str, float]:
    """The metrics of docs/models/fsbi.md, "Metrics", for one run (float64).

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
        resolution: time step (s) at which spike and weight-sample times are read, as the original
            reads Auryn's output (see ``read_times``); ``None`` uses the times as given.
        binning: ``"reference"`` (the original's ``np.histogram`` on ``np.arange`` edges) or
            ``"exact"`` (decimal edges within 1 ns, jaxsnn's earlier rule).
        weight_digits: significant digits at which weights are compared with 0 and w_max
            (7, the original's files; ``None``: exact comparison).

    Returns:
        ``{name: value}`` in the order of ``METRIC_NAMES``, then ``DRIFT_METRIC_NAMES``;
        weef/weif/wief/wiif and w_drift_* only for the projections present in ``weights``. Units: rate and rate_i in Hz, std_rate_spatial in Hz,
        std_rate_temporal in spikes per 1 ms bin per neuron, the rest dimensionless.
        See the module docstring for the conventions where the definitions leave a choice.
    """
    n_e = check_int("n_e", n_e, minimum=1)
    n_i = check_int("n_i", n_i, minimum=1)
    check_positive("w_max", w_max)
    check_choice("binning", binning, BINNINGS)
    if resolution is not None:
        _steps_per_second(resolution)
    if weight_digits is not None:
        check_int("weight_digits", weight_digits, minimum=1)
    if not (np.isfinite(t_start) and np.isfinite(t_stop) and t_stop > t_start):
        raise ValueError(f"need finite t_start < t_stop (s); got t_start={t_start}, t_stop={t_stop}")
    if n_bins(t_start, t_stop, AUTOCOV_BIN) < AUTOCOV_MAX_LAG + 1:
        raise ValueError(
            f"the window [{t_start}, {t_stop}) s must hold at least {AUTOCOV_MAX_LAG + 1} bins of "
            f"{AUTOCOV_BIN} s for auto_cov; make it at least 0.52 s long"
        )
    e_times, e_ids = _check_spikes("e", e_times, e_ids, n_e)
    i_times, i_ids = _check_spikes("i", i_times, i_ids, n_i)
    weights = _check_weights(weights, t_start, t_stop, resolution)
    e_times, i_times = read_times(e_times, resolution), read_times(i_times, resolution)

    def in_window(times: np.ndarray) -> np.ndarray:
        if binning == "exact":
            return (times >= t_start - TIME_TOLERANCE) & (times < t_stop - TIME_TOLERANCE)
        return (times >= t_start) & (times < t_stop)

    keep_e, keep_i = in_window(e_times), in_window(i_times)
    e_times, e_ids = e_times[keep_e], e_ids[keep_e]
    duration = t_stop - t_start

    spike_counts = np.bincount(e_ids, minlength=n_e)
    rate = e_times.size / n_e / duration
    isis, owner = _isis(e_times, e_ids)
    cvs = _cvs(isis, owner, n_e)
    fano_counts = _binned_counts(e_times, e_ids, n_e, t_start, t_stop, FANO_BIN, binning)
    fft, std_rate_temporal = _fft_and_std(_binned_counts(e_times, e_ids, n_e, t_start, t_stop, FFT_BIN, binning))
    weight_metrics = _weight_metrics(weights, t_start, t_stop, w_max, weight_digits)

    values = {
        "rate": rate,
        "cv_isi": float(cvs.mean()),
        "kl_isi": _kl_isi(isis, rate),
        "spatial_Fano": float(_fano(fano_counts, axis=0).mean()),
        "temporal_Fano": float(_fano(fano_counts, axis=1).mean()),
        "auto_cov": _auto_cov(_binned_counts(e_times, e_ids, n_e, t_start, t_stop, AUTOCOV_BIN, binning)),
        "fft": fft,
        "std_rate_temporal": std_rate_temporal,
        "std_rate_spatial": float(np.std(spike_counts / duration)),
        "std_cv": float(cvs.std()),
        "rate_i": int(keep_i.sum()) / n_i / duration,
        **weight_metrics,
    }
    return {name: float(values[name]) for name in METRIC_NAMES + DRIFT_METRIC_NAMES if name in values}
