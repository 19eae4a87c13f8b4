"""Conditional normalizing flows q(θ | x) for neural posterior estimation, as Equinox modules.

Two flows over z-scored θ ``[D]`` conditioned on z-scored x ``[K]``, built from flowjax's
bijections (:mod:`flowjax.bijections`) and one small module of our own (:class:`LULinear`):

* ``"nsf"`` — neural spline flow (the default): rational-quadratic spline coupling layers (Durkan et
  al. 2019). By default consecutive layers alternate which coordinates they transform, the odd-indexed
  ones conditioned on the even-indexed ones and x, then the reverse (``permutation="alternate"``,
  RealNVP's masks); ``permutation="random"`` puts a fixed random permutation after every layer and
  ``lu=True`` a learned LU-decomposed linear map (sbi's NSF: coupling + LU).
* ``"maf"`` — masked autoregressive spline flow: every layer a MADE network gives each coordinate its
  spline conditioned on the previous coordinates and x. Density evaluation is one network pass per
  layer; sampling D passes.

The default (coupling layers with alternating masks, tanh conditioners, splines on ±5 z-scored units,
every layer started as the identity) is the one that reached sbi's published NPE C2ST on all four
sbibm tasks measured at 10 000 simulations (two moons, Gaussian linear with a uniform prior, SLCP,
Gaussian mixture; BENCHMARKS.md "sbibm"): random permutations with or without LU mixing, and the
autoregressive flow, missed it on the 10-D Gaussian linear task (C2ST 0.57–0.62 against 0.554), where
a coupling layer that first transforms half of the coordinates and leaves the other half as they are
keeps the posterior's independent coordinates apart. With θ laid out by group (six parameters per
plastic projection in fSBI), the alternating masks also make neighbouring parameters condition each
other (α and β of a projection, whose drift cancels on the stable-weight slab).

The splines act on [−``spline_range``, ``spline_range``] with linear (identity) tails outside; a
z-scored uniform box spans ±√3 ≈ ±1.73. The conditioners are MLPs of ``depth`` hidden layers of
``hidden`` units with ``activation``. Permutations are fixed, so members of an ensemble share the
static part of the module and differ only in their array parameters (:func:`partition_flow`); every
flow is built by :func:`make_flow`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from flowjax.bijections import (
    AbstractBijection,
    Chain,
    Coupling,
    Flip,
    Invert,
    MaskedAutoregressive,
    Permute,
    RationalQuadraticSpline,
    Scan,
)
from flowjax.distributions import StandardNormal, Transformed

from .._validation import check_choice, check_int, check_positive

FLOW_KINDS = ("nsf", "maf")
PERMUTATIONS = ("random", "alternate")
ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu, "gelu": jax.nn.gelu, "silu": jax.nn.silu, "tanh": jnp.tanh}
LEGACY_KINDS = ("spline",)
"""FlowConfig kinds of jaxsnn ≤ 0.x files (sbijax/haiku flows), no longer built; see :func:`jaxsnn.sbi.load_posterior`."""


@dataclass(frozen=True)
class FlowConfig:
    """Conditional density estimator q(θ | x).

    ``kind``: ``"nsf"`` (spline coupling flow, the default) or ``"maf"`` (masked autoregressive spline
    flow); ``n_transforms`` flow layers; conditioners are MLPs of
    ``depth`` hidden layers of ``hidden`` units with ``activation`` (``relu``, ``gelu``, ``silu`` or
    ``tanh``); ``n_bins`` spline bins on [−``spline_range``, ``spline_range``] in z-scored units
    (linear tails outside); ``lu``: a learned LU-decomposed linear layer after every coupling layer
    (``nsf`` only);
    ``identity_start``: every conditioner's output layer starts at zero, so each layer starts as the
    identity and the flow as the z-scored Gaussian (for training sets of tens to hundreds of samples,
    where early stopping then keeps the fit close to it; random output layers start far from it).
    ``permutation``: how layers are ordered relative to each other. ``"random"``: a fixed random
    permutation after every layer. ``"alternate"``: coupling layers alternate which coordinates are
    transformed, the odd-indexed ones (conditioned on the even-indexed ones and x) and then the even ones
    (RealNVP's alternating masks, sbijax's spline flow); autoregressive layers alternate the natural and
    the reversed order. With θ laid out by group (e.g. six parameters per projection), neighbouring
    coordinates then always condition each other.
    """

    kind: str = "nsf"
    n_transforms: int = 5
    hidden: int = 50
    n_bins: int = 10
    spline_range: float = 5.0
    depth: int = 2
    activation: str = "tanh"
    lu: bool = False
    identity_start: bool = True
    permutation: str = "alternate"
    init_scale: float | None = None

    def __post_init__(self):
        if self.kind in LEGACY_KINDS:
            raise ValueError(f"flow kind {self.kind!r} was sbijax's spline coupling flow, which jaxsnn no longer builds; "
                             "use kind='nsf' (spline coupling flow with alternating masks, the default, the same "
                             "architecture) or kind='maf' (masked autoregressive spline flow)")
        check_choice("kind", self.kind, FLOW_KINDS)
        check_int("n_transforms", self.n_transforms, minimum=1)
        check_int("hidden", self.hidden, minimum=1)
        check_int("n_bins", self.n_bins, minimum=2)
        check_positive("spline_range", self.spline_range)
        check_int("depth", self.depth, minimum=1)
        check_choice("activation", self.activation, tuple(ACTIVATIONS))
        check_choice("permutation", self.permutation, PERMUTATIONS)
        if self.init_scale is not None:
            check_positive("init_scale", self.init_scale)


class LULinear(AbstractBijection):
    """Invertible linear map ``y = L U x + b`` on ``[D]``: L unit lower-triangular, U upper-triangular
    with diagonal ``exp(log_diag)``; ``log |det| = Σ log_diag``. Identity at initialisation."""

    lower: jax.Array
    upper: jax.Array
    log_diag: jax.Array
    bias: jax.Array
    shape: tuple[int, ...]
    cond_shape: None = None

    def __init__(self, dim: int):
        self.lower = jnp.zeros((dim, dim))
        self.upper = jnp.zeros((dim, dim))
        self.log_diag = jnp.zeros(dim)
        self.bias = jnp.zeros(dim)
        self.shape = (dim,)

    def _factors(self) -> tuple[jax.Array, jax.Array]:
        eye = jnp.eye(self.shape[0])
        return jnp.tril(self.lower, -1) + eye, jnp.triu(self.upper, 1) + jnp.diag(jnp.exp(self.log_diag))

    def transform_and_log_det(self, x, condition=None):
        lower, upper = self._factors()
        return lower @ (upper @ x) + self.bias, jnp.sum(self.log_diag)

    def inverse_and_log_det(self, y, condition=None):
        lower, upper = self._factors()
        z = jax.scipy.linalg.solve_triangular(lower, y - self.bias, lower=True, unit_diagonal=True)
        return jax.scipy.linalg.solve_triangular(upper, z, lower=False), -jnp.sum(self.log_diag)


def _permutation(dim: int, layer: int) -> AbstractBijection:
    """The fixed mixing permutation after layer ``layer`` (reversal in 2-D), the same for every member."""
    if dim == 2:
        return Flip((dim,))
    return Permute(jax.random.permutation(jax.random.fold_in(jax.random.key(20_260_12), layer), dim))


def _parity_order(dim: int, layer: int) -> np.ndarray:
    """Coordinates of one parity first: even-indexed first on even layers, odd-indexed first on odd ones.
    A coupling layer between this order and its inverse keeps the first ``dim // 2`` of them (the
    conditioning half) and transforms the rest, so consecutive layers swap the roles of even and odd
    coordinates (for odd ``dim`` one coordinate of the first parity is transformed too)."""
    index = np.arange(dim)
    first = index[index % 2 == layer % 2]
    return np.concatenate([first, index[index % 2 != layer % 2]])


def _conditioner(layer: Coupling | MaskedAutoregressive) -> Any:
    """The MLP that gives ``layer`` its spline parameters."""
    return layer.conditioner if isinstance(layer, Coupling) else layer.masked_autoregressive_mlp


def _identity_start(layer: Coupling | MaskedAutoregressive) -> AbstractBijection:
    """``layer`` with the floating-point arrays of its conditioner's output layer set to zero (the mask of
    a masked layer is boolean and stays): its spline parameters start at flowjax's identity."""
    return eqx.tree_at(lambda b: _conditioner(b).layers[-1], layer, replace_fn=lambda last: jax.tree_util.tree_map(
        lambda x: jnp.zeros_like(x) if eqx.is_inexact_array(x) else x, last))


def _small_init(layer: Coupling | MaskedAutoregressive, scale: float, key: jax.Array) -> AbstractBijection:
    """``layer`` with its conditioner's weights redrawn from a normal of standard deviation ``scale``
    truncated at ±2 standard deviations and its biases at zero (the boolean masks of a masked layer stay)."""
    leaves, treedef = jax.tree_util.tree_flatten(_conditioner(layer))
    keys = jax.random.split(key, len(leaves))
    new = [scale * jax.random.truncated_normal(k, -2.0, 2.0, x.shape, x.dtype) if eqx.is_inexact_array(x) and x.ndim == 2
           else jnp.zeros_like(x) if eqx.is_inexact_array(x) else x for x, k in zip(leaves, keys)]
    return eqx.tree_at(_conditioner, layer, jax.tree_util.tree_unflatten(treedef, new))


def make_flow(dim: int, cond_dim: int, config: FlowConfig, key: jax.Array) -> Transformed:
    """The flowjax distribution q(θ | x) over ``[dim]`` conditioned on ``[cond_dim]``, initialised from ``key``.

    ``log_prob(θ [..., dim], condition=x [..., cond_dim])`` and ``sample(key, sample_shape,
    condition=x)``; its layers map θ to the standard normal base (the fast direction of the
    autoregressive flow is density evaluation, as training needs). Wrappers of paramax inside must be
    removed with ``paramax.unwrap`` before use (:func:`flow_fns` does).
    """
    check_int("dim", dim, minimum=1)
    check_int("cond_dim", cond_dim, minimum=1)
    spline = RationalQuadraticSpline(knots=config.n_bins - 1, interval=config.spline_range)
    activation = ACTIVATIONS[config.activation]
    layers = []
    alternate = config.permutation == "alternate" and dim > 1
    for i, k in enumerate(jax.random.split(key, config.n_transforms)):
        if config.kind == "nsf":
            core = Coupling(k, transformer=spline, untransformed_dim=dim // 2, dim=dim, cond_dim=cond_dim,
                            nn_width=config.hidden, nn_depth=config.depth, nn_activation=activation)
        else:
            core = MaskedAutoregressive(k, transformer=spline, dim=dim, cond_dim=cond_dim, nn_width=config.hidden,
                                        nn_depth=config.depth, nn_activation=activation)
        if config.init_scale is not None:
            core = _small_init(core, config.init_scale, jax.random.fold_in(k, 1))
        if config.identity_start:
            core = _identity_start(core)
        if alternate and config.kind == "nsf":
            order = _parity_order(dim, i)
            parts = [Permute(order), core, Permute(np.argsort(order))]
        elif alternate:
            # every layer has one structure (the scan below): a reversal before and after, or neither
            parts = [Permute(np.arange(dim)[::-1] if i % 2 else np.arange(dim)), core,
                     Permute(np.arange(dim)[::-1] if i % 2 else np.arange(dim))]
        else:
            parts = [core]
            if dim > 1:
                parts.append(_permutation(dim, i))
        if dim > 1 and config.kind == "nsf" and config.lu:
            parts.append(LULinear(dim))
        layers.append(Chain(parts).merge_chains() if len(parts) > 1 else core)
    # every layer has one structure: stack the layers and scan (one compiled layer, not n_transforms)
    body = Scan(jax.tree_util.tree_map(lambda *a: jnp.stack(a) if eqx.is_array(a[0]) else a[0], *layers))
    return Transformed(StandardNormal((dim,)), Invert(body))


def partition_flow(flow: Any) -> tuple[Any, Any]:
    """``(params, static)``: the trainable floating-point arrays and the rest (``eqx.partition``)."""
    return eqx.partition(flow, eqx.is_inexact_array)


def init_members(dim: int, cond_dim: int, config: FlowConfig, key: jax.Array, n_members: int) -> tuple[Any, Any]:
    """Parameters of ``n_members`` flows stacked ``[M, ...]`` (independent initialisations from ``key``)
    and the static part they share."""
    check_int("n_members", n_members, minimum=1)
    _, static = partition_flow(make_flow(dim, cond_dim, config, key))
    params = eqx.filter_vmap(lambda k: partition_flow(make_flow(dim, cond_dim, config, k))[0])(
        jax.random.split(key, n_members))
    return params, static


def flow_fns(static: Any) -> tuple[Callable, Callable]:
    """Functions of ONE member's parameters: ``log_prob(params, zθ [N, D], zx [N, K]) -> [N]`` and
    ``sample(params, key, zx [N, K]) -> zθ [N, D]`` (one draw per row), in z-scored units."""
    import paramax

    def log_prob(params, zt, zx):
        return paramax.unwrap(eqx.combine(params, static)).log_prob(zt, condition=zx)

    def sample(params, key, zx):
        return paramax.unwrap(eqx.combine(params, static)).sample(key, condition=zx)

    return log_prob, sample


def param_table(params: Any, member_axis: bool) -> dict[str, tuple[tuple[int, ...], str]]:
    """Key path -> (shape, dtype) of every parameter array (shape without the member axis ``[M]``)."""
    table = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        shape = tuple(np.shape(leaf))[1:] if member_axis else tuple(np.shape(leaf))
        table[jax.tree_util.keystr(path)] = (shape, str(np.asarray(leaf).dtype))
    return table
