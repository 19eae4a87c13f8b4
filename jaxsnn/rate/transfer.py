"""Transfer functions Phi of rate populations (NeuroFlame's four), elementwise on any array shape.

``x`` is the total input (recurrent + feed-forward) and ``theta`` the threshold, both in the rate
model's input units; outputs are rates (Hz in the rate models of this package).
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jax.scipy.special import erf
from jaxtyping import Array

from .._validation import check_choice

_SQRT2 = 1.4142135623730951


def threshold_linear(x: Array, theta: Array = 0.0) -> Array:
    """``max(x - theta, 0)``."""
    return jnp.maximum(x - theta, 0.0)


def erf_transfer(x: Array, theta: Array = 0.0) -> Array:
    """``erf((x - theta) / sqrt(2))`` (odd, saturating at +-1)."""
    return erf((x - theta) / _SQRT2)


def brunel_2003(x: Array, theta: Array = 0.0) -> Array:
    """Brunel (2003) non-linearity of ``y = x - theta``: 0 for y < 0, y**2 for 0 <= y < 1,
    sqrt(4 y - 3) for y >= 1 (continuous with slope 2 at y = 1)."""
    y = x - theta
    # the square root sees only y >= 1 so its gradient stays finite on the other branches
    root = jnp.sqrt(4.0 * jnp.where(y >= 1.0, y, 1.0) - 3.0)
    return jnp.where(y >= 1.0, root, jnp.where(y >= 0.0, y * y, 0.0))


def gaussian_cdf(x: Array, theta: Array = 1.0) -> Array:
    """Sigmoid ``theta * (1 + erf(x / sqrt(2))) / 2``: the Gaussian CDF scaled to a maximal rate
    ``theta`` (NeuroFlame passes the amplitude through the threshold slot)."""
    return theta * 0.5 * (1.0 + erf(x / _SQRT2))


TRANSFER_FUNCTIONS: dict[str, Callable[[Array, Array], Array]] = {
    "relu": threshold_linear,
    "erf": erf_transfer,
    "brunel": brunel_2003,
    "sigmoid": gaussian_cdf,
}


def transfer_function(name: str) -> Callable[[Array, Array], Array]:
    """The transfer function called ``name`` (one of ``TRANSFER_FUNCTIONS``)."""
    check_choice("transfer", name, TRANSFER_FUNCTIONS)
    return TRANSFER_FUNCTIONS[name]
