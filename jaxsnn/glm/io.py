"""Save and load GLM model parameters as ``.npz`` files (portable, readable without jaxsnn)."""

from __future__ import annotations

import dataclasses

import numpy as np

from .models import MODELS, GLMModel

_CLASS_KEY = "__model__"


def save_model(path: str, model: GLMModel) -> None:
    """Write every field of ``model`` (parameters and static settings) and its class name to ``path``.

    Works for batched models too (leaves with a leading batch axis, e.g. tuned under ``vmap``).
    """
    if not isinstance(model, GLMModel):
        raise ValueError(f"save_model takes a jaxsnn.glm model ({', '.join(MODELS)}); got {type(model).__name__}")
    fields = {f.name: np.asarray(getattr(model, f.name)) for f in dataclasses.fields(model)}
    np.savez(path, **{_CLASS_KEY: np.asarray(type(model).__name__)}, **fields)


def load_model(path: str) -> GLMModel:
    """Read a model written by :func:`save_model` (validated like a newly built one)."""
    with np.load(path) as data:
        if _CLASS_KEY not in data:
            raise ValueError(f"{path} is not a jaxsnn.glm model file (no {_CLASS_KEY!r} entry)")
        name = str(data[_CLASS_KEY])
        if name not in MODELS:
            raise ValueError(f"{path} holds an unknown model {name!r}; known: {list(MODELS)}")
        cls = MODELS[name]
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                raise ValueError(f"{path} has no {f.name!r} entry for {name} (written by an older jaxsnn?); "
                                 f"build the model and save it again")
            value = data[f.name]
            # Static settings (window lengths in steps) are Python ints; parameters stay arrays.
            kwargs[f.name] = int(value) if value.ndim == 0 and np.issubdtype(value.dtype, np.integer) else value
    return cls(**kwargs)
