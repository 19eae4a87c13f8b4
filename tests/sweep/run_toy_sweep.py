"""Run a toy sweep in its own process (for the kill-and-resume and device tests).

usage: python run_toy_sweep.py OUT N CHUNK DELAY
Prints, as its last line, JSON {"calls": [[indices, device id], ...], "devices": n_local_devices}.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import jax  # noqa: E402

from jaxsnn.fsbi import sample_prior  # noqa: E402
from jaxsnn.sweep import run_sweep  # noqa: E402
from tests.sweep.toy import toy_simulator  # noqa: E402

out, n, chunk, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
calls = []
table = run_sweep(sample_prior("polynomial", n, 3), out=out, seed=3, chunk_size=chunk,
                  simulator=toy_simulator(seed=3, delay=delay, calls=calls), progress=False)
print(json.dumps({"calls": calls, "devices": len(jax.local_devices()), "rows": len(table)}))
