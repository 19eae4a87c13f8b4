"""The results store of a sweep: a folder of Parquet files, one per chunk, plus a manifest.

Layout of ``out/``::

    manifest.json           what was swept (simulator, rule family and θ names, seed, options, N, chunk size, hash of θ),
                            and ``runs``: one entry per run of the sweep (engine and cluster shape, start, end)
    chunk-000000.parquet    rows of chunk 0 (global indices 0 .. chunk_size-1)
    chunk-000001.parquet    ...

A chunk file is written to a temporary name in the same folder and renamed with ``os.replace``, which
is atomic on POSIX file systems: a chunk file that exists is complete, and a crash at any moment leaves
at most a stray ``.tmp`` file (ignored, and removed by the next run). Temporary names carry the host,
process id and a random token, so writers on several hosts of a shared file system never share one; two
writers of the same chunk (a task Dask ran twice) each rename a complete, identical file into place.

Columns of every chunk (and of :func:`load`), one row per rule:

=================  ========  ===================================================================
column             dtype     content
=================  ========  ===================================================================
``index``          int64     global index of the rule in the sweep (0 .. N-1); names its random stream
``rule_id``        string    md5 hex digest of θ as little-endian float64 (``rule_id(θ)``; unique per θ)
``release_id``     string    the original release's id of θ: md5 of θ printed as a float32 torch tensor
                             (``rule_id(θ, printed_as="torch")``; 4 decimals, so not unique). Stores
                             written before this column have it filled in from θ by :func:`load`.
``seed``           int64     sweep seed (network connectivity and, with ``index``, the random input)
``theta_0`` …      float64   θ (``theta_{P-1}`` = r_ext in Hz for the fSBI tasks)
``status``         string    ``"done"``, ``"blown_up"`` (stopped by the blow-up guard) or ``"overflow"``
                             (events were lost; metrics are computed but less trustworthy)
``blowup_time``    float64   time (s) the blow-up guard stopped the run, -1 if it never did
``overflow``       int64     lost events (0: none)
metric columns     float64   one per metric, NaN where the run blew up
=================  ========  ===================================================================
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..family import BUILTIN_FAMILIES, RuleFamily, get_family
from ..fsbi.plausibility import PLAUSIBILITY_GROUPS, group_pass
from ..fsbi.prior import rule_id

STORE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STATUSES = ("done", "blown_up", "overflow")
FIXED_COLUMNS = ("index", "rule_id", "release_id", "seed")
RESULT_COLUMNS = ("status", "blowup_time", "overflow")


def theta_hash(theta: np.ndarray) -> str:
    """sha256 of θ ``[N, P]`` as little-endian float64 together with its shape (hex)."""
    theta = np.ascontiguousarray(np.asarray(theta, dtype="<f8"))
    digest = hashlib.sha256(np.asarray(theta.shape, "<i8").tobytes())
    digest.update(theta.tobytes())
    return digest.hexdigest()


def chunk_path(out: str | os.PathLike, chunk: int) -> Path:
    """File of chunk number ``chunk`` in the store ``out``."""
    return Path(out) / f"chunk-{chunk:06d}.parquet"


def theta_columns(theta_size: int) -> list[str]:
    return [f"theta_{i}" for i in range(theta_size)]


def statuses(blowup_time: np.ndarray, overflow: np.ndarray) -> np.ndarray:
    """``[R]`` status strings: "blown_up" where the guard stopped the run, else "overflow" where events
    were lost, else "done"."""
    blown = np.asarray(blowup_time) >= 0
    lost = np.asarray(overflow) > 0
    return np.where(blown, "blown_up", np.where(lost, "overflow", "done"))


def read_manifest(out: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of the store ``out``, or None if there is none yet."""
    path = Path(out) / MANIFEST
    if not path.exists():
        return None
    manifest = json.loads(path.read_text())
    if manifest.get("format_version") != STORE_FORMAT_VERSION:
        raise ValueError(f"{path} has store format version {manifest.get('format_version')}; "
                         f"this jaxsnn reads version {STORE_FORMAT_VERSION}")
    return manifest


def write_atomic(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path`` (atomic on POSIX)."""
    tmp = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_manifest(out: str | os.PathLike, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest`` (JSON-serialisable) to ``out/manifest.json`` atomically."""
    path = Path(out) / MANIFEST
    text = json.dumps(dict(manifest), indent=2, sort_keys=True) + "\n"
    write_atomic(path, lambda tmp: Path(tmp).write_text(text))


def remove_stale_temporaries(out: str | os.PathLike, older_than: float | None = None) -> None:
    """Delete temporary files left by a run that was killed while writing; with ``older_than`` (a
    ``time.time()`` value, s) only those last modified before it, so a writer still at work elsewhere
    (a Dask task of an earlier, killed client) keeps its file."""
    for path in Path(out).glob(".*.tmp"):
        try:
            if older_than is None or path.stat().st_mtime < older_than:
                path.unlink(missing_ok=True)
        except FileNotFoundError:  # renamed into place by its writer meanwhile
            pass


def record_run(out: str | os.PathLike, run: Mapping[str, Any]) -> int:
    """Append ``run`` (JSON-serialisable: engine, cluster shape, start time …) to the manifest's
    ``runs`` list; returns its position there, for :func:`update_run`. Only the sweep's one client
    writes the manifest (workers write chunk files only), so there is no concurrent writer."""
    manifest = read_manifest(out)
    if manifest is None:
        raise ValueError(f"{out} has no {MANIFEST}; write it before recording a run")
    runs = list(manifest.get("runs", []))
    runs.append({"started": _now(), **dict(run)})
    write_manifest(out, {**manifest, "runs": runs})
    return len(runs) - 1


def update_run(out: str | os.PathLike, position: int, **fields: Any) -> None:
    """Add ``fields`` (and ``finished``: the time now) to run number ``position`` of the manifest."""
    manifest = read_manifest(out)
    runs = list(manifest.get("runs", []))
    runs[position] = {**runs[position], **fields, "finished": _now()}
    write_manifest(out, {**manifest, "runs": runs})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def chunk_table(index: np.ndarray, rule_ids: Sequence[str], seed: int, theta: np.ndarray,
                blowup_time: np.ndarray, overflow: np.ndarray, metrics: Mapping[str, np.ndarray],
                metric_names: Sequence[str], release_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of one chunk, columns in store order (see the module docstring); ``release_ids``
    default to ``rule_id(row, printed_as="torch")`` of each θ row."""
    n = len(index)
    if release_ids is None:
        release_ids = release_ids_of(theta)
    columns: dict[str, Any] = {
        "index": np.asarray(index, np.int64),
        "rule_id": pd.array(list(rule_ids), dtype="string"),
        "release_id": pd.array(list(release_ids), dtype="string"),
        "seed": np.full(n, seed, np.int64),
    }
    for name, values in zip(theta_columns(theta.shape[1]), np.asarray(theta, np.float64).T):
        columns[name] = values
    columns["status"] = pd.array(statuses(blowup_time, overflow), dtype="string")
    columns["blowup_time"] = np.asarray(blowup_time, np.float64)
    columns["overflow"] = np.asarray(overflow, np.int64)
    for name in metric_names:
        columns[name] = np.asarray(metrics[name], np.float64)
    return pd.DataFrame(columns)


def release_ids_of(theta: np.ndarray) -> list[str]:
    """The original release's id of each θ row (``rule_id(row, printed_as="torch")``)."""
    return [rule_id(row, printed_as="torch") for row in np.asarray(theta, np.float64)]


def _read_chunk(out: str | os.PathLike, chunk: int, theta_size: int) -> pd.DataFrame:
    """One chunk's table; chunks written before the ``release_id`` column get it from their θ."""
    table = pd.read_parquet(chunk_path(out, chunk))
    if "release_id" not in table.columns:
        theta = table[theta_columns(theta_size)].to_numpy(np.float64)
        table.insert(list(table.columns).index("rule_id") + 1, "release_id",
                     pd.array(release_ids_of(theta), dtype="string"))
    return table


def write_chunk(out: str | os.PathLike, chunk: int, table: pd.DataFrame) -> Path:
    """Write one chunk's table atomically; returns its path."""
    path = chunk_path(out, chunk)
    write_atomic(path, lambda tmp: table.to_parquet(tmp, index=False))
    return path


def completed_chunks(out: str | os.PathLike) -> set[int]:
    """Numbers of the chunks whose file exists (and is therefore complete)."""
    done = set()
    for path in Path(out).glob("chunk-*.parquet"):
        done.add(int(path.stem.split("-")[1]))
    return done


def load(out: str | os.PathLike, *, plausible: bool = False, groups: Iterable[str] | None = None,
         include_std_cv: bool = True, complete: bool = False, family: RuleFamily | str | None = None) -> pd.DataFrame:
    """The store ``out`` as one DataFrame, one row per finished rule, sorted by global ``index``.

    Args:
        plausible: keep only rules that pass ``groups`` (see :func:`filter_plausible`).
        groups: plausibility groups to require (default: all of the family's); giving
            groups implies ``plausible=True``.
        include_std_cv: whether the asynchronous-irregular group checks std_cv.
        complete: raise ``ValueError`` unless every chunk of the sweep is present.
        family: the rule family whose plausibility groups filter (a :class:`jaxsnn.RuleFamily` or its
            name or import spec); default the fSBI plausibility groups, which is all a store of a built-in
            family needs. A store of another family must be given it to filter.
    """
    out = Path(out)
    manifest = read_manifest(out)
    if manifest is None:
        raise ValueError(f"{out} is not a sweep store (no {MANIFEST}); run jaxsnn.sweep.run_sweep first")
    chunks = sorted(completed_chunks(out))
    if complete and len(chunks) != manifest["n_chunks"]:
        missing = sorted(set(range(manifest["n_chunks"])) - set(chunks))
        raise ValueError(f"{out} is incomplete: chunks {missing[:10]} of {manifest['n_chunks']} are missing; "
                         "rerun the same sweep to finish it")
    columns = [*FIXED_COLUMNS, *theta_columns(manifest["theta_size"]), *RESULT_COLUMNS, *manifest["metric_names"]]
    if chunks:
        table = pd.concat([_read_chunk(out, c, manifest["theta_size"]) for c in chunks], ignore_index=True)
    else:
        table = pd.DataFrame({name: pd.Series(dtype=_empty_dtype(name)) for name in columns})
    table = table[columns].sort_values("index", kind="stable").reset_index(drop=True)
    if plausible or groups is not None:
        stored = manifest["simulator"].get("family", manifest["simulator"].get("task"))
        if family is None and stored is not None and stored not in BUILTIN_FAMILIES:
            raise ValueError(f"{out} holds rules of family {stored!r}: give family= (the RuleFamily or its "
                             "'module:attribute') to filter them by its plausibility groups")
        table = filter_plausible(table, groups=groups, include_std_cv=include_std_cv, family=family)
    return table


def _empty_dtype(column: str) -> str:
    if column in ("rule_id", "release_id", "status"):
        return "string"
    return "int64" if column in ("index", "seed", "overflow") else "float64"


def filter_plausible(table: pd.DataFrame, *, groups: Iterable[str] | None = None,
                     include_std_cv: bool = True, family: RuleFamily | str | None = None) -> pd.DataFrame:
    """Rows of ``table`` that pass every plausibility group in ``groups`` (default: all of the fSBI
    plausibility groups, or all of ``family``'s).

    The fSBI groups (docs/models/fsbi.md, "Plausibility"): "stable_activity", "stable_weights", "asynchronous_irregular". Blown-up rows (NaN
    metrics) never pass. Metrics that a task lacks (weif, wiif for the MLP task) are skipped.
    """
    if family is not None:
        family = get_family(family)
        groups = list(family.plausibility) if groups is None else list(groups)
        if not groups:
            raise ValueError(f"groups must name at least one of {list(family.plausibility)}")
        columns = {name: table[name].to_numpy(np.float64) for name in family.metric_names if name in table.columns}
        skip = () if include_std_cv else ("std_cv",)
        keep = np.logical_and.reduce([family.group_pass(columns, g, skip=skip) for g in groups]) & np.ones(len(table), bool)
        return table[keep].reset_index(drop=True)
    groups = list(PLAUSIBILITY_GROUPS) if groups is None else list(groups)
    if not groups:
        raise ValueError(f"groups must name at least one of {list(PLAUSIBILITY_GROUPS)}")
    checked = {name for intervals in PLAUSIBILITY_GROUPS.values() for name in intervals}
    metric_columns = {name: table[name].to_numpy(np.float64) for name in checked if name in table.columns}
    keep = np.ones(len(table), bool)
    for group in groups:
        keep &= group_pass(metric_columns, group, include_std_cv)
    return table[keep].reset_index(drop=True)


def load_arrays(out: str | os.PathLike, **load_options: Any) -> dict[str, np.ndarray]:
    """The store as numpy arrays: ``index`` [N] int64, ``rule_id`` [N] str, ``release_id`` [N] str,
    ``seed`` [N] int64,
    ``theta`` [N, P] float64, ``status`` [N] str, ``blowup_time`` [N] float64, ``overflow`` [N] int64,
    and one [N] float64 array per metric. ``load_options`` as for :func:`load`."""
    table = load(out, **load_options)
    manifest = read_manifest(out)
    arrays: dict[str, np.ndarray] = {
        "index": table["index"].to_numpy(np.int64),
        "rule_id": table["rule_id"].to_numpy(str),
        "release_id": table["release_id"].to_numpy(str),
        "seed": table["seed"].to_numpy(np.int64),
        "theta": table[theta_columns(manifest["theta_size"])].to_numpy(np.float64),
        "status": table["status"].to_numpy(str),
        "blowup_time": table["blowup_time"].to_numpy(np.float64),
        "overflow": table["overflow"].to_numpy(np.int64),
    }
    for name in manifest["metric_names"]:
        arrays[name] = table[name].to_numpy(np.float64)
    return arrays
