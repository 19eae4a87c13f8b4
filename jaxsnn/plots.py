"""Figures (matplotlib, written to files; no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .analysis import population_rate  # noqa: E402


def raster(path: str | Path, populations: dict[str, tuple[np.ndarray, np.ndarray]], *, t_max: float | None = None,
           title: str = "") -> Path:
    """Raster plot. ``populations`` maps a name to (spike times in s, neuron ids); populations are
    stacked upwards in the given order."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    offset = 0
    for (name, (times, ids)), color in zip(populations.items(), ["tab:red", "tab:blue", "tab:green", "tab:purple"]):
        sel = times <= t_max if t_max is not None else slice(None)
        ax.scatter(times[sel], ids[sel] + offset, s=0.3, color=color, label=name, rasterized=True)
        offset += int(ids.max()) + 1 if ids.size else 0
    ax.set_xlabel("time (s)")
    ax.set_ylabel("neuron")
    ax.set_title(title)
    ax.legend(loc="upper right", markerscale=20)
    return _save(fig, path)


def rate_trace(path: str | Path, populations: dict[str, tuple[np.ndarray, int]], duration: float, *,
               bin_width: float = 5e-3, title: str = "", t_start: float = 0.0) -> Path:
    """Population rate over [t_start, duration) (s). ``populations`` maps a name to (spike times in s,
    number of neurons)."""
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for name, (times, n) in populations.items():
        t, rate = population_rate(np.asarray(times) - t_start, n, duration - t_start, bin_width)
        ax.plot(t + t_start, rate, lw=0.8, label=name)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"rate (Hz, {bin_width * 1e3:g} ms bins)")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def weight_traces(path: str | Path, weights: dict[str, tuple[np.ndarray, np.ndarray]], *, title: str = "") -> Path:
    """Monitored weights over time, one panel per projection: every monitored synapse (thin) and their
    mean (thick). ``weights`` maps a projection name to (sample times ``[S]`` in s, values
    ``[S, n_monitored]``)."""
    fig, axes = plt.subplots(len(weights), 1, figsize=(9, 1.8 * len(weights) + 0.6), sharex=True, squeeze=False)
    for ax, (name, (times, values)) in zip(axes[:, 0], weights.items()):
        ax.plot(times, values, lw=0.3, color="0.7")
        ax.plot(times, values.mean(axis=1), lw=1.5, color="tab:red", label="mean")
        ax.set_ylabel(f"w {name.upper()}")
    axes[0, 0].set_title(title)
    axes[0, 0].legend(loc="upper right")
    axes[-1, 0].set_xlabel("time (s)")
    return _save(fig, path)


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
