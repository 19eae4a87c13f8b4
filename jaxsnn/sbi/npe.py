"""Neural posterior estimation (NPE) with Equinox-native conditional flows, trained as an ensemble.

The flows (:mod:`jaxsnn.sbi.flows`) are a rational-quadratic spline coupling flow (``"nsf"``, the
default: alternating masks; random permutations and LU mixing as sbi's NSF on request) and a masked
autoregressive spline flow (``"maf"``). θ and x are z-scored with the training set's mean and
standard deviation; the loss is the negative log density of θ given x (maximum-likelihood NPE), and
the training loop is :func:`jaxsnn.sbi.training.train_ensemble` (a jitted ``lax.scan`` over optimizer
steps, members vmapped). An ensemble's density is the equal-weight mixture of its members.

Any simulator: :func:`train_npe` takes θ ``[N, D]`` inside a :class:`~jaxsnn.sbi.BoxPrior` and x
``[N, K]``; :meth:`Posterior.sample` draws ``n`` θ for one observation x ``[K]`` (or one θ per row of
conditions ``[N, K]``), redrawing draws outside the prior box until all are inside and reporting the
rejection rate; :meth:`Posterior.log_prob` evaluates the density; :func:`save_posterior` /
:func:`load_posterior` write and read one ``.npz`` file, parameters by key path, with the versions
that wrote it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._validation import check_int
from .flows import FlowConfig, flow_fns, init_members, make_flow, param_table, partition_flow
from .prior import BoxPrior
from .training import TrainConfig, TrainInfo, train_ensemble

POSTERIOR_FORMAT_VERSION = 3
"""Format of :func:`save_posterior` files: 3 stores the Equinox flows' parameters by key path with the
versions that wrote them (formats 1 and 2 held sbijax/haiku flows, no longer built)."""


class SamplingInfo(NamedTuple):
    """Rejection record of :meth:`Posterior.sample`: ``n_accepted`` draws kept out of ``n_drawn``;
    ``rejection_rate`` = 1 − n_accepted / n_drawn."""

    n_accepted: int
    n_drawn: int
    rejection_rate: float


@dataclass
class Posterior:
    """A trained NPE ensemble q(θ | x) over a box prior.

    flow: :class:`FlowConfig`; params: the members' flow parameters (the floating-point arrays of the
    Equinox module, :func:`jaxsnn.sbi.flows.partition_flow`) stacked ``[M, ...]``; theta_mean,
    theta_std ``[D]`` and x_mean, x_std ``[K]``: the z-scoring; prior: the box; x_names: the K
    conditioning quantities; metadata: free JSON-serialisable record (seeds, versions, training
    summary, and what a caller adds).
    """

    flow: FlowConfig
    params: Any
    theta_mean: np.ndarray
    theta_std: np.ndarray
    x_mean: np.ndarray
    x_std: np.ndarray
    prior: BoxPrior
    x_names: tuple[str, ...]
    metadata: dict = field(default_factory=dict)

    @property
    def n_members(self) -> int:
        return jax.tree_util.tree_leaves(self.params)[0].shape[0]

    @property
    def dim(self) -> int:
        """Dimension D of θ."""
        return self.prior.dim

    def _fns(self) -> tuple[Callable, Callable]:
        return _compiled(self.prior.dim, len(self.x_names), self.flow)

    def _x(self, x: Any) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, np.float64))
        if x.ndim != 2 or x.shape[-1] != len(self.x_names):
            raise ValueError(f"x must have {len(self.x_names)} columns ({list(self.x_names)}); got shape {list(x.shape)}")
        return x

    def log_prob(self, theta: Any, x: Any) -> np.ndarray:
        """Log density ``[N]`` of θ ``[N, D]`` given x ``[N, K]`` or one x ``[K]`` for all rows
        (original units), the ensemble mixture. Not truncated to the prior box."""
        theta = np.atleast_2d(np.asarray(theta, np.float64))
        if theta.shape[-1] != self.dim:
            raise ValueError(f"theta must have {self.dim} columns ({list(self.prior.names)}); got shape {list(theta.shape)}")
        x = self._x(x)
        if x.shape[0] == 1 and theta.shape[0] != 1:
            x = np.repeat(x, theta.shape[0], axis=0)
        if x.shape[0] != theta.shape[0]:
            raise ValueError(f"theta has {theta.shape[0]} rows and x {x.shape[0]}; give one x per θ or a single x")
        zt = jnp.asarray((theta - self.theta_mean) / self.theta_std, jnp.float32)
        zx = jnp.asarray((x - self.x_mean) / self.x_std, jnp.float32)
        lp = self._fns()[0](self.params, zt, zx)
        return np.asarray(lp, np.float64) - np.sum(np.log(self.theta_std))

    def draw(self, key: jax.Array, x: Any) -> np.ndarray:
        """One θ ``[N, D]`` per row of x ``[N, K]``, each from a member chosen uniformly (no rejection)."""
        x = self._x(x)
        zx = jnp.asarray((x - self.x_mean) / self.x_std, jnp.float32)
        z = self._fns()[1](self.params, key, zx)
        return np.asarray(z, np.float64) * self.theta_std + self.theta_mean

    def sample(self, key: jax.Array, x: Any, n: int | None = None, *,
               accept: Callable[[np.ndarray], np.ndarray] | None = None, max_rounds: int = 1000,
               progress: bool = False) -> tuple[np.ndarray, SamplingInfo]:
        """θ drawn from the posterior, redrawn until inside the prior box (and ``accept(θ)`` is True).

        ``sample(key, x, n)``: ``n`` draws θ ``[n, D]`` for ONE observation x ``[K]``.
        ``sample(key, x)`` with conditions x ``[N, K]``: one θ per row, ``[N, D]`` (each from a member
        chosen uniformly).

        Returns θ and a :class:`SamplingInfo` (accepted / drawn, the rejection rate to the support).
        Raises ``RuntimeError`` if some draw is still outside after ``max_rounds`` redraws.
        ``progress``: report accepted draws and the running rejection rate after every redraw.
        """
        if n is not None:
            check_int("n", n, minimum=1)
            x = np.asarray(x, np.float64)
            if x.size != len(self.x_names):
                raise ValueError(f"sample(key, x, n) draws for one observation x [{len(self.x_names)}] "
                                 f"({list(self.x_names)}); got shape {list(x.shape)}. For one θ per row of "
                                 "conditions [N, K] call sample(key, x) without n")
            x = np.repeat(x.reshape(1, -1), n, axis=0)
        elif np.ndim(x) < 2:
            raise ValueError("give the number of draws n for one observation x [K] (sample(key, x, n)), "
                             "or conditions x [N, K] for one θ per row")
        return self._sample_rows(key, self._x(x), accept, max_rounds, progress)

    def _sample_rows(self, key, x, accept, max_rounds, progress):
        from ..progress import ProgressReport

        theta = np.full((x.shape[0], self.prior.dim), np.nan)
        todo = np.arange(x.shape[0])
        n_drawn = 0
        with ProgressReport(x.shape[0], "sampling", "draws", enabled=progress, min_interval=2.0) as report:
            for i in range(max_rounds):
                # draws are padded to a power of two (at least 1024) so that the few compiled samplers are
                # reused by every redraw and call
                size = max(1024, 1 << int(np.ceil(np.log2(todo.size))))
                padded = np.concatenate([x[todo], np.repeat(x[todo[:1]], size - todo.size, axis=0)])
                draws = self.draw(jax.random.fold_in(key, i), padded)[: todo.size]
                n_drawn += todo.size
                ok = self.prior.contains(draws) & np.all(np.isfinite(draws), axis=1)
                if accept is not None:
                    ok &= np.asarray(accept(draws), bool)
                theta[todo[ok]] = draws[ok]
                todo = todo[~ok]
                n_accepted = x.shape[0] - todo.size
                report.update(int(ok.sum()), f"redraw {i + 1}, rejection rate {1.0 - n_accepted / n_drawn:.3f} "
                                             f"({n_drawn} draws)")
                if todo.size == 0:
                    return theta, SamplingInfo(x.shape[0], n_drawn, 1.0 - x.shape[0] / n_drawn)
        raise RuntimeError(f"{todo.size} of {x.shape[0]} draws were still outside the prior box after {max_rounds} "
                           "redraws; the posterior puts almost no mass there: check x against the simulations, or fit "
                           "on more simulations near it")

    def sample_intervals(self, key: jax.Array, intervals: Mapping[str, tuple[float, float]], n: int, *,
                         accept: Callable[[np.ndarray], np.ndarray] | None = None,
                         progress: bool = False) -> tuple[np.ndarray, np.ndarray, SamplingInfo]:
        """Draw x uniformly inside ``intervals`` (name -> (low, high), one per conditioning quantity),
        then one θ per x as in :meth:`sample`. Returns θ ``[n, D]``, x ``[n, K]`` and the info."""
        check_int("n", n, minimum=1)
        missing = set(self.x_names) ^ set(intervals)
        if missing:
            raise ValueError(f"intervals must name exactly the conditioning quantities {list(self.x_names)}; got {list(intervals)}")
        low = np.array([intervals[k][0] for k in self.x_names], np.float64)
        high = np.array([intervals[k][1] for k in self.x_names], np.float64)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low <= high)):
            raise ValueError(f"intervals must be finite with low <= high; got {dict(intervals)}")
        x_key, theta_key = jax.random.split(key)
        x = low + (high - low) * np.asarray(jax.random.uniform(x_key, (n, low.size)), np.float64)
        theta, info = self.sample(theta_key, x, accept=accept, progress=progress)
        return theta, x, info


@functools.lru_cache(maxsize=16)
def _template(dim: int, cond_dim: int, flow: FlowConfig) -> tuple[Any, Any]:
    """One member's parameters and the static part of the flow (shared by every member)."""
    return partition_flow(make_flow(dim, cond_dim, flow, jax.random.key(0)))


@functools.lru_cache(maxsize=16)
def _compiled(dim: int, cond_dim: int, flow: FlowConfig) -> tuple[Callable, Callable]:
    """Jitted ensemble ``log_prob(params, zθ, zx) -> [N]`` (mixture) and ``draw(params, key, zx) -> [N, D]``
    (one draw per row from a uniformly chosen member), in z-scored units."""
    log_prob_one, sample_one = flow_fns(_template(dim, cond_dim, flow)[1])

    @jax.jit
    def log_prob(params, zt, zx):
        lp = jax.vmap(lambda p: log_prob_one(p, zt, zx))(params)
        return jax.scipy.special.logsumexp(lp, axis=0) - jnp.log(lp.shape[0])

    @jax.jit
    def draw(params, key, zx):
        n_members = jax.tree_util.tree_leaves(params)[0].shape[0]
        member_key, sample_key = jax.random.split(key)
        member = jax.random.randint(member_key, (zx.shape[0],), 0, n_members)
        keys = jax.random.split(sample_key, n_members)
        draws = jax.vmap(lambda p, k: sample_one(p, k, zx))(params, keys)
        return draws[member, jnp.arange(zx.shape[0])]

    return log_prob, draw


def _zscore_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = values.mean(axis=0)
    std = values.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


def train_npe(
    theta: Any,
    x: Any,
    prior: BoxPrior,
    *,
    x_names: Sequence[str] | None = None,
    flow: FlowConfig = FlowConfig(),
    n_members: int = 1,
    train: TrainConfig = TrainConfig(),
    seed: int = 0,
    progress: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> tuple[Posterior, TrainInfo]:
    """Fit an ensemble of ``n_members`` conditional flows q(θ | x) by maximum likelihood.

    Args:
        theta: ``[N, D]`` parameters drawn from ``prior`` (D = prior.dim).
        x: ``[N, K]`` (or ``[N]``) simulator outputs, finite (drop failed simulations first).
        prior: the :class:`BoxPrior` (its box is the support the draws are restricted to).
        x_names: names of the K columns of x (default ``x0`` … ``x{K−1}``).
        flow, train: the :class:`FlowConfig` and :class:`TrainConfig` (defaults: the masked
            autoregressive spline flow, batch 1000, Adam 5e-4, 10 % validation, patience 20).
        n_members: ensemble size (the fSBI original used 10).
        seed: initialisation, validation split and minibatch order.
        progress: print training progress.
        metadata: extra JSON-serialisable record stored with the posterior.
    Returns:
        the :class:`Posterior` and the :class:`TrainInfo`.
    """
    check_int("n_members", n_members, minimum=1)
    if not isinstance(prior, BoxPrior):
        raise TypeError(f"prior must be a jaxsnn.sbi.BoxPrior (jaxsnn.sbi.box_prior(low, high)); got {type(prior).__name__}")
    theta = np.asarray(theta, np.float64)
    x = np.asarray(x, np.float64)
    x = x[:, None] if x.ndim == 1 else x
    if theta.ndim != 2 or theta.shape[1] != prior.dim:
        raise ValueError(f"theta must have shape [N, {prior.dim}] (the prior's dimension); got {list(theta.shape)}")
    if x.ndim != 2 or x.shape[0] != theta.shape[0]:
        raise ValueError(f"x must have shape [{theta.shape[0]}, K] (one row per θ); got {list(x.shape)}")
    x_names = tuple(f"x{i}" for i in range(x.shape[1])) if x_names is None else tuple(x_names)
    if len(x_names) != x.shape[1]:
        raise ValueError(f"x_names must name the {x.shape[1]} columns of x; got {len(x_names)} names")
    if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(x))):
        raise ValueError("theta and x must be finite (drop failed or blown-up simulations before training)")
    theta_mean, theta_std = _zscore_stats(theta)
    x_mean, x_std = _zscore_stats(x)
    zt = (theta - theta_mean) / theta_std
    zx = (x - x_mean) / x_std
    key = jax.random.key(seed)
    init_key, train_key = jax.random.split(key)
    params, static = init_members(prior.dim, x.shape[1], flow, init_key, n_members)
    log_prob_one, _ = flow_fns(static)

    def loss(p, batch):
        return -jnp.mean(log_prob_one(p, batch["theta"], batch["x"]))

    params, info = train_ensemble(loss, params, {"theta": zt, "x": zx}, train, train_key, progress=progress,
                                  label=f"NPE ({n_members} {flow.kind} flow{'s' if n_members > 1 else ''}, {theta.shape[0]} samples)")
    record = {"n_samples": int(theta.shape[0]), "seed": int(seed), "n_members": int(n_members),
              "train": asdict(train), "epochs": info.epochs.tolist(), "best_val_loss": info.best_val_loss.tolist(),
              "train_wall_s": round(info.wall_s, 2), "versions": _versions()}
    record.update(metadata or {})
    posterior = Posterior(flow, params, theta_mean, theta_std, x_mean, x_std, prior, x_names, record)
    return posterior, info


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    from .. import __version__ as jaxsnn_version

    return {"jaxsnn": jaxsnn_version, "jax": jax.__version__, "equinox": version("equinox"),
            "flowjax": version("flowjax"), "paramax": version("paramax")}


def save_posterior(path: str | Path, posterior: Posterior) -> Path:
    """Write ``posterior`` to one ``.npz`` file.

    The flow parameters are stored by key path (e.g. ``.bijection.bijection.bijection.bijections[0].conditioner
    .layers[0].weight``, arrays ``[M, ...]`` for the M members), listed in a JSON header with the flow
    configuration, the prior box, the conditioning names, the metadata and the versions of jaxsnn,
    JAX, Equinox, flowjax and paramax that wrote the file; :func:`load_posterior` checks the key paths
    and shapes against the flow it builds and refuses a file of another layout with an error that names
    the difference.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = jax.tree_util.tree_flatten_with_path(posterior.params)[0]
    header = {
        "format_version": POSTERIOR_FORMAT_VERSION,
        "versions": _versions(),
        "flow": asdict(posterior.flow),
        "prior": {"low": posterior.prior.low.tolist(), "high": posterior.prior.high.tolist(),
                  "names": list(posterior.prior.names)},
        "x_names": list(posterior.x_names),
        "n_members": posterior.n_members,
        "params": [{"key_path": jax.tree_util.keystr(key_path), "array": f"param_{i}",
                    "shape": list(np.shape(leaf)), "dtype": str(np.asarray(leaf).dtype)}
                   for i, (key_path, leaf) in enumerate(flat)],
        "metadata": posterior.metadata,
    }
    arrays = {f"param_{i}": np.asarray(leaf) for i, (_, leaf) in enumerate(flat)}
    with open(path, "wb") as f:
        np.savez(f, header=np.array(json.dumps(header)), theta_mean=posterior.theta_mean, theta_std=posterior.theta_std,
                 x_mean=posterior.x_mean, x_std=posterior.x_std, **arrays)
    return path


def _layout_error(path: Path, header: dict, expected: dict, found: dict, flow: FlowConfig, dims: tuple[int, int]) -> ValueError:
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [f"{k}: {list(found[k][0])} in the file, {list(expected[k][0])} here" for k in sorted(set(expected) & set(found))
              if tuple(found[k][0]) != tuple(expected[k][0])]
    parts = [f"missing {missing[:5]}{' …' if len(missing) > 5 else ''}" if missing else "",
             f"unexpected {unexpected[:5]}{' …' if len(unexpected) > 5 else ''}" if unexpected else "",
             f"other shapes: {'; '.join(shapes[:5])}" if shapes else ""]
    written = header.get("versions") or header.get("metadata", {}).get("versions") or "unknown versions"
    return ValueError(
        f"{path}: the posterior's flow parameters do not fit the flow this installation builds for its configuration "
        f"({flow}, θ {dims[0]}-D, x {dims[1]}-D): " + ", ".join(p for p in parts if p)
        + f". The file was written by {written}; this is {_versions()}. Load it with the versions that wrote it, "
        "or fit the posterior again here (jaxsnn fit, or jaxsnn.sbi.train_npe).")


def load_posterior(path: str | Path) -> Posterior:
    """Read a posterior written by :func:`save_posterior` (format 3: Equinox flows, parameters by key path).

    Raises ``ValueError`` naming the differing parameters and the versions that wrote the file when
    its flow parameters do not fit the flow this installation builds (another flow configuration or
    another flowjax layout), and for files of formats 1 and 2 (sbijax/haiku flows, which jaxsnn no
    longer builds: fit those posteriors again).
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"posterior file {path} does not exist (write one with jaxsnn fit or save_posterior)")
    try:
        with np.load(path, allow_pickle=False) as f:
            header = json.loads(str(f["header"]))
            arrays = {k: np.asarray(f[k]) for k in f.files if k != "header"}
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"{path} is not a posterior written by jaxsnn.sbi.save_posterior ({error})") from None
    version = header.get("format_version")
    if version in (1, 2):
        raise ValueError(f"{path}: posterior format {version} holds an sbijax/haiku flow (kind "
                         f"{header.get('flow', {}).get('kind')!r}, written by {header.get('versions', 'an older jaxsnn')}), "
                         f"which this jaxsnn no longer builds (format {POSTERIOR_FORMAT_VERSION}: Equinox flows); fit the "
                         "posterior again on the same simulations (jaxsnn fit, or jaxsnn.sbi.train_npe), or load it "
                         "with the jaxsnn that wrote it")
    if version != POSTERIOR_FORMAT_VERSION:
        raise ValueError(f"{path}: posterior format version {version} is not one this jaxsnn reads "
                         f"({POSTERIOR_FORMAT_VERSION}); it was written by {header.get('versions', 'a newer jaxsnn')}")
    prior = BoxPrior(np.asarray(header["prior"]["low"]), np.asarray(header["prior"]["high"]), tuple(header["prior"]["names"]))
    # fields added after format 3 was introduced take the value that files written before them were built with
    flow = FlowConfig(**{"permutation": "random", **header["flow"]})
    dims = (prior.dim, len(header["x_names"]))
    probe = _template(dims[0], dims[1], flow)[0]
    expected = param_table(probe, member_axis=False)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(probe)[0]]
    n_members = int(header["n_members"])
    by_path = {entry["key_path"]: arrays[entry["array"]] for entry in header["params"]}
    found = {k: (a.shape[1:], str(a.dtype)) for k, a in by_path.items()}
    if set(found) != set(expected) or any(tuple(found[k][0]) != tuple(expected[k][0]) for k in expected):
        raise _layout_error(path, header, expected, found, flow, dims)
    if any(a.shape[0] != n_members for a in by_path.values()):
        raise ValueError(f"{path}: parameter arrays do not all have the {n_members} members the header names; the file is damaged")
    treedef = jax.tree_util.tree_structure(probe)
    params = jax.tree_util.tree_unflatten(treedef, [jnp.asarray(by_path[k]) for k in paths])
    return Posterior(flow, params, arrays["theta_mean"], arrays["theta_std"], arrays["x_mean"], arrays["x_std"],
                     prior, tuple(header["x_names"]), header["metadata"])
