"""How the sources of a :class:`jaxsnn.PoissonInput` draw their spikes.

- :class:`BernoulliSources` (default): every source spikes independently with probability ``rate · dt``
  in each step; the spikes reach their targets in the same step.
- :class:`RenewalSources`: Auryn's PoissonGroup, one renewal process over the (step × source) lattice
  (:func:`renewal_source_ids`), with an axonal delay like a projection's; its spikes reach the synapses
  at the end of step ``k + delay − 1`` and act from step ``k + delay`` on (as a plastic projection's).
  Step ``k`` of member ``b`` draws its random numbers from ``fold_in(member_key_b, k)``, so the input
  depends only on the member's key and the step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jaxtyping import Array

from ._validation import check_int, check_positive

#: Largest renewal gap (lattice points) kept exactly: ~3300 steps of 5000 sources, i.e. rates ≥ 0.003 Hz.
MAX_GAP = 1 << 24


@dataclass(frozen=True)
class BernoulliSources:
    """Independent sources: each spikes with probability ``rate · dt`` per step, delivered at once."""


@dataclass(frozen=True)
class RenewalSources:
    """Auryn's PoissonGroup draw (:func:`renewal_source_ids`), ``delay`` (s, ≥ 1 step) after emission.

    capacity: most source spikes drawn per step and member; a step that fills it is counted as
    overflow (per member, in the state) and reported, never silently dropped. :func:`renewal_capacity`
    gives one from the largest rate.
    """

    delay: float
    capacity: int

    def __post_init__(self):
        check_positive("RenewalSources delay", self.delay)
        check_int("RenewalSources capacity", self.capacity, minimum=2)


def renewal_capacity(n_sources: int, max_rate: float, dt: float) -> int:
    """Source spikes per step to draw: the mean plus 12 standard deviations (Poisson), at least 16."""
    mean = n_sources * max_rate * dt
    return int(max(16, math.ceil(mean + 12 * math.sqrt(mean) + 4)))


def renewal_uniforms(key: Array, step: Array, capacity: int) -> Array:
    """The ``[capacity]`` uniform numbers in (0, 1] of emission step ``step`` (≥ 0) of one member."""
    return jax.random.uniform(jax.random.fold_in(key, step), (capacity,), jnp.float32, minval=1e-30, maxval=1.0)


def renewal_source_ids(uniforms: Array, offset: Array, rate: Array, n_sources: int, dt: float
                       ) -> tuple[Array, Array, Array]:
    """One step of Auryn's PoissonGroup for one member: the spiking sources among ``n_sources``.

    Auryn draws all its sources with one renewal process over the (step × source) lattice: the next
    spiking source lies ``⌊E/(λ dt) + 1.5⌋`` lattice points after the last (E ~ Exp(1), λ = 1/(1/r − dt),
    so the effective rate is exactly r and no source spikes twice in a step); the first lies at
    ``⌊E/(λ dt) + 0.5⌋``. Neighbouring sources are therefore less likely to fire in the same step than
    independent Bernoulli sources would be.

    Args:
        uniforms: ``[capacity]`` in (0, 1] (:func:`renewal_uniforms`): ``uniforms[0]`` gives the first
            position of a run (``offset < 0``), the others the gaps.
        offset: int32 ``[]`` position of the next spike, counted from this step's first source; < 0
            before the first step.
        rate: r (Hz); dt: step (s).
    Returns:
        (``[capacity]`` int32 ascending source ids, ``n_sources`` where unused; the next step's offset;
        1 if ``capacity`` cut the step short, else 0).
    """
    # E/(λ dt) = E (1/r - dt)/dt; rounded to nearest (Auryn truncates x + 0.5: the same but at exact
    # halves). One product and a rounding: no multiply-add that one compiled program would fuse and
    # another not, so the XLA step and the kernel path draw the same sources.
    mean_gap = jnp.where(rate > 0, (1.0 / jnp.maximum(rate, 1e-30) - dt) / dt, float(MAX_GAP))
    scaled = jnp.minimum(-jnp.log(uniforms) * mean_gap, float(MAX_GAP))
    first = jnp.round(scaled[0]).astype(jnp.int32)
    gaps = jnp.round(scaled[1:]).astype(jnp.int32) + 1
    x = jnp.where(offset < 0, first, offset)
    # positions before the first one past the row are exact; later ones only need to stay past it
    positions = jnp.minimum(x, n_sources) + jnp.concatenate([jnp.zeros((1,), jnp.int32),
                                                             jnp.cumsum(jnp.minimum(gaps, n_sources))])
    inside = positions < n_sources
    n_in = inside.sum()
    ids = jnp.where(inside, positions, n_sources)
    last_in = positions[jnp.maximum(n_in - 1, 0)]
    next_pos = jnp.where(n_in == 0, x, last_in + gaps[jnp.clip(n_in - 1, 0, gaps.shape[0] - 1)])
    overflow = (n_in == uniforms.shape[0]).astype(jnp.int32)
    return ids, jnp.where(overflow > 0, 0, next_pos - n_sources), overflow


def source_spikes(ids: Array, n_sources: int) -> Array:
    """``[B, capacity]`` source ids (``n_sources`` where unused) as ``[B, n_sources]`` 0/1 spikes."""
    return jax.vmap(lambda i: jnp.zeros((n_sources,), jnp.float32).at[i].set(1.0, mode="drop"))(ids)


__all__ = ["BernoulliSources", "RenewalSources", "renewal_capacity", "renewal_source_ids", "renewal_uniforms",
           "source_spikes"]
