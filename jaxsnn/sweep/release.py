"""The numpy structured-array format of the original release.

One record per rule: ``seed`` ('<U64', the md5 hex digest of θ as the original sampler printed it,
``hashlib.md5(str(th).encode())``, see ``jaxsnn.fsbi.prior.rule_id``), ``theta`` (float64 × 25 polynomial /
× 23 MLP, last = r_ext in Hz), then one float64 per metric in the release order (the family's
``release_metric_names``: ``jaxsnn.fsbi.METRIC_NAMES`` / ``MLP_METRIC_NAMES``). NaN metrics mark a
blown-up run. Only the fSBI families (:mod:`jaxsnn.fsbi.families`) have this format.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..family import BUILTIN_FAMILIES, get_family
from ..fsbi.prior import rule_id
from .store import load, theta_columns


def _release_family(task):
    """The fSBI family named by ``task``: only those have a release format."""
    from ..fsbi.families import FSBIFamily

    family = get_family(task, what="task")
    if not isinstance(family, FSBIFamily) or not family.release_metric_names:
        raise ValueError(f"the release format exists for the fSBI families {list(BUILTIN_FAMILIES)} only; "
                         f"family {family.name!r} has none (read its store with jaxsnn.sweep.load)")
    return family


def release_metric_names(task: str) -> tuple[str, ...]:
    """Metric fields of the release for rule family ``task``, in release order."""
    return _release_family(task).release_metric_names


def release_dtype(task: str) -> np.dtype:
    """The exact structured dtype of the release for rule family ``task``."""
    theta_size = _release_family(task).theta_size
    return np.dtype([("seed", "<U64"), ("theta", "<f8", (theta_size,))]
                    + [(name, "<f8") for name in release_metric_names(task)])


def to_release(table: pd.DataFrame | str | os.PathLike, task: str) -> np.ndarray:
    """Records of the release format from a store folder or a table as returned by :func:`load`.

    Every row becomes a record (blown-up rules keep their NaN metrics, as in the release). The
    record's ``seed`` is the table's ``release_id`` (θ printed as the original's torch tensor, as in
    the release), or its ``rule_id`` for a table without that column.
    """
    if not isinstance(table, pd.DataFrame):
        table = load(table)
    task = _release_family(task).name
    dtype = release_dtype(task)
    theta_size = dtype["theta"].shape[0]
    needed = ["rule_id", *theta_columns(theta_size), *release_metric_names(task)]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(f"the table lacks columns {missing} needed for the {task!r} release format; "
                         f"is it a {task!r} sweep?")
    if f"theta_{theta_size}" in table.columns:
        raise ValueError(f"the table has more than {theta_size} theta columns; it is not a {task!r} sweep")
    records = np.zeros(len(table), dtype)
    ids = table["release_id"] if "release_id" in table.columns else table["rule_id"]
    records["seed"] = ids.to_numpy(str)
    records["theta"] = table[theta_columns(theta_size)].to_numpy(np.float64)
    for name in release_metric_names(task):
        records[name] = table[name].to_numpy(np.float64)
    return records


def _task_of(records: np.ndarray) -> str:
    for task in BUILTIN_FAMILIES:
        if records.dtype == release_dtype(task):
            return task
    raise ValueError(f"not a release array: dtype {records.dtype} matches none of "
                     + ", ".join(f"{release_dtype(task)} ({task})" for task in BUILTIN_FAMILIES))


def from_release(records: np.ndarray) -> pd.DataFrame:
    """A table from release records: columns ``index`` (record order), ``rule_id`` (jaxsnn's byte id
    of θ, ``rule_id(θ)``), ``release_id`` (the record's ``seed``), ``theta_0`` …, ``status``
    ("blown_up" where any metric is NaN, else "done") and the metrics. The sweep seed,
    blow-up time and overflow count are not in the release, so those columns are absent."""
    records = np.asarray(records)
    task = _task_of(records)
    names = release_metric_names(task)
    columns = {"index": np.arange(len(records), dtype=np.int64),
               "rule_id": pd.array([rule_id(row) for row in records["theta"]], dtype="string"),
               "release_id": pd.array(records["seed"].tolist(), dtype="string")}
    for name, values in zip(theta_columns(records.dtype["theta"].shape[0]), records["theta"].T):
        columns[name] = values
    metrics = np.stack([records[name] for name in names], axis=1) if len(records) else np.zeros((0, len(names)))
    columns["status"] = pd.array(np.where(np.isnan(metrics).any(axis=1), "blown_up", "done"), dtype="string")
    for name in names:
        columns[name] = records[name].astype(np.float64)
    return pd.DataFrame(columns)


def save_release(path: str | os.PathLike, records: np.ndarray) -> Path:
    """Write release records to a ``.npy`` file (no pickling); returns the path."""
    _task_of(np.asarray(records))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, records, allow_pickle=False)
    return path if path.suffix == ".npy" else path.with_name(path.name + ".npy")


def load_release(path: str | os.PathLike) -> np.ndarray:
    """Read release records from a ``.npy`` file, checking the dtype."""
    records = np.load(Path(path), allow_pickle=False)
    _task_of(records)
    return records
