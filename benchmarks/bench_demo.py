"""Wall time, peak memory and per-node split of the whole demo study (target: <= 3 minutes on a
quiet 2-core machine, <= 3 GB).

    uv run python benchmarks/bench_demo.py

Runs `kedro run --env demo` (all four pipelines) in a fresh temp copy of the project, as a
newcomer would after cloning, and reports the child process's wall time, peak RSS, the machine's
load average before and after (other work on the cores slows every figure), and each node's wall
seconds from the run's own log (cxr_gan.node_timing), slowest first.
"""

from __future__ import annotations

import json
import os
import shutil

from _project import project_copy, timed_kedro_run

from cxr_gan.node_timing import parse_node_times


def main() -> None:
    project = project_copy()
    load_before = os.getloadavg()
    try:
        measured = timed_kedro_run(project, "--env", "demo")
        nodes = parse_node_times((project / "info.log").read_text())
    finally:
        shutil.rmtree(project, ignore_errors=True)
    slowest = dict(sorted(nodes.items(), key=lambda item: item[1], reverse=True))
    report = {
        "command": "kedro run --env demo",
        **measured,
        "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
        "cpu_cores": os.cpu_count(),
        "seconds_in_nodes": round(sum(nodes.values()), 1),
        "node_seconds": {name: round(seconds, 1) for name, seconds in slowest.items()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
