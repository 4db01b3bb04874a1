"""Periodic progress lines (count, rate, ETA) for long loops, without a terminal-only progress bar.

Log lines work the same in a terminal, a log file, CI and kedro-viz's run output.
"""

from __future__ import annotations

import logging
import time


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


def format_seconds(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
