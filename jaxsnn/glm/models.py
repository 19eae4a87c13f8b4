"""GLM spiking models with parity to spikeometric: Bernoulli GLM, Poisson GLM, rectified LNP, and the
rectified and threshold synaptic-activation models (SAM).

Units follow the reference, where these are discrete-time models: the time step ``dt`` and every time
constant are in milliseconds, inputs ``g`` are dimensionless, and rates are reported in Hz
(``expected count per step * 1000 / dt``). Each step of a model is

1. input: ``g_i(t) = r * (coupling of past spikes) + b + E_i(t)`` (:meth:`GLMModel.drive`),
2. non-linearity: the expected spike count (or spike probability) ``μ_i(t) = f(g_i(t))`` of the step
   (:meth:`GLMModel.expected_count`),
3. emission: a random draw of spike counts given ``g`` (:meth:`GLMModel.emit`),
4. state update with the new counts (:meth:`GLMModel.advance`).

History models (Bernoulli GLM, Poisson GLM, rectified LNP) keep the spike counts of the last ``T`` steps
in a ring buffer ``[T, n]`` and filter them with a coupling kernel ``c(τ)``, ``τ = 0`` being the previous
step. Because the kernel is the same for every edge (``W_e(τ) = W0_e c(τ)``), the filtered signal
``h_j = Σ_τ c(τ) x_j(t-1-τ)`` is computed once per neuron and then summed over edges: ``O(n T + E)``
work per step instead of the reference's ``O(E T)``. SAM models keep one activation per neuron instead.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from .._validation import check_int, check_positive, check_probability
from ..neurons.base import as_float
from .network import GLMNetwork


class HistoryState(NamedTuple):
    """State of a history model: ``counts[k]`` ``[T, n]`` float32 spike counts of past steps in a ring
    buffer; ``newest`` int32 row of the last step's counts (row ``(newest - τ) mod T`` holds lag ``τ``)."""

    counts: Array
    newest: Array


class ActivationState(NamedTuple):
    """State of a SAM model: ``activation`` ``[n]`` synaptic activation ``s`` of each neuron (ms)."""

    activation: Array


class GLMModel(eqx.Module):
    """Interface shared by the GLM models (see the module docstring). ``dt`` is in ms."""

    dt: eqx.AbstractVar[Array]

    #: Names of the parameters the reference tunes (others may still be tuned through a filter).
    tunable: ClassVar[tuple[str, ...]] = ()

    def init(self, key: Array, n_neurons: int):  # pragma: no cover - interface
        raise NotImplementedError

    def prepare(self, network: GLMNetwork) -> GLMNetwork:
        """The network as this model sees it (default: unchanged). Called once per simulation, before
        the network is materialised."""
        return network

    def drive(self, network: GLMNetwork, state, external: Array, key: Array) -> Array:  # pragma: no cover
        raise NotImplementedError

    def expected_count(self, g: Array) -> Array:  # pragma: no cover - interface
        raise NotImplementedError

    def emit(self, g: Array, key: Array) -> Array:  # pragma: no cover - interface
        raise NotImplementedError

    def advance(self, state, counts: Array):  # pragma: no cover - interface
        raise NotImplementedError

    def rate_hz(self, counts_per_step: Array) -> Array:
        """Rate (Hz) of a mean spike count per step: ``counts_per_step * 1000 / dt``."""
        return counts_per_step * 1000.0 / self.dt


# --- history models -------------------------------------------------------------------------------


def _history_init(key: Array, n_neurons: int, n_lags: int) -> HistoryState:
    """The reference's start: a random binary state as the last step's counts, nothing before it."""
    counts = jnp.zeros((n_lags, n_neurons), jnp.float32)
    counts = counts.at[0].set(jax.random.bernoulli(key, 0.5, (n_neurons,)).astype(jnp.float32))
    return HistoryState(counts=counts, newest=jnp.array(0, jnp.int32))


def _history_advance(state: HistoryState, counts: Array) -> HistoryState:
    n_lags = state.counts.shape[0]
    newest = (state.newest + 1) % n_lags
    return HistoryState(counts=state.counts.at[newest].set(counts.astype(jnp.float32)), newest=newest)


def _filter_history(state: HistoryState, kernel: Array) -> Array:
    """``[..., n]`` ``Σ_τ kernel[..., τ] x(t-1-τ)``: kernels (lag order, last axis) rotated onto the ring
    buffer's rows."""
    n_lags = state.counts.shape[0]
    lag_of_row = (state.newest - jnp.arange(n_lags)) % n_lags
    return kernel[..., lag_of_row] @ state.counts


class BernoulliGLM(GLMModel):
    """Bernoulli GLM with coupling and refractory kernels (spikeometric ``BernoulliGLM``).

    ``g_i = r [Σ_τ Σ_j W0_ji x_j(t-1-τ) c(τ) + Σ_τ x_i(t-1-τ) ref(τ)] + E_i``;
    ``p_i = sigmoid(g_i - θ) dt``; ``x_i ~ Bernoulli(p_i)``.

    Coupling ``c(τ) = exp(-α dt τ)`` for ``τ < coupling_window``. Self kernel ``ref(τ) = abs_strength`` for
    ``τ < abs_scale``, then ``rel_strength exp(-β (τ - abs_scale) dt)`` for ``τ < abs_scale + rel_scale``.
    Memory ``T = max(coupling_window, abs_scale + rel_scale)`` steps. As in the reference, self-edges of
    the network are ignored (the self kernel replaces them).

    Units: ``dt`` ms (``p`` is a probability, so ``dt <= 1``), ``α`` and ``β`` 1/ms, windows in steps,
    ``θ``, strengths, ``r`` dimensionless. Defaults are the reference's documented values.
    """

    theta: Array = eqx.field(default=5.0, converter=as_float)
    dt: Array = eqx.field(default=1.0, converter=as_float)
    alpha: Array = eqx.field(default=0.2, converter=as_float)
    beta: Array = eqx.field(default=0.5, converter=as_float)
    abs_strength: Array = eqx.field(default=-100.0, converter=as_float)
    rel_strength: Array = eqx.field(default=-30.0, converter=as_float)
    r: Array = eqx.field(default=1.0, converter=as_float)
    coupling_window: int = eqx.field(default=5, static=True)
    abs_scale: int = eqx.field(default=3, static=True)
    rel_scale: int = eqx.field(default=7, static=True)
    tunable: ClassVar[tuple[str, ...]] = ("theta", "r", "alpha", "beta", "rel_strength")

    def __check_init__(self):
        check_positive("BernoulliGLM.dt", self.dt)
        check_probability("BernoulliGLM.dt (ms; p = sigmoid(g - θ) dt must stay a probability)", self.dt)
        check_positive("BernoulliGLM.alpha", self.alpha, allow_zero=True)
        check_positive("BernoulliGLM.beta", self.beta, allow_zero=True)
        check_int("BernoulliGLM.coupling_window", self.coupling_window, minimum=1)
        check_int("BernoulliGLM.abs_scale", self.abs_scale, minimum=0)
        check_int("BernoulliGLM.rel_scale", self.rel_scale, minimum=0)

    @property
    def n_lags(self) -> int:
        return max(self.coupling_window, self.abs_scale + self.rel_scale)

    def coupling_kernel(self) -> Array:
        """``[T]`` ``c(τ)``, lag ``τ = 0`` first."""
        lag = jnp.arange(self.n_lags, dtype=jnp.float32)
        return jnp.exp(-self.alpha * self.dt * lag) * (lag < self.coupling_window)

    def self_kernel(self) -> Array:
        """``[T]`` refractory kernel ``ref(τ)``, lag ``τ = 0`` first."""
        lag = jnp.arange(self.n_lags, dtype=jnp.float32)
        relative = self.rel_strength * jnp.exp(-self.beta * (lag - self.abs_scale) * self.dt)
        return jnp.where(
            lag < self.abs_scale,
            self.abs_strength,
            jnp.where(lag < self.abs_scale + self.rel_scale, relative, 0.0),
        )

    def init(self, key: Array, n_neurons: int) -> HistoryState:
        return _history_init(key, n_neurons, self.n_lags)

    def prepare(self, network: GLMNetwork) -> GLMNetwork:
        return eqx.tree_at(lambda net: net.weight, network, network.weight * (network.pre != network.post))

    def drive(self, network: GLMNetwork, state: HistoryState, external: Array, key: Array) -> Array:
        coupling, refractory = _filter_history(state, jnp.stack([self.coupling_kernel(), self.self_kernel()]))
        return self.r * (network.synaptic_sum(coupling) + refractory) + external

    def expected_count(self, g: Array) -> Array:
        return jax.nn.sigmoid(g - self.theta) * self.dt

    def emit(self, g: Array, key: Array) -> Array:
        return jax.random.bernoulli(key, self.expected_count(g)).astype(jnp.float32)

    def advance(self, state: HistoryState, counts: Array) -> HistoryState:
        return _history_advance(state, counts)


class _ExponentialCouplingModel(GLMModel):
    """Shared by the Poisson GLM and the rectified LNP: ``g = r Σ W0 x c + b + E`` with
    ``c(τ) = exp(-dt τ / tau)`` over ``T`` steps."""

    tau: eqx.AbstractVar[Array]
    r: eqx.AbstractVar[Array]
    b: eqx.AbstractVar[Array]
    T: eqx.AbstractVar[int]

    @property
    def n_lags(self) -> int:
        return self.T

    def coupling_kernel(self) -> Array:
        """``[T]`` ``c(τ) = exp(-dt τ / tau)``, lag ``τ = 0`` first."""
        return jnp.exp(-self.dt * jnp.arange(self.T, dtype=jnp.float32) / self.tau)

    def init(self, key: Array, n_neurons: int) -> HistoryState:
        return _history_init(key, n_neurons, self.T)

    def drive(self, network: GLMNetwork, state: HistoryState, external: Array, key: Array) -> Array:
        return self.r * network.synaptic_sum(_filter_history(state, self.coupling_kernel())) + self.b + external

    def emit(self, g: Array, key: Array) -> Array:
        return jax.random.poisson(key, self.expected_count(g)).astype(jnp.float32)

    def advance(self, state: HistoryState, counts: Array) -> HistoryState:
        return _history_advance(state, counts)

    def _check_common(self, name: str):
        check_positive(f"{name}.dt", self.dt)
        check_positive(f"{name}.tau", self.tau)
        check_int(f"{name}.T", self.T, minimum=1)


class PoissonGLM(_ExponentialCouplingModel):
    """Poisson GLM (spikeometric ``PoissonGLM``): ``μ = (dt / α) exp(β g)``, ``x ~ Poisson(μ)``.

    Units: ``dt``, ``tau``, ``α`` ms; ``β``, ``r``, ``b`` dimensionless; ``T`` steps.
    Defaults are the reference's test values.
    """

    alpha: Array = eqx.field(default=15.9, converter=as_float)
    beta: Array = eqx.field(default=10.0, converter=as_float)
    tau: Array = eqx.field(default=10.0, converter=as_float)
    dt: Array = eqx.field(default=0.1, converter=as_float)
    r: Array = eqx.field(default=0.025, converter=as_float)
    b: Array = eqx.field(default=0.001, converter=as_float)
    T: int = eqx.field(default=200, static=True)
    tunable: ClassVar[tuple[str, ...]] = ("alpha", "beta", "tau", "r", "b")

    def __check_init__(self):
        self._check_common("PoissonGLM")
        check_positive("PoissonGLM.alpha", self.alpha)

    def expected_count(self, g: Array) -> Array:
        return self.dt / self.alpha * jnp.exp(self.beta * g)


class RectifiedLNP(_ExponentialCouplingModel):
    """Rectified linear-nonlinear-Poisson model (spikeometric ``RectifiedLNP``):
    ``μ = λ0 dt [g - θ]_+``, ``x ~ Poisson(μ)``.

    Units: ``dt``, ``tau`` ms; ``λ0`` 1/ms; ``θ``, ``r``, ``b`` dimensionless; ``T`` steps.
    Defaults are the parameters the reference's tuning tutorial lists (``T = 20`` steps, ``r = 0.0025``;
    ~87 Hz on its Mexican-hat rings). The tutorial's printed rates (33.9 Hz before tuning) were computed
    with ``T = 200`` steps (``T`` was in ms then), ``r = 0.025`` and rings with self-connections:
    ``RectifiedLNP(T=200, r=0.025)`` on ``mexican_hat_connectivity(..., self_connections=True)``.
    """

    lambda_0: Array = eqx.field(default=100.0, converter=as_float)
    theta: Array = eqx.field(default=1e-4, converter=as_float)
    tau: Array = eqx.field(default=10.0, converter=as_float)
    dt: Array = eqx.field(default=0.1, converter=as_float)
    r: Array = eqx.field(default=0.0025, converter=as_float)
    b: Array = eqx.field(default=0.001, converter=as_float)
    T: int = eqx.field(default=20, static=True)
    tunable: ClassVar[tuple[str, ...]] = ("lambda_0", "theta", "tau", "r", "b")

    def __check_init__(self):
        self._check_common("RectifiedLNP")
        check_positive("RectifiedLNP.lambda_0", self.lambda_0, allow_zero=True)

    def expected_count(self, g: Array) -> Array:
        return self.lambda_0 * self.dt * jax.nn.relu(g - self.theta)


# --- synaptic-activation models -------------------------------------------------------------------


class _SAModel(GLMModel):
    """Shared by the SAM models: ``s <- s (1 - dt / tau) + x dt``; ``g = r Σ W0 s_j + background + E``."""

    tau: eqx.AbstractVar[Array]
    r: eqx.AbstractVar[Array]
    b: eqx.AbstractVar[Array]

    def init(self, key: Array, n_neurons: int) -> ActivationState:
        """The reference's start: activations uniform on [0, 1)."""
        return ActivationState(jax.random.uniform(key, (n_neurons,), jnp.float32))

    def advance(self, state: ActivationState, counts: Array) -> ActivationState:
        return ActivationState(state.activation * (1.0 - self.dt / self.tau) + counts * self.dt)

    def _check_common(self, name: str):
        check_positive(f"{name}.dt", self.dt)
        check_positive(f"{name}.tau", self.tau)


class RectifiedSAM(_SAModel):
    """Rectified synaptic-activation model (spikeometric ``RectifiedSAM``):
    ``g = r Σ W0 s + b + E``, ``μ = λ0 dt [g - θ]_+``, ``x ~ Poisson(μ)``.

    Units: ``dt``, ``tau`` ms; ``λ0`` 1/ms; ``θ``, ``r``, ``b`` dimensionless. Defaults: reference tests.
    """

    lambda_0: Array = eqx.field(default=1.0861, converter=as_float)
    theta: Array = eqx.field(default=-0.0137, converter=as_float)
    tau: Array = eqx.field(default=10.0, converter=as_float)
    dt: Array = eqx.field(default=0.1, converter=as_float)
    r: Array = eqx.field(default=0.025, converter=as_float)
    b: Array = eqx.field(default=0.001, converter=as_float)
    tunable: ClassVar[tuple[str, ...]] = ("lambda_0", "theta", "tau", "r", "b")

    def __check_init__(self):
        self._check_common("RectifiedSAM")
        check_positive("RectifiedSAM.lambda_0", self.lambda_0, allow_zero=True)

    def drive(self, network: GLMNetwork, state: ActivationState, external: Array, key: Array) -> Array:
        return self.r * network.synaptic_sum(state.activation) + self.b + external

    def expected_count(self, g: Array) -> Array:
        return self.lambda_0 * self.dt * jax.nn.relu(g - self.theta)

    def emit(self, g: Array, key: Array) -> Array:
        return jax.random.poisson(key, self.expected_count(g)).astype(jnp.float32)


class ThresholdSAM(_SAModel):
    """Threshold synaptic-activation model (spikeometric ``ThresholdSAM``): ``x = [g > θ]``, with
    ``g = r Σ W0 s + b (1 + n^k m) + E``, ``n ~ N(0, σ)``, ``m ~ Bernoulli(ρ)`` drawn anew each step and
    neuron (:meth:`background`).

    ``noise_exponent`` ``k`` selects the background:

    - ``k = 2`` (default): ``b (1 + n² m)``, what spikeometric 1.0.3's code computes
      (``b*(1 + noise*filtered_noise)`` with ``filtered_noise = noise*mask``). The background never falls
      below ``b``; on an uncoupled network the default parameters fire at
      ``ρ P(|n| > sqrt(θ/b - 1)) / dt ≈ 28.3 Hz``, the reference's numbers.
    - ``k = 1``: ``b (1 + n m)``, the form the model's description states (linear, symmetric noise);
      the same parameters then fire at ``ρ P(n > θ/b - 1) / dt ≈ 72.7 Hz``.

    Not tunable by gradients (the threshold has no derivative). Units: ``dt``, ``tau`` ms; the rest
    dimensionless. Defaults: reference tests.
    """

    r: Array = eqx.field(default=0.025, converter=as_float)
    b: Array = eqx.field(default=0.001, converter=as_float)
    tau: Array = eqx.field(default=10.0, converter=as_float)
    dt: Array = eqx.field(default=0.1, converter=as_float)
    sigma: Array = eqx.field(default=0.3, converter=as_float)
    rho: Array = eqx.field(default=0.07, converter=as_float)
    theta: Array = eqx.field(default=1.378e-3, converter=as_float)
    noise_exponent: int = eqx.field(default=2, static=True)

    #: Allowed ``noise_exponent`` values: 2 (spikeometric's code, default) and 1 (the linear form).
    NOISE_EXPONENTS: ClassVar[tuple[int, ...]] = (2, 1)

    def __check_init__(self):
        self._check_common("ThresholdSAM")
        check_positive("ThresholdSAM.sigma", self.sigma, allow_zero=True)
        check_probability("ThresholdSAM.rho", self.rho)
        if isinstance(self.noise_exponent, bool) or self.noise_exponent not in self.NOISE_EXPONENTS:
            raise ValueError(f"ThresholdSAM.noise_exponent must be one of {list(self.NOISE_EXPONENTS)} "
                             f"(2: b (1 + n² m), spikeometric's code; 1: b (1 + n m)); got {self.noise_exponent!r}")

    def background(self, noise: Array, mask: Array) -> Array:
        """``b (1 + n^k m)`` for given draws ``noise`` (``n``, already scaled by ``σ``) and ``mask`` (``m``)."""
        return self.b * (1.0 + noise**self.noise_exponent * mask)

    def drive(self, network: GLMNetwork, state: ActivationState, external: Array, key: Array) -> Array:
        key_noise, key_mask = jax.random.split(key)
        n = state.activation.shape[0]
        noise = self.sigma * jax.random.normal(key_noise, (n,), jnp.float32)
        mask = jax.random.bernoulli(key_mask, self.rho, (n,)).astype(jnp.float32)
        return self.r * network.synaptic_sum(state.activation) + self.background(noise, mask) + external

    def expected_count(self, g: Array) -> Array:
        return (g > self.theta).astype(jnp.float32)

    def emit(self, g: Array, key: Array) -> Array:
        return self.expected_count(g)


MODELS: dict[str, type[GLMModel]] = {
    cls.__name__: cls for cls in (BernoulliGLM, PoissonGLM, RectifiedLNP, RectifiedSAM, ThresholdSAM)
}
