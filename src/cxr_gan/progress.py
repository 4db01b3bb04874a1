"""Periodic progress lines (count, rate, ETA) for long loops, without a terminal-only progress bar.

Log lines work the same in a terminal, a log file, CI and kedro-viz's run output.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass


class ProgressLog:
    """Log `what: i/total (rate/s, ETA)` at most every `every_seconds`, and always at the end."""

    def __init__(
        self,
        total: int,
        what: str,
        logger: logging.Logger,
        every_seconds: float = 10.0,
        unit: str = "items",
    ) -> None:
        self.total, self.what, self.logger = total, what, logger
        self.every_seconds, self.unit = every_seconds, unit
        self.done = 0
        self.started = self._last = time.perf_counter()

    def update(self, count: int = 1, extra: str = "") -> None:
        self.done += count
        now = time.perf_counter()
        if now - self._last < self.every_seconds and self.done < self.total:
            return
        self._last = now
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else float("inf")
        remaining = (self.total - self.done) / rate if rate > 0 else float("inf")
        self.logger.info(
            "%s: %d/%d %s (%.1f/s, %s, ETA %s)%s",
            self.what,
            self.done,
            self.total,
            self.unit,
            rate,
            format_seconds(elapsed),
            format_seconds(remaining),
            f" {extra}" if extra else "",
        )


def rate_and_eta(seconds_per_unit: float, units_left: float, unit: str = "epoch") -> str:
    """ "0.4 s/epoch, ETA 1m01s": the mean seconds per unit so far and the time the units left
    take at that pace (the classifier's line; GAN training's line shows its last epoch's pace
    and holds its ETA back after the first epoch, which includes tracing)."""
    return f"{seconds_per_unit:.1f} s/{unit}, ETA {format_seconds(seconds_per_unit * units_left)}"


def format_seconds(seconds: float) -> str:
    """Seconds as "1h02m03s" or "2m03s" ("?" for infinity); negative counts as 0."""
    if seconds == float("inf"):
        return "?"
    seconds = max(seconds, 0.0)
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


@dataclass(frozen=True)
class RunPosition:
    """Where one training run sits in a longer job, for its progress lines.

    label: e.g. "Experiment real (2/5), seed 1/3"; runs_after: runs of the same length still to
    come after this one in the same job (the experiment's remaining seeds), counted in the ETA.
    """

    label: str
    runs_after: int = 0


class EpochTimer:
    """Seconds per epoch and the ETA of a training run (and the runs after it), for an
    epoch-end progress line."""

    def __init__(self, epochs: int, position: RunPosition | None = None) -> None:
        self.epochs, self.position = epochs, position
        self.started = time.perf_counter()

    def restart(self) -> None:
        self.started = time.perf_counter()

    def line(self, done: int, now: float | None = None) -> str:
        """ "0.5 s/epoch, ETA 0m40s" after `done` epochs (>= 1) of this run, the mean over the
        epochs so far; with runs after it, the ETA covers them too and says so ("ETA 2m40s
        (this run and 2 more)"; a run: one seed, or one phase of a
        synthetic_pretrain seed)."""
        now = time.perf_counter() if now is None else now
        per_epoch = (now - self.started) / max(done, 1)
        runs_after = self.position.runs_after if self.position else 0
        left = self.epochs - done + runs_after * self.epochs
        text = rate_and_eta(per_epoch, left)
        if runs_after:
            text += f" (this run and {runs_after} more)"
        return text
