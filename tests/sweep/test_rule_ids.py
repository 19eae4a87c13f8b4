"""Rule ids: jaxsnn's byte id and the original release's printed-θ id, and stores that keep both.

tests/fsbi/data/rule_ids.json holds (θ, printed text, md5) triples generated with real torch 2.13.0
(CPU) and numpy 2.4.6: ``str(th)`` of θ rows drawn as float32 torch tensors from the two priors, plus
rows with zeros, a value below 1e-4, integer values and no scientific notation, and ``str`` of the
same rows as float32 numpy arrays. The original sampler's id is ``hashlib.md5(str(th).encode())``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jaxsnn.fsbi import rule_id, sample_prior
from jaxsnn.fsbi.prior import numpy_text, torch_text
from jaxsnn.sweep import load, run_sweep
from jaxsnn.sweep.store import chunk_path

from .toy import toy_simulator

CASES = json.loads((Path(__file__).parents[1] / "fsbi" / "data" / "rule_ids.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[f"{c['printed_as']}-{c['label']}" for c in CASES])
def test_release_ids_reproduce_the_printed_text(case: dict) -> None:
    theta = np.asarray(case["theta"], np.float64)  # float32 values, as the release stores θ
    text = torch_text(theta) if case["printed_as"] == "torch" else numpy_text(theta)
    assert text == case["text"]
    assert rule_id(theta, printed_as=case["printed_as"]) == case["id"] == hashlib.md5(text.encode()).hexdigest()


def test_byte_id_is_the_default_and_unique() -> None:
    theta = sample_prior("polynomial", 1, seed=0)[0]
    assert rule_id(theta) == rule_id(theta, printed_as="bytes") == hashlib.md5(theta.astype("<f8").tobytes()).hexdigest()
    nearby = theta.copy()
    nearby[2] += 1e-6  # the torch text keeps 4 decimals: same release id, different byte id
    assert rule_id(nearby, printed_as="torch") == rule_id(theta, printed_as="torch")
    assert rule_id(nearby) != rule_id(theta)
    with pytest.raises(ValueError, match="printed_as"):
        rule_id(theta, printed_as="repr")


def test_store_keeps_both_ids_and_fills_release_ids_of_old_stores(tmp_path) -> None:
    theta = sample_prior("polynomial", 5, seed=1)
    table = run_sweep(theta, out=tmp_path, seed=2, chunk_size=3, simulator=toy_simulator(seed=2), progress=False)
    assert table["release_id"].tolist() == [rule_id(row, printed_as="torch") for row in theta]
    # a chunk written before the release_id column existed
    old = pd.read_parquet(chunk_path(tmp_path, 0)).drop(columns="release_id")
    old.to_parquet(chunk_path(tmp_path, 0), index=False)
    pd.testing.assert_frame_equal(load(tmp_path), table)
