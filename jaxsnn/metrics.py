"""Metrics that a run of any :class:`jaxsnn.Network` computes while it runs (``Record(metrics=...)``).

A streaming metric folds every time step into a running statistic on the device and turns it into
numbers at the end, so a sweep of many batch members never brings spikes to the host. It is a small
frozen dataclass implementing :class:`StreamingMetric`:

- ``names(net)``: the metric names it reports (checked for clashes before the run);
- ``init(state, run)``: the carry (a pytree whose leaves have the batch axis first), from the state
  the run starts from; validate names here (it runs on the host, before anything is traced);
- ``update(carry, step, spikes, state, run)``: after every step (``step``: the index of the step just
  taken, its spikes at time ``step * dt``; ``spikes``: population -> ``[B, n]`` 0/1; ``state``: the
  :class:`jaxsnn.NetworkState` after it);
- ``on_period(carry, state, run)``: at the end of every record period (default: nothing);
- ``finalize(carry, run)``: ``{name: [B]}``.

``run`` (:class:`RunInfo`) says which network and which stretch of steps the run covers. Example, the
mean rate (Hz) of one population from ``start`` (s) to the end of the run::

    @dataclass(frozen=True)
    class WindowRate(StreamingMetric):
        population: str
        start: float = 0.0

        def names(self, net):
            return (f"rate_{self.population}",)

        def init(self, state, run):
            run.net.population(self.population)  # ValueError naming the known populations
            return jnp.zeros((run.batch,), jnp.int32)

        def update(self, count, step, spikes, state, run):
            inside = step >= round(self.start / run.net.dt)
            return count + jnp.where(inside, spikes[self.population].sum(axis=1), 0).astype(jnp.int32)

        def finalize(self, count, run):
            seconds = run.stop_time - self.start
            return {f"rate_{self.population}": count / (run.net.population(self.population).size * seconds)}

:class:`FSBIMetrics` is the fSBI metric set (rates, ISI statistics, Fano factors, auto-covariance,
spectrum, weight blow-up and drift; :func:`jaxsnn.fsbi.compute_metrics` defines them) for any network
with an excitatory and an inhibitory population.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array

from ._validation import check_choice, check_int, steps_of

if TYPE_CHECKING:
    from .network import Network, NetworkState


class RunInfo(NamedTuple):
    """The run a metric is computed over (static, hashable).

    net: the network. first_step: index of the first step run (``state.step`` at the start).
    n_steps: steps run. period_steps: steps per record period. batch: members ``B``.
    """

    net: Network
    first_step: int
    n_steps: int
    period_steps: int
    batch: int

    @property
    def start_time(self) -> float:
        """Time (s) at the start of the run."""
        return self.first_step * self.net.dt

    @property
    def stop_time(self) -> float:
        """Time (s) at the end of the run."""
        return (self.first_step + self.n_steps) * self.net.dt


class StreamingMetric(abc.ABC):
    """A metric computed on the device while a network runs; see the module docstring for the
    protocol and an example. Subclasses are frozen dataclasses (hashable: one compiled program per
    recording layout)."""

    @abc.abstractmethod
    def names(self, net: Network) -> tuple[str, ...]:
        """The names of the metrics :meth:`finalize` returns."""

    @abc.abstractmethod
    def init(self, state: NetworkState, run: RunInfo) -> Any:
        """The carry before the first step (leaves ``[B, ...]``); raise ``ValueError`` on bad names."""

    @abc.abstractmethod
    def update(self, carry: Any, step: Array, spikes: dict[str, Array], state: NetworkState, run: RunInfo) -> Any:
        """The carry after step ``step`` (int32 scalar) with ``spikes[pop]`` ``[B, n]``."""

    def on_period(self, carry: Any, state: NetworkState, run: RunInfo) -> Any:
        """The carry at the end of a record period (``state.step`` steps done). Default: unchanged."""
        return carry

    @abc.abstractmethod
    def finalize(self, carry: Any, run: RunInfo) -> dict[str, Array]:
        """``{name: [B]}`` from the carry after the last step."""


#: fSBI's names of the four recurrent projections by (pre, post) role.
_ROLES = {("E", "E"): "ee", ("E", "I"): "ei", ("I", "E"): "ie", ("I", "I"): "ii"}


class _Sampling(NamedTuple):
    """When :class:`FSBIMetrics` samples weights: the steps (absolute) of its ``[S]`` samples; the
    first is the run's initial state when the window starts there, the others end record periods."""

    steps: tuple[int, ...]
    from_initial: bool


@dataclass(frozen=True)
class FSBIMetrics(StreamingMetric):
    """The fSBI metric set of any network with an excitatory and an inhibitory population.

    Activity metrics (``rate``, ``cv_isi``, ``kl_isi``, ``spatial_Fano``, ``temporal_Fano``,
    ``auto_cov``, ``fft``, ``std_rate_temporal``, ``std_rate_spatial``, ``std_cv``, ``rate_i``) come
    from the spikes of every neuron of ``excitatory`` (and ``rate_i`` of ``inhibitory``) emitted in the
    window [``start``, ``stop``) (s); weight metrics (``w_blow``, ``w_creep``, and per projection the
    final mean weight ``weef``/``weif``/``wief``/``wiif`` and the signed relative drift
    ``w_drift_ee``/…) from the weights of the plastic projections named in ``weights``. A projection
    E→E is fSBI's ``ee``, E→I ``ei``, I→E ``ie``, I→I ``ii`` (E = ``excitatory``, I = ``inhibitory``).
    The numbers are those of :func:`jaxsnn.fsbi.compute_metrics` on the same spikes (times
    ``step * dt``) and weight samples, computed by :mod:`jaxsnn.fsbi.metrics_stream` in float32.

    Weights are sampled at the end of every record period (``Record.period``) that ends inside
    [start, stop], and from the initial state when the window starts with the run; at least one
    sample must lie strictly inside the window (w_blow averages those). ``n_monitored``: synapses
    per projection sampled, equally spaced in its synapse list (None: all). ``w_max``: the weight
    counted as pinned in w_blow (None: the rules' ``w_max``, which must then be finite and equal);
    a weight counts as 0 or w_max when it prints as such with ``weight_digits`` significant digits
    (7, the original's files; None: exact comparison). ``binning``: the bin rule of
    ``compute_metrics``. Constraints (``ValueError`` otherwise): dt divides 1 ms, the window lies in
    the run and holds at least 0.52 s (auto_cov's 51 bins of 10 ms).
    """

    excitatory: str
    inhibitory: str
    weights: tuple[str, ...] = ()
    start: float = 0.0
    stop: float | None = None
    w_max: float | None = None
    n_monitored: int | None = None
    weight_digits: int | None = 7
    binning: str = "reference"

    def __post_init__(self):
        if isinstance(self.weights, str):
            raise ValueError(f"FSBIMetrics weights must be a tuple of projection names; got the string {self.weights!r}")
        object.__setattr__(self, "weights", tuple(self.weights))
        if self.n_monitored is not None:
            check_int("FSBIMetrics n_monitored", self.n_monitored, minimum=1)

    # -- names and checks (host) -----------------------------------------------------------------
    def _roles(self, net: Network) -> dict[str, str]:
        """fSBI role (``"ee"``, …) -> projection name; ``ValueError`` naming what is allowed."""
        names = [p.name for p in net.populations]
        for what, pop in (("excitatory", self.excitatory), ("inhibitory", self.inhibitory)):
            if pop not in names:
                raise ValueError(f"FSBIMetrics {what}={pop!r}: no such population; the network has {names}")
        if self.excitatory == self.inhibitory:
            raise ValueError(f"FSBIMetrics: excitatory and inhibitory must be two populations; both are {self.excitatory!r}")
        side = {self.excitatory: "E", self.inhibitory: "I"}
        allowed = [p.name for p in net.plastic if p.pre in side and p.post in side]
        roles: dict[str, str] = {}
        for name in self.weights:
            proj = next((p for p in net.plastic if p.name == name), None)
            if proj is None or name not in allowed:
                raise ValueError(f"FSBIMetrics weights: {name!r} is not a plastic projection between "
                                 f"{self.excitatory!r} and {self.inhibitory!r}; allowed: {allowed}")
            role = _ROLES[side[proj.pre], side[proj.post]]
            if role in roles:
                raise ValueError(f"FSBIMetrics weights: {roles[role]!r} and {name!r} are both {role} projections; "
                                 "name at most one per pair of populations")
            roles[role] = name
        return {role: roles[role] for role in ("ee", "ei", "ie", "ii") if role in roles}

    def names(self, net: Network) -> tuple[str, ...]:
        from .fsbi.metrics import DRIFT_METRIC_NAMES, FINAL_WEIGHT_METRIC, METRIC_NAMES, WEIGHT_DRIFT_METRIC

        roles = self._roles(net)
        absent = {m for role in ("ee", "ei", "ie", "ii") if role not in roles
                  for m in (FINAL_WEIGHT_METRIC[role], WEIGHT_DRIFT_METRIC[role])}
        return tuple(m for m in METRIC_NAMES + DRIFT_METRIC_NAMES if m not in absent)

    def _window(self, run: RunInfo) -> tuple[int, int]:
        """Start and stop step of the window (absolute), checked against the run."""
        dt = run.net.dt
        start = steps_of("FSBIMetrics start", self.start, dt)
        stop = run.first_step + run.n_steps if self.stop is None else steps_of("FSBIMetrics stop", self.stop, dt)
        if not run.first_step <= start < stop <= run.first_step + run.n_steps:
            raise ValueError(f"FSBIMetrics window [{self.start}, {stop * dt}) s must lie inside the run "
                             f"[{run.start_time}, {run.stop_time}) s and have start < stop")
        return start, stop

    def _sampling(self, run: RunInfo) -> _Sampling:
        start, stop = self._window(run)
        ends = [run.first_step + j * run.period_steps for j in range(1, run.n_steps // run.period_steps + 1)]
        from_initial = start == run.first_step
        steps = ([start] if from_initial else []) + [s for s in ends if start <= s <= stop]
        if not any(start < s < stop for s in steps):
            raise ValueError(f"FSBIMetrics: no weight sample strictly inside the window ({start * run.net.dt}, "
                             f"{stop * run.net.dt}) s; weights are sampled at the end of every record period "
                             f"({run.period_steps * run.net.dt} s): shorten Record.period")
        return _Sampling(tuple(steps), from_initial)

    def _monitored(self, run: RunInfo, name: str) -> np.ndarray:
        proj = next(p for p in run.net.plastic if p.name == name)
        n_syn = proj.connectivity.n_synapses
        count = n_syn if self.n_monitored is None else min(self.n_monitored, n_syn)
        return np.linspace(0, n_syn, count, endpoint=False).astype(np.int32)

    def _w_max(self, run: RunInfo) -> float:
        roles = self._roles(run.net)
        if self.w_max is not None:
            return float(self.w_max)
        bounds = {p.name: p.plasticity.w_max for p in run.net.plastic if p.name in roles.values()}
        if not bounds:
            return 1.0  # no weights monitored: w_blow = w_creep = 0 whatever the bound
        values = set(bounds.values())
        if len(values) != 1 or not math.isfinite(next(iter(values))):
            raise ValueError(f"FSBIMetrics: the rules' w_max are {bounds}; w_blow needs one finite bound: give "
                             "FSBIMetrics(w_max=...)")
        return float(values.pop())

    # -- the protocol --------------------------------------------------------------------------
    def init(self, state: NetworkState, run: RunInfo) -> dict[str, Any]:
        from .fsbi.metrics_stream import init_accumulator

        check_choice("FSBIMetrics binning", self.binning, ("reference", "exact"))
        roles = self._roles(run.net)
        start, stop = self._window(run)
        sampling = self._sampling(run)
        self._w_max(run)
        dt = run.net.dt
        acc = init_accumulator(run.net.population(self.excitatory).size, run.net.population(self.inhibitory).size,
                               t_start=start * dt, t_stop=stop * dt, dt=dt, binning=self.binning)
        acc = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (run.batch,) + x.shape), acc)
        samples = {}
        for role, name in roles.items():
            idx = self._monitored(run, name)
            s = jnp.full((run.batch, len(sampling.steps), idx.size), jnp.nan, jnp.float32)
            if sampling.from_initial:
                s = s.at[:, 0].set(state.weights[name][:, idx])
            samples[role] = s
        return {"acc": acc, "samples": samples}

    def update(self, carry: dict[str, Any], step: Array, spikes: dict[str, Array], state: NetworkState,
               run: RunInfo) -> dict[str, Any]:
        from .fsbi.metrics_stream import update_accumulator

        start, _ = self._window(run)
        acc = jax.vmap(update_accumulator, in_axes=(0, 0, 0, None))(
            carry["acc"], spikes[self.excitatory] > 0, spikes[self.inhibitory] > 0, step - start)
        return {**carry, "acc": acc}

    def on_period(self, carry: dict[str, Any], state: NetworkState, run: RunInfo) -> dict[str, Any]:
        sampling = self._sampling(run)
        periodic = sampling.steps[1:] if sampling.from_initial else sampling.steps
        if not periodic:
            return carry
        # the samples at period ends are consecutive periods: slot = first slot + periods since the first
        first, last = periodic[0], periodic[-1]
        slot = int(sampling.from_initial) + (state.step - first) // run.period_steps
        take = (state.step >= first) & (state.step <= last)
        slot = jnp.clip(slot, 0, len(sampling.steps) - 1)
        samples = {}
        for role, name in self._roles(run.net).items():
            s = carry["samples"][role]
            old = lax.dynamic_index_in_dim(s, slot, axis=1, keepdims=False)
            new = jnp.where(take, state.weights[name][:, self._monitored(run, name)], old)
            samples[role] = lax.dynamic_update_index_in_dim(s, new, slot, axis=1)
        return {**carry, "samples": samples}

    def finalize(self, carry: dict[str, Any], run: RunInfo) -> dict[str, Array]:
        from .fsbi.metrics_stream import finalize_metrics

        times = np.asarray(self._sampling(run).steps, np.float64) * run.net.dt
        w_max = self._w_max(run)
        return jax.vmap(lambda acc, samples: finalize_metrics(acc, samples, w_max=w_max, sample_times=times,
                                                              weight_digits=self.weight_digits))(
            carry["acc"], carry["samples"])

    def sample_times(self, run: RunInfo) -> np.ndarray:
        """``[S]`` times (s) of the weight samples (what :func:`jaxsnn.fsbi.compute_metrics` is given)."""
        return np.asarray(self._sampling(run).steps, np.float64) * run.net.dt


__all__ = ["FSBIMetrics", "RunInfo", "StreamingMetric"]
