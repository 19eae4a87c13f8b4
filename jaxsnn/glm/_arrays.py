"""Reading arrays from .npy / .npz files."""

from __future__ import annotations

import numpy as np


def read_array(path: str, key: str | None = None) -> np.ndarray:
    """The array stored in a ``.npy`` file, or array ``key`` of a ``.npz`` file (``key`` may be left out
    when the archive holds exactly one array)."""
    data = np.load(path)
    if isinstance(data, np.lib.npyio.NpzFile):
        names = list(data.keys())
        if key is None and len(names) != 1:
            raise ValueError(f"{path} holds arrays {names}; choose one with key=")
        data = data[key if key is not None else names[0]]
    return data
