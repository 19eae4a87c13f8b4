"""Recorded spikes and weights of one fSBI run on disk, so metrics can be recomputed later.

One run is one ``.npz`` file (numpy, no pickling), format version ``RECORDING_FORMAT_VERSION`` = 1:

==========================  =========  ===========================================================
key                         dtype      content
==========================  =========  ===========================================================
``format_version``          int64 []   1
``e_times``, ``i_times``    float64    spike times (s) of recorded E / I neurons, ``[K_e]`` / ``[K_i]``
``e_ids``, ``i_ids``        int32      recorded-neuron index of each spike, same length
``weight_names``            str [P]    plastic projections among "ee", "ei", "ie", "ii"
``w_<name>_times``          float64    ``[S]`` weight sample times (s)
``w_<name>_values``         float64    ``[S, n_monitored]`` weights (units of the leak conductance)
``meta_json``               str []     JSON object of free metadata (θ, seed, r_ext in Hz, window...)
==========================  =========  ===========================================================

``load_recording`` returns the fields ready for ``compute_metrics``::

    rec = load_recording(path)
    compute_metrics(rec["e_times"], rec["e_ids"], rec["i_times"], rec["i_ids"], rec["weights"], ...)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import PROJECTIONS

RECORDING_FORMAT_VERSION = 1


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(
        f"meta values must be JSON-serialisable (numbers, strings, lists, arrays); got {type(value).__name__}"
    )


def _spikes(name: str, times: Any, ids: Any) -> tuple[np.ndarray, np.ndarray]:
    times = np.asarray(times, dtype=np.float64)
    ids = np.asarray(ids)
    if times.ndim != 1 or ids.shape != times.shape:
        raise ValueError(
            f"{name}_times and {name}_ids must be 1-D arrays of equal length; "
            f"got shapes {list(times.shape)} and {list(ids.shape)}"
        )
    if ids.size and (not np.all(np.equal(np.mod(ids, 1), 0)) or ids.min() < 0):
        raise ValueError(f"{name}_ids must be non-negative integer neuron indices")
    return times, ids.astype(np.int32)


def save_recording(
    path: str | Path,
    e_times: Any,
    e_ids: Any,
    i_times: Any,
    i_ids: Any,
    weights: Mapping[str, tuple[Any, Any]],
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write one run to ``path`` (``.npz`` appended if missing); returns the path written.

    Args:
        e_times, e_ids, i_times, i_ids: spike times (s) and recorded-neuron indices, as for
            ``compute_metrics``.
        weights: projection name -> ``(sample_times [S] in s, values [S, n_monitored])``.
        meta: JSON-serialisable metadata; numpy arrays are stored as (nested) lists.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    arrays: dict[str, np.ndarray] = {"format_version": np.asarray(RECORDING_FORMAT_VERSION, np.int64)}
    arrays["e_times"], arrays["e_ids"] = _spikes("e", e_times, e_ids)
    arrays["i_times"], arrays["i_ids"] = _spikes("i", i_times, i_ids)
    names = []
    for name, (times, values) in weights.items():
        if name not in PROJECTIONS:
            raise ValueError(f"weights keys must be among {list(PROJECTIONS)}; got {name!r}")
        times = np.asarray(times, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64)
        if times.ndim != 1 or values.ndim != 2 or values.shape[0] != times.shape[0]:
            raise ValueError(
                f"weights[{name!r}] must be (sample_times [S], values [S, n_monitored]); "
                f"got shapes {list(times.shape)} and {list(values.shape)}"
            )
        arrays[f"w_{name}_times"], arrays[f"w_{name}_values"] = times, values
        names.append(name)
    arrays["weight_names"] = np.asarray(names, dtype=str)
    try:
        arrays["meta_json"] = np.asarray(json.dumps(dict(meta or {}), default=_json_default))
    except TypeError as error:
        raise ValueError(str(error)) from error
    np.savez_compressed(path, **arrays)
    return path


def load_recording(path: str | Path) -> dict[str, Any]:
    """Read a run written by ``save_recording``.

    Returns:
        ``{"e_times", "e_ids", "i_times", "i_ids", "weights": {name: (times, values)}, "meta": dict,
        "format_version": int}`` with the dtypes of the module docstring.
    """
    with np.load(Path(path), allow_pickle=False) as data:
        version = int(data["format_version"])
        if version != RECORDING_FORMAT_VERSION:
            raise ValueError(
                f"{path} has recording format version {version}; "
                f"this jaxsnn reads version {RECORDING_FORMAT_VERSION}"
            )
        weights = {
            str(name): (data[f"w_{name}_times"], data[f"w_{name}_values"]) for name in data["weight_names"]
        }
        return {
            "e_times": data["e_times"],
            "e_ids": data["e_ids"],
            "i_times": data["i_times"],
            "i_ids": data["i_ids"],
            "weights": weights,
            "meta": json.loads(str(data["meta_json"])),
            "format_version": version,
        }
