"""Losses for tuning firing statistics to targets."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array


def rate_loss(
    rates: Array,
    targets: Array,
    cv: Array | None = None,
    cv_targets: Array | None = None,
    cv_weight: float = 1.0,
    relative: bool = False,
) -> Array:
    """Mean squared error of firing rates to their targets, optionally plus that of the CV of the ISIs.

    Args:
        rates: ``[p]`` rates (Hz), one per population (or per neuron, per network...).
        targets: target rates (Hz), broadcastable to ``rates``.
        cv: ``[p]`` coefficients of variation of the interspike intervals (dimensionless), or ``None``.
        cv_targets: their targets, broadcastable to ``cv``; required when ``cv`` is given.
        cv_weight: weight of the CV term (Hz², so that both terms add in the rate's unit when
            ``relative`` is False; dimensionless when it is True).
        relative: measure errors relative to the targets, ``((rates - targets) / targets)^2``, so that
            populations with different targets weigh equally (targets must then be non-zero).

    Returns:
        Scalar loss: ``mean(e_rate^2) + cv_weight * mean(e_cv^2)`` (Hz² or dimensionless).
    """
    rates, targets = jnp.asarray(rates), jnp.asarray(targets)
    error = (rates - targets) / targets if relative else rates - targets
    loss = jnp.mean(error**2)
    if cv is None:
        if cv_targets is not None:
            raise ValueError("cv_targets was given without cv; pass the measured cv as well")
        return loss
    if cv_targets is None:
        raise ValueError("cv was given without cv_targets; pass the target CV(s)")
    cv, cv_targets = jnp.asarray(cv), jnp.asarray(cv_targets)
    cv_error = (cv - cv_targets) / cv_targets if relative else cv - cv_targets
    return loss + cv_weight * jnp.mean(cv_error**2)
