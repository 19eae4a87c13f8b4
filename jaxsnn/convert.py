"""Rate-to-LIF parameter conversion for E/I networks (Lava's E/I-network tutorial; Grytskyy et al. 2013).

The rate network (``N`` neurons, the first ``n_exc`` excitatory; discrete time, one step = ``dt``)::

    r <- (1 - dr) r + dr W erf(r) + bias

and its current-based LIF counterpart::

    u <- u (1 - du) + W_lif s          (s: spikes of the previous step, 0/1)
    v <- v (1 - dv) + u + bias
    s = v > v_th;  v <- 0 where s

:func:`rate_to_lif` maps the first onto the second (all equations in its docstring); the weights'
scale comes from a root solve in JAX (float64). Two variants:

- ``"reference"`` (default) reproduces Lava's ``convert_rate_to_lif_params`` exactly, quirks
  included: the prefactor ``sqrt(pi) (mu dv 0.01)^2`` where the theory has ``sqrt(pi) nu^2``; the
  input variance used where the theory has its standard deviation; ``|zetac(1/2)| = 2.46``
  (``zetac = zeta - 1``) in the boundary shift where the theory has ``|zeta(1/2)| = 1.46``; the root
  that ``scipy.optimize.fsolve`` finds from the mean excitatory weight (:func:`hybrd_1d` is MINPACK's
  hybrd in JAX). Deliberate difference: when fsolve fails, Lava's code (whose warnings filter is
  "ignore") keeps the last iterate, while jaxsnn falls back to scale 1 as Lava's own comment
  says; in the tutorial's failing (chaotic) regime the last iterate is the start, so both give 1.
- ``"grytskyy"`` evaluates the equations as written in Grytskyy et al. 2013 and takes their
  smallest root. On the tutorial's networks it scales the weights by ~0.8 at q = 1 (the reference:
  ~0.98) and by ~0.013 at q = sqrt(N/6) (the reference fails: 1), where the LIF network is then
  driven by its bias alone (see experiments/rate_to_lif.py).

:func:`ei_gaussian_weights`, :func:`simulate_rate_ei` and :func:`simulate_lif_ei` build and run both
networks as the tutorial does by default (its weight draw, rates and LIF state starting at 0);
:func:`network_autocovariance` (the tutorial's ``auto_cov_fct`` or the population mean's),
:func:`autocovariance` and :func:`decay_time` quantify their dynamics.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf, erfcx
from jaxtyping import Array

from ._validation import check_choice, check_int, check_positive

# |zeta(1/2)|, Riemann zeta at 1/2 (Fourcaud & Brunel 2002 boundary shift for synaptic filtering)
ABS_ZETA_HALF = 1.4603545088095868
# |zetac(1/2)| = |zeta(1/2) - 1|: what Lava's code uses (scipy.special.zetac is zeta - 1)
ABS_ZETAC_HALF = 2.4603545088095868
VARIANTS = ("reference", "grytskyy")
# ei_gaussian_weights: std (2q)^2/N as the tutorial's code draws it, or 2q/sqrt(N) (variance (2q)^2/N)
WEIGHT_SCALINGS = ("tutorial", "sqrt_n")
# simulate_lif_ei: LIF voltages start at 0 (Lava's LIF) or uniform in [0, v_th)
V_INITS = ("zero", "uniform")
# simulate_rate_ei / simulate_lif_ei: what is recorded per step
RECORDS = ("population", "neurons")
# network_autocovariance: the tutorial's per-neuron measure or the population mean's
MEASURES = ("tutorial", "population")


class LIFConversion(NamedTuple):
    """Result of :func:`rate_to_lif` (LIF quantities per step, like the rate network's).

    weights: ``[N, N]`` LIF weights (post, pre). du_exc, du_inh, dv_exc, dv_inh: current and voltage
    integration constants. v_th: threshold. bias_exc, bias_inh: LIF biases. weight_scale: the factor
    ``w / w_rate`` applied to the rate weights (1.0 when the theory failed or gave a non-positive
    weight). w_rate: mean excitatory rate weight; w_lif: the solved weight (NaN when the solve
    failed). rate_estimate: stationary rate ``nu``. converged: whether the root solve converged.
    message: what happened, in words. variant: ``"reference"`` or ``"grytskyy"``.
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
    variant: str


def _f(y):
    """f(y) = e^{y^2} (1 + erf y) = erfcx(-y), written so that large negative y does not underflow."""
    return erfcx(-y)


def linear_response(w, *, n_exc: int, gamma: float, g: float, rate: float, bias: float, v_th: float, dv: float, du: float):
    """``(alpha, beta, mu, sigma)`` of the LIF linear response at mean excitatory weight ``w``
    (the ``"grytskyy"`` variant).

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
    shift = np.sqrt(2.0) * ABS_ZETA_HALF * jnp.sqrt(dv / du) / 2.0
    y_th = (v_th - mu) / sigma + shift
    y_r = -mu / sigma + shift
    pref = np.sqrt(np.pi) * rate * rate
    alpha = pref * (_f(y_th) - _f(y_r)) / sigma
    beta = pref * (_f(y_th) * y_th - _f(y_r) * y_r) / (2.0 * sigma * sigma)
    return alpha, beta, mu, sigma


def reference_residual(w, w_rate, *, n_exc: int, gamma: float, g: float, rate: float, bias: float, v_th: float, dv: float, du: float):
    """Lava's ``func(w) = w_rate - alpha(w) w - beta(w) w^2``, its quirks kept (the ``"reference"`` variant).

    As Lava's ``convert_rate_to_lif_params`` writes it: ``mu = N_E (1 - gamma g) w nu + bias`` and
    ``s = N_E (1 + gamma g^2) w^2 nu`` (a variance, used where the theory has the standard
    deviation); ``y_th = (v_th - mu)/s + d``, ``y_r = -mu/s + d`` with
    ``d = sqrt(2) |zetac(1/2)| sqrt(dv/du) / 2`` (``zetac = zeta - 1``, so ``|zetac(1/2)| = 2.4604``,
    not ``|zeta(1/2)| = 1.4604``); ``f(y) = e^{y^2} (1 + erf y)`` evaluated literally (it overflows
    to inf/NaN where Lava's does, so a solver follows the same path)::

        alpha = sqrt(pi) (mu dv 0.01)^2 (f(y_th) - f(y_r)) / s
        beta  = sqrt(pi) (mu dv 0.01)^2 (f(y_th) (v_th - mu)/s - f(y_r) (-mu)/s) / (2 s^2)

    (the multipliers of ``f`` in ``beta`` lack the shift ``d``). Float64 when called under
    ``jax.enable_x64``.
    """
    mu = n_exc * (1.0 - gamma * g) * w * rate + bias
    s = n_exc * (1.0 + gamma * g * g) * w * w * rate
    shift = np.sqrt(2.0) * ABS_ZETAC_HALF * jnp.sqrt(dv / du) / 2.0
    y_th = (v_th - mu) / s + shift
    y_r = -mu / s + shift

    def f(y):
        return jnp.exp(y * y) * (1.0 + erf(y))

    pref = np.sqrt(np.pi) * (mu * dv * 0.01) ** 2
    alpha = pref / s * (f(y_th) - f(y_r))
    beta = pref / (2.0 * s * s) * (f(y_th) * (v_th - mu) / s - f(y_r) * (-mu) / s)
    return w_rate - alpha * w - beta * w * w


# MINPACK hybrd's exit messages (scipy.optimize.fsolve reports the same texts)
HYBRD_MESSAGES = {
    1: "the solution converged",
    2: "the number of calls to the function reached maxfev = 400",
    3: "xtol = 1.49012e-08 is too small: no further improvement of the approximate solution is possible",
    4: "the iteration is not making good progress, as measured by the improvement from the last five Jacobian evaluations",
    5: "the iteration is not making good progress, as measured by the improvement from the last ten iterations",
}


def hybrd_1d(func, x0, *, xtol: float = 1.49012e-08, maxfev: int = 400, factor: float = 100.0):
    """Powell's hybrid method for one scalar equation ``func(x) = 0``, operation for operation as
    MINPACK's ``hybrd`` (what ``scipy.optimize.fsolve(func, x0)`` runs with its defaults), in JAX.

    With one unknown, hybrd's QR factors are ``Q = -1, R = -J`` (``Q = 1, R = 0`` for ``J = 0``),
    the dogleg step is the Newton step ``-f/J`` cut to the trust radius, and Broyden's update is a
    secant; ``J`` is a forward difference (relative step ``sqrt(eps)``) at the start and after
    exactly two failed steps in a row. Scaling, the trust-radius updates and the termination tests
    (``info`` 1: converged, i.e. the trust radius fell below ``xtol |x|`` or ``f = 0`` (a test on the
    step, not on the residual); 2: ``maxfev`` reached; 3: ``xtol`` too small; 4, 5: not making
    progress) follow ``hybrd`` with its rounding, so the iterates match fsolve's. Returns
    ``(x, f(x), info, nfev)`` as JAX scalars; call it under ``jax.enable_x64`` for float64.
    """
    x0 = jnp.asarray(x0)
    dtype = x0.dtype
    epsmch = jnp.finfo(dtype).eps
    eps = jnp.sqrt(epsmch)  # fdjac1 with epsfcn = machine epsilon (fsolve's default)
    zero, one = jnp.zeros((), dtype), jnp.ones((), dtype)
    i0 = jnp.zeros((), jnp.int32)

    def dogleg(r, diag, qtf, delta):
        """MINPACK's dogleg for n = 1: the step ``x`` whose negative hybrd takes."""
        newton = qtf / jnp.where(r == 0, epsmch, r)
        qnorm = jnp.abs(diag * newton)
        gradient = r * qtf / diag
        gnorm = jnp.abs(gradient)
        safe_gnorm = jnp.where(gnorm == 0, one, gnorm)
        unit = gradient / safe_gnorm / diag
        temp = jnp.abs(r * unit)
        sgnorm = jnp.where(gnorm == 0, zero, safe_gnorm / jnp.where(temp == 0, one, temp) / jnp.where(temp == 0, one, temp))
        # convex combination of Gauss-Newton and scaled-gradient steps (only when sgnorm < delta < qnorm)
        bnorm = jnp.abs(qtf)
        dq, sd = delta / qnorm, sgnorm / delta
        t = (bnorm / safe_gnorm) * (bnorm / qnorm) * sd
        t = t - dq * sd**2 + jnp.sqrt((t - dq) ** 2 + (1 - dq**2) * (1 - sd**2))
        alpha = jnp.where(gnorm == 0, dq, jnp.where(sgnorm >= delta, zero, dq * (1 - sd**2) / t))
        step = (1 - alpha) * jnp.minimum(sgnorm, delta) * unit + alpha * newton
        return jnp.where(qnorm <= delta, newton, step)

    f0 = func(x0)
    # x, f, r, q, qtf, diag, delta, xnorm, iter, ncsuc, ncfail, nslow1, nslow2, nfev, info, need_jac
    state = (x0, f0, zero, one, f0, one, zero, zero, i0 + 1, i0, i0, i0, i0, i0 + 1, i0, jnp.array(True))

    def jacobian(x, f, diag, delta, xnorm, it):
        """Outer loop: forward difference, its QR factors; scaling and trust radius while no step
        has succeeded (``iter == 1``)."""
        h = jnp.where(eps * jnp.abs(x) == 0, eps, eps * jnp.abs(x))
        jac = (func(x + h) - f) / h
        r = -jac
        q = jnp.where(jac == 0, one, -one)
        qtf = jnp.where(jac == 0, f, -f)
        first = it == 1
        diag = jnp.where(first, jnp.where(jac == 0, one, jnp.abs(jac)), diag)
        xnorm = jnp.where(first, jnp.abs(diag * x), xnorm)
        delta = jnp.where(first, jnp.where(factor * xnorm == 0, factor, factor * xnorm), delta)
        return r, q, qtf, jnp.maximum(diag, jnp.abs(jac)), delta, xnorm

    def body(state):
        x, f, r, q, qtf, diag, delta, xnorm, it, ncsuc, ncfail, nslow1, nslow2, nfev, info, jeval = state
        r, q, qtf, diag, delta, xnorm = jax.lax.cond(
            jeval, jacobian, lambda x, f, diag, delta, xnorm, it: (r, q, qtf, diag, delta, xnorm), x, f, diag, delta, xnorm, it
        )
        nfev = nfev + jeval.astype(jnp.int32)
        fnorm = jnp.abs(f)
        p = -dogleg(r, diag, qtf, delta)
        trial = x + p
        pnorm = jnp.abs(diag * p)
        delta = jnp.where(it == 1, jnp.minimum(delta, pnorm), delta)
        f1 = func(trial)
        nfev = nfev + 1
        fnorm1 = jnp.abs(f1)
        actred = jnp.where(fnorm1 < fnorm, 1 - (fnorm1 / fnorm) ** 2, -one)
        model = qtf + r * p
        prered = jnp.where(jnp.abs(model) < fnorm, 1 - (jnp.abs(model) / fnorm) ** 2, zero)
        ratio = jnp.where(prered > 0, actred / jnp.where(prered > 0, prered, one), zero)
        failed = ratio < 0.1
        ncsuc = jnp.where(failed, 0, ncsuc + 1)
        ncfail = jnp.where(failed, ncfail + 1, 0)
        grown = jnp.where((ratio >= 0.5) | (ncsuc > 1), jnp.maximum(delta, pnorm / 0.5), delta)
        grown = jnp.where(jnp.abs(ratio - 1) <= 0.1, pnorm / 0.5, grown)
        delta = jnp.where(failed, 0.5 * delta, grown)
        success = ratio >= 1e-4
        x = jnp.where(success, trial, x)
        f = jnp.where(success, f1, f)
        xnorm = jnp.where(success, jnp.abs(diag * x), xnorm)
        it = it + success.astype(jnp.int32)
        nslow1 = jnp.where(actred >= 1e-3, 0, nslow1 + 1)
        nslow2 = jnp.where(actred >= 0.1, 0, nslow2 + jeval.astype(jnp.int32))
        info = jnp.where(nfev >= maxfev, 2, i0)
        info = jnp.where(0.1 * jnp.maximum(0.1 * delta, pnorm) <= epsmch * xnorm, 3, info)
        info = jnp.where(nslow2 == 5, 4, info)
        info = jnp.where(nslow1 == 10, 5, info)
        info = jnp.where((delta <= xtol * xnorm) | (jnp.abs(f) == 0), 1, info)
        jeval = ncfail == 2
        # Broyden's rank-one update of R (hybrd's r1updt; the rotations of r1mpyq are void for n = 1)
        projected = q * f1
        u = (projected - model) / pnorm
        v = diag * ((diag * p) / pnorm)
        r = jnp.where(jeval, r, r + v * u)
        qtf = jnp.where(~jeval & success, projected, qtf)
        return x, f, r, q, qtf, diag, delta, xnorm, it, ncsuc, ncfail, nslow1, nslow2, nfev, info, jeval

    state = jax.lax.while_loop(lambda s: s[14] == 0, body, state)
    return state[0], state[1], state[14], state[13]


@partial(jax.jit, static_argnames=("span", "grid", "iterations"))
def _solve_log_weight(w_rate, consts: dict, span: tuple[float, float] = (-30.0, 10.0), grid: int = 401, iterations: int = 100):
    """Smallest root of ``log(alpha w + beta w^2) - log(w_rate)`` over ``s = log w`` in
    ``log w_rate + span`` (weights from ``e^-30`` to ``e^10`` times ``w_rate``; the ``"grytskyy"``
    variant).

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

    s0 = jnp.log(w_rate)
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


@jax.jit
def _reference_root(w_rate, consts: dict):
    """:func:`hybrd_1d` on :func:`reference_residual` from ``w = w_rate`` (compiled once; float64
    when called under ``jax.enable_x64``)."""
    return hybrd_1d(lambda w: reference_residual(w, w_rate, **consts), w_rate)


def _scale_reference(w_rate: float, consts: dict) -> tuple[float, bool, float, str]:
    """``(scale, converged, w, message)`` of the ``"reference"`` variant: Lava's equation solved by
    :func:`hybrd_1d` from ``w = w_rate``, as Lava's ``fsolve(func, mean_exc_weight)``."""
    with jax.enable_x64(True):
        args = {k: jnp.asarray(v, jnp.float64) for k, v in consts.items()}
        x, fx, info, nfev = _reference_root(jnp.asarray(w_rate, jnp.float64), args)
        x, fx, info, nfev = float(x), float(fx), int(info), int(nfev)
    if info != 1:
        # Lava means to fall back to scale 1 here, but its warnings filter is "ignore", so its code
        # keeps fsolve's last iterate; in the tutorial's chaotic regime no step is ever accepted,
        # that iterate is w_rate and both give scale 1
        return 1.0, False, float("nan"), (
            f"theory failed: the fsolve-equivalent solve did not converge ({HYBRD_MESSAGES[info]}; "
            f"last iterate w = {x:.6g}, residual {fx:.3g}, {nfev} evaluations); weights left unscaled (scale 1; "
            f"Lava's code, which ignores the solver's warning, would scale by the last iterate's {x / w_rate:.6g})"
        )
    scale = x / w_rate
    residual = f"residual {fx:.3g}"
    if not abs(fx) <= 1e-6 * w_rate:
        # hybrd's convergence test is on the trust radius, so a collapsed step also "converges"
        residual += " (not a root: fsolve's convergence test is on the step, not the residual)"
    if not scale > 0:
        return 1.0, True, x, f"solved w = {x:.6g} ({residual}) gives a non-positive scale {scale:.6g}: no weight scaling possible (scale 1)"
    return scale, True, x, (
        f"theory converged ({nfev} evaluations): w = {x:.6g}, {residual}, w_rate = {w_rate:.6g}, weights scaled by {scale:.6g}"
    )


def _scale_grytskyy(w_rate: float, consts: dict, tolerance: float) -> tuple[float, bool, float, str]:
    """``(scale, converged, w, message)`` of the ``"grytskyy"`` variant (:func:`_solve_log_weight`)."""
    with jax.enable_x64(True):
        args = {k: jnp.asarray(v, jnp.float64) for k, v in consts.items()}
        w_lif, res = _solve_log_weight(jnp.asarray(w_rate, jnp.float64), args)
        w_lif, res = float(w_lif), float(res)
    if np.isfinite(w_lif) and np.isfinite(res) and abs(res) <= tolerance:
        scale = w_lif / w_rate
        return scale, True, w_lif, f"theory converged: w = {w_lif:.6g}, w_rate = {w_rate:.6g}, weights scaled by {scale:.6g}"
    return 1.0, False, float("nan"), f"theory failed (residual {res:.3g}, w = {w_lif:.3g}); weights left unscaled (scale 1)"


def rate_to_lif(
    weights,
    *,
    n_exc: int,
    g: float,
    dr_exc: float = 0.01,
    dr_inh: float = 0.01,
    bias_exc: float = 0.1,
    bias_inh: float = 0.1,
    variant: str = "reference",
    tolerance: float = 1e-9,
) -> LIFConversion:
    """Convert an E/I rate network's parameters to a current-based LIF network's.

    Steps (Lava's ``convert_rate_to_lif_params``):

    1. require ``gamma g > 1`` with ``gamma = N_E / N_I`` (inhibition-dominated), else ``ValueError``;
    2. ``dv = dr``, ``du = 7 dr``, ``v_th = 1`` per population;
    3. biases ``5 v_th dv`` times the relative E/I bias ratio of the rate network (the larger bias over
       the smaller for the population with the larger bias, 1 for the other);
    4. stationary rate ``nu = (b - v_th) / (gamma g - 1)`` with ``b`` the mean of ``bias / dv`` over
       E and I;
    5. solve ``w_rate = alpha(w) w + beta(w) w^2`` for ``w``, with ``w_rate`` = the mean of the
       excitatory columns of ``weights`` (float64, in JAX):

       - ``variant="reference"`` (default): Lava's equations as its code writes them
         (:func:`reference_residual`: prefactor ``sqrt(pi) (mu dv 0.01)^2``, the variance used as
         ``sigma``, ``|zetac(1/2)| = |zeta(1/2) - 1|`` in the boundary shift) solved like Lava's
         ``scipy.optimize.fsolve(func, w_rate)`` by :func:`hybrd_1d`, a step-for-step JAX version of
         MINPACK's ``hybrd`` (so it finds the root fsolve finds, and fails where fsolve fails);
       - ``variant="grytskyy"``: the equations as in Grytskyy et al. 2013 (:func:`linear_response`:
         prefactor ``sqrt(pi) nu^2``, the standard deviation, ``|zeta(1/2)|``), the smallest root in
         ``[e^-30, e^10] w_rate`` found on a log grid and refined by bisection
         (:func:`_solve_log_weight`). On the tutorial's networks this root is smaller than the
         reference's (scale ~0.8 against ~0.98 at q = 1; ~0.013 at q = sqrt(N/6), where the
         reference fails, and the converted LIF network is then driven by its bias alone); it is
         offered for comparison, not as the default;
    6. scale all weights by ``w / w_rate``; if the solve fails the theory does not apply and the scale
       is 1, and a non-positive solution also leaves the weights unscaled (both reported in
       ``message``/``converged``);
    7. multiply excitatory columns by ``du_exc`` and inhibitory columns by ``du_inh``.

    Args:
        weights: ``[N, N]`` rate weights (post, pre); columns ``< n_exc`` excitatory.
        n_exc: number of excitatory neurons (``0 < n_exc < N``).
        g: relative strength of inhibition used to build ``weights``.
        dr_exc, dr_inh: rate integration constants (per step, in (0, 1]).
        bias_exc, bias_inh: rate biases (> 0).
        variant: ``"reference"`` or ``"grytskyy"`` (above).
        tolerance: ``"grytskyy"`` only: largest ``|log(alpha w + beta w^2) - log(w_rate)|`` accepted
            as converged (``"reference"`` uses fsolve's own test, ``xtol = 1.49012e-8``).
    """
    check_choice("variant", variant, VARIANTS)
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
    if variant == "reference":
        scale, converged, w_lif, message = _scale_reference(w_rate, consts)
    else:
        scale, converged, w_lif, message = _scale_grytskyy(w_rate, consts, tolerance)

    lif = weights * scale
    lif[:, :n_exc] *= du_exc
    lif[:, n_exc:] *= du_inh
    return LIFConversion(
        weights=lif, du_exc=du_exc, du_inh=du_inh, dv_exc=dv_exc, dv_inh=dv_inh, v_th=v_th,
        bias_exc=lif_bias_exc, bias_inh=lif_bias_inh, weight_scale=float(scale), w_rate=w_rate, w_lif=w_lif,
        rate_estimate=float(rate), converged=converged, message=message, variant=variant,
    )


def ei_gaussian_weights(key: Array, n: int = 400, *, n_exc: int = 320, q: float = 1.0, g: float = 4.5,
                        scaling: str = "tutorial") -> np.ndarray:
    """The tutorial's E/I weights ``[n, n]`` (post, pre), rate-network units (before the ``dr`` factor).

    Entries Gaussian with mean 0, then Dale's law by zeroing negative excitatory (columns ``< n_exc``)
    and positive inhibitory entries, inhibitory columns times ``g``. ``q = 1``: stable fixed point;
    ``q = sqrt(n / 6)``: chaotic, long-memory regime. The standard deviation:

    - ``scaling="tutorial"`` (default): ``J = (2 q)^2 / n``, what the tutorial's code draws
      (``np.random.normal(0, J)``; its docstring and text call ``J`` the standard deviation although
      the usual random-network scaling would make it the variance). 0.01 at ``q = 1``, ``n = 400``;
    - ``scaling="sqrt_n"``: ``2 q / sqrt(n)``, i.e. variance ``(2 q)^2 / n`` (10 times the
      tutorial's at ``q = 1``, ``n = 400``; 1.22 times at ``q = sqrt(n / 6)``).

    Drawn with ``jax.random.normal`` (float32) from ``key``, so the matrices differ from the
    tutorial's ``np.random`` draws; pass those to :func:`rate_to_lif` directly for a draw-for-draw
    comparison.
    """
    n = check_int("n", n, minimum=2)
    check_positive("q", q)
    check_positive("g", g)
    check_choice("scaling", scaling, WEIGHT_SCALINGS)
    w = np.asarray(jax.random.normal(key, (n, n), jnp.float32), np.float64)
    w *= (2.0 * q) ** 2 / n if scaling == "tutorial" else 2.0 * q / np.sqrt(n)
    w[:, :n_exc] = np.maximum(w[:, :n_exc], 0.0)
    w[:, n_exc:] = np.minimum(w[:, n_exc:], 0.0) * g
    return w


def simulate_rate_ei(weights, *, n_exc: int, steps: int, key: Array | None = None, dr_exc: float = 0.01, dr_inh: float = 0.01,
                     bias_exc: float = 0.1, bias_inh: float = 0.1, noise_std: float = 0.0, record: str = "population") -> Array:
    """Run the rate network ``r <- (1 - dr) r + dr W erf(r) + bias`` for ``steps`` steps from ``r = 0``
    (the tutorial's rate model: the bias is added per step, not times ``dr``).

    ``noise_std`` adds independent Gaussian noise of that std to every neuron's update (0, the
    default: the deterministic tutorial network; then ``key`` is not needed). ``record="population"``
    (default) returns the population activity ``mean_i r_i`` per step, ``[steps]``;
    ``record="neurons"`` returns every neuron's state after each step, ``[steps, N]`` (what the
    tutorial's monitor records). Float32.
    """
    check_choice("record", record, RECORDS)
    check_positive("noise_std", noise_std, allow_zero=True)
    if noise_std > 0 and key is None:
        raise ValueError("key is required when noise_std > 0")
    w = jnp.asarray(weights, jnp.float32)
    n = w.shape[0]
    dr = jnp.where(jnp.arange(n) < n_exc, dr_exc, dr_inh)
    bias = jnp.where(jnp.arange(n) < n_exc, bias_exc, bias_inh)
    keys = jax.random.split(key if key is not None else jax.random.key(0), steps)

    def step(r, k):
        r = (1.0 - dr) * r + dr * (w @ erf(r)) + bias
        if noise_std > 0:
            r = r + noise_std * jax.random.normal(k, (n,))
        return r, (jnp.mean(r) if record == "population" else r)

    _, activity = jax.lax.scan(step, jnp.zeros((n,), jnp.float32), keys)
    return activity


def simulate_lif_ei(conv: LIFConversion, *, n_exc: int, steps: int, key: Array | None = None, v_init: str = "zero",
                    record: str = "population") -> tuple[Array, Array]:
    """Run the converted LIF network for ``steps`` steps from ``u = 0`` and

    - ``v_init="zero"`` (default): ``v = 0``, as Lava's LIF process starts (the tutorial's network
      then fires a synchronous first volley);
    - ``v_init="uniform"``: ``v`` uniform in ``[0, v_th)`` drawn from ``key`` (required then).

    Spikes reach the currents one step later (Lava's ``Dense`` buffers them the same way).
    Returns ``(activity, spike count per neuron [N])`` with ``activity`` the population spike count
    per step ``[steps]`` (``record="population"``, default) or the spikes (0/1) of every neuron per
    step ``[steps, N]`` (``record="neurons"``). Float32.
    """
    check_choice("v_init", v_init, V_INITS)
    check_choice("record", record, RECORDS)
    if v_init == "uniform" and key is None:
        raise ValueError('key is required when v_init="uniform"')
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
        return (u, v, spikes, counts + spikes), (jnp.sum(spikes) if record == "population" else spikes)

    z = jnp.zeros((n,), jnp.float32)
    v0 = z if v_init == "zero" else jax.random.uniform(key, (n,), jnp.float32, 0.0, conv.v_th)
    (_, _, _, counts), activity = jax.lax.scan(step, (z, v0, z, z), None, length=steps)
    return activity, counts


def box_filter(spikes, width: int = 25) -> np.ndarray:
    """Spike counts in a sliding ``width``-step window ending at each step, ``[steps, N]`` from
    spikes ``[steps, N]`` (the tutorial's binning, ``np.convolve(s, ones(width))[:steps]``; the first
    ``width - 1`` windows are partial)."""
    width = check_int("width", width, minimum=1)
    spikes = np.asarray(spikes, np.float64)
    c = np.cumsum(spikes, axis=0)
    out = c.copy()
    out[width:] -= c[:-width]
    return out


def network_autocovariance(acts, max_lag: int = 100, *, offset: int = 200, measure: str = "tutorial",
                           normalise: bool = True) -> np.ndarray:
    """Auto-covariance of a network's activity for lags ``0..max_lag`` (steps), ``[max_lag + 1]``.

    ``acts``: ``[steps, N]`` activity per step and neuron (rates, or binned spike counts); the first
    and last ``offset`` steps are dropped (``T = steps - 2 offset`` remain; ``offset = 0`` keeps all).

    - ``measure="tutorial"`` (default): the tutorial's ``auto_cov_fct``. Each neuron's temporal mean
      is removed, then at each step the across-neuron mean, giving ``y[t, i]``;
      ``C(l) = (1/T) sum_t (1/N) sum_i y[t, i] y[t - l, i]`` with ``t - l`` taken cyclically
      (``np.roll``, as the tutorial does): the neurons' auto-covariances averaged, without the part
      that the whole population shares;
    - ``measure="population"``: the auto-covariance of the population mean ``a[t] = mean_i acts[t, i]``
      (temporal mean removed), ``C(l) = (1/(T - l)) sum_t a[t] a[t + l]`` without wrap-around, as
      :func:`autocovariance`: the shared part only.

    ``normalise=True`` (default) returns ``C(l) / C(0)`` (dimensionless, 1 at lag 0; feed it to
    :func:`decay_time`); ``normalise=False`` returns ``C(l)`` in the squared units of ``acts``.
    """
    check_choice("measure", measure, MEASURES)
    max_lag = check_int("max_lag", max_lag, minimum=0)
    offset = check_int("offset", offset, minimum=0)
    x = np.asarray(acts, np.float64)
    if x.ndim != 2:
        raise ValueError(f"acts must be [steps, N]; got shape {list(x.shape)}")
    x = x[offset: x.shape[0] - offset]
    if max_lag >= x.shape[0]:
        raise ValueError(f"max_lag must be < the {x.shape[0]} steps left after dropping offset = {offset} at both ends; got {max_lag}")
    if measure == "population":
        a = x.mean(axis=1)
        a = a - a.mean()
        c = np.array([np.mean(a[: a.size - lag] * a[lag:]) for lag in range(max_lag + 1)])
    else:
        y = x - x.mean(axis=0)
        y = y - y.mean(axis=1, keepdims=True)
        # cyclic correlation along time by FFT (the same sums as rolling, to rounding)
        power = np.sum(np.abs(np.fft.rfft(y, axis=0)) ** 2, axis=1)
        c = np.fft.irfft(power, n=y.shape[0])[: max_lag + 1] / (y.shape[0] * y.shape[1])
    return c / c[0] if normalise else c


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
