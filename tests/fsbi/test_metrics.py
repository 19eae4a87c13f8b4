"""compute_metrics on hand-built spike trains, with expected values worked out in the tests."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxsnn.fsbi.metrics import METRIC_NAMES, MLP_METRIC_NAMES, _binned_counts, compute_metrics
from jaxsnn.fsbi.recordings import load_recording, save_recording

SAMPLE_TIMES = 60.0 + 0.1 * np.arange(100)  # the fSBI weight monitor: 60.0, 60.1, ..., 69.9 s


def constant_weights(value: float, n_monitored: int = 100) -> tuple[np.ndarray, np.ndarray]:
    return SAMPLE_TIMES, np.full((SAMPLE_TIMES.size, n_monitored), value)


def spikes(trains: dict[int, list[float] | np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Flatten {neuron: times} into (times, ids)."""
    times = [np.asarray(t, float) for t in trains.values()]
    ids = [np.full(len(t), i) for i, t in zip(trains, times)]
    if not times:
        return np.zeros(0), np.zeros(0, int)
    return np.concatenate(times), np.concatenate(ids)


NO_SPIKES = (np.zeros(0), np.zeros(0, int))


def literal_auto_cov(x: np.ndarray) -> float:
    """One neuron's auto_cov as §5 words it, with numpy's full correlation."""
    if np.std(x) <= 0.05:
        return 1.0
    xcorr = np.correlate(x - x.mean(), x - x.mean(), "full")
    xcorr = np.abs(xcorr) / xcorr.max()
    centre = xcorr.size // 2
    return float(np.mean(xcorr[centre - 50 : centre + 51]))


def test_metric_name_orders_follow_the_release() -> None:
    assert METRIC_NAMES == (
        "rate", "cv_isi", "kl_isi", "spatial_Fano", "temporal_Fano", "auto_cov", "fft", "w_blow",
        "std_rate_temporal", "std_rate_spatial", "std_cv", "w_creep", "rate_i", "weef", "weif", "wief", "wiif",
    )  # fmt: skip
    assert MLP_METRIC_NAMES == tuple(n for n in METRIC_NAMES if n not in ("weif", "wiif"))


def test_silent_run_gives_defined_numbers() -> None:
    m = compute_metrics(*NO_SPIKES, *NO_SPIKES, {"ee": constant_weights(0.1)})
    assert list(m) == [n for n in METRIC_NAMES if n not in ("weif", "wief", "wiif")] + ["w_drift_ee"]
    assert all(np.isfinite(v) for v in m.values())
    zero = ["rate", "rate_i", "cv_isi", "kl_isi", "spatial_Fano", "temporal_Fano", "fft",
            "std_rate_temporal", "std_rate_spatial", "std_cv", "w_blow", "w_creep"]  # fmt: skip
    assert {k: m[k] for k in zero} == {k: 0.0 for k in zero}
    assert m["auto_cov"] == 1.0  # every neuron is "almost constant"
    assert m["weef"] == pytest.approx(0.1)


def test_regular_alternating_groups() -> None:
    """Neurons 0-4 fire at 60.05 + 0.2 j s, neurons 5-9 at 60.15 + 0.2 j s (j = 0..49)."""
    trains = {i: 60.05 + 0.2 * np.arange(50) for i in range(5)}
    trains |= {i: 60.15 + 0.2 * np.arange(50) for i in range(5, 10)}
    m = compute_metrics(*spikes(trains), *NO_SPIKES, {}, n_e=10)

    assert m["rate"] == pytest.approx(5.0)  # 500 spikes / 10 neurons / 10 s
    assert m["std_rate_spatial"] == pytest.approx(0.0, abs=1e-12)
    assert m["cv_isi"] == pytest.approx(0.0, abs=1e-9)
    assert m["std_cv"] == pytest.approx(0.0, abs=1e-9)
    # 99 bins of 100 ms: group A fills bins 0, 2, ..., 98 (50 ones), group B bins 1, ..., 97 (49 ones;
    # its spike at 69.95 s lies past the last edge). Fano of k ones among 99 bins = 1 - k / 99.
    assert m["temporal_Fano"] == pytest.approx(((1 - 50 / 99) + (1 - 49 / 99)) / 2)
    # Every bin: five neurons with 1 spike, five with 0 -> var/mean = 0.25 / 0.5.
    assert m["spatial_Fano"] == pytest.approx(0.5)
    # All ISIs are 0.2 s, in histogram bin floor(0.2 * 99) = 19; reference law rate 1 / 0.2 s.
    q19 = np.exp(-5 * 19 / 99) - np.exp(-5 * 20 / 99)
    assert m["kl_isi"] == pytest.approx(-np.log(q19))
    # Population mean count in 1 ms bins: 0.5 at bins 50 + 100 m (m = 0..99) of N = 9999.
    n = 9999
    k = np.arange(1, n // 2)
    pulses = 0.5 * np.abs(np.sin(np.pi * k * 100 * 100 / n) / np.sin(np.pi * k * 100 / n))
    assert m["fft"] == pytest.approx(2 / n * pulses.sum())
    assert m["std_rate_temporal"] == pytest.approx(np.sqrt(100 * 0.25 / n - (50 / n) ** 2))
    # 10 ms bins: ones at 5 + 20 j (group A) or 15 + 20 j (group B) among 999 bins.
    per_group = []
    for start in (5, 15):
        x = np.zeros(999)
        x[start::20] = 1
        assert x.sum() == 50
        per_group.append(literal_auto_cov(x))
    assert m["auto_cov"] == pytest.approx(np.mean(per_group))


def test_cv_keeps_zeros_and_window_drops_outside_spikes() -> None:
    trains = {
        0: [60.0, 60.1, 60.3],  # 2 ISIs -> cv 0
        1: [60.0, 60.1, 60.3, 60.6],  # ISIs 0.1, 0.2, 0.3 -> std sqrt(2/3) 0.1, mean 0.2
        2: [59.9, 70.0, 70.5],  # outside [60, 70): ignored
    }
    m = compute_metrics(*spikes(trains), *NO_SPIKES, {}, n_e=3)
    cv1 = np.sqrt(2 / 3) * 0.1 / 0.2
    assert m["rate"] == pytest.approx(7 / 3 / 10)
    assert m["cv_isi"] == pytest.approx(cv1 / 3)
    assert m["std_cv"] == pytest.approx(np.std([0.0, cv1, 0.0]))
    assert m["std_rate_spatial"] == pytest.approx(np.std([0.3, 0.4, 0.0]))


def test_rate_i_counts_inhibitory_spikes_in_the_window() -> None:
    i_times = np.array([60.0, 65.0, 69.9999, 70.0, 59.0])
    m = compute_metrics(*NO_SPIKES, i_times, np.array([0, 1, 2, 3, 4]), {}, n_i=5)
    assert m["rate_i"] == pytest.approx(3 / 5 / 10)
    assert m["rate"] == 0.0


def kl_of_single_bin(bin_index: int, law_rate: float) -> float:
    """KL of a histogram with all mass in one bin against the exponential law."""
    q = np.exp(-law_rate * bin_index / 99) - np.exp(-law_rate * (bin_index + 1) / 99)
    return -np.log(q)


def test_kl_isi_low_rate_fallback_and_clipping() -> None:
    # E rate 2 / 1000 / 10 s <= 0.1 Hz -> reference rate 0.01 Hz; ISI 0.5 s -> bin 49.
    m = compute_metrics(np.array([61.0, 61.5]), np.array([3, 3]), *NO_SPIKES, {})
    assert m["kl_isi"] == pytest.approx(kl_of_single_bin(49, 0.01))
    # ISI 2.5 s is clipped to 1 s and lands in the closed last bin.
    m = compute_metrics(np.array([61.0, 63.5]), np.array([3, 3]), *NO_SPIKES, {})
    assert m["kl_isi"] == pytest.approx(kl_of_single_bin(98, 0.01))


def test_kl_isi_threshold_is_inclusive() -> None:
    # 10 spikes of 10 neurons in 10 s: rate exactly 0.1 Hz -> fallback law; ISIs 1.0 s -> last bin.
    at_threshold = compute_metrics(60.5 + np.arange(10.0), np.zeros(10, int), *NO_SPIKES, {}, n_e=10)
    assert at_threshold["kl_isi"] == pytest.approx(kl_of_single_bin(98, 0.01))
    # 11 spikes: rate 0.11 Hz -> law rate 1 / mean ISI = 1 / 0.9 s; ISIs 0.9 s -> bin floor(89.1).
    above = compute_metrics(60.2 + 0.9 * np.arange(11), np.zeros(11, int), *NO_SPIKES, {}, n_e=10)
    assert above["kl_isi"] == pytest.approx(kl_of_single_bin(89, 1 / 0.9))


def test_fano_threshold_of_three_spikes() -> None:
    trains = {0: [60.05, 60.25, 60.45], 1: [60.05, 60.15, 60.25, 60.35]}
    m = compute_metrics(*spikes(trains), *NO_SPIKES, {}, n_e=2)
    # Neuron 0: 3 spikes -> 0. Neuron 1: four ones in 99 bins -> 1 - 4/99. Every bin totals <= 2 -> 0.
    assert m["temporal_Fano"] == pytest.approx((0 + (1 - 4 / 99)) / 2)
    assert m["spatial_Fano"] == 0.0
    # One bin holding counts [2, 1, 1, 0] (total 4): mean 1, var 0.5; the 98 other bins are empty.
    trains = {0: [60.01, 60.02], 1: [60.03], 2: [60.04]}
    m = compute_metrics(*spikes(trains), *NO_SPIKES, {}, n_e=4)
    assert m["spatial_Fano"] == pytest.approx(0.5 / 99)


def test_bins_follow_np_histogram_on_arange_edges() -> None:
    times = np.array([60.0, 60.3, 60.2999, 69.9, 69.95, 69.8999])
    counts = _binned_counts(times, np.zeros(6, int), 1, 60.0, 70.0, 0.1)[0]
    assert counts.shape == (99,)
    expected = np.zeros(99, int)
    expected[0] = 1
    expected[2] = 2  # 60.2999 s and 60.3 s: np.arange puts edge 3 at 60.300000000000004 s
    expected[98] = 2  # 69.8999 s, and 69.9 s below the closed last edge 69.90000000000015 s; 69.95 s is past it
    np.testing.assert_array_equal(counts, expected)
    np.testing.assert_array_equal(counts, np.histogram(times, np.arange(60, 70, 0.1))[0])


def test_exact_binning_keeps_the_decimal_edges() -> None:
    times = np.array([60.0, 60.3, 60.2999, 69.9, 69.95, 69.8999])
    counts = _binned_counts(times, np.zeros(6, int), 1, 60.0, 70.0, 0.1, binning="exact")[0]
    expected = np.zeros(99, int)
    expected[[0, 3, 2]] = 1  # 60.3 s starts bin 3
    expected[98] = 2  # 69.8999 s, and 69.9 s on the closed last edge; 69.95 s is past it
    np.testing.assert_array_equal(counts, expected)
    m = compute_metrics(times, np.zeros(6, int), *NO_SPIKES, {}, n_e=1, binning="exact")
    assert m["temporal_Fano"] == pytest.approx(np.var(expected) / np.mean(expected))
    with pytest.raises(ValueError, match="binning"):
        compute_metrics(times, np.zeros(6, int), *NO_SPIKES, {}, n_e=1, binning="tolerant")


def test_auto_cov_threshold_and_bursts() -> None:
    # Two spikes in distinct 10 ms bins: std = sqrt(2/999 - 4/999^2) = 0.0447 <= 0.05 -> 1.
    # Three: std = 0.0547 > 0.05 -> computed. Neuron 2 bursts (3 spikes per 10 ms bin, every 50 ms).
    trains = {0: [61.0, 62.0], 1: [61.0, 62.0, 63.0], 2: np.repeat(60.0 + 0.05 * np.arange(200), 3) + 0.002}
    m = compute_metrics(*spikes(trains), *NO_SPIKES, {}, n_e=3)
    x1 = np.zeros(999)
    x1[[100, 200, 300]] = 1
    x2 = np.zeros(999)
    x2[np.arange(0, 999, 5)] = 3
    expected = (1.0 + literal_auto_cov(x1) + literal_auto_cov(x2)) / 3
    assert literal_auto_cov(x1) != 1.0
    assert m["auto_cov"] == pytest.approx(expected)


def test_single_spike_fft_normalisation() -> None:
    # One spike: the population signal is one nonzero bin of height 1/n_e, so every |FFT_k| = 1/n_e.
    m = compute_metrics(np.array([63.0]), np.array([0]), *NO_SPIKES, {}, n_e=4)
    n = 9999
    assert m["fft"] == pytest.approx(2 / n * (n // 2 - 1) / 4)
    assert m["std_rate_temporal"] == pytest.approx(0.25 * np.sqrt(1 / n - 1 / n**2))


def test_poisson_population() -> None:
    rng = np.random.default_rng(1)
    n_e, rate = 300, 5.0
    counts = rng.poisson(rate * 10, n_e)
    times = np.concatenate([np.sort(rng.uniform(60.0, 70.0, c)) for c in counts])
    ids = np.repeat(np.arange(n_e), counts)
    m = compute_metrics(times, ids, *NO_SPIKES, {}, n_e=n_e)

    assert m["rate"] == pytest.approx(rate, rel=0.02)
    assert 0.93 < m["cv_isi"] < 1.03
    assert 0.9 < m["temporal_Fano"] < 1.05
    assert 0.9 < m["spatial_Fano"] < 1.1
    assert m["kl_isi"] < 0.05
    # |C(L)|/C(0) of white noise ~ |N(0, 1/999)|: (1 + 100 sqrt(2/pi/999)) / 101 = 0.035.
    assert m["auto_cov"] == pytest.approx((1 + 100 * np.sqrt(2 / np.pi / 999)) / 101, rel=0.1)
    # Population mean count per 1 ms bin has variance lam / n_e (lam = 5 Hz * 1 ms); its Fourier
    # amplitudes are Rayleigh with mean sqrt(pi N var) / 2.
    var = rate * 1e-3 / n_e
    n = 9999
    assert m["std_rate_temporal"] == pytest.approx(np.sqrt(var), rel=0.03)
    assert m["fft"] == pytest.approx(np.sqrt(np.pi * n * var) / 2 * 2 * (n // 2 - 1) / n, rel=0.05)
    assert m["std_rate_spatial"] == pytest.approx(np.sqrt(rate * 10) / 10, rel=0.15)


def test_oscillating_population_has_large_fft() -> None:
    rng = np.random.default_rng(2)
    n_e = 200
    cycles = 60.0005 + 0.05 * np.arange(200)  # 20 Hz population bursts
    fire = rng.random((n_e, cycles.size)) < 0.5  # 10 Hz per neuron, each joining half of the bursts
    times = (cycles[None, :] + rng.normal(0, 0.0003, fire.shape))[fire]
    ids = np.nonzero(fire)[0]
    keep = (times >= 60) & (times < 70)
    oscillating = compute_metrics(times[keep], ids[keep], *NO_SPIKES, {}, n_e=n_e)
    poisson_counts = rng.poisson(100, n_e)
    poisson = compute_metrics(
        rng.uniform(60, 70, poisson_counts.sum()), np.repeat(np.arange(n_e), poisson_counts), *NO_SPIKES, {}, n_e=n_e
    )
    assert oscillating["fft"] > 1.0 > poisson["fft"]
    assert oscillating["std_rate_temporal"] > 3 * poisson["std_rate_temporal"]
    assert oscillating["auto_cov"] > 0.1 > 0.05 > poisson["auto_cov"]  # period of five 10 ms bins


def test_w_blow_counts_pinned_weights_strictly_inside_the_window() -> None:
    ee = np.full((100, 4), 0.5)
    ee[:, 0], ee[:, 1] = 0.0, 20.0  # half of the monitored weights pinned at the bounds
    ie = np.ones((100, 4))
    ie[0] = 0.0  # the sample at t = 60.0 s is on the edge, not inside
    ii_times = np.concatenate([SAMPLE_TIMES, [70.0]])
    ii = np.ones((101, 2))
    ii[-1] = 20.0  # the sample at t = 70.0 s is on the edge too
    weights = {"ee": (SAMPLE_TIMES, ee), "ie": (SAMPLE_TIMES, ie), "ii": (ii_times, ii)}
    m = compute_metrics(*NO_SPIKES, *NO_SPIKES, weights)
    assert m["w_blow"] == pytest.approx((0.5 + 0.0 + 0.0) / 3)
    assert m["weef"] == pytest.approx((0 + 20 + 0.5 + 0.5) / 4) and m["wief"] == 1.0 and m["wiif"] == 20.0
    assert "weif" not in m


def test_w_creep_takes_the_largest_relative_change() -> None:
    def ramp(start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        return SAMPLE_TIMES, np.linspace(start, end, 100)[:, None] * np.ones((1, 3))

    weights = {"ee": ramp(0.1, 0.12), "ei": ramp(0.01, 0.05), "ie": ramp(1.0, 1.5)}
    m = compute_metrics(*NO_SPIKES, *NO_SPIKES, weights)
    # ee: 2 * 0.02 / 0.22; ei: 0.01 + 0.05 <= 0.1 -> 0; ie: 2 * 0.5 / 2.5 = 0.4 (the max).
    assert m["w_creep"] == pytest.approx(0.4)
    m = compute_metrics(*NO_SPIKES, *NO_SPIKES, {"ee": ramp(0.1, 0.12), "ei": ramp(0.01, 0.05)})
    assert m["w_creep"] == pytest.approx(2 * 0.02 / 0.22)
    assert m["weef"] == pytest.approx(0.12) and m["weif"] == pytest.approx(0.05)


def test_signed_weight_drifts_keep_the_sign_that_w_creep_folds_away() -> None:
    def ramp(start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        return SAMPLE_TIMES, np.linspace(start, end, 100)[:, None] * np.ones((1, 3))

    weights = {"ee": ramp(0.12, 0.1), "ei": ramp(0.01, 0.05), "ie": ramp(1.0, 1.5), "ii": ramp(2.0, 1.0)}
    m = compute_metrics(*NO_SPIKES, *NO_SPIKES, weights)
    assert m["w_drift_ee"] == pytest.approx(-2 * 0.02 / 0.22)
    assert m["w_drift_ei"] == 0.0  # start + end <= 0.1, as for w_creep
    assert m["w_drift_ie"] == pytest.approx(0.4) and m["w_drift_ii"] == pytest.approx(-2 / 3)
    assert m["w_creep"] == pytest.approx(2 / 3) == max(abs(m[f"w_drift_{p}"]) for p in ("ee", "ei", "ie", "ii"))
    assert list(m)[-4:] == ["w_drift_ee", "w_drift_ei", "w_drift_ie", "w_drift_ii"]
    assert "w_drift_ii" not in compute_metrics(*NO_SPIKES, *NO_SPIKES, {"ee": ramp(0.1, 0.2)})


def test_no_plastic_projection_gives_zero_weight_metrics() -> None:
    m = compute_metrics(*NO_SPIKES, *NO_SPIKES, {})
    assert m["w_blow"] == 0.0 and m["w_creep"] == 0.0
    assert not {"weef", "weif", "wief", "wiif"} & set(m)


def test_spike_order_does_not_matter() -> None:
    rng = np.random.default_rng(3)
    times = rng.uniform(60, 70, 3000)
    ids = rng.integers(0, 50, 3000)
    order = rng.permutation(3000)
    a = compute_metrics(times, ids, times[:10], ids[:10], {}, n_e=50, n_i=50)
    b = compute_metrics(times[order], ids[order], times[:10], ids[:10], {}, n_e=50, n_i=50)
    assert a == pytest.approx(b, rel=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"e_ids": np.array([1000])}, "e_ids must lie"),
        ({"e_ids": np.array([0.5])}, "integer"),
        ({"e_times": np.array([61.0, 62.0])}, "equal length"),
        ({"e_times": np.array([np.nan])}, "finite"),
        ({"weights": {"xe": constant_weights(0.1)}}, "weights keys"),
        ({"weights": {"ee": (SAMPLE_TIMES[:1], np.zeros((1, 3)))}}, "strictly inside"),
        ({"weights": {"ee": (SAMPLE_TIMES, np.zeros(100))}}, "n_monitored"),
        ({"t_stop": 60.0}, "t_start < t_stop"),
        ({"t_stop": 60.5}, "at least 51 bins"),
        ({"n_e": 0}, "n_e"),
        ({"w_max": -1.0}, "w_max"),
    ],
)
def test_invalid_input_is_rejected(kwargs: dict, message: str) -> None:
    args = {"e_times": np.array([61.0]), "e_ids": np.array([0]), "i_times": np.zeros(0), "i_ids": np.zeros(0, int),
            "weights": {}} | kwargs  # fmt: skip
    with pytest.raises(ValueError, match=message):
        compute_metrics(**args)


def test_recording_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(4)
    e_times, e_ids = rng.uniform(60, 70, 500), rng.integers(0, 1000, 500)
    i_times, i_ids = rng.uniform(60, 70, 100), rng.integers(0, 500, 100)
    weights = {"ee": (SAMPLE_TIMES, rng.uniform(0, 1, (100, 100))), "ie": constant_weights(1.0)}
    meta = {"theta": np.arange(25.0), "seed": "abc", "r_ext": 6.0}
    path = save_recording(tmp_path / "run", e_times, e_ids, i_times, i_ids, weights, meta=meta)
    assert path.name == "run.npz"
    rec = load_recording(path)
    assert rec["format_version"] == 1
    assert rec["meta"] == json.loads(json.dumps({"theta": list(range(25)), "seed": "abc", "r_ext": 6.0}))
    assert rec["e_ids"].dtype == np.int32 and rec["e_times"].dtype == np.float64
    assert sorted(rec["weights"]) == ["ee", "ie"]
    original = compute_metrics(e_times, e_ids, i_times, i_ids, weights)
    assert compute_metrics(rec["e_times"], rec["e_ids"], rec["i_times"], rec["i_ids"], rec["weights"]) == original


def test_recording_rejects_bad_input(tmp_path) -> None:
    with pytest.raises(ValueError, match="weights keys"):
        save_recording(tmp_path / "r.npz", [], [], [], [], {"eee": constant_weights(1.0)})
    with pytest.raises(ValueError, match="JSON"):
        save_recording(tmp_path / "r.npz", [], [], [], [], {}, meta={"bad": object()})
    with pytest.raises(ValueError, match="equal length"):
        save_recording(tmp_path / "r.npz", [1.0], [], [], [], {})
    path = save_recording(tmp_path / "old.npz", [], [], [], [], {})
    data = dict(np.load(path))
    data["format_version"] = np.asarray(99)
    np.savez(path, **data)
    with pytest.raises(ValueError, match="format version 99"):
        load_recording(path)
