"""Box priors over rule parameters θ as numpyro distributions.

A :class:`BoxPrior` is a uniform box ``[low, high]`` (one interval per coordinate). It carries the
numpyro distribution (``Uniform(low, high).to_event(1)``) for density evaluation and sampling, and
the membership test used to reject posterior draws outside the box. The fSBI posteriors are fitted
over θ without r_ext (the last entry, a nuisance parameter), so the built-in priors come with or
without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from .._validation import check_int
from ..family import get_family


@dataclass(frozen=True)
class BoxPrior:
    """Uniform prior on the box ``[low, high]``, ``low``/``high`` float64 ``[D]`` with low < high.

    ``names``: one label per coordinate (for tables and plots).
    """

    low: np.ndarray
    high: np.ndarray
    names: tuple[str, ...]

    def __post_init__(self):
        low = np.asarray(self.low, np.float64)
        high = np.asarray(self.high, np.float64)
        if low.ndim != 1 or low.shape != high.shape or low.size == 0:
            raise ValueError(f"prior bounds must be two 1-D arrays of one shape; got {low.shape} and {high.shape}")
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low < high)):
            raise ValueError("prior bounds must be finite with low < high in every coordinate")
        if len(self.names) != low.size:
            raise ValueError(f"names must have {low.size} entries; got {len(self.names)}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "names", tuple(self.names))

    @property
    def dim(self) -> int:
        """Number of coordinates D."""
        return self.low.size

    @property
    def distribution(self) -> dist.Distribution:
        """The numpyro distribution ``Uniform(low, high).to_event(1)`` (event shape ``[D]``)."""
        return dist.Uniform(jnp.asarray(self.low, jnp.float32), jnp.asarray(self.high, jnp.float32)).to_event(1)

    def sample(self, key: jax.Array, n: int) -> np.ndarray:
        """``n`` draws ``[n, D]`` (float64) from the box, deterministic in ``key``."""
        check_int("n", n, minimum=1)
        u = np.asarray(jax.random.uniform(key, (n, self.dim)), np.float64)
        return self.low + (self.high - self.low) * u

    def log_prob(self, theta: np.ndarray) -> np.ndarray:
        """Log density ``[N]`` of θ ``[N, D]``: −Σ log(high − low) inside the box, −inf outside."""
        theta = np.atleast_2d(np.asarray(theta, np.float64))
        inside = self.contains(theta)
        return np.where(inside, -np.sum(np.log(self.high - self.low)), -np.inf)

    def contains(self, theta: np.ndarray) -> np.ndarray:
        """``[N]`` bool: rows of θ ``[N, D]`` inside the box (bounds inclusive)."""
        theta = np.atleast_2d(np.asarray(theta, np.float64))
        if theta.shape[-1] != self.dim:
            raise ValueError(f"theta must have {self.dim} columns; got shape {list(theta.shape)}")
        return np.all((theta >= self.low) & (theta <= self.high), axis=-1)


def box_prior(low, high, names: tuple[str, ...] | None = None) -> BoxPrior:
    """Any box prior: bounds ``low``, ``high`` ``[D]``; ``names`` default θ0 … θ{D−1}."""
    low = np.asarray(low, np.float64)
    return BoxPrior(low, np.asarray(high, np.float64), tuple(names) if names is not None else tuple(f"θ{i}" for i in range(low.size)))


def theta_names(task: str) -> tuple[str, ...]:
    """Labels of the inferred θ entries of rule family ``task`` (fSBI: without r_ext), in θ's order
    (:attr:`jaxsnn.RuleFamily.parameters`)."""
    return get_family(task, what="task").prior(nuisance=False).names


def fsbi_prior(task: str = "polynomial", *, with_r_ext: bool = False) -> BoxPrior:
    """The prior box of rule family ``task`` (docs/models/fsbi.md, "Prior and filtering rounds"): polynomial 24-D (25 with r_ext), MLP 22-D (23 with
    r_ext); :meth:`jaxsnn.RuleFamily.prior` with or without its nuisance parameters."""
    return get_family(task, what="task").prior(nuisance=with_r_ext)


def polynomial_prior(*, with_r_ext: bool = False) -> BoxPrior:
    """The polynomial-rule prior: τ_pre, τ_post ∈ [0.01, 0.1] s, α, β, γ, κ ∈ [−2, 2] per projection."""
    return fsbi_prior("polynomial", with_r_ext=with_r_ext)


def mlp_prior(*, with_r_ext: bool = False) -> BoxPrior:
    """The MLP-rule prior: η_EE, η_IE ∈ [0, 1], 20 last-layer weights ∈ [−1, 1]."""
    return fsbi_prior("mlp", with_r_ext=with_r_ext)
