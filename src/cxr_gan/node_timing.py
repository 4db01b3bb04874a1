"""How long each node of a run took, how long the run will take, and where the time went.

A user who waits minutes for a run wants to know, without a profiler, how long it will take and
where the time goes. NodeTimingHooks logs:

- at the run's start, its estimated wall time (cxr_gan.run_estimate: stored timings of earlier
  runs of this env on this machine, else a cost model), e.g. "Run estimate: about 2m05s for 42
  nodes (42 timed in earlier runs of env demo on this machine)";
- one line as each node starts ("Running node 6/42: train_conditional_gan") and one as it ends
  ("Node train_conditional_gan took 42.7 s (6/42 done, about 1m10s left)"): the console shows
  these instead of Kedro's three per node and its per-dataset lines (cxr_gan.console);
- at the end, the slowest nodes, and the actual time beside the estimate ("Run took 2m01s;
  estimated 2m05s at its start (3% over)"); the nodes' times are then stored for the next run.

The demo benchmark (benchmarks/bench_demo.py) reads the "Node ... took" lines for its split.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from cxr_gan.progress import format_seconds
from cxr_gan.run_estimate import (
    TIMINGS_FILE,
    NodeEstimate,
    count_raw_images,
    estimate_nodes,
    load_timings,
    parameters_fingerprint,
    save_timings,
    timings_key,
)

logger = logging.getLogger(__name__)

SLOWEST_SHOWN = 5
# "Node train_conditional_gan took 95.2 s" (one line per node, as it ends)
NODE_LINE = re.compile(r"Node (?P<node>\S+) took (?P<seconds>[0-9.]+) s")


class NodeTimingHooks:
    """Wall seconds per node, the run's estimate at its start and the actual at its end.

    Times are wall clock in the process that ran the node; nodes in a ParallelRunner's workers
    are timed in those workers, and the run-end summary then covers only this process's nodes;
    such runs store no timings (their node times overlap).
    """

    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self._seconds: dict[str, float] = {}
        self._spans: dict[str, float] = {}  # from the previous node's end to this one's
        self._parameters: dict[str, Any] = {}
        self._env: str | None = None
        self._timings_path: Path | None = None
        self._images = 0
        self._fingerprints: dict[str, str] = {}
        self._estimates: dict[str, NodeEstimate] = {}
        self._order: dict[str, int] = {}
        self._run_started = self._mark = time.perf_counter()
        self._store = True

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        config = context.config_loader
        self._parameters = dict(config["parameters"])  # this session's, merged with --params
        self._env = context.env
        try:
            data_root = config["globals"].get("data_root", "data")
            raw = config["catalog"].get("raw_xrays")
        except Exception:  # noqa: BLE001 (no globals or catalog: estimate without them)
            data_root, raw = "data", None
        self._timings_path = Path(context.project_path) / str(data_root) / TIMINGS_FILE
        self._images = count_raw_images(raw, context.project_path)

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any] | None = None, pipeline: Any = None
    ) -> None:
        self._started.clear()
        self._seconds.clear()
        self._spans.clear()
        self._run_started = self._mark = time.perf_counter()
        runner = str((run_params or {}).get("runner") or "")
        self._store = "Parallel" not in runner
        if pipeline is None:
            self._order, self._estimates = {}, {}
            return
        nodes = list(pipeline.nodes)
        self._order = {node.name: index for index, node in enumerate(nodes, start=1)}
        self._fingerprints = {
            node.name: parameters_fingerprint(node.inputs, self._parameters, self._images)
            for node in nodes
        }
        stored = {}
        if self._timings_path is not None:
            stored = load_timings(self._timings_path).get(timings_key(self._env)) or {}
        self._estimates = estimate_nodes(self._fingerprints, stored, self._parameters, self._images)
        self._log_estimate()

    def _log_estimate(self) -> None:
        total = sum(each.seconds for each in self._estimates.values())
        timed = sum(each.source == "stored" for each in self._estimates.values())
        modelled = len(self._estimates) - timed
        sources = []
        if timed:
            sources.append(f"{timed} timed in earlier runs of env {self._env or 'local'} here")
        if modelled:
            sources.append(
                f"{modelled} from a cost model of a 2-core CPU"
                + (", new or with other parameters" if timed else "")
            )
        logger.info(
            "Run estimate: about %s for %d node(s) (%s)",
            format_seconds(total),
            len(self._estimates),
            "; ".join(sources) or "no nodes",
        )

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        self._started[node.name] = time.perf_counter()
        if self._order:
            logger.info(
                "Running node %d/%d: %s", self._order.get(node.name, 0), len(self._order), node.name
            )

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        started = self._started.pop(node.name, None)
        if started is None:
            return
        now = time.perf_counter()
        seconds = now - started
        self._seconds[node.name] = seconds
        self._spans[node.name] = now - self._mark
        self._mark = now
        if not self._order:
            logger.info("Node %s took %.1f s", node.name, seconds)
            return
        left = sum(
            each.seconds for name, each in self._estimates.items() if name not in self._seconds
        )
        logger.info(
            "Node %s took %.1f s (%d/%d done, about %s left)",
            node.name,
            seconds,
            len(self._seconds),
            len(self._order),
            format_seconds(left),
        )

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._finish("finished")

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._finish("stopped")

    def _finish(self, how: str) -> None:
        if self._spans:  # the last node's outputs were saved after it ended
            last = next(reversed(self._spans))
            self._spans[last] += time.perf_counter() - self._mark
        self._summary(how)
        if how == "finished" and self._estimates:
            actual = time.perf_counter() - self._run_started
            estimate = sum(each.seconds for each in self._estimates.values())
            off = 100 * (estimate - actual) / actual if actual > 0 else 0.0
            logger.info(
                "Run took %s; estimated %s at its start (%.0f%% %s)",
                format_seconds(actual),
                format_seconds(estimate),
                abs(off),
                "over" if off > 0 else "under",
            )
        self._save()

    def _save(self) -> None:
        if not (self._store and self._timings_path and self._spans and self._fingerprints):
            return
        measured = {
            name: (span, self._fingerprints[name])
            for name, span in self._spans.items()
            if name in self._fingerprints
        }
        try:
            stored = load_timings(self._timings_path)
            save_timings(self._timings_path, timings_key(self._env), measured, stored)
        except OSError as error:  # a read-only data folder: the next estimate is modelled
            logger.warning("Node timings not stored in %s: %s", self._timings_path, error)

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

    @property
    def estimates(self) -> dict[str, NodeEstimate]:
        """The current or last run's estimate per node name, in the pipeline's order."""
        return dict(self._estimates)


def parse_node_times(log_text: str) -> dict[str, float]:
    """The per-node seconds from a run's log text (lines written by NodeTimingHooks).

    Args:
        log_text: a `kedro run` log (console or info.log); whitespace runs are joined first, so
            a log wrapped by a terminal still parses.
    Returns:
        node name -> wall seconds, in the order the nodes ended; empty when no line matched.
    """
    flat = re.sub(r"\s+", " ", log_text)
    return {m["node"]: float(m["seconds"]) for m in NODE_LINE.finditer(flat)}
