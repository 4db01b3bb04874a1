"""How long each node of a run took, logged as it ends, and the slowest nodes at the run's end.

A user who waits minutes for a run wants to see where the time went without a profiler; the
demo benchmark (benchmarks/bench_demo.py) reads the same lines for its per-node split.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

SLOWEST_SHOWN = 5
# "Node train_conditional_gan took 95.2 s" (one line per node, as it ends)
NODE_LINE = re.compile(r"Node (?P<node>\S+) took (?P<seconds>[0-9.]+) s")


class NodeTimingHooks:
    """Wall seconds per node (Kedro's own log says only which node runs and how many are done).

    Times are wall clock in the process that ran the node; nodes in a ParallelRunner's workers
    are timed in those workers, and the run-end summary then covers only this process's nodes.
    """

    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self._seconds: dict[str, float] = {}

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._started.clear()
        self._seconds.clear()

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        self._started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        started = self._started.pop(node.name, None)
        if started is None:
            return
        seconds = time.perf_counter() - started
        self._seconds[node.name] = seconds
        logger.info("Node %s took %.1f s", node.name, seconds)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._summary("finished")

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._summary("stopped")

    def _summary(self, how: str) -> None:
        if not self._seconds:
            return
        total = sum(self._seconds.values())
        slowest = sorted(self._seconds.items(), key=lambda item: item[1], reverse=True)
        shown = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest[:SLOWEST_SHOWN])
        logger.info(
            "Run %s: %d node(s) took %.1f s; slowest: %s", how, len(self._seconds), total, shown
        )

    @property
    def seconds(self) -> dict[str, float]:
        """Wall seconds (float) per node name of the current or last run, in the order run."""
        return dict(self._seconds)


def parse_node_times(log_text: str) -> dict[str, float]:
    """The per-node seconds from a run's log text (lines written by NodeTimingHooks).

    Args:
        log_text: a `kedro run` log; rich may wrap lines, so whitespace runs are joined first.
    Returns:
        node name -> wall seconds, in the order the nodes ended; empty when no line matched.
    """
    flat = re.sub(r"\s+", " ", log_text)
    return {m["node"]: float(m["seconds"]) for m in NODE_LINE.finditer(flat)}
