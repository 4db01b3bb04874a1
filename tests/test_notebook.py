"""notebooks/explore_results.ipynb executed for real (nbclient, an ipykernel kernel) on the outputs
of a tiny `kedro run --env demo`, so the notebook cannot rot when datasets or outputs change."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from tests.conftest import PROJECT_ROOT, DemoStudy
from tests.kedro_helpers import stop_process_group

NOTEBOOK = PROJECT_ROOT / "notebooks" / "explore_results.ipynb"

pytestmark = pytest.mark.timeout(400)


@pytest.fixture(scope="module")
def demo_project(demo_study: DemoStudy) -> Path:
    """The session's tiny demo study (conftest.demo_study): all four pipelines, demo env."""
    return demo_study.project


def _outputs(notebook: nbformat.NotebookNode) -> list[dict[str, Any]]:
    return [output for cell in notebook.cells for output in cell.get("outputs", [])]


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and not _outputs(notebook)
    assert all(cell.execution_count is None for cell in code)
    assert "%reload_kedro" in "".join(cell.source for cell in code)


def test_kernel_runs_in_this_environment():
    command = KernelManager(kernel_name="python3").format_kernel_cmd()
    assert command[0] == sys.executable  # jupyter_client swaps "python" for the test's Python


@pytest.mark.slow
def test_notebook_runs_on_demo_outputs(demo_project: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CXR_GAN_PROJECT", str(demo_project))
    monkeypatch.setenv("CXR_GAN_ENV", "demo")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=240,  # per cell; the first one starts Kedro and imports TensorFlow
        kernel_name="python3",
        resources={"metadata": {"path": str(demo_project)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, when any cell fails

    outputs = _outputs(notebook)
    text = "".join(
        output.get("text", "") + output.get("data", {}).get("text/plain", "") for output in outputs
    )
    assert f"project: {demo_project}" in text
    assert "not written yet" not in text  # every figure the notebook shows was found
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # contact sheet, grids over epochs, loss curves, 2 grids, synthetic vs real, GAN quality,
    # comparison plot, ROC, training curves of 6 experiments
    assert len(images) >= 14
    tables = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    comparison = next(table for table in tables if "real_plus_synthetic" in table)
    assert "<table" in comparison and "roc_auc" in comparison and "shortcut_probe" in comparison
    expected = json.loads(
        next(
            (demo_project / "data/demo/08_reporting/classification_comparison.json").glob(
                "*/classification_comparison.json"
            )
        ).read_text()
    )["synthetic_effect"]["sentence"]
    markdown = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert expected in markdown


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_kedro_jupyter_lab_starts_as_the_docs_say(project_copy: Path):
    """`kedro jupyter lab --no-browser` in a project copy serves JupyterLab with the project's
    Kedro kernel (installed into a tmp Jupyter folder, not the user's), then is stopped."""
    jupyter = project_copy.parent / "jupyter"
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "JUPYTER_DATA_DIR": str(jupyter / "data"),
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "IPYTHONDIR": str(jupyter / "ipython"),
    }
    env.pop("KEDRO_ENV", None)
    log = project_copy.parent / "jupyter.log"
    command = ["lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(_free_port())]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # a CI container: Jupyter refuses root
        command.append("--allow-root")
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", "from kedro.framework.cli import main; main()", "jupyter"]
            + command,
            cwd=project_copy,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # JupyterLab runs in a child process: stopped as a group
        )
        try:
            deadline = time.monotonic() + 240
            while "http://127.0.0.1" not in log.read_text() and time.monotonic() < deadline:
                assert process.poll() is None, log.read_text()[-3000:]
                time.sleep(1)
            text = log.read_text()
        finally:
            stop_process_group(process)
    assert "http://127.0.0.1" in text, text[-3000:]
    assert "NoneType: None" not in text and "Traceback" not in text
    kernel = json.loads((jupyter / "data/kernels/kedro_cxr_gan/kernel.json").read_text())
    assert kernel["argv"][-2:] == ["--ext", "kedro.ipython"]
