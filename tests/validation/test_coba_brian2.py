"""COBA against Brian2 (slow): mean E and I rates and mean CV within 10 % of Brian2's, averaged over
3 seeds, from the benchmark script's JSON output."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_coba_matches_brian2_over_three_seeds():
    pytest.importorskip("brian2")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "coba_vs_brian2.py"), "--seeds", "3", "--batch", "0", "--json"],
        capture_output=True, text=True, timeout=3000, check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    ours, peer = result["jaxsnn"], result["brian2"]
    for key in ("rate_e", "rate_i", "cv_isi"):
        assert abs(ours[key] - peer[key]) <= 0.10 * abs(peer[key]), (key, ours[key], peer[key])
    assert 10.0 < ours["rate_e"] < 40.0  # both populations fire at about 20 Hz
