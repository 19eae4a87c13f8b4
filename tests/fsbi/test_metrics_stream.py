"""The streaming metrics agree with compute_metrics (float64 reference) on spike rasters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsnn.fsbi.metrics import DRIFT_METRIC_NAMES, METRIC_NAMES, compute_metrics
from jaxsnn.fsbi.metrics_stream import finalize_metrics, init_accumulator, make_window, update_accumulator

DT = 1e-4
WINDOW = (0.0, 2.0)  # short window for speed: 19 Fano bins, 199 auto_cov bins, 1999 fft bins
N_STEPS = 20000


def run_stream(acc, e_raster, i_raster):
    """Fold rasters [steps, n] into ``acc`` with lax.scan, steps numbered from 0."""

    def body(a, x):
        e, i, k = x
        return update_accumulator(a, e, i, k), None

    steps = e_raster.shape[0]
    return jax.lax.scan(body, acc, (e_raster, i_raster, jnp.arange(steps)))[0]


run_stream_jit = jax.jit(run_stream)


def raster_to_spikes(raster: np.ndarray, t_start: float) -> tuple[np.ndarray, np.ndarray]:
    steps, ids = np.nonzero(raster)
    return t_start + steps * DT, ids


def reference(e_raster, i_raster, weights, t_start, t_stop, sample_times):
    return compute_metrics(
        *raster_to_spikes(e_raster, t_start),
        *raster_to_spikes(i_raster, t_start),
        {name: (sample_times, values) for name, values in weights.items()},
        t_start=t_start,
        t_stop=t_stop,
        n_e=e_raster.shape[1],
        n_i=i_raster.shape[1],
    )


def assert_agree(stream: dict, ref: dict) -> None:
    assert set(stream) == set(ref)  # jit returns dicts with sorted keys
    for name in ref:
        assert float(stream[name]) == pytest.approx(ref[name], rel=2e-5, abs=2e-6), name


def poisson_raster(rng, rates: np.ndarray, steps: int = N_STEPS) -> np.ndarray:
    return rng.random((steps, rates.size)) < rates * DT


def structured_raster(rng, n: int) -> np.ndarray:
    """Silent, regular (periods on bin edges), bursting, fast and very slow neurons."""
    raster = np.zeros((N_STEPS, n), bool)
    raster[::100, 1] = True  # every 10 ms, on every 10 ms edge
    raster[::1000, 2] = True  # every 100 ms, on every 100 ms edge
    raster[::10, 3] = True  # every 1 ms: several ISIs per 10 ms block
    raster[[19000, 19900, 19990], 4] = True  # exactly on the last 100 ms, 10 ms and 1 ms edges
    raster[[5, 15000], 5] = True  # one ISI longer than 1 s (clipped)
    for start in rng.integers(0, N_STEPS - 200, 15):  # bursts of 5 spikes 2 ms apart
        raster[start : start + 100 : 20, 6] = True
    raster[np.arange(37, N_STEPS, 1234), 7] = True  # regular, off the bin edges
    raster[-1, 8] = True  # last step of the window
    raster[:, 9:] = poisson_raster(rng, rng.uniform(0, 40, n - 9))
    return raster


@pytest.mark.parametrize("kind", ["poisson", "structured", "silent"])
def test_stream_matches_reference(kind: str) -> None:
    rng = np.random.default_rng({"poisson": 0, "structured": 1, "silent": 2}[kind])
    n_e, n_i = 40, 10
    if kind == "poisson":
        rates = rng.uniform(0, 30, n_e)
        rates[:4] = 0.0
        e_raster = poisson_raster(rng, rates)
    elif kind == "structured":
        e_raster = structured_raster(rng, n_e)
    else:
        e_raster = np.zeros((N_STEPS, n_e), bool)
    i_raster = poisson_raster(rng, np.full(n_i, 8.0)) if kind != "silent" else np.zeros((N_STEPS, n_i), bool)
    sample_times = WINDOW[0] + 0.1 * np.arange(20)
    weights = {"ee": rng.uniform(0, 0.5, (20, 7)), "ie": np.where(rng.random((20, 5)) < 0.3, 20.0, 1.0)}

    acc = run_stream_jit(init_accumulator(n_e, n_i, t_start=WINDOW[0], t_stop=WINDOW[1], dt=DT), e_raster, i_raster)
    stream = finalize_metrics(acc, {k: jnp.asarray(v) for k, v in weights.items()}, sample_times=sample_times)
    assert_agree(stream, reference(e_raster, i_raster, weights, *WINDOW, sample_times))


def test_stream_default_window_and_sample_times() -> None:
    rng = np.random.default_rng(5)
    n_e, n_i, steps = 12, 4, 100_000
    rates = np.linspace(0.0, 25.0, n_e)
    e_raster, i_raster = poisson_raster(rng, rates, steps), poisson_raster(rng, np.full(n_i, 5.0), steps)
    weights = {"ee": rng.uniform(0, 1, (100, 3)), "ei": np.zeros((100, 2)), "ie": np.full((100, 2), 2.0),
               "ii": np.linspace(1.0, 1.2, 100)[:, None] * np.ones((1, 2))}  # fmt: skip
    acc = run_stream_jit(init_accumulator(n_e, n_i), e_raster, i_raster)
    assert acc.fano_counts.shape == (99, n_e) and acc.autocov_counts.shape == (999, n_e)
    assert acc.population_counts.shape == (9999,) and acc.autocov_counts.dtype == jnp.uint8
    stream = finalize_metrics(acc, {k: jnp.asarray(v) for k, v in weights.items()})
    ref = reference(e_raster, i_raster, weights, 60.0, 70.0, 60.0 + 0.1 * np.arange(100))
    assert list(stream) == list(ref) == list(METRIC_NAMES + DRIFT_METRIC_NAMES)
    assert_agree(stream, ref)


def test_stream_under_vmap_and_jit() -> None:
    rng = np.random.default_rng(6)
    n_e, n_i, batch = 30, 6, 3
    e_rasters = np.stack(
        [poisson_raster(rng, rng.uniform(0, 20, n_e)), structured_raster(rng, n_e), np.zeros((N_STEPS, n_e), bool)]
    )
    i_rasters = np.stack([poisson_raster(rng, np.full(n_i, r)) for r in (2.0, 9.0, 0.0)])
    weights = rng.uniform(0, 1, (batch, 20, 4))
    sample_times = WINDOW[0] + 0.1 * np.arange(20)
    acc = init_accumulator(n_e, n_i, t_start=WINDOW[0], t_stop=WINDOW[1])
    batched = jax.tree.map(lambda x: jnp.broadcast_to(x, (batch,) + x.shape), acc)

    @jax.jit
    def sweep(accs, e, i, w):
        accs = jax.vmap(run_stream)(accs, e, i)
        return jax.vmap(lambda a, ww: finalize_metrics(a, {"ee": ww}, sample_times=sample_times))(accs, w)

    metrics = sweep(batched, e_rasters, i_rasters, weights)
    assert metrics["rate"].shape == (batch,)
    for b in range(batch):
        ref = reference(e_rasters[b], i_rasters[b], {"ee": weights[b]}, *WINDOW, sample_times)
        assert_agree({k: v[b] for k, v in metrics.items()}, ref)


def test_float_spikes_and_steps_outside_the_window() -> None:
    acc = init_accumulator(3, 2, t_start=0.0, t_stop=1.0)
    spikes_e, spikes_i = jnp.array([1.0, 0.0, 1.0]), jnp.array([1.0, 1.0])
    for k in (-1, 10_000, 12_345):
        after = update_accumulator(acc, spikes_e, spikes_i, k)
        assert all(jnp.array_equal(a, b) for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(acc)))
    after = update_accumulator(acc, spikes_e, spikes_i, 0)
    np.testing.assert_array_equal(after.e_count, [1, 0, 1])
    assert int(after.i_count) == 2


def test_low_rate_threshold_matches_reference() -> None:
    # 10 neurons over 2 s: rate <= 0.1 Hz means at most 2 spikes.
    assert make_window(10, 1, t_start=0.0, t_stop=2.0).low_rate_spikes == 2
    assert make_window(1000, 500).low_rate_spikes == 1000
    for n_spikes in (2, 3):
        e_raster = np.zeros((N_STEPS, 10), bool)
        e_raster[[100, 4100, 9000][:n_spikes], 0] = True
        i_raster = np.zeros((N_STEPS, 1), bool)
        acc = run_stream_jit(init_accumulator(10, 1, t_start=0.0, t_stop=2.0), e_raster, i_raster)
        stream = finalize_metrics(acc, {})
        assert_agree(stream, reference(e_raster, i_raster, {}, *WINDOW, None))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dt": 3e-4}, "1 ms bin"),
        ({"t_stop": 0.3}, "at least 51 bins"),
        ({"t_stop": 1.00005}, "whole multiple"),
        ({"n_e": 0}, "n_e"),
    ],
)
def test_invalid_window_is_rejected(kwargs: dict, message: str) -> None:
    args = {"n_e": 4, "n_i": 2, "t_start": 0.0, "t_stop": 1.0} | kwargs
    with pytest.raises(ValueError, match=message):
        init_accumulator(**args)


def test_invalid_update_and_weights_are_rejected() -> None:
    acc = init_accumulator(4, 2, t_start=0.0, t_stop=1.0)
    with pytest.raises(ValueError, match="e_spikes must have shape"):
        update_accumulator(acc, jnp.zeros(5), jnp.zeros(2), 0)
    with pytest.raises(ValueError, match="keys"):
        finalize_metrics(acc, {"xx": jnp.zeros((10, 2))})
    with pytest.raises(ValueError, match="strictly inside"):
        finalize_metrics(acc, {"ee": jnp.zeros((1, 2))})
    with pytest.raises(ValueError, match="same number"):
        finalize_metrics(acc, {"ee": jnp.zeros((10, 2)), "ie": jnp.zeros((9, 2))})
    with pytest.raises(ValueError, match="sample_times"):
        finalize_metrics(acc, {"ee": jnp.zeros((10, 2))}, sample_times=np.arange(3.0))


@pytest.mark.slow
def test_stream_matches_reference_at_full_size() -> None:
    """1000 E and 500 I neurons over the 10 s protocol window, rates modulated at 3 Hz."""
    rng = np.random.default_rng(7)
    n_e, n_i, steps = 1000, 500, 100_000
    modulation = 1.0 + 0.5 * np.sin(2 * np.pi * 3.0 * DT * np.arange(steps))[:, None]
    e_raster = rng.random((steps, n_e), dtype=np.float32) < modulation * rng.uniform(0, 12, n_e) * DT
    i_raster = rng.random((steps, n_i), dtype=np.float32) < 6.0 * DT
    weights = {"ee": rng.uniform(0, 0.3, (100, 100)), "ei": np.zeros((100, 100)),
               "ie": rng.uniform(0, 2, (100, 100)), "ii": np.full((100, 100), 20.0)}  # fmt: skip
    acc = run_stream_jit(init_accumulator(n_e, n_i), e_raster, i_raster)
    stream = finalize_metrics(acc, {k: jnp.asarray(v) for k, v in weights.items()})
    assert_agree(stream, reference(e_raster, i_raster, weights, 60.0, 70.0, 60.0 + 0.1 * np.arange(100)))
