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
               bin_width: float = 5e-3, title: str = "") -> Path:
    """Population rate over time. ``populations`` maps a name to (spike times in s, number of neurons)."""
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for name, (times, n) in populations.items():
        t, rate = population_rate(times, n, duration, bin_width)
        ax.plot(t, rate, lw=0.8, label=name)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"rate (Hz, {bin_width * 1e3:g} ms bins)")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
