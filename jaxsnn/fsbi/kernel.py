"""The fSBI networks as compiled CPU kernels (XLA custom calls through the FFI).

XLA runs the event loops of :mod:`jaxsnn.fsbi.simulator` as sequences of gather, compute and scatter
ops over padded blocks of synapses; on a CPU that costs several passes over every synaptic event, and
each time step runs a few dozen small ops. ``kernels/fsbi_kernels.cc`` holds two kernels:

- :func:`polynomial_block`: a whole block of steps of a batch of networks (neurons, blow-up guard,
  delay ring, external input, synaptic events, traces), rule after rule, in place on the state, so
  that no XLA op runs per step;
- :func:`mlp_block`: the same for MLP rules (CVAIF neurons; EE and IE plastic, the MLP evaluated for
  16 synaptic events at once on vector lanes, the inputs shared by a row of events folded in once).

They are compiled with the system C++ compiler on first use into a cache directory
(``$JAXSNN_CACHE`` or ``~/.cache/jaxsnn``) and registered with XLA; when no compiler is found or the
build fails, :func:`available` says why and the XLA path is used.

The arithmetic is the XLA path's in float32. :func:`polynomial_block` keeps XLA's summation order, and fuses
multiply-adds where XLA's CPU backend does (on processors with FMA): on the machine it was written on,
it agrees with the XLA path bit for bit over thousands of steps (tests/fsbi/test_kernel.py asks for
the same spikes and the state to float32 rounding). :func:`mlp_block` does the neurons' arithmetic
in XLA's way too (bit for bit here with the learning rates at 0), but its sigmoids use a polynomial
exp (the sigmoid within 3 ulp) and its sums run in another order, so weights agree to float32 rounding.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
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

from ..neurons import CVAIF, ConductanceIF
from ..neurons.base import decay_factor

SOURCE = Path(__file__).parent / "kernels" / "fsbi_kernels.cc"
BLOCK_TARGET = "jaxsnn_fsbi_polynomial_block"
MLP_BLOCK_TARGET = "jaxsnn_fsbi_mlp_block"
# no -march: the library must run on any x86-64 (the FMA variant is chosen at run time); no contraction
# of a*b+c into FMAs beyond those written out, so the arithmetic is the one in the source
_FLAGS = ["-O3", "-shared", "-fPIC", "-std=c++17", "-ffp-contract=off", "-fno-trapping-math", "-w"]
_lock = threading.Lock()
_state: dict[str, object] = {}


def _cache_dir() -> Path:
    return Path(os.environ.get("JAXSNN_CACHE", Path.home() / ".cache" / "jaxsnn")) / "kernels"


def compiler() -> str | None:
    """The C++ compiler the kernels are built with: ``$CXX``, else g++, c++ or clang++ on the PATH."""
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


def _build() -> Path:
    """Compile the kernel (once per source, flags, jaxlib version, architecture and compiler) and return the library path."""
    compiler_command = compiler()
    if compiler_command is None:
        raise RuntimeError("no C++ compiler found (set CXX or install g++)")
    command = shlex.split(compiler_command)
    include = jax.ffi.include_dir()
    # the headers come from jaxlib; the library is specific to this machine's architecture and compiler
    identity = [SOURCE.read_bytes(), " ".join(_FLAGS).encode(), jaxlib.__version__.encode(),
                platform.machine().encode(), compiler_command.encode()]
    digest = hashlib.sha256(b"\0".join(identity)).hexdigest()[:16]
    library = _cache_dir() / f"fsbi_kernels-{digest}.so"
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
                jax.ffi.register_ffi_target(BLOCK_TARGET, jax.ffi.pycapsule(library.JaxsnnPolynomialBlock), platform="cpu")
                jax.ffi.register_ffi_target(MLP_BLOCK_TARGET, jax.ffi.pycapsule(library.JaxsnnMlpBlock), platform="cpu")
                _state.update(ok=True, reason="", library=library)
            except Exception as exc:  # no compiler, failed build, unloadable library
                _state.update(ok=False, reason=f"{type(exc).__name__}: {exc}")
        return bool(_state["ok"]), str(_state["reason"])


PROJECTIONS = ("ee", "ei", "ie", "ii")


#: Trace order of the kernels: presynaptic then postsynaptic, projections ee, ei, ie, ii.
TRACES = tuple(f"{p}_pre" for p in PROJECTIONS) + tuple(f"{p}_post" for p in PROJECTIONS)
_NEURON_FIELDS = ("v", "g_ampa", "g_nmda", "g_gaba", "theta_dyn")


def neuron_constants(model: ConductanceIF, dt: float) -> Array:
    """``[15]`` float32 constants of ``model``'s step, computed with the expressions of
    ``ConductanceIF.step`` so they are the same float32 numbers (order: see the kernel source)."""
    m = model
    values = [m.a_ampa, m.a_nmda, m.e_exc, m.e_inh, m.e_rest, 1.0 - decay_factor(dt, m.tau_nmda),
              decay_factor(dt, m.tau_ampa), decay_factor(dt, m.tau_gaba), decay_factor(dt, m.tau_thr),
              dt / m.tau_mem, m.v_min, m.v_max, m.theta_rest, m.v_reset, m.theta_jump]
    return jnp.stack([jnp.asarray(v, jnp.float32).reshape(()) for v in values])


def polynomial_block(config, conns: dict, rule, decays: dict[str, Array], ext_ids: Array, ext_over: Array, state,
                     record: tuple[int, int] | None = None, allow_fma: bool = True):
    """Advance ``R`` polynomial-rule networks by ``B`` steps in one custom call (the steps of
    :func:`jaxsnn.fsbi.simulator.fsbi_step`), in place on the state.

    Args:
        config: the :class:`~jaxsnn.fsbi.config.FSBIConfig` (task "polynomial").
        conns: the structure's connectivity (projections ee, ei, ie, ii, ext_e, ext_i).
        rule: :class:`~jaxsnn.fsbi.rules.PolynomialRule` ``[R, 4]`` fields; decays: per-rule trace decay
            factors (:func:`~jaxsnn.fsbi.simulator.trace_decays`).
        ext_ids, ext_over: ``[B, R, capacity]`` and ``[B, R]`` int32, the external draws of the block's
            steps (:func:`~jaxsnn.fsbi.simulator.external_source_ids`).
        state: :class:`~jaxsnn.fsbi.simulator.FSBIState` of the batch.
        record: (n_rec_e, n_rec_i) to also return the spikes of the first neurons of each population.
        allow_fma: False computes without fused multiply-adds even where the processor has them (as on
            processors without; for tests of that variant).
    Returns:
        (state after the block, None or {"E": ``[B, R, n_rec_e]``, "I": ``[B, R, n_rec_i]``} bool spikes).
    """
    ok, reason = available()
    if not ok:
        raise RuntimeError(f"the fSBI block kernel is not available: {reason}")
    cfg = config
    if cfg.task != "polynomial":
        raise ValueError(f"the block kernel runs polynomial rules only; got task {cfg.task!r}")
    r = state.rate_guard.shape[0]
    for name in ("alpha", "beta", "gamma", "kappa"):
        if jnp.shape(getattr(rule, name)) != (r, 4):
            raise ValueError(f"rule.{name} must have shape [{r}, 4] (one row per rule); got {list(jnp.shape(getattr(rule, name)))}")
    dt = cfg.dt
    return _call_block(
        BLOCK_TARGET, state, _NEURON_FIELDS, PROJECTIONS, TRACES, ext_ids, ext_over,
        [getattr(rule, name) for name in ("alpha", "beta", "gamma", "kappa")], decays,
        neuron_constants(ConductanceIF(), dt), conns, record,
        eta=np.float32(cfg.eta), w_max=np.float32(cfg.w_max), w_ext=np.float32(cfg.w_ext), dt=np.float32(dt),
        guard_decay=np.float32(math.exp(-dt / cfg.blowup_tau)), guard_scale=np.float32(cfg.blowup_tau * cfg.n_exc),
        guard_limit=np.float32(cfg.blowup_limit), allow_fma=bool(allow_fma))


#: Trace order of the MLP block kernel (that of :func:`~jaxsnn.fsbi.simulator.trace_names` for task "mlp").
MLP_TRACES = ("E_pre1", "E_pre2", "I_pre1", "I_pre2", "E_post1", "E_post2")
MLP_PROJECTIONS = ("ee", "ie")
_CVAIF_FIELDS = ("v", "g_ampa", "g_nmda", "g_gaba", "theta_dyn", "g_adapt", "cexc", "cinh", "vtrace")


def cvaif_constants(model: CVAIF, dt: float) -> Array:
    """``[20]`` float32 constants of ``model``'s step, computed with the expressions of ``CVAIF.step``:
    those of :func:`neuron_constants` (with CVAIF's Euler factor dt/tau_nmda for NMDA), then
    exp(-dt/tau_adapt), adapt_jump, dt/tau_cexc, dt/tau_cinh, dt/tau_vtrace."""
    m = model
    values = [m.a_ampa, m.a_nmda, m.e_exc, m.e_inh, m.e_rest, dt / m.tau_nmda,
              decay_factor(dt, m.tau_ampa), decay_factor(dt, m.tau_gaba), decay_factor(dt, m.tau_thr),
              dt / m.tau_mem, m.v_min, m.v_max, m.theta_rest, m.v_reset, m.theta_jump,
              decay_factor(dt, m.tau_adapt), m.adapt_jump, dt / m.tau_cexc, dt / m.tau_cinh, dt / m.tau_vtrace]
    return jnp.stack([jnp.asarray(v, jnp.float32).reshape(()) for v in values])


def mlp_block(config, conns: dict, rule, decays: dict[str, Array], ext_ids: Array, ext_over: Array, state,
              record: tuple[int, int] | None = None, allow_fma: bool = True):
    """Advance ``R`` MLP-rule networks by ``B`` steps in one custom call (the steps of
    :func:`jaxsnn.fsbi.simulator.fsbi_step` for task "mlp": CVAIF neurons with either ``mlp_traces``
    variant, guard, delay ring, external input, EE and IE transmission with on-pre and on-post MLP
    updates, EI and II static, traces), in place on the state.

    The MLP's sigmoids use a polynomial exp (the sigmoid within 3 ulp) and its sums run in another order
    than XLA's, so results agree with the XLA path to float32 rounding, not bit for bit.

    Args:
        config: the :class:`~jaxsnn.fsbi.config.FSBIConfig` (task "mlp").
        conns: the structure's connectivity (projections ee, ei, ie, ii, ext_e, ext_i).
        rule: :class:`~jaxsnn.fsbi.rules.MLPRule` (hidden1 ``[H, 6]``, hidden2 ``[4, H]``, eta ``[R, 2]``,
            last ``[R, 2, 2, 5]``); decays: per-rule trace decay factors
            (:func:`~jaxsnn.fsbi.simulator.trace_decays`).
        ext_ids, ext_over: ``[B, R, capacity]`` and ``[B, R]`` int32, the external draws of the block's
            steps (:func:`~jaxsnn.fsbi.simulator.external_source_ids`).
        state: :class:`~jaxsnn.fsbi.simulator.FSBIState` of the batch.
        record: (n_rec_e, n_rec_i) to also return the spikes of the first neurons of each population.
        allow_fma: False computes without fused multiply-adds even where the processor has them.
    Returns:
        (state after the block, None or {"E": ``[B, R, n_rec_e]``, "I": ``[B, R, n_rec_i]``} bool spikes).
    """
    ok, reason = available()
    if not ok:
        raise RuntimeError(f"the fSBI block kernel is not available: {reason}")
    cfg = config
    if cfg.task != "mlp":
        raise ValueError(f"mlp_block runs MLP rules only; got task {cfg.task!r}")
    r = state.rate_guard.shape[0]
    n_hidden = rule.hidden1.shape[0]
    for name, shape in (("eta", (r, 2)), ("last", (r, 2, 2, 5)), ("hidden1", (n_hidden, 6)), ("hidden2", (4, n_hidden))):
        if jnp.shape(getattr(rule, name)) != shape:
            raise ValueError(f"rule.{name} must have shape {list(shape)}; got {list(jnp.shape(getattr(rule, name)))}")
    from .simulator import neuron_models  # the CVAIF of cfg.mlp_traces

    dt = cfg.dt
    return _call_block(
        MLP_BLOCK_TARGET, state, _CVAIF_FIELDS, MLP_PROJECTIONS, MLP_TRACES, ext_ids, ext_over,
        [rule.eta, rule.last, rule.hidden1, rule.hidden2], decays, cvaif_constants(neuron_models(cfg), dt), conns,
        record, w_max=np.float32(cfg.w_max), w_ext=np.float32(cfg.w_ext), w_ei=np.float32(cfg.w_ei),
        w_ii=np.float32(cfg.w_ii), dt=np.float32(dt), guard_decay=np.float32(math.exp(-dt / cfg.blowup_tau)),
        guard_scale=np.float32(cfg.blowup_tau * cfg.n_exc), guard_limit=np.float32(cfg.blowup_limit),
        allow_fma=bool(allow_fma))


def _call_block(target: str, state, neuron_fields: tuple[str, ...], projections: tuple[str, ...],
                traces: tuple[str, ...], ext_ids: Array, ext_over: Array, rule_operands: list, decays: dict[str, Array],
                constants: Array, conns: dict, record: tuple[int, int] | None, **attributes):
    """Call a block kernel: the state's arrays (aliased, in the order neurons E then I by ``neuron_fields``,
    pending (exc, inh) E then I, rings E and I, weights by ``projections``, traces by ``traces``, guard,
    alive, stop time, external overflow, step), then the external draws, ``rule_operands``, the decays
    ``[R, len(traces)]``, the neuron ``constants`` and the connectivity; returns (state, spikes or None)."""
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    r = state.rate_guard.shape[0]
    n_steps, capacity = ext_ids.shape[0], ext_ids.shape[2]
    if ext_ids.shape != (n_steps, r, capacity) or ext_over.shape != (n_steps, r):
        raise ValueError(f"ext_ids must have shape [B, {r}, capacity] and ext_over [B, {r}]; got "
                         f"{list(ext_ids.shape)} and {list(ext_over.shape)}")
    operands = [f32(getattr(state.neurons[p], name)) for p in ("E", "I") for name in neuron_fields]
    operands += [f32(x) for p in ("E", "I") for x in state.pending[p]]
    operands += [f32(state.ring["E"]), f32(state.ring["I"])]
    operands += [f32(state.weights[p]) for p in projections]
    operands += [f32(state.traces[name]) for name in traces]
    operands += [f32(state.rate_guard), jnp.asarray(state.alive, bool), f32(state.stop_time),
                 jnp.asarray(state.ext_overflow, jnp.int32), jnp.asarray(state.step, jnp.int32)]
    n_state = len(operands)
    operands += [jnp.asarray(ext_ids, jnp.int32), jnp.asarray(ext_over, jnp.int32)]
    operands += [f32(x) for x in rule_operands]
    operands += [jnp.stack([f32(decays[name]) for name in traces], axis=1), constants]
    n_before_connectivity = len(operands)
    for p in PROJECTIONS:
        c = conns[p]
        operands += [c.out_post, c.out_syn, c.in_pre, c.in_syn]
    operands += [conns["ext_e"].out_post, conns["ext_i"].out_post]
    for x in operands[n_before_connectivity:]:
        if x.dtype != jnp.int32:
            raise ValueError(f"connectivity index arrays must be int32 for the kernel; got {x.dtype}")
    ring = 2 * len(neuron_fields) + 4  # index of ring E; ring I follows; both [delay, R, n]
    for i, x in enumerate(operands[:n_state - 1]):
        if x.shape[-2 if i in (ring, ring + 1) else 0] != r:
            raise ValueError(f"state array {i} has shape {list(x.shape)}; expected {r} rules")
    results = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in operands[:n_state]]
    if record is not None:
        results += [jax.ShapeDtypeStruct((n_steps, r, n), jnp.bool_) for n in record]
    call = jax.ffi.ffi_call(target, results, input_output_aliases={k: k for k in range(n_state)},
                            vmap_method="sequential")
    out = call(*operands, **attributes)
    nf, w0 = len(neuron_fields), ring + 2
    t0 = w0 + len(projections)
    g0 = t0 + len(traces)
    neuron_type = type(state.neurons["E"])
    new_state = state._replace(
        neurons={p: neuron_type(*out[nf * q: nf * q + nf]) for q, p in enumerate(("E", "I"))},
        pending={"E": (out[2 * nf], out[2 * nf + 1]), "I": (out[2 * nf + 2], out[2 * nf + 3])},
        ring={"E": out[ring], "I": out[ring + 1]},
        weights=dict(zip(projections, out[w0:t0])),
        traces=dict(zip(traces, out[t0:g0])),
        rate_guard=out[g0], alive=out[g0 + 1], stop_time=out[g0 + 2], ext_overflow=out[g0 + 3], step=out[g0 + 4],
    )
    spikes = None if record is None else {"E": out[n_state], "I": out[n_state + 1]}
    return new_state, spikes
