"""Filter-SBI plasticity-rule search (Confavreux et al. 2023): the recurrent networks with polynomial
and MLP rules, batched over rules, their metrics and plausibility.

Agreement with the original (fSBI on Auryn), read line by line from its sources; each item is the
default, with the option that keeps another behaviour where one exists:

- Neurons (``jaxsnn.neurons.ConductanceIF``, ``CVAIF``): the threshold is *set* to 100 mV after a
  spike; NMDA and the CVAIF traces are Auryn's in-place low-passes ``(1 - k)(x + k·target)``; CVAIF's
  NMDA reads the decayed AMPA. CVAIF trace time constants: ``mlp_traces="reference"`` (1 s, the
  released runs), ``"configured"`` (what the binary runs with the configured values), ``"intended"``.
- MLP rule: the original's fixed hidden layers (``load_mlp_hidden_layers``).
- Connectivity: Auryn's renewal fill (``connectivity="renewal"``; ``"bernoulli"`` for independent pairs).
- External input: Auryn's PoissonGroup renewal scan over the (step × source) lattice, spikes delayed
  8 steps like every group's.
- Blow-up guard: counts the arriving (delayed) E spikes.
- Weight monitor: samples after the step whose clock is a multiple of the period; ``w_blow`` compares
  the weights with 0 and w_max at the 7 significant digits the original writes.
- Metrics: spike times as the original reads them (float64 nearest k/10000 s) and ``np.histogram`` on
  ``np.arange`` edges, on the host and in the streaming metrics (``binning="exact"`` for decimal edges).
- Rule ids: ``rule_id(theta, printed_as="torch")`` is the release's md5 of the printed θ row.

Declined, with the reason:

- Random streams: jaxsnn draws with JAX's generators, not Auryn's mt19937, so no run repeats an
  original run spike for spike; agreement is statistical (rates, metrics, verdicts). The original's MLP
  binary never seeds, so all its released MLP runs share one network and one input stream: to mimic
  that, simulate every rule with the same ``seed`` and ``rule_ids=np.zeros(R)``.
- Stop time: after a blow-up in the 60 s phase the original still runs its 10 s phase and may report
  that phase's stop time; jaxsnn reports when the guard tripped. Metrics are NaN either way.
"""

from .config import FSBIConfig, make_config
from .metrics import (
    DRIFT_METRIC_NAMES,
    METRIC_NAMES,
    MLP_DRIFT_METRIC_NAMES,
    MLP_METRIC_NAMES,
    PROJECTIONS,
    compute_metrics,
    run_metric_names,
)
from .metrics_stream import (
    MetricsAccumulator,
    StreamWindow,
    finalize_metrics,
    init_accumulator,
    make_window,
    update_accumulator,
)
from .published import PUBLISHED_MLP_RULE, PUBLISHED_POLYNOMIAL_RULE
from .prior import R_EXT_BOUNDS, in_prior, prior_bounds, rule_id, sample_prior
from .plausibility import PLAUSIBILITY_GROUPS, group_pass, is_plausible
from .recordings import RECORDING_FORMAT_VERSION, load_recording, save_recording
from .rules import MLPRule, PolynomialRule, load_mlp_hidden_layers, pair_window
from .run import FSBIResult, compiled_bytes, compiled_bytes_per_rule, simulate

__all__ = [
    "FSBIConfig", "make_config", "METRIC_NAMES", "MLP_METRIC_NAMES", "DRIFT_METRIC_NAMES", "MLP_DRIFT_METRIC_NAMES",
    "run_metric_names", "PROJECTIONS", "compute_metrics",
    "MetricsAccumulator", "StreamWindow", "finalize_metrics", "init_accumulator", "make_window",
    "update_accumulator", "PLAUSIBILITY_GROUPS", "group_pass", "is_plausible", "RECORDING_FORMAT_VERSION",
    "load_recording", "save_recording", "MLPRule", "PolynomialRule", "load_mlp_hidden_layers", "pair_window",
    "FSBIResult", "simulate", "compiled_bytes", "compiled_bytes_per_rule", "PUBLISHED_MLP_RULE", "PUBLISHED_POLYNOMIAL_RULE", "R_EXT_BOUNDS", "in_prior", "prior_bounds", "rule_id", "sample_prior",
]
