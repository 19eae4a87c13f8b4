"""The polynomial-rule synapse step as a compiled CPU kernel (an XLA custom call through the FFI).

XLA runs the event loops of :mod:`jaxsnn.fsbi.simulator` as sequences of gather, compute and scatter
ops over padded blocks of synapses; on a CPU that costs several passes over every synaptic event.
``kernels/polynomial_synapses.cc`` does the same work (transmission with on-pre plasticity through
the four recurrent projections, the external spikes, then on-post plasticity) in one pass per event,
in place on the weights. It is compiled with the system C++ compiler on first use into a cache
directory (``$JAXSNN_CACHE`` or ``~/.cache/jaxsnn``) and registered with XLA; when no compiler is
found or the build fails, :func:`available` says why and the XLA path is used.

The arithmetic is the XLA path's in float32; only the order in which conductance increments are
summed differs, so results agree to float32 rounding, not bit for bit.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
from jaxtyping import Array

SOURCE = Path(__file__).parent / "kernels" / "polynomial_synapses.cc"
TARGET = "jaxsnn_fsbi_polynomial_synapses"
_FLAGS = ["-O3", "-shared", "-fPIC", "-std=c++17", "-w"]
_lock = threading.Lock()
_state: dict[str, object] = {}


def _cache_dir() -> Path:
    return Path(os.environ.get("JAXSNN_CACHE", Path.home() / ".cache" / "jaxsnn")) / "kernels"


def _build() -> Path:
    """Compile the kernel (once per source, flags, jaxlib version, architecture and compiler) and return the library path."""
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if compiler is None:
        raise RuntimeError("no C++ compiler found (set CXX or install g++)")
    command = shlex.split(compiler)
    include = jax.ffi.include_dir()
    # the headers come from jaxlib; the library is specific to this machine's architecture and compiler
    identity = [SOURCE.read_bytes(), " ".join(_FLAGS).encode(), jaxlib.__version__.encode(),
                platform.machine().encode(), compiler.encode()]
    digest = hashlib.sha256(b"\0".join(identity)).hexdigest()[:16]
    library = _cache_dir() / f"polynomial_synapses-{digest}.so"
    if library.exists():
        return library
    library.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=library.parent) as tmp:
        built = Path(tmp) / library.name
        run = subprocess.run([*command, *_FLAGS, f"-I{include}", str(SOURCE), "-o", str(built)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"compiling {SOURCE.name} failed:\n{run.stderr[-2000:]}")
        os.replace(built, library)  # atomic: concurrent builders leave one complete library
    return library


def available() -> tuple[bool, str]:
    """Whether the kernel is built and registered (building it on the first call), and why not."""
    with _lock:
        if "ok" not in _state:
            try:
                library = ctypes.cdll.LoadLibrary(str(_build()))
                jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(library.JaxsnnPolynomialSynapses), platform="cpu")
                _state.update(ok=True, reason="", library=library)
            except Exception as exc:  # no compiler, failed build, unloadable library
                _state.update(ok=False, reason=f"{type(exc).__name__}: {exc}")
        return bool(_state["ok"]), str(_state["reason"])


PROJECTIONS = ("ee", "ei", "ie", "ii")


def polynomial_synapses(
    conns: dict, rule, eta: float, w_max: float, w_ext: float, weights: dict[str, Array], traces: dict[str, Array],
    arrived: dict[str, Array], spikes: dict[str, Array], sources: Array,
) -> tuple[dict[str, tuple[Array, Array]], dict[str, Array]]:
    """Steps 3–4 of :mod:`jaxsnn.fsbi.simulator` for a batch of polynomial rules (all four projections
    plastic). Shapes as in :func:`jaxsnn.fsbi.simulator.synapses_step`; returns (pending (exc, inh)
    increments per population, weights)."""
    ok, reason = available()
    if not ok:
        raise RuntimeError(f"the fSBI synapse kernel is not available: {reason}")
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    operands = [f32(arrived["E"]), f32(arrived["I"]), f32(spikes["E"]), f32(spikes["I"]), f32(sources)]
    operands += [f32(traces[f"{p}_pre"]) for p in PROJECTIONS] + [f32(traces[f"{p}_post"]) for p in PROJECTIONS]
    operands += [f32(rule.alpha), f32(rule.beta), f32(rule.gamma), f32(rule.kappa)]
    first_weight = len(operands)
    operands += [f32(weights[p]) for p in PROJECTIONS]
    for p in PROJECTIONS:
        c = conns[p]
        operands += [c.out_post, c.out_syn, c.in_pre, c.in_syn]
    operands += [conns["ext_e"].out_post, conns["ext_i"].out_post]
    r, n_e = operands[0].shape
    n_i = operands[1].shape[1]
    # the kernel reads raw buffers: check what it assumes
    for name in ("alpha", "beta", "gamma", "kappa"):
        if jnp.shape(getattr(rule, name)) != (r, 4):
            raise ValueError(f"rule.{name} must have shape [{r}, 4] (one row per rule); got {list(jnp.shape(getattr(rule, name)))}")
    for p in PROJECTIONS:
        if weights[p].ndim != 2 or weights[p].shape[0] != r:
            raise ValueError(f"weights[{p!r}] must have shape [{r}, n_synapses]; got {list(weights[p].shape)}")
    for x in operands[first_weight + 4:]:
        if x.dtype != jnp.int32:
            raise ValueError(f"connectivity index arrays must be int32 for the kernel; got {x.dtype}")
    results = [jax.ShapeDtypeStruct((r, n), jnp.float32) for n in (n_e, n_e, n_i, n_i)]
    results += [jax.ShapeDtypeStruct(weights[p].shape, jnp.float32) for p in PROJECTIONS]
    call = jax.ffi.ffi_call(TARGET, results, input_output_aliases={first_weight + k: 4 + k for k in range(4)},
                            vmap_method="sequential")
    exc_e, inh_e, exc_i, inh_i, *new_weights = call(
        *operands, eta=np.float32(eta), w_max=np.float32(w_max), w_ext=np.float32(w_ext))
    return {"E": (exc_e, inh_e), "I": (exc_i, inh_i)}, dict(zip(PROJECTIONS, new_weights))
