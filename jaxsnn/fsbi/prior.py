"""The box priors over rule parameters θ of the original (Confavreux et al. 2023), and rule ids (ours and the original release's).

Polynomial θ (25): per projection EE, EI, IE, II the six numbers (τ_pre, τ_post, α, β, γ, κ), then r_ext.
MLP θ (23): η_EE, η_IE, the 20 last-layer weights, then r_ext.
Both layouts and boxes are defined once, in :mod:`jaxsnn.fsbi.families`; the functions here read them.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from .._validation import check_choice, check_int
from ..family import get_family

R_EXT_BOUNDS = (5.0, 15.0)
"""Prior interval of r_ext (Hz), the last θ entry of both families."""


def prior_bounds(task: str = "polynomial") -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the prior box of rule family ``task`` (a name, ``"module:attribute"``
    spec or :class:`jaxsnn.RuleFamily`), each ``[P]`` float64 (P = 25 polynomial, 23 MLP); τ in s,
    r_ext (last entry) in Hz. The box is the family's (:attr:`jaxsnn.RuleFamily.parameters`)."""
    family = get_family(task, what="task")
    return family.low, family.high


def sample_prior(task: str, n: int, seed: int) -> np.ndarray:
    """``n`` draws from the uniform prior box of ``task``, ``[n, P]`` float64, deterministic in ``seed``
    (:meth:`jaxsnn.RuleFamily.sample_prior`)."""
    check_int("n", n, minimum=1)
    return get_family(task, what="task").sample_prior(n, seed)


def in_prior(theta: np.ndarray, task: str = "polynomial") -> np.ndarray:
    """``[N]`` bool: which rows of θ ``[N, P]`` lie inside the prior box (bounds inclusive)."""
    return get_family(task, what="task").in_prior(np.atleast_2d(np.asarray(theta, np.float64)))


PRINTINGS = ("bytes", "torch", "numpy")

_TORCH_PRECISION, _TORCH_LINEWIDTH, _TORCH_PREFIX = 4, 80, "tensor("
_NUMPY_DEFAULTS = dict(precision=8, threshold=1000, edgeitems=3, linewidth=75, suppress=False, nanstr="nan",
                       infstr="inf", sign="-", floatmode="maxprec", legacy=False)  # fmt: skip


def torch_text(theta: np.ndarray) -> str:
    """``str(torch.tensor(theta, dtype=torch.float32))`` under torch's default print options, without
    torch: ``tensor([...])`` with 4 decimals (``{:.4f}``), or ``{:.4e}`` right-aligned to the widest
    value when the nonzero finite magnitudes span more than a factor 1000, exceed 1e8 or go below
    1e-4 (integer-valued rows print as ``2.``); as many values per line as fit in 80 characters after
    the 7 of ``tensor(``, continuation lines indented by 8 (torch's ``_tensor_str._Formatter`` and
    ``_vector_str``). Rows longer than 1000 (summarised by torch) are refused."""
    values = [float(v) for v in np.asarray(theta, np.float32).ravel()]
    if len(values) > 1000:
        raise ValueError("torch summarises tensors of more than 1000 values; torch_text does not")
    finite = [v for v in values if math.isfinite(v) and v != 0.0]
    int_mode, sci_mode, width = True, False, 1
    if finite:
        magnitudes = [abs(v) for v in finite]
        low, high = min(magnitudes), max(magnitudes)
        int_mode = all(v == math.ceil(v) for v in finite)
        sci_mode = high / low > 1000.0 or high > 1.0e8 or low < 1.0e-4
        if sci_mode:
            width = max(len(f"{v:.{_TORCH_PRECISION}e}") for v in finite)
        elif int_mode:
            width = max(len(f"{v:.0f}") + 1 for v in finite)
        else:
            width = max(len(f"{v:.{_TORCH_PRECISION}f}") for v in finite)

    def fmt(v: float) -> str:
        if sci_mode:
            text = f"{v:{width}.{_TORCH_PRECISION}e}"
        elif int_mode:
            text = f"{v:.0f}" + ("" if math.isinf(v) or math.isnan(v) else ".")
        else:
            text = f"{v:.{_TORCH_PRECISION}f}"
        return (width - len(text)) * " " + text

    indent = len(_TORCH_PREFIX)
    per_line = max(1, math.floor((_TORCH_LINEWIDTH - indent) / (width + 2)))
    data = [fmt(v) for v in values]
    lines = [", ".join(data[i : i + per_line]) for i in range(0, len(data), per_line)]
    return _TORCH_PREFIX + "[" + (",\n" + " " * (indent + 1)).join(lines) + "])"


def numpy_text(theta: np.ndarray) -> str:
    """``str`` of θ as a float32 numpy row under numpy's default print options (numpy does the printing,
    so the text is that of the installed numpy version)."""
    with np.printoptions(**_NUMPY_DEFAULTS):
        return str(np.asarray(theta, np.float32))


def rule_id(theta: np.ndarray, printed_as: str = "bytes") -> str:
    """A rule's id: an md5 hex digest of one θ row ``[P]``.

    ``printed_as``:

    - ``"bytes"`` (default; the ``rule_id`` column of sweep stores): md5 of θ as little-endian
      float64 bytes. Distinct θ get distinct ids, independent of any printing library.
    - ``"torch"``: the original release's ``seed`` field for a θ the original sampler held as a torch
      float32 tensor (prior draws): ``hashlib.md5(str(th).encode()).hexdigest()`` with ``str(th)`` as
      torch prints it (``torch_text``; tested against torch 2.13's output). θ is cast to float32
      first; the release's float64 θ are float32 values, so their ids are reproduced exactly.
    - ``"numpy"``: the same for a θ held as a float32 numpy row (posterior draws saved with
      ``np.savez`` and loaded back), printed by the installed numpy (``numpy_text``).

    The printed ids depend on the printing library and keep only 4 decimals (torch) or 8 significant
    digits (numpy), so distinct θ can share one; that is why stores key rules by the byte id and keep
    the torch-printed id next to it (column ``release_id``).
    """
    check_choice("printed_as", printed_as, PRINTINGS)
    row = np.ascontiguousarray(np.asarray(theta, dtype="<f8"))
    if row.ndim != 1:
        raise ValueError(f"rule_id takes one θ row of shape [P]; got shape {list(row.shape)}")
    if printed_as == "bytes":
        return hashlib.md5(row.tobytes()).hexdigest()
    text = torch_text(row) if printed_as == "torch" else numpy_text(row)
    return hashlib.md5(text.encode()).hexdigest()
