"""Rate-to-LIF parameter conversion for E/I networks (Lava's E/I-network tutorial; Grytskyy et al. 2013).

The rate network (``N`` neurons, the first ``n_exc`` excitatory; discrete time, one step = ``dt``)::

    r <- (1 - dr) r + dr W erf(r) + bias

and its current-based LIF counterpart::

    u <- u (1 - du) + W_lif s          (s: spikes of the previous step, 0/1)
    v <- v (1 - dv) + u + bias
    s = v > v_th;  v <- 0 where s

:func:`rate_to_lif` maps the first onto the second (all equations in its docstring); the weights'
scale comes from a root solve in JAX (float64). :func:`ei_gaussian_weights`, :func:`simulate_rate_ei`
and :func:`simulate_lif_ei` build and run both networks; :func:`autocovariance` and
:func:`decay_time` quantify their population dynamics.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf, erfcx
from jaxtyping import Array

from ._validation import check_int, check_positive

# |zeta(1/2)|, Riemann zeta at 1/2 (Fourcaud & Brunel 2002 boundary shift for synaptic filtering)
ABS_ZETA_HALF = 1.4603545088095868


class LIFConversion(NamedTuple):
    """Result of :func:`rate_to_lif` (LIF quantities per step, like the rate network's).

    weights: ``[N, N]`` LIF weights (post, pre). du_exc, du_inh, dv_exc, dv_inh: current and voltage
    integration constants. v_th: threshold. bias_exc, bias_inh: LIF biases. weight_scale: the factor
    ``w / w_rate`` applied to the rate weights (1.0 when the theory failed). w_rate: mean excitatory
    rate weight; w_lif: the solved weight (NaN when the solve failed). rate_estimate: stationary rate
    ``nu``. converged: whether the root solve converged. message: what happened, in words.
    """

    weights: np.ndarray
    du_exc: float
    du_inh: float
    dv_exc: float
    dv_inh: float
    v_th: float
    bias_exc: float
    bias_inh: float
    weight_scale: float
    w_rate: float
    w_lif: float
    rate_estimate: float
    converged: bool
    message: str


def _f(y):
    """f(y) = e^{y^2} (1 + erf y) = erfcx(-y), written so that large negative y does not underflow."""
    return erfcx(-y)


def linear_response(w, *, n_exc: int, gamma: float, g: float, rate: float, bias: float, v_th: float, dv: float, du: float):
    """``(alpha, beta, mu, sigma)`` of the LIF linear response at mean excitatory weight ``w``.

    ``mu = N_E (1 - gamma g) w nu + bias``, ``sigma^2 = N_E (1 + gamma g^2) w^2 nu``; effective threshold
    and reset ``y_th = (v_th - mu)/sigma + d``, ``y_r = -mu/sigma + d`` with
    ``d = sqrt(2) |zeta(1/2)| sqrt(dv/du) / 2``; ``f(y) = e^{y^2}(1 + erf y)``::

        alpha = sqrt(pi) nu^2 (f(y_th) - f(y_r)) / sigma
        beta  = sqrt(pi) nu^2 (f(y_th) y_th - f(y_r) y_r) / (2 sigma^2)

    (Grytskyy et al. 2013 with ``tau_m nu`` = ``nu``: the rate estimate is in units of 1/tau_m.)
    Works in any float precision; :func:`rate_to_lif` calls it in float64.
    """
    mu = n_exc * (1.0 - gamma * g) * w * rate + bias
    sigma = jnp.sqrt(n_exc * (1.0 + gamma * g * g) * w * w * rate)
    shift = np.sqrt(2.0) * ABS_ZETA_HALF * np.sqrt(dv / du) / 2.0
    y_th = (v_th - mu) / sigma + shift
    y_r = -mu / sigma + shift
    pref = np.sqrt(np.pi) * rate * rate
    alpha = pref * (_f(y_th) - _f(y_r)) / sigma
    beta = pref * (_f(y_th) * y_th - _f(y_r) * y_r) / (2.0 * sigma * sigma)
    return alpha, beta, mu, sigma


def _solve_log_weight(w_rate: float, consts: dict, span: tuple[float, float] = (-30.0, 10.0), grid: int = 401, iterations: int = 100):
    """Smallest root of ``log(alpha w + beta w^2) - log(w_rate)`` over ``s = log w`` in
    ``log w_rate + span`` (weights from ``e^-30`` to ``e^10`` times ``w_rate``).

    The response ``alpha w + beta w^2`` vanishes as ``w -> 0``, rises steeply and falls again as
    ``1/w`` for large ``w``, so there are zero or two roots; the first upward crossing on a log grid is
    refined by bisection. Solving in ``log w`` keeps ``w`` positive and tames the ``e^{y^2}`` growth
    where Newton's method overshoots. Without a crossing (or with non-finite values around it) the
    residual stays far from zero, which the caller reports as a failure of the theory. Returns
    ``(w, residual)`` as float64 JAX scalars.
    """

    def residual(s):
        w = jnp.exp(s)
        alpha, beta, _, _ = linear_response(w, **consts)
        return jnp.log(alpha * w + beta * w * w) - jnp.log(w_rate)

    s0 = jnp.log(jnp.asarray(w_rate, jnp.float64))
    points = s0 + jnp.linspace(span[0], span[1], grid)
    above = jax.vmap(residual)(points) >= 0
    first = jnp.argmax(above)  # 0 when there is no crossing (or the grid starts above): caught by the residual
    lo, hi = points[jnp.maximum(first - 1, 0)], points[first]

    def bisect(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        up = residual(mid) >= 0
        return jnp.where(up, lo, mid), jnp.where(up, mid, hi)

    lo, hi = jax.lax.fori_loop(0, iterations, bisect, (lo, hi))
    s = 0.5 * (lo + hi)
    return jnp.exp(s), residual(s)


def rate_to_lif(
    weights,
    *,
    n_exc: int,
    g: float,
    dr_exc: float = 0.01,
    dr_inh: float = 0.01,
    bias_exc: float = 0.1,
    bias_inh: float = 0.1,
    tolerance: float = 1e-9,
) -> LIFConversion:
    """Convert an E/I rate network's parameters to a current-based LIF network's.

    Steps (the spec; Lava's ``convert_rate_to_lif_params``):

    1. require ``gamma g > 1`` with ``gamma = N_E / N_I`` (inhibition-dominated), else ``ValueError``;
    2. ``dv = dr``, ``du = 7 dr``, ``v_th = 1`` per population;
    3. biases ``5 v_th dv`` times the relative E/I bias ratio of the rate network (the larger bias over
       the smaller for the population with the larger bias, 1 for the other);
    4. stationary rate ``nu = (b - v_th) / (gamma g - 1)`` with ``b`` the mean of ``bias / dv`` over
       E and I;
    5. solve ``w_rate = alpha(w) w + beta(w) w^2`` (:func:`linear_response`) for ``w`` with
       ``w_rate`` = the mean of the excitatory columns of ``weights``: the smallest root in
       ``[e^-30, e^10] w_rate``, found on a log grid and refined by bisection in JAX float64 (so the
       solved weight is always positive, and the reference's "non-positive factor: no scaling" case
       cannot arise);
    6. scale all weights by ``w / w_rate``; if the solve fails (no convergence, non-finite values) the
       theory does not apply and the scale is 1 (reported in ``message``/``converged``);
    7. multiply excitatory columns by ``du_exc`` and inhibitory columns by ``du_inh``.

    Args:
        weights: ``[N, N]`` rate weights (post, pre); columns ``< n_exc`` excitatory.
        n_exc: number of excitatory neurons (``0 < n_exc < N``).
        g: relative strength of inhibition used to build ``weights``.
        dr_exc, dr_inh: rate integration constants (per step, in (0, 1]).
        bias_exc, bias_inh: rate biases (> 0).
        tolerance: largest ``|log(alpha w + beta w^2) - log(w_rate)|`` accepted as converged.
    """
    weights = np.asarray(weights, np.float64)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise ValueError(f"weights must be a square [N, N] matrix; got shape {list(weights.shape)}")
    n = weights.shape[0]
    n_exc = check_int("n_exc", n_exc, minimum=1)
    if n_exc >= n:
        raise ValueError(f"n_exc must be < N = {n} (the network needs inhibitory neurons); got {n_exc}")
    for name, value in (("dr_exc", dr_exc), ("dr_inh", dr_inh), ("bias_exc", bias_exc), ("bias_inh", bias_inh), ("g", g)):
        check_positive(name, value)
    for name, value in (("dr_exc", dr_exc), ("dr_inh", dr_inh)):
        if value > 1:
            raise ValueError(f"{name} must be in (0, 1] (a fraction per step); got {value}")
    gamma = n_exc / (n - n_exc)
    if gamma * g <= 1.0:
        raise ValueError(
            f"the network is not inhibition-dominated: gamma * g = (N_E / N_I) * g = {gamma:g} * {g:g} = {gamma * g:g} <= 1; "
            "the rate-to-LIF conversion requires gamma * g > 1 (increase g)"
        )

    dv_exc, dv_inh = dr_exc, dr_inh
    du_exc, du_inh = 7.0 * dr_exc, 7.0 * dr_inh
    v_th = 1.0
    ratio_exc = bias_exc / bias_inh if bias_exc >= bias_inh else 1.0
    ratio_inh = 1.0 if bias_exc >= bias_inh else bias_inh / bias_exc
    lif_bias_exc = 5.0 * v_th * dv_exc * ratio_exc
    lif_bias_inh = 5.0 * v_th * dv_inh * ratio_inh
    b = (lif_bias_exc / dv_exc + lif_bias_inh / dv_inh) / 2.0
    rate = (b - v_th) / (gamma * g - 1.0)
    w_rate = float(np.mean(weights[:, :n_exc]))
    if not w_rate > 0:
        raise ValueError(f"the mean excitatory weight must be > 0 (Dale's law); got {w_rate}")

    consts = dict(n_exc=n_exc, gamma=gamma, g=g, rate=rate, bias=b, v_th=v_th, dv=dv_exc, du=du_exc)
    with jax.enable_x64(True):
        w_lif, res = _solve_log_weight(w_rate, consts)
        w_lif, res = float(w_lif), float(res)
    converged = bool(np.isfinite(w_lif) and np.isfinite(res) and abs(res) <= tolerance)
    if converged:
        scale = w_lif / w_rate
        message = f"theory converged: w = {w_lif:.6g}, w_rate = {w_rate:.6g}, weights scaled by {scale:.6g}"
    else:
        scale = 1.0
        message = f"theory failed (residual {res:.3g}, w = {w_lif:.3g}); weights left unscaled (scale 1)"
        w_lif = float("nan")

    lif = weights * scale
    lif[:, :n_exc] *= du_exc
    lif[:, n_exc:] *= du_inh
    return LIFConversion(
        weights=lif, du_exc=du_exc, du_inh=du_inh, dv_exc=dv_exc, dv_inh=dv_inh, v_th=v_th,
        bias_exc=lif_bias_exc, bias_inh=lif_bias_inh, weight_scale=float(scale), w_rate=w_rate, w_lif=w_lif,
        rate_estimate=float(rate), converged=converged, message=message,
    )


def ei_gaussian_weights(key: Array, n: int = 400, *, n_exc: int = 320, q: float = 1.0, g: float = 4.5) -> np.ndarray:
    """The tutorial's E/I weights ``[n, n]`` (post, pre): Gaussian with variance ``(2 q)^2 / n``,
    Dale's law by zeroing negative excitatory and positive inhibitory entries, inhibitory columns
    times ``g``. ``q = 1``: stable fixed point; ``q = sqrt(n / 6)``: chaotic, long-memory regime."""
    n = check_int("n", n, minimum=2)
    check_positive("q", q)
    check_positive("g", g)
    w = np.asarray(jax.random.normal(key, (n, n), jnp.float32), np.float64)
    w *= 2.0 * q / np.sqrt(n)
    w[:, :n_exc] = np.maximum(w[:, :n_exc], 0.0)
    w[:, n_exc:] = np.minimum(w[:, n_exc:], 0.0) * g
    return w


def simulate_rate_ei(weights, *, n_exc: int, steps: int, key: Array, dr_exc: float = 0.01, dr_inh: float = 0.01,
                     bias_exc: float = 0.1, bias_inh: float = 0.1, noise_std: float = 0.0) -> Array:
    """Run the rate network for ``steps`` steps from ``r = 0``; returns the population activity
    ``mean_i r_i`` per step, ``[steps]``. ``noise_std`` adds independent Gaussian noise to every
    neuron's update (0: the deterministic tutorial network)."""
    w = jnp.asarray(weights, jnp.float32)
    n = w.shape[0]
    dr = jnp.where(jnp.arange(n) < n_exc, dr_exc, dr_inh)
    bias = jnp.where(jnp.arange(n) < n_exc, bias_exc, bias_inh)

    def step(r, k):
        r = (1.0 - dr) * r + dr * (w @ erf(r)) + bias + noise_std * jax.random.normal(k, (n,))
        return r, jnp.mean(r)

    _, activity = jax.lax.scan(step, jnp.zeros((n,), jnp.float32), jax.random.split(key, steps))
    return activity


def simulate_lif_ei(conv: LIFConversion, *, n_exc: int, steps: int, key: Array) -> tuple[Array, Array]:
    """Run the converted LIF network for ``steps`` steps (``u = 0``, ``v`` uniform in [0, v_th)).

    Returns ``(population spike count per step [steps], spike count per neuron [N])``.
    """
    w = jnp.asarray(conv.weights, jnp.float32)
    n = w.shape[0]
    exc = jnp.arange(n) < n_exc
    du = jnp.where(exc, conv.du_exc, conv.du_inh)
    dv = jnp.where(exc, conv.dv_exc, conv.dv_inh)
    bias = jnp.where(exc, conv.bias_exc, conv.bias_inh)

    def step(carry, _):
        u, v, s, counts = carry
        u = u * (1.0 - du) + w @ s
        v = v * (1.0 - dv) + u + bias
        spikes = (v > conv.v_th).astype(jnp.float32)
        v = jnp.where(spikes > 0, 0.0, v)
        return (u, v, spikes, counts + spikes), jnp.sum(spikes)

    z = jnp.zeros((n,), jnp.float32)
    v0 = jax.random.uniform(key, (n,), jnp.float32, 0.0, conv.v_th)
    (_, _, _, counts), population = jax.lax.scan(step, (z, v0, z, z), None, length=steps)
    return population, counts


def autocovariance(x: Array, max_lag: int) -> Array:
    """Normalised auto-covariance ``C(l) / C(0)`` of a 1-D signal for lags ``0..max_lag``."""
    x = np.asarray(x, np.float64)
    x = x - x.mean()
    c = np.array([np.mean(x[: x.size - lag] * x[lag:]) for lag in range(max_lag + 1)])
    return c / c[0]


def decay_time(acov, dt: float) -> float:
    """First lag (s) at which a normalised auto-covariance falls below 1/e, linearly interpolated
    between steps; ``inf`` if it never does within the lags given."""
    acov = np.asarray(acov, np.float64)
    below = np.nonzero(acov < np.exp(-1.0))[0]
    if below.size == 0:
        return float("inf")
    i = int(below[0])
    frac = (acov[i - 1] - np.exp(-1.0)) / (acov[i - 1] - acov[i])
    return float((i - 1 + frac) * dt)
