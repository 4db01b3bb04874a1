"""Start-up time of commands that train nothing, side by side with importing Kedro alone.

    uv run python benchmarks/bench_startup.py                     # 3 rounds, this checkout
    uv run python benchmarks/bench_startup.py --rounds 2 --before /path/to/other/.venv/bin/python

Measure the default install (`uv sync --locked`, no extras): kedro-mlflow, when installed, adds
MLflow's import (seconds) to every `kedro` command, floor included.

Each round runs every command once, in turn, each in a fresh process (so each pays its imports):

- floor: `python -c "import kedro.framework.cli"` (what any `kedro` command costs at least);
- `kedro registry list`;
- a parameter error: `kedro run --params gan_training.epochs=0` (exits 1 with one line);
- `kedro run --pipelines data_processing` on the 200 X-rays of ../shared/cxr-dev at 446 px, read
  where they are (a catalog entry in a temp project copy), with its nodes' own seconds taken from
  Kedro's log (a logging config that stamps every line).

Targets (issue 14): the first two within 3 s of the floor on a quiet 2-core machine;
data_processing within 3 s plus the sum of its node times. The median of the rounds is reported,
as wall seconds and as the process's own CPU seconds (on a shared machine, the closer to what a
quiet one would show; node times are wall seconds from the log);
`--before PYTHON` also times another environment's interpreter (e.g. main's checkout) on the same
commands, in the same rounds. Results: benchmarks/results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _project import ROOT, SHARED_XRAYS, project_copy

LOGGING = """
version: 1
disable_existing_loggers: false
formatters:
  stamped: {format: "%(created).3f %(name)s %(message)s"}
handlers:
  file: {class: logging.FileHandler, filename: "{log}", formatter: stamped, mode: w}
loggers:
  kedro: {level: INFO, handlers: [file]}
root: {level: WARNING, handlers: [file]}
"""


def _timed(python: str, args: list[str], cwd: Path, env: dict, expect: int = 0) -> dict:
    """{"wall": seconds, "cpu": user + system seconds of that process alone}. On a shared
    machine wall time grows with the other work; CPU time is close to a quiet machine's wall."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        child = subprocess.Popen(
            [python, *args], cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != expect:
            output.seek(0)
            print(output.read().decode(errors="replace")[-4000:], file=sys.stderr)
            raise SystemExit(f"{' '.join(args)}: exit {status}, expected {expect}")
    return {"wall": round(seconds, 2), "cpu": round(usage.ru_utime + usage.ru_stime, 2)}


def node_seconds(log: Path) -> dict[str, float]:
    """Each node's seconds: from its "Running node" line to the next "Completed" line."""
    seconds, running = {}, None
    for line in log.read_text().splitlines():
        stamp, _, rest = line.partition(" ")
        if match := re.search(r"Running node: (\w+)", rest):
            running = (match.group(1), float(stamp))
        elif running and re.search(r"Completed \d+ out of \d+ tasks", rest):
            seconds[running[0]] = round(float(stamp) - running[1], 2)
            running = None
    return seconds


def one_round(python: str, project: Path, env: dict) -> dict[str, float]:
    log = project / "stamped.log"
    logging_yml = project / "bench_logging.yml"
    logging_yml.write_text(LOGGING.replace("{log}", str(log)))
    run_env = {**env, "KEDRO_LOGGING_CONFIG": str(logging_yml)}
    kedro = ["-m", "kedro"]
    result = {
        "floor_import_kedro_cli": _timed(
            python, ["-c", "import kedro.framework.cli"], project, env
        ),
        "registry_list": _timed(python, [*kedro, "registry", "list"], project, env),
        "parameter_error": _timed(
            python, [*kedro, "run", "--params", "gan_training.epochs=0"], project, env, expect=1
        ),
    }
    shutil.rmtree(project / "data", ignore_errors=True)  # a fresh data_processing each round
    result["data_processing"] = _timed(
        python, [*kedro, "run", "--pipelines", "data_processing"], project, run_env
    )
    nodes = node_seconds(log)
    result["data_processing_node_seconds"] = round(sum(nodes.values()), 2)
    result["nodes"] = nodes
    return result


def _median(rounds: list[dict], key: str, kind: str) -> float:
    return round(statistics.median(r[key][kind] for r in rounds), 2)


def summary(rounds: list[dict]) -> dict:
    keys = ["floor_import_kedro_cli", "registry_list", "parameter_error", "data_processing"]
    result = {}
    for kind in ("wall", "cpu"):
        medians = {key: _median(rounds, key, kind) for key in keys}
        floor = medians["floor_import_kedro_cli"]
        nodes = round(statistics.median(r["data_processing_node_seconds"] for r in rounds), 2)
        result[f"median_{kind}_seconds"] = medians
        result[f"{kind}_over_floor_seconds"] = {
            "registry_list": round(medians["registry_list"] - floor, 2),
            "parameter_error": round(medians["parameter_error"] - floor, 2),
            "data_processing_minus_nodes": round(medians["data_processing"] - nodes - floor, 2),
        }
    result["data_processing_node_seconds"] = nodes
    result["rounds"] = rounds
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", help="another environment's python, timed alongside")
    args = parser.parse_args()
    if not SHARED_XRAYS.is_dir():
        raise SystemExit(f"{SHARED_XRAYS} is not on this machine")
    pythons = {"this_checkout": sys.executable}
    if args.before:
        pythons["before"] = args.before
    catalog = {
        "raw_xrays": {"type": "cxr_gan.datasets.XrayFolderDataset", "path": str(SHARED_XRAYS)}
    }
    projects = {name: project_copy(catalog=catalog) for name in pythons}
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    rounds: dict[str, list] = {name: [] for name in pythons}
    for index in range(args.rounds):
        for name, python in pythons.items():
            rounds[name].append(one_round(python, projects[name], env))
            print(f"round {index + 1} {name}: {json.dumps(rounds[name][-1])}", flush=True)
    result = {
        "command": f"{sys.executable} benchmarks/bench_startup.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "images": 200,
        "image_size": 446,
        **{name: summary(r) for name, r in rounds.items()},
    }
    out = ROOT / "benchmarks/results/startup.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({name: result[name]["median_cpu_seconds"] for name in pythons}, indent=2))
    for project in projects.values():
        shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
