"""Every parameter of the fSBI networks and protocol, with the original's values as defaults
(docs/models/fsbi.md, "Original fSBI / Auryn parameters and jaxsnn's"); any of them can be
overridden, so the same code runs the full 5120-neuron network and scaled-down versions."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from .._validation import check_choice, check_int, check_positive, check_probability, steps_of
from ..family import BUILTIN_FAMILIES, get_family

TASKS = tuple(BUILTIN_FAMILIES)
"""Names of the built-in rule families (:mod:`jaxsnn.fsbi.families`)."""

#: Version of the simulated model: raised whenever the same θ, seed and configuration would give
#: other results (sweep stores record it, and a store of another model version is not resumed).
#: 1: until 2026-11; 2: the original's exact model (set threshold, Auryn's updates, input and
#: connectivity draws, the shipped MLP hidden layers, the original's metric binning).
MODEL_VERSION = 2


@dataclass(frozen=True)
class FSBIConfig:
    """Configuration of an fSBI simulation.

    Rule family: ``task``, an :class:`jaxsnn.fsbi.families.FSBIFamily` or its name (``"polynomial"``,
    ``"mlp"``) or ``"module:attribute"`` spec; it gives the neuron model, the plastic projections and
    their rules, θ's layout and the default blow-up rate.
    Network: ``n_exc``, ``n_inh`` neurons; recurrent connectivity ``p_conn`` (no autapses on EE and II),
    drawn as ``connectivity`` says: ``"renewal"`` (default) as Auryn's SparseConnection fills it
    (:func:`jaxsnn.connectivity.renewal`), ``"bernoulli"`` with independent pairs; initial weights ``w_ee, w_ei, w_ie, w_ii`` (units of g_leak); axonal ``delay`` (s).
    External drive: ``n_ext`` Poisson sources, each projecting to each neuron with ``p_ext`` and
    weight ``w_ext`` (rate r_ext is the last entry of θ).
    Protocol: ``dt`` (s), ``duration`` (s, total), ``record_start`` (s): metrics over
    [record_start, duration).
    Plasticity: ``eta`` (polynomial learning rate), ``w_max`` (upper weight bound), MLP trace time
    constants ``mlp_traces``: "reference" (the released runs' 1 s), "configured" (the original's binary
    with the configured values: vtrace and cexc 0.01 s, cinh 0.1 s) or "intended" (0.1, 0.01, 0.1 s).
    Blow-up guard: ``blowup_rate`` (Hz; None: the family's, 100 polynomial, 50 MLP) and ``blowup_tau`` (s).
    Recording: first ``n_rec_e`` E and ``n_rec_i`` I neurons (capped at the population sizes);
    ``n_monitored`` weights per plastic projection, equally spaced in its synapse list, sampled every
    ``weight_sample_period`` (s); ``record_spikes`` also returns spike times of the recorded neurons,
    with buffers for ``spike_buffer_rate`` Hz on average per neuron (overflow is counted per rule).
    Execution: ``block`` spikes per event-loop turn; ``chunk_duration`` (s) per compiled call;
    ``ext_capacity``: most external source spikes drawn per step and rule (None: from the rates);
    ``synapse_kernel``: how the networks are stepped: ``"xla"`` (XLA ops, any backend), ``"cpu"``
    (whole blocks of steps in the compiled CPU kernels of :mod:`jaxsnn.fsbi.kernel`: polynomial rules
    with the same arithmetic, about 4x less CPU time per rule; MLP rules with the same neuron
    arithmetic and the MLP to float32 rounding, about 4x less), ``"auto"``: the kernel on a CPU
    backend where it builds, else XLA. ``strategy``: how the XLA path propagates spikes (see
    :func:`jaxsnn.simulate`): ``"event"`` loops, ``"static"`` fixed shapes (accelerators; spikes compacted
    into slots, a chunk rerun with more slots when they did not fit), ``"auto"``: static on GPU/TPU.
    """

    task: Any = "polynomial"
    n_exc: int = 4096
    n_inh: int = 1024
    p_conn: float = 0.1
    w_ee: float = 0.1
    w_ei: float = 0.1
    w_ie: float = 1.0
    w_ii: float = 1.0
    delay: float = 0.8e-3
    n_ext: int = 5000
    p_ext: float = 0.05
    w_ext: float = 0.075
    dt: float = 1e-4
    duration: float = 70.0
    record_start: float = 60.0
    eta: float = 0.01
    w_max: float = 20.0
    mlp_traces: str = "reference"
    blowup_rate: float | None = None
    blowup_tau: float = 1.0
    n_rec_e: int = 1000
    n_rec_i: int = 500
    n_monitored: int = 100
    weight_sample_period: float = 0.1
    record_spikes: bool = False
    spike_buffer_rate: float = 100.0
    block: int | None = None
    chunk_duration: float = 1.0
    ext_capacity: int | None = None
    synapse_kernel: str = "auto"
    connectivity: str = "renewal"
    strategy: str = "auto"

    def __post_init__(self):
        from .families import FSBIFamily  # noqa: PLC0415 (families import this module)

        # the rule family (a family, its name or 'module:attr'); it supplies plastic, theta_size, blowup_limit
        if not isinstance(get_family(self.task, what="task"), FSBIFamily):
            raise ValueError(f"task {self.task!r} is not a family of the fSBI network (a jaxsnn.fsbi.families.FSBIFamily); "
                             f"built-in: {list(TASKS)}")
        check_choice("mlp_traces", self.mlp_traces, ("reference", "configured", "intended"))
        check_choice("synapse_kernel", self.synapse_kernel, ("auto", "xla", "cpu"))
        check_choice("connectivity", self.connectivity, ("renewal", "bernoulli"))
        check_choice("strategy", self.strategy, ("auto", "event", "static"))
        if self.strategy == "static" and self.synapse_kernel == "cpu":
            raise ValueError("strategy='static' runs the core engine's XLA step; synapse_kernel='cpu' asks for the "
                             "C++ kernel (an event-driven CPU path): give one of them")
        for name in ("n_exc", "n_inh", "n_ext", "n_monitored"):
            check_int(name, getattr(self, name), minimum=1)
        for name in ("n_rec_e", "n_rec_i"):
            check_int(name, getattr(self, name), minimum=1)
        check_probability("p_conn", self.p_conn)
        check_probability("p_ext", self.p_ext)
        for name in ("w_ee", "w_ei", "w_ie", "w_ii", "w_ext", "eta"):
            check_positive(name, getattr(self, name), allow_zero=True)
        for name in ("dt", "w_max", "blowup_tau", "weight_sample_period", "chunk_duration", "spike_buffer_rate"):
            check_positive(name, getattr(self, name))
        if self.blowup_rate is not None:
            check_positive("blowup_rate", self.blowup_rate)
        total = steps_of("duration", self.duration, self.dt)
        start = steps_of("record_start", self.record_start, self.dt)
        if start >= total:
            raise ValueError(f"record_start ({self.record_start} s) must be before duration ({self.duration} s)")
        period = steps_of("weight_sample_period", self.weight_sample_period, self.dt)
        if (total - start) % period:
            raise ValueError(
                f"the recording window duration - record_start = {self.duration - self.record_start:g} s must be a "
                f"whole number of weight_sample_period = {self.weight_sample_period} s"
            )
        if self.delay_steps < 1:
            raise ValueError(f"delay must be at least one step (dt = {self.dt} s); got {self.delay} s")
        if self.block is not None:
            check_int("block", self.block, minimum=1)

    @property
    def delay_steps(self) -> int:
        return steps_of("delay", self.delay, self.dt)

    @property
    def family(self):
        """The :class:`jaxsnn.fsbi.families.FSBIFamily` named by ``task``."""
        return get_family(self.task, what="task")

    @property
    def blowup_limit(self) -> float:
        """The blow-up rate limit (Hz): the given one, else the family's (100 polynomial, 50 MLP)."""
        if self.blowup_rate is not None:
            return self.blowup_rate
        return self.family.blowup_rate

    @property
    def recorded_e(self) -> int:
        return min(self.n_rec_e, self.n_exc)

    @property
    def recorded_i(self) -> int:
        return min(self.n_rec_i, self.n_inh)

    @property
    def plastic(self) -> tuple[str, ...]:
        """The family's plastic projections (polynomial: ee, ei, ie, ii; MLP: ee, ie)."""
        return self.family.plastic

    @property
    def theta_size(self) -> int:
        """P, the family's θ size (polynomial 25, MLP 23)."""
        return self.family.theta_size


def make_config(task: Any = "polynomial", **overrides: Any) -> FSBIConfig:
    """An :class:`FSBIConfig` for ``task`` (an fSBI rule family, or its name or 'module:attr' spec) with
    ``overrides``; unknown names raise ``ValueError``. A built-in family is stored by its name."""
    for name in TASKS:
        if task is get_family(name):
            task = name
    known = {f.name for f in fields(FSBIConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown fSBI option(s) {unknown}; allowed: {sorted(known - {'task'})}")
    return replace(FSBIConfig(task=task), **overrides)
