"""Commands that train nothing import no TensorFlow (it takes seconds to tens of seconds).

Each command runs as a user runs it, `python -m kedro ...` in a throwaway project copy, with
`-X importtime`, which lists every module the process imported on stderr; the control shows the
same probe does see TensorFlow when something imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kedro_helpers import use_tiny_phantoms, write_conf

# every test starts a fresh `python -m kedro` (or python) process: ~10 s or more each
pytestmark = pytest.mark.slow
HEAVY = {"tensorflow", "keras"}


def imported_modules(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run `python -X importtime <args>` in cwd; the finished process and every module it
    imported (top-level and submodules, by full dotted name)."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=cwd,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=540,
    )
    modules = {
        line.rsplit("|", 1)[-1].strip()
        for line in process.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return process, modules - {"package"}  # the header line: "self [us] | cumulative | package"


def _heavy(modules: set[str]) -> set[str]:
    return {name for name in modules if name.split(".")[0] in HEAVY}


@pytest.mark.parametrize(
    "command",
    [
        ["registry", "list"],
        ["catalog", "describe-datasets"],
        ["run", "--params", "gan_training.epochs=0"],  # a parameter error: exit 1, one line
    ],
    ids=["registry-list", "catalog-describe", "parameter-error"],
)
@pytest.mark.timeout(600)
def test_commands_that_train_nothing_import_no_tensorflow(project_copy, command):
    process, modules = imported_modules(["-m", "kedro", *command], project_copy)
    if command[0] == "run":
        assert process.returncode == 1
        assert "gan_training.epochs = 0" in process.stdout + process.stderr
    else:
        assert process.returncode == 0, process.stderr[-3000:]
    assert "kedro.framework.project" in modules  # the probe saw the imports
    assert any(name.startswith("cxr_gan.pipelines.classification") for name in modules)
    assert not _heavy(modules), sorted(_heavy(modules))[:5]


@pytest.mark.timeout(600)
def test_data_processing_runs_without_tensorflow(project_copy):
    use_tiny_phantoms(project_copy, count_per_class=12)
    write_conf(project_copy, "local/parameters.yml", {"data_processing": {"image_size": 32}})
    process, modules = imported_modules(
        ["-m", "kedro", "run", "--pipelines", "data_processing"], project_copy
    )
    assert process.returncode == 0, process.stderr[-3000:]
    assert list((project_copy / "data/02_intermediate").rglob("*.csv"))  # the manifest
    assert not _heavy(modules), sorted(_heavy(modules))[:5]


@pytest.mark.timeout(600)
def test_the_probe_sees_tensorflow_when_it_is_imported(tmp_path):
    """The control: a module that imports TensorFlow is caught by the same probe."""
    process, modules = imported_modules(["-c", "import cxr_gan.models.gan"], tmp_path)
    assert process.returncode == 0, process.stderr[-3000:]
    assert {"tensorflow", "keras"} <= _heavy(modules)
