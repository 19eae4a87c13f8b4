"""Boundary checks shared by the whole package.

Every check raises ``ValueError`` naming the offending argument, what it was and what is allowed.
Checks are skipped for traced values (inside ``jit``/``vmap``/``grad``) because their values are
unknown there; validate at the boundary, before tracing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jax
import numpy as np


def is_concrete(value: Any) -> bool:
    """True when ``value`` holds no JAX tracer, so its numbers can be inspected."""
    leaves = jax.tree_util.tree_leaves(value)
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)


def _as_array(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """Raise unless every element of ``value`` is finite and > 0 (or >= 0 with ``allow_zero``)."""
    if not is_concrete(value):
        return
    arr = _as_array(value)
    bad = ~np.isfinite(arr) | ((arr < 0) if allow_zero else (arr <= 0))
    if np.any(bad):
        allowed = "finite and >= 0" if allow_zero else "finite and > 0"
        raise ValueError(f"{name} must be {allowed}; got {arr[bad].ravel()[:5].tolist()}")


def check_finite(name: str, value: Any) -> None:
    """Raise unless every element of ``value`` is finite."""
    if not is_concrete(value):
        return
    arr = _as_array(value)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; got non-finite entries")


def check_probability(name: str, value: Any) -> None:
    """Raise unless every element of ``value`` lies in [0, 1]."""
    if not is_concrete(value):
        return
    arr = _as_array(value)
    if np.any(~np.isfinite(arr) | (arr < 0) | (arr > 1)):
        raise ValueError(f"{name} must be a probability in [0, 1]; got {arr.ravel()[:5].tolist()}")


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> None:
    """Raise unless ``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}; got {value!r}")


def check_int(name: str, value: Any, *, minimum: int = 0) -> int:
    """Return ``value`` as int, raising unless it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not float(value).is_integer():
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value}")
    return value


def steps_of(name: str, duration: float, dt: float) -> int:
    """Number of time steps in ``duration`` (s), raising unless it is a whole multiple of ``dt`` (s)."""
    check_positive("dt", dt)
    if not np.isfinite(duration) or duration < 0:
        raise ValueError(f"{name} must be a finite duration >= 0 s; got {duration!r}")
    n = duration / dt
    n_round = round(n)
    if abs(n - n_round) > 1e-6 * max(1.0, abs(n)):
        raise ValueError(
            f"{name} = {duration!r} s is not a whole multiple of dt = {dt!r} s "
            f"({n:.6g} steps); choose a duration of k * dt"
        )
    return int(n_round)


def check_shape(name: str, value: Any, shape: tuple[int | None, ...]) -> None:
    """Raise unless ``value`` has ``shape`` (``None`` entries match any size)."""
    actual = np.shape(value)
    if len(actual) != len(shape) or any(s is not None and s != a for s, a in zip(shape, actual)):
        want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise ValueError(f"{name} must have shape {want}; got {list(actual)}")
