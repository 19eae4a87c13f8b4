"""Progress of long steps that fits where it runs.

On a terminal, a live bar (tqdm) rewritten in place; in a log file, a pipe or a batch job (stderr is
not a terminal), one plain line per update, so a log holds one line per chunk, epoch block or redraw
and nothing else. Every long step of jaxsnn reports through :class:`ProgressReport`: sweeps (one update
per chunk), NPE training (one per compiled block of epochs) and posterior sampling with rejection (one
per redraw).
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is an interactive terminal (a live bar fits there, not in a log file)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def format_duration(seconds: float) -> str:
    """``seconds`` as ``1h02m03s`` / ``2m03s``; ``?`` when not finite."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s" if hours else f"{rest // 60}m{rest % 60:02d}s"


class ProgressReport:
    """Progress of one long step: ``update(n, message)`` after each piece of work.

    Args:
        total: the amount of work (e.g. rules, epochs); ``None`` when unknown.
        desc: what runs, the first word of every line (e.g. ``"sweep"``, ``"NPE"``).
        unit: the unit of ``total`` (e.g. ``"rules"``, ``"epochs"``).
        enabled: False reports nothing (``quiet``).
        stream: where to report (default ``sys.stderr``).
        live: a live bar (True) or one line per update (False); default: live on a terminal.
        initial: work already done before this report started (a resumed sweep).
        min_interval: seconds between two plain lines (updates in between are counted, not printed; the
            line that completes ``total`` is always printed); 0 prints every update.

    :meth:`update` returns the plain line (also when the bar is live or reporting is off), so callers
    and tests can read what was reported.
    """

    def __init__(self, total: int | None, desc: str, unit: str = "it", *, enabled: bool = True,
                 stream: TextIO | None = None, live: bool | None = None, initial: int = 0,
                 min_interval: float = 0.0):
        if total is not None and total < 0:
            raise ValueError(f"total must be >= 0 or None; got {total}")
        if not min_interval >= 0:
            raise ValueError(f"min_interval must be >= 0 s; got {min_interval}")
        self.min_interval = min_interval
        self._last_line = -math.inf
        self.total, self.desc, self.unit, self.enabled = total, desc, unit, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.done = initial
        self.new = 0
        self.start = time.perf_counter()
        self.live = is_terminal(self.stream) if live is None else live
        self._bar = None
        if self.enabled and self.live:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=f" {unit}", file=self.stream,
                             dynamic_ncols=True, leave=True)

    def line(self, message: str = "") -> str:
        """The plain report line: done/total (percent), rate, elapsed, ETA and ``message``."""
        elapsed = time.perf_counter() - self.start
        rate = self.new / elapsed if elapsed > 0 else float("inf")
        if self.total:
            head = f"{self.done}/{self.total} {self.unit} ({100 * self.done / self.total:.1f} %)"
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            tail = f" | {format_duration(elapsed)} elapsed, ETA {format_duration(eta)}"
        else:
            head, tail = f"{self.done} {self.unit}", f" | {format_duration(elapsed)} elapsed"
        return f"{self.desc}: {head}" + (f" | {message}" if message else "") + tail

    def update(self, n: int = 1, message: str = "") -> str:
        """Count ``n`` more units of work and report; returns the plain line."""
        self.done += n
        self.new += n
        text = self.line(message)
        if not self.enabled:
            return text
        if self._bar is not None:
            if message:
                self._bar.set_postfix_str(message, refresh=False)
            self._bar.update(n)
        else:
            now = time.perf_counter()
            finished = self.total is not None and self.done >= self.total
            if finished or now - self._last_line >= self.min_interval:
                print(text, file=self.stream, flush=True)
                self._last_line = now
        return text

    def close(self) -> None:
        """End a live bar (a plain report needs no ending)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressReport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["ProgressReport", "format_duration", "is_terminal"]
