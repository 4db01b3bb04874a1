"""Wall time and peak memory of the whole demo study (target: <= 5 minutes, <= 3 GB on 2 cores).

    uv run python benchmarks/bench_demo.py

Runs `kedro run --env demo` (all four pipelines) in a fresh temp copy of the project, as a
newcomer would after cloning, and reports the child process's wall time and peak RSS.
"""

from __future__ import annotations

import json
import shutil

from _project import project_copy, timed_kedro_run


def main() -> None:
    project = project_copy()
    try:
        measured = timed_kedro_run(project, "--env", "demo")
    finally:
        shutil.rmtree(project, ignore_errors=True)
    print(json.dumps({"command": "kedro run --env demo", **measured}, indent=2))


if __name__ == "__main__":
    main()
