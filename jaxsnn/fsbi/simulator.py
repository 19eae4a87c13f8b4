"""The structure of the fSBI networks, and the state layout and input draws of their CPU kernels.

The networks themselves are core :class:`jaxsnn.Network` s (:mod:`jaxsnn.networks.fsbi`), stepped by
:func:`jaxsnn.network_step` (its module docstring gives the order of one step, which is the original
simulator's, Auryn's). This module draws their connectivity once per seed (:func:`build_structure`),
and holds what the compiled CPU kernels (:mod:`jaxsnn.fsbi.kernel`) read besides: their state layout
(:class:`FSBIState`) and the external spikes of whole blocks of steps, drawn in XLA before a kernel
call with the core's renewal draw (:func:`external_uniforms`, :func:`external_draws`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .. import connectivity as C
from ..connectivity import Connectivity
from ..sources import renewal_capacity, renewal_source_ids, renewal_uniforms
from .config import FSBIConfig

PROJECTION_ENDS = {"ee": ("E", "E"), "ei": ("E", "I"), "ie": ("I", "E"), "ii": ("I", "I")}
PROJECTION_INDEX = {"ee": 0, "ei": 1, "ie": 2, "ii": 3}


@dataclass(frozen=True, eq=False)
class FSBIStructure:
    """Static structure: connectivity of the four recurrent projections and of the external pool,
    and the monitored synapses. Hash by identity (compiled programs are cached per structure)."""

    config: FSBIConfig
    conns: dict[str, Connectivity]
    monitored: dict[str, np.ndarray]

    @property
    def size(self) -> dict[str, int]:
        return {"E": self.config.n_exc, "I": self.config.n_inh}


def build_structure(config: FSBIConfig, seed: int) -> FSBIStructure:
    """Draw the network of ``config`` from ``seed`` (the same seed gives the same connectivity)."""
    key = jax.random.fold_in(jax.random.key(seed), 0x5EED)
    keys = jax.random.split(key, 6)
    n = {"E": config.n_exc, "I": config.n_inh}
    conns = {}
    draw = C.renewal if config.connectivity == "renewal" else C.bernoulli
    for k, name in zip(keys[:4], ("ee", "ei", "ie", "ii")):
        pre, post = PROJECTION_ENDS[name]
        conns[name] = draw(k, n[pre], n[post], config.p_conn, autapses=pre != post)
    conns["ext_e"] = draw(keys[4], config.n_ext, config.n_exc, config.p_ext)
    conns["ext_i"] = draw(keys[5], config.n_ext, config.n_inh, config.p_ext)
    monitored = {}
    for name in config.plastic:
        n_syn = conns[name].n_synapses
        count = min(config.n_monitored, n_syn)
        monitored[name] = np.linspace(0, n_syn, count, endpoint=False).astype(np.int32)
    return FSBIStructure(config, conns, monitored)


class FSBIState(NamedTuple):
    """State of a batch of ``R`` fSBI networks (leading axis R everywhere but ``step``).

    neurons: "E"/"I" -> neuron state ``[R, n]``; pending: "E"/"I" -> (exc, inh) conductance increments
    ``[R, n]`` transmitted last step; ring: "E"/"I" -> ``[delay, R, n]`` spikes of the last steps;
    weights: projection -> ``[R, n_synapses]``; traces: name -> ``[R, n]``; rate_guard ``[R]`` (Hz);
    alive ``[R]`` bool; stop_time ``[R]`` (s, -1 while running); ext_overflow ``[R]`` steps in which
    the external-spike buffer was too small; ext_next ``[R]`` int32 renewal offset of the external
    sources (:func:`external_source_ids`, -1 before the first draw); step: int32.
    """

    neurons: dict[str, Any]
    pending: dict[str, tuple[Array, Array]]
    ring: dict[str, Array]
    weights: dict[str, Array]
    traces: dict[str, Array]
    rate_guard: Array
    alive: Array
    stop_time: Array
    ext_overflow: Array
    ext_next: Array
    step: Array


def external_uniforms(rule_keys: Array, first_step: Array, n_steps: int, capacity: int) -> Array:
    """Uniform numbers in (0, 1] for the external sources of ``n_steps`` steps from ``first_step``.

    Step ``k`` of rule ``r`` draws ``capacity`` numbers from ``fold_in(rule_keys[r], k)``, so the input
    of a rule depends only on its key and the step, not on how the run is cut into blocks or batches.
    Drawing a block of steps at once keeps the random-number generator out of the per-step loop.
    Steps before 0 (the first ``delay`` steps, see :func:`external_draws`) draw step 0's numbers, unused.
    Returns ``[n_steps, R, capacity]`` float32.
    """
    steps = jnp.maximum(first_step + jnp.arange(n_steps, dtype=jnp.int32), 0)
    return jax.vmap(lambda step: jax.vmap(lambda key: renewal_uniforms(key, step, capacity))(rule_keys))(steps)


#: Auryn's PoissonGroup draw (the core's renewal sources), under the name the kernel path uses.
external_source_ids = renewal_source_ids


def external_draws(uniforms: Array, offsets: Array, first_step: Array, r_ext: Array, cfg: FSBIConfig
                   ) -> tuple[Array, Array, Array]:
    """The external spikes that reach their targets in ``n_steps`` steps from ``first_step``.

    Like every group's spikes in the original, the sources' spikes arrive ``cfg.delay_steps`` after they
    are emitted: step ``k`` transmits the draw of step ``k - delay`` and nothing before ``delay``.

    Args:
        uniforms: ``[n_steps, R, capacity]`` from ``external_uniforms(keys, first_step - delay, ...)``.
        offsets: int32 ``[R]`` renewal offsets (``FSBIState.ext_next``); r_ext: ``[R]`` (Hz).
    Returns:
        (ids ``[n_steps, R, capacity]`` int32, overflow flags ``[n_steps, R]`` int32, offsets ``[R]``).
    """
    draw = jax.vmap(lambda u, o, r: external_source_ids(u, o, r, cfg.n_ext, cfg.dt))

    def one_step(offsets, xs):
        u, k = xs
        ids, nxt, over = draw(u, offsets, r_ext)
        emitted = k >= cfg.delay_steps
        return jnp.where(emitted, nxt, offsets), (jnp.where(emitted, ids, cfg.n_ext), jnp.where(emitted, over, 0))

    steps = first_step + jnp.arange(uniforms.shape[0], dtype=jnp.int32)
    offsets, (ids, over) = jax.lax.scan(one_step, offsets, (uniforms, steps))
    return ids, over, offsets


def default_ext_capacity(config: FSBIConfig, max_rate: float) -> int:
    """Source spikes per step to draw: the mean plus 12 standard deviations (Poisson), at least 16."""
    return renewal_capacity(config.n_ext, max_rate, config.dt)
