"""The plasticity rules searched by filter-SBI: polynomial and MLP.

Both are written for a batch of ``R`` rules: every parameter has a leading rule axis, and the update
functions take a ``member`` index per synapse event so that the events of a whole batch (one
disjoint graph) are evaluated in one call.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .metrics import PROJECTIONS

#: Order of the six parameters of each projection in a polynomial θ.
POLYNOMIAL_PARAMETERS = ("tau_pre", "tau_post", "alpha", "beta", "gamma", "kappa")
POLYNOMIAL_THETA_SIZE = 25
MLP_THETA_SIZE = 23
#: The projections that the MLP task makes plastic (EI and II stay static).
MLP_PLASTIC = ("ee", "ie")
#: Trace time constants (s) of the MLP rule, x_pre1, x_pre2, x_post1, x_post2 (the first four entries
#: of the original's constant part).
MLP_TRACE_TAUS = (0.010, 0.100, 0.010, 0.100)
MLP_HIDDEN_UNITS = (50, 4)


class PolynomialRule(NamedTuple):
    """A batch of polynomial rules; each field ``[R, 4]`` over projections ``ee, ei, ie, ii``.

    tau_pre, tau_post: trace time constants (s); alpha, beta, gamma, kappa: dimensionless terms.
    On a presynaptic spike (after the delay) ``w += eta (alpha + kappa x_post)``; on a postsynaptic
    spike ``w += eta (beta + gamma x_pre)``; w is clipped to [0, w_max] after each update.
    """

    tau_pre: Array
    tau_post: Array
    alpha: Array
    beta: Array
    gamma: Array
    kappa: Array

    @staticmethod
    def from_theta(theta: Array) -> tuple["PolynomialRule", Array]:
        """Split ``theta`` ``[R, 25]`` (EE, EI, IE, II × [τ_pre, τ_post, α, β, γ, κ], then r_ext) into
        the rule and ``r_ext`` ``[R]`` (Hz)."""
        params = jnp.asarray(theta[:, :24], jnp.float32).reshape(-1, 4, 6)
        return PolynomialRule(*(params[:, :, i] for i in range(6))), jnp.asarray(theta[:, 24], jnp.float32)

    def on_pre(self, projection: int, member: Array, x_post: Array) -> Array:
        """Weight change factor (before η) for presynaptic events of rule ``member`` reading ``x_post``."""
        return self.alpha[member, projection] + self.kappa[member, projection] * x_post

    def on_post(self, projection: int, member: Array, x_pre: Array) -> Array:
        """Weight change factor (before η) for postsynaptic events reading ``x_pre``."""
        return self.beta[member, projection] + self.gamma[member, projection] * x_pre


def load_mlp_hidden_layers() -> tuple[np.ndarray, np.ndarray]:
    """The fixed hidden layers ``[50, 6]`` and ``[4, 50]`` shared by every MLP rule.

    They are the original's numbers (fSBI's ``rule_cst_part`` of the MLP task, shipped as package data
    ``jaxsnn/data/mlp_rule_constant_part.json``): 504 values, the four trace time constants, then the
    first hidden layer row-major (hidden unit i, input k at ``4 + 6 i + k``), then the second (unit j,
    hidden unit i at ``304 + 50 j + i``), exactly as T4wvceciMLPConnection reads them. A released or
    posterior MLP θ is a rule only together with these layers.
    """
    with resources.files("jaxsnn").joinpath("data/mlp_rule_constant_part.json").open("rb") as f:
        values = np.asarray(json.load(f)["values"], np.float64)
    n1, n2 = MLP_HIDDEN_UNITS
    if values.shape != (4 + 6 * n1 + n1 * n2,) or not np.allclose(values[:4], MLP_TRACE_TAUS):
        raise ValueError("jaxsnn/data/mlp_rule_constant_part.json is not the MLP rule's constant part "
                         f"({values.shape[0]} values, trace time constants {values[:4]}); reinstall jaxsnn")
    hidden1 = values[4:4 + 6 * n1].reshape(n1, 6)
    hidden2 = values[4 + 6 * n1:].reshape(n2, n1)
    return hidden1.astype(np.float32), hidden2.astype(np.float32)


class MLPRule(eqx.Module):
    """A batch of MLP rules.

    The network 6 → 50 (sigmoid, no bias) → 4 (sigmoid, no bias) → 1 (linear, with bias) maps the six
    rescaled inputs of a synaptic event to a weight change; Δw = η · MLP(inputs). The hidden layers are
    the original's fixed numbers (:func:`load_mlp_hidden_layers`), shared by all rules, projections and
    sides; each rule has its own last layer for each (projection, side) and a learning rate per
    projection.

    Fields: hidden1 ``[50, 6]``, hidden2 ``[4, 50]``; eta ``[R, 2]`` (EE, IE); last ``[R, 2, 2, 5]``
    indexed by (projection EE/IE, side pre/post, 4 weights + bias).
    """

    hidden1: Array
    hidden2: Array
    eta: Array
    last: Array

    @staticmethod
    def from_theta(theta: Array) -> tuple["MLPRule", Array]:
        """Split ``theta`` ``[R, 23]`` = [η_EE, η_IE, W_pre,EE(5), W_post,EE(5), W_pre,IE(5),
        W_post,IE(5), r_ext] into the rule and ``r_ext`` ``[R]`` (Hz)."""
        theta = jnp.asarray(theta, jnp.float32)
        h1, h2 = load_mlp_hidden_layers()
        last = theta[:, 2:22].reshape(-1, 2, 2, 5)
        return MLPRule(jnp.asarray(h1), jnp.asarray(h2), theta[:, :2], last), theta[:, 22]

    def __call__(self, projection: int, side: int, member: Array, inputs: Array) -> Array:
        """Δw for events of rules ``member`` (any shape S) with ``inputs`` ``[*S, 6]``: η · MLP."""
        hidden = jax.nn.sigmoid(inputs @ self.hidden1.T)
        hidden = jax.nn.sigmoid(hidden @ self.hidden2.T)
        last = self.last[member, projection, side]  # [*S, 5]
        out = jnp.sum(hidden * last[..., :4], axis=-1) + last[..., 4]
        return self.eta[member, projection] * out


def pair_window(rule_params: np.ndarray, dt_pairs: np.ndarray) -> np.ndarray:
    """Weight change per spike pair of one projection's polynomial rule, for the report's plots (docs/models/plasticity.md, "The polynomial rule").

    Args:
        rule_params: ``[6]`` = [τ_pre, τ_post, α, β, γ, κ].
        dt_pairs: ``Δt = t_post − t_pre`` (s).
    Returns:
        Δw / η: ``α + β + γ e^{−Δt/τ_pre}`` for Δt > 0, ``α + β + κ e^{−|Δt|/τ_post}`` for Δt < 0.
    """
    tau_pre, tau_post, alpha, beta, gamma, kappa = np.asarray(rule_params, np.float64)
    dt_pairs = np.asarray(dt_pairs, np.float64)
    causal = alpha + beta + gamma * np.exp(-np.abs(dt_pairs) / tau_pre)
    acausal = alpha + beta + kappa * np.exp(-np.abs(dt_pairs) / tau_post)
    return np.where(dt_pairs > 0, causal, acausal)


__all__ = [
    "MLPRule", "MLP_HIDDEN_UNITS", "MLP_PLASTIC", "MLP_TRACE_TAUS", "MLP_THETA_SIZE", "POLYNOMIAL_PARAMETERS",
    "POLYNOMIAL_THETA_SIZE", "PROJECTIONS", "PolynomialRule", "load_mlp_hidden_layers", "pair_window",
]
