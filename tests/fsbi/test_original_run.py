"""``compute_metrics`` reproduces the original fSBI metric code on spikes recorded from the original simulator.

Data (tests/fsbi/data/original_run_polynomial.npz and ..._metrics.json) come from one run of the
original C++ simulator, fSBI's ``sim_bg_IF_EEEIIEII_6pPol.cpp`` (VogelsLab/fSBI commit
d0e64b196091b13f801abac4c1e7c4957a0d5fda), built with fSBI's Makefile flags (mpicxx -O3 -march=native
-ffast-math) against Auryn (fzenke/auryn commit 674ef80462b92d45414f1604bc8cd8f69ec0305e, CMake
Release build of libauryn.a, Boost 1.74, OpenMPI, Debian 12). The command line is the one
fSBI's ``Simulator_bg_IF_EEEIIEII_6pPol`` builds from tasks_configs/bg_IF_EEEIIEII_6pPol.yaml, for
the published polynomial rule ([tau_pre, tau_post, alpha, beta, gamma, kappa] per projection) and
r_ext = 6 Hz::

    sim_bg_IF_EEEIIEII_6pPol --ID 1
      --ruleEE a0.04660005a0.02327882a0.49659052a-0.35899994a-0.37540221a-1.278193a
      --ruleEI a0.0707294a0.07955258a0.63596439a-1.72025657a0.56049812a0.06629736a
      --ruleIE a0.03651253a0.04398145a-0.31592822a-0.04090761a1.60054791a1.11010623a
      --ruleII a0.09858324a0.04056259a-1.94945908a1.7757206a0.19681023a1.9772824a
      --rate_poisson 6 --NE 4096 --NI 1024 --tau_ampa 0.005 --tau_gaba 0.01 --tau_nmda 0.1
      --ampa_nmda_ratio 0.3 --wmax 20 --eta 0.01 --wee 0.1 --wei 0.1 --wie 1 --wii 1
      --sparseness 0.1 --N_input 5000 --sparseness_poisson 0.05 --weight_poisson 0.075
      --max_rate_checker 100 --tau_checker 1 --lns 60 --ls 10 --workdir ./wd
      --n_recorded 1000 --record_i True --n_recorded_i 500

(single process, no mpirun; it ran the full 70 s without blow-up, printing ``cynthia-1cynthia``, in
27 CPU-s; the simulator seeds itself from the clock, so a rerun gives other spikes). The expected
values are the original metric code's: fSBI's fsbi/analyse.py ``ComputeMetrics`` (unchanged but for
dropping its unused ``torch``/``h5py`` imports) on the .ras/.syn files read with the logic of fSBI's
``read_monitor_spiketime_files`` / ``read_monitor_weights_files`` (float64 arrays, as through the h5
store), with the yaml's parameters and t_start_rec = 60, t_stop_rec = 70.

Stored losslessly:

- ``e_steps``/``i_steps`` (int32) and ``e_ids``/``i_ids`` (int16): the spikes of the 1000 recorded E
  and 500 recorded I neurons; the time as the original reads it (``float`` of Auryn's ``"%f"``) is
  exactly ``steps / 10000`` in float64 (checked when the file was written). Order: by neuron, then time.
- ``w_steps`` (int32): the 100 weight-sample times (60.0 ... 69.9 s), again ``w_steps / 10000``.
- ``w_ee``, ``w_ei``, ``w_ie``, ``w_ii`` (float64 ``[100 samples, 100 monitored synapses]``): the
  weights as parsed from Auryn's ``%.6e`` text.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jaxsnn.fsbi import compute_metrics

DATA = Path(__file__).parent / "data"
RTOL = 1e-9


def _load():
    d = np.load(DATA / "original_run_polynomial.npz")
    expected = json.loads((DATA / "original_run_polynomial_metrics.json").read_text())
    e_times = d["e_steps"].astype(np.int64) / 10000
    i_times = d["i_steps"].astype(np.int64) / 10000
    w_times = d["w_steps"].astype(np.int64) / 10000
    weights = {c: (w_times, d[f"w_{c}"]) for c in ("ee", "ei", "ie", "ii")}
    return e_times, d["e_ids"].astype(np.int64), i_times, d["i_ids"].astype(np.int64), weights, expected


def test_data_shape():
    e_times, e_ids, i_times, i_ids, weights, expected = _load()
    assert len(expected) == 17
    assert e_times.min() >= 60.0 and e_times.max() < 70.0 and i_times.min() >= 60.0 and i_times.max() < 70.0
    assert e_ids.max() < 1000 and i_ids.max() < 500
    for t, w in weights.values():
        assert t.shape == (100,) and w.shape == (100, 100)


def test_compute_metrics_matches_original_run():
    e_times, e_ids, i_times, i_ids, weights, expected = _load()
    got = compute_metrics(
        e_times, e_ids, i_times, i_ids, weights, t_start=60.0, t_stop=70.0, n_e=1000, n_i=500, w_max=20.0
    )
    bad = {}
    for name, want in expected.items():
        value = got[name]
        if np.isnan(want) or np.isnan(value):
            if not (np.isnan(want) and np.isnan(value)):
                bad[name] = (want, value)
            continue
        if value != pytest.approx(want, rel=RTOL, abs=0.0):
            bad[name] = (want, value)
    assert not bad, f"metrics differing from the original's by more than {RTOL} (relative): {bad}"
