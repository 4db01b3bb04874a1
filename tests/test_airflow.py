"""`kedro airflow create` really produces a DAG for this project (kedro-airflow, Airflow itself not
installed): the file compiles, names every pipeline, and deploy/airflow_dag.j2 gives one task per
pipeline that can run in its own process."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import MemoryDataset

from tests.conftest import PROJECT_ROOT, copy_project

PIPELINES = ("data_processing", "gan_training", "synthesis", "classification", "report")
TEMPLATE = PROJECT_ROOT / "deploy" / "airflow_dag.j2"

# two CLI runs that import TensorFlow: slow, and slower on a busy machine
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _airflow_create(project: Path, target: str, *args: str) -> str:
    """Run the real CLI in the tmp project; return the generated DAG's source (compiled)."""
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "airflow", "create", "--target-dir", target, *args],
        cwd=project,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (path,) = (project / target).glob("*.py")  # cxr_gan_dag.py, cxr_gan_demo_dag.py with --env
    source = path.read_text()
    compile(source, str(path), "exec")  # valid Python; Airflow is not installed to import it
    return source


def _task_ids(source: str) -> list[str]:
    """task_id of every @task(...) decorator in the generated module."""
    return [
        keyword.value.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "task"
        for keyword in node.keywords
        if keyword.arg == "task_id"
    ]


def _edges(source: str) -> set[tuple[str, str]]:
    """(upstream, downstream) of every tasks["a"] >> tasks["b"] line."""
    return {
        (node.left.slice.value, node.right.slice.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift)
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """One tmp copy of the project (conf and pyproject, no data) for both DAG tests."""
    return copy_project(tmp_path_factory.mktemp("airflow") / "project")


@pytest.fixture(scope="module")
def registered(project) -> tuple[dict, object]:
    """The project's registered pipelines and its catalog, as `kedro airflow create` sees them."""
    cwd = os.getcwd()
    os.chdir(project)  # pipeline registration reads conf/ from the working folder
    try:
        bootstrap_project(project)
        with KedroSession.create(project_path=project) as session:
            catalog = session.load_context().catalog
        return {name: pipelines[name] for name in PIPELINES}, catalog
    finally:
        os.chdir(cwd)


def _memory_inputs(pipeline, catalog) -> set[str]:
    """Free inputs that only live in memory: a task starting here in a fresh process lacks them."""
    return {
        name
        for name in pipeline.inputs()
        if not name.startswith("params:")
        and (name not in catalog or isinstance(catalog.get(name), MemoryDataset))
    }


def test_default_dag_names_a_task_for_every_node_of_every_pipeline(project, registered):
    source = _airflow_create(project, "dags_default")
    task_ids = set(_task_ids(source))
    for name, pipeline in registered[0].items():
        expected = {node.name.replace(".", "-").replace("_", "-") for node in pipeline.nodes}
        assert expected <= task_ids, (name, expected - task_ids)
    assert ("train-conditional-gan", "synthesize-xrays") in _edges(source)


def test_template_gives_one_task_per_pipeline_wired_by_data_flow(project, registered):
    source = _airflow_create(
        project, "dags_template", "--jinja-file", str(TEMPLATE), "--env", "demo"
    )
    assert sorted(_task_ids(source)) == sorted(PIPELINES)
    assert _edges(source) == {
        ("data_processing", "gan_training"),
        ("data_processing", "synthesis"),
        ("gan_training", "synthesis"),
        ("data_processing", "classification"),
        ("synthesis", "classification"),
        *((pipeline, "report") for pipeline in PIPELINES[:-1]),  # the report reads them all
    }
    assert 'env = "demo"' in source and "session.run(pipeline_names=[pipeline_name])" in source

    # why one task per pipeline: each starts from saved data, while splitting classification
    # (one task per node or per namespace) would start tasks from in-memory datasets
    pipelines_by_name, catalog = registered
    for name, pipeline in pipelines_by_name.items():
        assert _memory_inputs(pipeline, catalog) == set(), name
    experiment = pipelines_by_name["classification"].only_nodes("real.train_and_evaluate")
    assert "classification_data" in _memory_inputs(experiment, catalog)
