"""Neural posterior estimation (NPE) with sbijax's conditional flows, trained as an ensemble.

The flows are sbijax's: a rational-quadratic spline coupling flow (``sbijax.nn.make_spf``, as the
original's neural spline flow: 5 transforms, 50 hidden units, 10 bins) or an affine masked
autoregressive flow (``sbijax.nn.make_maf``). θ and x are z-scored with the training set's mean and
standard deviation; the loss is the negative log density of θ given x (the maximum-likelihood NPE
loss of sbijax's ``npe``), and the training loop is :func:`jaxsnn.sbi.training.train_ensemble`
(a jitted ``lax.scan`` over optimizer steps, members vmapped). An ensemble's density is the equal-
weight mixture of its members.

Sampling follows the original: condition values x are drawn uniformly from target intervals, one θ
per value from a member chosen uniformly; draws outside the prior box (or rejected by an optional
extra test such as the restriction classifier) are redrawn until every one is inside, and the
rejection rate is reported.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from .._validation import check_choice, check_int, check_positive
from .prior import BoxPrior
from .training import TrainConfig, TrainInfo, train_ensemble

POSTERIOR_FORMAT_VERSION = 2
"""Format of :func:`save_posterior` files: 2 stores parameters by key path with the versions that wrote them."""


@dataclass(frozen=True)
class FlowConfig:
    """Conditional density estimator.

    ``kind``: ``"spline"`` (rational-quadratic spline coupling flow, the original's choice) or
    ``"maf"`` (affine masked autoregressive flow); ``n_transforms`` flow layers, each conditioner an
    MLP with two hidden layers of ``hidden`` units; ``n_bins`` spline bins on
    [−``spline_range``, ``spline_range``] in z-scored units (identity outside).
    """

    kind: str = "spline"
    n_transforms: int = 5
    hidden: int = 50
    n_bins: int = 10
    spline_range: float = 5.0

    def __post_init__(self):
        check_choice("kind", self.kind, ("spline", "maf"))
        check_int("n_transforms", self.n_transforms, minimum=1)
        check_int("hidden", self.hidden, minimum=1)
        check_int("n_bins", self.n_bins, minimum=2)
        check_positive("spline_range", self.spline_range)


def make_flow(dim: int, config: FlowConfig) -> hk.Transformed:
    """The sbijax flow over ``dim``-D θ (methods ``log_prob(y=θ, x=x)`` and ``sample(sample_shape, x=x)``)."""
    from sbijax.nn import make_maf, make_spf

    if config.kind == "spline":
        if dim < 2:
            raise ValueError("the spline coupling flow needs θ of at least 2 dimensions; use kind='maf' for 1-D θ")
        return make_spf(dim, -config.spline_range, config.spline_range, n_layers=config.n_transforms,
                        hidden_sizes=(config.hidden, config.hidden), n_params=3 * config.n_bins + 1)
    return make_maf(dim, n_layers=config.n_transforms, hidden_sizes=(config.hidden, config.hidden))


class SamplingInfo(NamedTuple):
    """Rejection record of :meth:`Posterior.sample`: ``n_accepted`` draws kept out of ``n_drawn``;
    ``rejection_rate`` = 1 − n_accepted / n_drawn."""

    n_accepted: int
    n_drawn: int
    rejection_rate: float


@dataclass
class Posterior:
    """A trained NPE ensemble q(θ | x) over a box prior.

    flow: :class:`FlowConfig`; params: the members' haiku parameters stacked ``[M, ...]``;
    theta_mean, theta_std ``[D]`` and x_mean, x_std ``[K]``: the z-scoring; prior: the box;
    x_names: the K conditioning metrics; metadata: free JSON-serialisable record (rounds, seeds,
    versions, training summary).
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


    def _x(self, x: Any) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, np.float64))
        if x.shape[-1] != len(self.x_names):
            raise ValueError(f"x must have {len(self.x_names)} columns ({list(self.x_names)}); got shape {list(x.shape)}")
        return x

    def log_prob(self, theta: Any, x: Any) -> np.ndarray:
        """Log density ``[N]`` of θ ``[N, D]`` given x ``[N, K]`` (original units), the ensemble mixture."""
        theta = np.atleast_2d(np.asarray(theta, np.float64))
        x = self._x(x)
        zt = jnp.asarray((theta - self.theta_mean) / self.theta_std, jnp.float32)
        zx = jnp.asarray((x - self.x_mean) / self.x_std, jnp.float32)
        lp = _compiled(self.prior.dim, self.flow)[0](self.params, zt, zx)
        return np.asarray(lp, np.float64) - np.sum(np.log(self.theta_std))

    def draw(self, key: jax.Array, x: Any) -> np.ndarray:
        """One θ ``[N, D]`` per row of x ``[N, K]``, each from a member chosen uniformly (no rejection)."""
        x = self._x(x)
        zx = jnp.asarray((x - self.x_mean) / self.x_std, jnp.float32)
        z = _compiled(self.prior.dim, self.flow)[1](self.params, key, zx)
        return np.asarray(z, np.float64) * self.theta_std + self.theta_mean

    def sample(self, key: jax.Array, x: Any, *, accept: Callable[[np.ndarray], np.ndarray] | None = None,
               max_rounds: int = 1000, progress: bool = False) -> tuple[np.ndarray, SamplingInfo]:
        """One θ per row of x ``[N, K]``, redrawn until inside the prior box (and ``accept(θ)`` is True).

        Returns θ ``[N, D]`` and a :class:`SamplingInfo`. Raises ``RuntimeError`` if some row has no
        accepted draw after ``max_rounds`` redraws. ``progress``: report accepted draws and the running
        rejection rate after every redraw (:class:`jaxsnn.progress.ProgressReport`).
        """
        from ..progress import ProgressReport

        x = self._x(x)
        theta = np.full((x.shape[0], self.prior.dim), np.nan)
        todo = np.arange(x.shape[0])
        n_drawn = 0
        with ProgressReport(x.shape[0], "sampling", "rules", enabled=progress, min_interval=2.0) as report:
            for i in range(max_rounds):
                # draws are padded to a power of two (at least 1024) so that the few compiled samplers are
                # reused by every redraw and call
                size = max(1024, 1 << int(np.ceil(np.log2(todo.size))))
                padded = np.concatenate([x[todo], np.repeat(x[todo[:1]], size - todo.size, axis=0)])
                draws = self.draw(jax.random.fold_in(key, i), padded)[: todo.size]
                n_drawn += todo.size
                ok = self.prior.contains(draws)
                if accept is not None:
                    ok &= np.asarray(accept(draws), bool)
                theta[todo[ok]] = draws[ok]
                todo = todo[~ok]
                n_accepted = x.shape[0] - todo.size
                report.update(int(ok.sum()), f"redraw {i + 1}, rejection rate {1.0 - n_accepted / n_drawn:.3f} "
                                             f"({n_drawn} draws)")
                if todo.size == 0:
                    return theta, SamplingInfo(x.shape[0], n_drawn, 1.0 - x.shape[0] / n_drawn)
        raise RuntimeError(f"{todo.size} of {x.shape[0]} conditions had no accepted draw inside the prior box after "
                           f"{max_rounds} redraws; the posterior puts almost no mass there: widen the intervals or fit "
                           "on more simulations near them")

    def sample_intervals(self, key: jax.Array, intervals: Mapping[str, tuple[float, float]], n: int, *,
                         accept: Callable[[np.ndarray], np.ndarray] | None = None,
                         progress: bool = False) -> tuple[np.ndarray, np.ndarray, SamplingInfo]:
        """Draw x uniformly inside ``intervals`` (metric -> (low, high), one per conditioning metric),
        then one θ per x as in :meth:`sample`. Returns θ ``[n, D]``, x ``[n, K]`` and the info."""
        check_int("n", n, minimum=1)
        missing = set(self.x_names) ^ set(intervals)
        if missing:
            raise ValueError(f"intervals must name exactly the conditioning metrics {list(self.x_names)}; got {list(intervals)}")
        low = np.array([intervals[k][0] for k in self.x_names], np.float64)
        high = np.array([intervals[k][1] for k in self.x_names], np.float64)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low <= high)):
            raise ValueError(f"intervals must be finite with low <= high; got {dict(intervals)}")
        x_key, theta_key = jax.random.split(key)
        x = low + (high - low) * np.asarray(jax.random.uniform(x_key, (n, low.size)), np.float64)
        theta, info = self.sample(theta_key, x, accept=accept, progress=progress)
        return theta, x, info


@functools.lru_cache(maxsize=16)
def _compiled(dim: int, flow: FlowConfig) -> tuple[Callable, Callable]:
    """Jitted ensemble ``log_prob(params, zθ, zx) -> [N]`` (mixture) and ``draw(params, key, zx) -> [N, D]``
    (one draw per row from a uniformly chosen member), in z-scored units."""
    net = make_flow(dim, flow)

    @jax.jit
    def log_prob(params, zt, zx):
        lp = jax.vmap(lambda p: net.apply(p, None, method="log_prob", y=zt, x=zx))(params)
        return jax.scipy.special.logsumexp(lp, axis=0) - jnp.log(lp.shape[0])

    @jax.jit
    def draw(params, key, zx):
        n_members = jax.tree_util.tree_leaves(params)[0].shape[0]
        member_key, sample_key = jax.random.split(key)
        member = jax.random.randint(member_key, (zx.shape[0],), 0, n_members)
        keys = jax.random.split(sample_key, n_members)
        draws = jax.vmap(lambda p, k: net.apply(p, k, method="sample", sample_shape=(zx.shape[0],), x=zx))(params, keys)
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
    x_names: Sequence[str],
    flow: FlowConfig = FlowConfig(),
    n_members: int = 1,
    train: TrainConfig = TrainConfig(),
    seed: int = 0,
    progress: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> tuple[Posterior, TrainInfo]:
    """Fit an ensemble of ``n_members`` conditional flows q(θ | x) by maximum likelihood.

    Args:
        theta: ``[N, D]`` parameters (inside ``prior``'s box, D = prior.dim).
        x: ``[N, K]`` simulated metrics, finite (drop blown-up runs first).
        prior: the :class:`BoxPrior` (bounds for sampling).
        x_names: the K metric names.
        flow, train: the :class:`FlowConfig` and :class:`TrainConfig` (defaults: the original's spline
            flow, batch 1000, Adam 5e-4, 10 % validation, patience 20).
        n_members: ensemble size (the original used 10).
        seed: initialisation, validation split and minibatch order.
        progress: print training progress.
        metadata: extra JSON-serialisable record stored with the posterior.
    Returns:
        the :class:`Posterior` and the :class:`TrainInfo`.
    """
    check_int("n_members", n_members, minimum=1)
    theta = np.asarray(theta, np.float64)
    x = np.asarray(x, np.float64)
    x = x[:, None] if x.ndim == 1 else x
    if theta.ndim != 2 or theta.shape[1] != prior.dim:
        raise ValueError(f"theta must have shape [N, {prior.dim}]; got {list(theta.shape)}")
    if x.ndim != 2 or x.shape[0] != theta.shape[0] or x.shape[1] != len(x_names):
        raise ValueError(f"x must have shape [{theta.shape[0]}, {len(x_names)}] (one column per x_names); got {list(x.shape)}")
    if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(x))):
        raise ValueError("theta and x must be finite (drop blown-up simulations before training)")
    theta_mean, theta_std = _zscore_stats(theta)
    x_mean, x_std = _zscore_stats(x)
    zt = (theta - theta_mean) / theta_std
    zx = (x - x_mean) / x_std
    net = make_flow(prior.dim, flow)
    key = jax.random.key(seed)
    init_key, train_key = jax.random.split(key)
    probe_t = jnp.asarray(zt[:2], jnp.float32)
    probe_x = jnp.asarray(zx[:2], jnp.float32)
    params = jax.vmap(lambda k: net.init(k, method="log_prob", y=probe_t, x=probe_x))(jax.random.split(init_key, n_members))

    def loss(p, batch):
        return -jnp.mean(net.apply(p, None, method="log_prob", y=batch["theta"], x=batch["x"]))

    params, info = train_ensemble(loss, params, {"theta": zt, "x": zx}, train, train_key, progress=progress,
                                  label=f"NPE ({n_members} {flow.kind} flow{'s' if n_members > 1 else ''}, {theta.shape[0]} samples)")
    record = {"n_samples": int(theta.shape[0]), "seed": int(seed), "n_members": int(n_members),
              "train": asdict(train), "epochs": info.epochs.tolist(), "best_val_loss": info.best_val_loss.tolist(),
              "train_wall_s": round(info.wall_s, 2), "versions": _versions()}
    record.update(metadata or {})
    posterior = Posterior(flow, params, theta_mean, theta_std, x_mean, x_std, prior, tuple(x_names), record)
    return posterior, info


def _versions() -> dict[str, str]:
    import numpyro
    import sbijax

    from .. import __version__ as jaxsnn_version

    return {"jaxsnn": jaxsnn_version, "jax": jax.__version__, "sbijax": sbijax.__version__,
            "numpyro": numpyro.__version__, "haiku": hk.__version__}


def _param_table(params: Any, member_axis: bool) -> dict[str, tuple[tuple[int, ...], str]]:
    """Key path -> (shape, dtype) of every parameter array (shape without the member axis ``[M]``)."""
    table = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        shape = tuple(np.shape(leaf))[1:] if member_axis else tuple(np.shape(leaf))
        table[jax.tree_util.keystr(path)] = (shape, str(np.asarray(leaf).dtype))
    return table


def save_posterior(path: str | Path, posterior: Posterior) -> Path:
    """Write ``posterior`` to one ``.npz`` file.

    The flow parameters are stored by key path (e.g. ``['made/~/masked_linear']['w']``, arrays
    ``[M, ...]`` for the M members), listed in a JSON header with the flow configuration, the prior box,
    the conditioning metrics, the metadata and the versions of jaxsnn, JAX, sbijax, haiku and numpyro
    that wrote the file; :func:`load_posterior` checks the key paths and shapes against the flow it
    builds and refuses a file of another layout with an error that names the difference.
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
    """Read a posterior written by :func:`save_posterior` (format 2, parameters by key path; files of
    format 1, parameters by position, are read when their shapes fit).

    Raises ``ValueError`` naming the differing parameters and the versions that wrote the file when
    its flow parameters do not fit the flow this installation builds (another flow configuration or
    another sbijax/haiku layout).
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
    if version not in (1, POSTERIOR_FORMAT_VERSION):
        raise ValueError(f"{path}: posterior format version {version} is not one this jaxsnn reads "
                         f"(1, {POSTERIOR_FORMAT_VERSION}); it was written by {header.get('versions', 'a newer jaxsnn')}")
    prior = BoxPrior(np.asarray(header["prior"]["low"]), np.asarray(header["prior"]["high"]), tuple(header["prior"]["names"]))
    flow = FlowConfig(**header["flow"])
    dims = (prior.dim, len(header["x_names"]))
    net = make_flow(prior.dim, flow)
    probe = net.init(jax.random.key(0), method="log_prob", y=jnp.zeros((2, dims[0])), x=jnp.zeros((2, dims[1])))
    expected = _param_table(probe, member_axis=False)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(probe)[0]]
    n_members = int(header["n_members"])
    if version == 1:  # parameters by position: pair them with this flow's key paths where the count fits
        found_arrays = [arrays[f"param_{i}"] for i in range(sum(k.startswith("param_") for k in arrays))]
        found = ({k: (a.shape[1:], str(a.dtype)) for k, a in zip(paths, found_arrays)} if len(found_arrays) == len(paths)
                 else {f"param_{i}": (a.shape[1:], str(a.dtype)) for i, a in enumerate(found_arrays)})
        by_path = dict(zip(paths, found_arrays))
    else:
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
