"""Recording plastic networks with ``simulate``: weight samples, streaming metrics (the fSBI set by
population and projection names, and a user's own), the blow-up guard's report, bad names."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxsnn
from jaxsnn import connectivity
from jaxsnn.fsbi import compute_metrics
from jaxsnn.metrics import FSBIMetrics, StreamingMetric

simulate_module = importlib.import_module("jaxsnn.simulate")  # the module (jaxsnn.simulate is the function)

DT = 1e-4
DURATION = 1.0
PERIOD = 0.1
START = 0.4  # the window [0.4, 1.0) s: 0.6 s, above auto_cov's minimum of 0.52 s
N_E, N_I = 40, 10
W_MAX = 2.0


@dataclass(frozen=True)
class WindowRate(StreamingMetric):
    """The module docstring's example of a user metric: mean rate (Hz) of a population from ``start``."""

    population: str
    start: float = 0.0

    def names(self, net):
        return (f"rate_{self.population}",)

    def init(self, state, run):
        run.net.population(self.population)
        return jnp.zeros((run.batch,), jnp.int32)

    def update(self, count, step, spikes, state, run):
        inside = step >= round(self.start / run.net.dt)
        return count + jnp.where(inside, spikes[self.population].sum(axis=1), 0).astype(jnp.int32)

    def finalize(self, count, run):
        seconds = run.stop_time - self.start
        return {f"rate_{self.population}": count / (run.net.population(self.population).size * seconds)}


def network(guard: jaxsnn.RateGuard | None = None, w_max: float = W_MAX) -> jaxsnn.Network:
    """40 E + 10 I conductance LIF neurons driven by 100 Poisson sources; E→E and I→E plastic
    (polynomial rules), E→I and I→I static; a delay of 2 steps."""
    keys = jax.random.split(jax.random.key(3), 6)
    size = {"E": N_E, "I": N_I}

    def rule():
        return jaxsnn.PolynomialPlasticity(0.02, 0.02, 0.1, -0.1, 1.0, -1.0, eta=0.01, w_max=w_max)

    spec = [("EE", "E", "E", 0.2, "exc", rule()), ("EI", "E", "I", 0.5, "exc", None),
            ("IE", "I", "E", 3.0, "inh", rule()), ("II", "I", "I", 1.5, "inh", None)]
    projections = tuple(
        jaxsnn.Projection(name, pre, post, connectivity.bernoulli(keys[i], size[pre], size[post], 0.3), w, receptor,
                          delay=2 * DT, plasticity=plastic)
        for i, (name, pre, post, w, receptor, plastic) in enumerate(spec))
    ext = jaxsnn.PoissonInput("ext", 100, 20.0, (
        jaxsnn.PoissonTarget("E", connectivity.bernoulli(keys[4], 100, N_E, 0.2), 0.5),
        jaxsnn.PoissonTarget("I", connectivity.bernoulli(keys[5], 100, N_I, 0.2), 0.3)))
    neuron = jaxsnn.COBALIF(v_drive=0.0)
    return jaxsnn.Network(dt=DT, populations=(jaxsnn.Population("E", N_E, neuron), jaxsnn.Population("I", N_I, neuron)),
                          projections=projections, poisson_inputs=(ext,), guard=guard)


def params_with_rates(net: jaxsnn.Network, rates: list[float]) -> jaxsnn.NetworkParams:
    """One member per external rate (Hz): 20 Hz gives an E rate of ~30 Hz, 5 Hz ~10 Hz, 400 Hz ~190 Hz."""
    params = jaxsnn.broadcast_params(net.default_params(), len(rates))
    return params._replace(rates={"ext": jnp.asarray(rates, jnp.float32)})


METRICS = FSBIMetrics("E", "I", weights=("EE", "IE"), start=START)
IE_SUBSET = [0, 5, 7]


@pytest.fixture(scope="module")
def plain():
    net = network()
    record = jaxsnn.Record(spikes={"E": None, "I": None}, weights={"EE": None, "IE": None},
                           metrics=(METRICS, WindowRate("E", START), WindowRate("I", START)), period=PERIOD)
    # chunks of 0.5 s: the metric carries cross a chunk boundary
    result = jaxsnn.simulate(net, DURATION, jax.random.key(0), params=params_with_rates(net, [20.0, 5.0]),
                             record=record, chunk_duration=0.5)
    return net, result


def test_weight_samples(plain) -> None:
    net, result = plain
    n_periods = round(DURATION / PERIOD)
    assert result.weights["EE"].shape == (2, n_periods, net.projections[0].connectivity.n_synapses)
    # the last sample is taken at the end of the last period, i.e. from the final state
    for name in ("EE", "IE"):
        np.testing.assert_array_equal(result.weights[name][:, -1], np.asarray(result.final_state.weights[name]))
    # the weights changed during the run (the comparison above is not of constants)
    assert np.abs(result.weights["EE"][:, -1] - result.weights["EE"][:, 0]).max() > 1e-3
    # the sample of period 5 is the state after 0.5 s: a run of 0.5 s ends there (same keys per step);
    # a subset of synapses is sampled in the order asked for
    half = jaxsnn.simulate(net, 0.5, jax.random.key(0), params=params_with_rates(net, [20.0, 5.0]),
                           record=jaxsnn.Record(weights={"EE": None, "IE": IE_SUBSET}, period=PERIOD), chunk_duration=0.5)
    np.testing.assert_array_equal(result.weights["EE"][:, 4], np.asarray(half.final_state.weights["EE"]))
    assert half.weights["IE"].shape == (2, 5, len(IE_SUBSET))
    np.testing.assert_array_equal(half.weights["IE"][:, 4], np.asarray(half.final_state.weights["IE"])[:, IE_SUBSET])


def test_fsbi_metrics_equal_compute_metrics(plain) -> None:
    net, result = plain
    run = jaxsnn.metrics.RunInfo(net, 0, round(DURATION / DT), round(PERIOD / DT), 2)
    times = METRICS.sample_times(run)
    np.testing.assert_allclose(times, np.arange(4, 11) * PERIOD)  # period ends in [0.4, 1.0] s
    periods = np.rint(times / PERIOD).astype(int) - 1
    assert set(result.metrics) == set(METRICS.names(net)) | {"rate_E", "rate_I"}
    for b in range(2):
        e_steps, e_ids = result.spikes["E"].of_member(b)
        i_steps, i_ids = result.spikes["I"].of_member(b)
        weights = {"ee": (times, result.weights["EE"][b, periods]), "ie": (times, result.weights["IE"][b, periods])}
        ref = compute_metrics(e_steps * DT, e_ids, i_steps * DT, i_ids, weights, t_start=START, t_stop=DURATION,
                              n_e=N_E, n_i=N_I, w_max=W_MAX, resolution=DT)
        assert ref["rate"] > 1.0 and ref["w_creep"] > 0  # a run with activity and moving weights
        assert set(ref) == set(METRICS.names(net))
        for name, value in ref.items():
            # float32 streaming statistics against the float64 reference: the tolerance of
            # tests/fsbi/test_metrics_stream.py (sums of squares and FFTs in float32, ~1e-7 relative per op)
            assert result.metrics[name][b] == pytest.approx(value, rel=2e-5, abs=2e-6), name


def test_user_metric(plain) -> None:
    _, result = plain
    for pop, n in (("E", N_E), ("I", N_I)):
        ev = result.spikes[pop]
        expected = np.bincount(ev.member[ev.step >= round(START / DT)], minlength=2) / (n * (DURATION - START))
        np.testing.assert_allclose(result.metrics[f"rate_{pop}"], expected, rtol=1e-6)
    np.testing.assert_allclose(result.metrics["rate_E"], result.metrics["rate"], rtol=1e-6)
    assert result.alive is None and result.blowup_step is None  # no guard


GUARD_RECORD = jaxsnn.Record(counts={"E": None}, weights={"EE": [0, 1]}, metrics=METRICS, period=PERIOD)


def test_guard_stops_members_and_metrics_are_nan(plain) -> None:
    _, unguarded = plain
    net = network(jaxsnn.RateGuard("E", 100.0, tau=0.05))
    # member 0 as in the unguarded run (same key and rate), member 1 driven to ~190 Hz: stopped
    result = jaxsnn.simulate(net, DURATION, jax.random.key(0), params=params_with_rates(net, [20.0, 400.0]),
                             record=GUARD_RECORD, chunk_duration=0.2, early_exit=True)
    assert result.alive.tolist() == [True, False]
    assert result.blowup_step[0] == -1 and 0 < result.blowup_step[1] < round(DURATION / DT)
    assert np.isnan(result.metrics["rate"][1]) and all(np.isnan(v[1]) for v in result.metrics.values())
    for name in METRICS.names(net):  # the guard only watches the running member: identical numbers
        assert result.metrics[name][0] == unguarded.metrics[name][0], name
    stopped_period = result.blowup_step[1] // round(PERIOD / DT)
    assert result.counts["E"][1, stopped_period + 1:].sum() == 0


def test_early_exit_when_every_member_stopped() -> None:
    net = network(jaxsnn.RateGuard("E", 100.0, tau=0.05))
    result = jaxsnn.simulate(net, DURATION, jax.random.key(0), params=params_with_rates(net, [400.0, 400.0]),
                             record=GUARD_RECORD, chunk_duration=0.2, early_exit=True)
    assert not result.alive.any() and (result.blowup_step > 0).all()
    assert int(result.final_state.step) == round(DURATION / DT)  # the clock still reaches the end
    # chunks of 2 periods: the first chunk after both stopped is skipped, and its weight samples are NaN
    last_run_chunk = (result.blowup_step.max() // round(0.2 / DT)) + 1
    assert np.isnan(result.weights["EE"][:, 2 * last_run_chunk:]).all()
    assert 2 * last_run_chunk < round(DURATION / PERIOD)  # something was skipped
    assert not np.isnan(result.weights["EE"][:, : 2 * last_run_chunk]).any()
    assert all(np.isnan(v).all() for v in result.metrics.values())


@pytest.fixture
def no_tracing(monkeypatch):
    """Fails a test that gets as far as building the compiled program."""

    def refuse(*args, **kwargs):
        raise AssertionError("the chunk program was built before the bad input was refused")

    monkeypatch.setattr(simulate_module, "_make_chunk_runner", refuse)


@pytest.mark.parametrize("record, message", [
    (jaxsnn.Record(metrics=FSBIMetrics("X", "I")), r"excitatory='X'.*\['E', 'I'\]"),
    (jaxsnn.Record(metrics=FSBIMetrics("E", "I", weights=("EI",))), r"'EI' is not a plastic projection.*\['EE', 'IE'\]"),
    (jaxsnn.Record(metrics=FSBIMetrics("E", "I", weights=("XX",))), r"'XX'.*allowed: \['EE', 'IE'\]"),
    (jaxsnn.Record(metrics=FSBIMetrics("E", "I", start=0.6)), "at least 0.52 s"),
    (jaxsnn.Record(metrics=FSBIMetrics("E", "I", stop=2.0)), "inside the run"),
    (jaxsnn.Record(metrics=FSBIMetrics("E", "I", start=0.4), period=1.0), "shorten Record.period"),
    (jaxsnn.Record(metrics=(METRICS, METRICS)), "reported by both"),
    (jaxsnn.Record(metrics=(WindowRate("X"),)), r"unknown population 'X'.*\['E', 'I'\]"),
    (jaxsnn.Record(weights={"EI": None}), r"'EI' is not a plastic projection.*\['EE', 'IE'\]"),
    (jaxsnn.Record(weights={"EE": [10**6]}), "within"),
    (jaxsnn.Record(state={"E": {"vv": [0]}}), r"no state field\(s\) \['vv'\]"),
    (jaxsnn.Record(metrics=("rate",)), "StreamingMetric"),
])
def test_bad_names_refused_before_tracing(no_tracing, record, message) -> None:
    with pytest.raises(ValueError, match=message):
        jaxsnn.simulate(network(), DURATION, jax.random.key(0), record=record)


def test_unbounded_rule_needs_w_max(no_tracing) -> None:
    net = network(w_max=float("inf"))
    with pytest.raises(ValueError, match=r"give FSBIMetrics\(w_max=...\)"):
        jaxsnn.simulate(net, DURATION, jax.random.key(0), record=jaxsnn.Record(metrics=METRICS, period=PERIOD))


def test_readme_own_network_example(capsys) -> None:
    """The README's "Your own network and rule" code runs as printed and gives what its comments say."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Your own network and rule", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.weights["IE"].shape == (2, 30, 3)
    assert result.alive.all() and np.all((result.metrics["rate"] > 1) & (result.metrics["rate"] < 50))
    assert np.all(np.isfinite(result.metrics["w_drift_ie"]))
    assert capsys.readouterr().out.strip()
