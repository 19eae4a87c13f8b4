"""A client process of a Dask sweep of the toy family (for the client-killed-and-rerun test).

usage: python run_dask_sweep.py OUT SCHEDULER_ADDRESS N CHUNK DELAY
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from jaxsnn.sweep import run_sweep  # noqa: E402
from tests.sweep.toy import DASK_TOY  # noqa: E402

if __name__ == "__main__":
    out, address, n, chunk, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    theta = DASK_TOY.sample_prior(n, 3)
    run_sweep(theta, out=out, family=DASK_TOY, seed=3, chunk_size=chunk, client=address, progress=False, delay=delay)
