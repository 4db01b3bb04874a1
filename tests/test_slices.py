"""Every slice of the study (`--from-nodes`, `--to-nodes`, `--nodes`, `--tags`, `--namespaces`)
whose inputs are missing, and every `--load-versions` version that was never saved, is refused
before any node runs: one line per input, no traceback, and each offered command keeps the
run's --env and --params."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from kedro.framework.project import settings
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline

from cxr_gan.lineage import run_command
from cxr_gan.pipeline_registry import register_pipelines
from cxr_gan.preflight import preflight_problems
from tests.conftest import empty_mlflow_store
from tests.kedro_helpers import use_tiny_phantoms

VERSION = "2026-01-02T03.04.05.678Z"  # a well-formed Kedro version
ABSENT = "2020-01-01T00.00.00.000Z"  # one that no test saves
PROBLEM = "\n  - "  # how PreflightError starts each line


def test_the_command_keeps_every_argument_given():
    run = {
        "pipeline_names": ["classification", "report"],
        "from_nodes": ["compare_experiments"],
        "to_nodes": ["build_study_report"],
        "node_names": None,
        "tags": ["figures"],
        "namespaces": ["real"],
        "load_versions": {"generator": VERSION},
        "env": "demo",
        "runtime_params": {"classification": {"epochs": 3, "seeds": [1, 2]}},
        "runner": "<kedro.runner.parallel_runner.ParallelRunner object at 0x7f>",
    }
    assert run_command(run) == (
        "kedro run --pipelines classification,report --from-nodes compare_experiments "
        "--to-nodes build_study_report --tags figures --namespaces real "
        f"--load-versions generator:{VERSION} --env demo "
        '--params "classification.epochs=3,classification.seeds=[1, 2]" --runner ParallelRunner'
    )
    local = {"pipeline_names": ["__default__"], "env": "local", "runner": "SequentialRunner"}
    assert run_command(local) == "kedro run"


@pytest.fixture
def demo_catalog(project_copy: Path, monkeypatch):
    """(the default pipeline, a function building the `demo` catalog with load_versions) in a
    fresh project copy, as `kedro run --env demo` builds them."""
    monkeypatch.chdir(project_copy)
    monkeypatch.setenv("KEDRO_ENV", "demo")
    bootstrap_project(project_copy)
    config = OmegaConfigLoader("conf", env="demo", **settings.CONFIG_LOADER_ARGS)

    def catalog(load_versions: dict | None = None) -> DataCatalog:
        return DataCatalog.from_config(config["catalog"], load_versions=load_versions)

    return register_pipelines()["__default__"], catalog, project_copy


def _run(**slice_options) -> dict:
    """Kedro's run_params of `kedro run --env demo --params classification.epochs=3 ...`."""
    return {"env": "demo", "runtime_params": {"classification": {"epochs": 3}}, **slice_options}


def test_an_input_kept_in_memory_names_the_node_to_start_from(demo_catalog):
    pipeline, catalog, _ = demo_catalog
    sliced = pipeline.from_nodes("compare_experiments")
    problems = preflight_problems(sliced, catalog(), {}, _run(from_nodes=["compare_experiments"]))
    memory = [p for p in problems if p.startswith("classification_data:")]
    assert memory == [
        "classification_data: kept in memory only (a MemoryDataset, never saved), made by node "
        "prepare_classification_data, which this run leaves out; start from it: `kedro run "
        "--nodes prepare_classification_data,compare_experiments,build_study_report --env demo "
        '--params "classification.epochs=3"`'
    ]
    # a fresh project: every saved input, one line each, with the pipeline that makes it
    saved = {p.split(":", 1)[0] for p in problems} - {"classification_data"}
    assert saved == {
        name
        for name in sliced.inputs()
        if not name.startswith("params:") and name not in {"classification_data"}
    } - {"report_run_record"}
    evaluation = next(p for p in problems if p.startswith("real.classification_evaluation:"))
    assert "`kedro run --pipelines classification --env demo --params" in evaluation


def test_a_long_slice_is_widened_from_the_nodes_that_make_its_memory_inputs(demo_catalog):
    pipeline, catalog, _ = demo_catalog
    sliced = pipeline.from_nodes("real.train_and_evaluate")
    run = _run(from_nodes=["real.train_and_evaluate"])
    problems = preflight_problems(sliced, catalog(), {}, run)
    memory = [p for p in problems if "kept in memory only" in p]
    assert [p.split(":", 1)[0] for p in memory] == [
        "backbone_features",
        "classification_data",
        "external_data",
    ]
    command = (
        "`kedro run --from-nodes prepare_classification_data,prepare_external_data,"
        'compute_backbone_features --env demo --params "classification.epochs=3"`'
    )
    assert all(p.endswith(command) for p in memory), memory


def _save_versions(project: Path, versions: list[str]) -> None:
    """Version folders of the demo's generator as Kedro lays them out (<file>/<version>/<file>)."""
    for version in versions:
        folder = project / "data/demo/06_models/generator.keras" / version
        folder.mkdir(parents=True)
        (folder / "generator.keras").write_bytes(b"saved")


def test_a_version_never_saved_lists_those_that_were(demo_catalog):
    pipeline, catalog, project = demo_catalog
    versions = [f"2026-01-0{day}T00.00.00.000Z" for day in range(1, 8)]
    _save_versions(project, versions)
    run = _run(pipeline_names=["synthesis"], load_versions={"generator": ABSENT})
    problems = preflight_problems(
        Pipeline([n for n in pipeline.nodes if n.name == "synthesize_xrays"]),
        catalog({"generator": ABSENT}),
        {},
        run,
    )
    assert problems == [
        f"generator: --load-versions generator:{ABSENT} names no saved version; the saved ones "
        f"are {', '.join(versions[2:])} (newest last; 2 older); to load the newest instead: "
        f"`kedro run --pipelines synthesis --load-versions generator:{versions[-1]} --env demo "
        '--params "classification.epochs=3"`'
    ]
    pinned = _run(load_versions={"generator": versions[0]})  # a version that exists: no line
    assert not preflight_problems(
        Pipeline([n for n in pipeline.nodes if n.name == "synthesize_xrays"]),
        catalog({"generator": versions[0]}),
        {},
        pinned,
    )


# ------------------------------------------------------------------------------ `kedro run`

KEDRO_ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "1000"}
KEDRO_ENV.pop("KEDRO_ENV", None)
MAIN = "from kedro.framework.cli import main; main()"


def _start(project: Path, *arguments: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", MAIN, "run", "--env", "demo", *arguments],
        cwd=project,
        env=KEDRO_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _refusals(project: Path, commands: dict[str, list[str]]) -> dict[str, list[str]]:
    """Run each `kedro run --env demo <arguments>` at once (they wait on start-up, not on one
    another); assert each failed in lines, wrote no data, and printed no traceback; return each
    one's refusal lines."""
    data = {path for path in (project / "data").rglob("*") if path.is_file()}
    started = {name: _start(project, *arguments) for name, arguments in commands.items()}
    found = {}
    for name, process in started.items():
        output, _ = process.communicate(timeout=400)
        assert process.returncode == 1, (name, output[-3000:])
        assert "Traceback" not in output, (name, output[-3000:])
        error = output[output.index("Error: ") :]
        found[name] = [line.removeprefix("  - ") for line in error.splitlines()]
    assert {path for path in (project / "data").rglob("*") if path.is_file()} == data
    return found


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_slice_of_a_fresh_project_is_refused_one_line_per_input(demo_catalog):
    pipeline, _, project_copy = demo_catalog
    use_tiny_phantoms(project_copy, count_per_class=12, env="demo")
    store = empty_mlflow_store()  # the demo's own MLflow store (data/demo/mlruns), made once:
    if store is not None:  # five runs at once would each migrate a fresh SQLite file
        (project_copy / "data/demo/mlruns").mkdir(parents=True, exist_ok=True)
        shutil.copy(store, project_copy / "data/demo/mlruns" / store.name)
    params = ["--params", "classification.epochs=3"]
    found = _refusals(
        project_copy,
        {
            "from-nodes": ["--from-nodes", "compare_experiments", *params],
            "to-nodes": ["--pipelines", "gan_training", "--to-nodes", "split_gan_evaluation"],
            "nodes": ["--nodes", "real.train_and_evaluate", *params],
            "tags": ["--tags", "figures"],
            "namespaces": ["--namespaces", "real", *params],
        },
    )
    from_nodes = found["from-nodes"]
    wanted = {n for n in pipeline.from_nodes("compare_experiments").inputs() if "params:" not in n}
    assert {line.split(":", 1)[0] for line in from_nodes[1:]} == wanted - {"report_run_record"}
    assert len(from_nodes) == len(wanted)  # the heading and one line each
    assert any(line.startswith("classification_data: kept in memory only") for line in from_nodes)

    assert found["to-nodes"][1:] == [
        "xray_split: no saved version yet, and no node of this run makes it; run `kedro run "
        "--pipelines data_processing --env demo`, which makes it, first (or the whole study: "
        "`kedro run --env demo`)"
    ]
    nodes = found["nodes"][1:]
    memory = [line for line in nodes if "kept in memory only" in line]
    assert len(memory) == 3  # classification_data, external_data, backbone_features
    assert all(
        "`kedro run --nodes prepare_classification_data,prepare_external_data,"
        "compute_backbone_features,real.train_and_evaluate --env demo --params "
        '"classification.epochs=3"`' in line
        for line in memory
    )
    assert (
        len(found["tags"]) == 1
        and "--tags figures: no node of this run matches" in (found["tags"][0])
    )
    namespaces = found["namespaces"][1:]
    assert {line.split(":", 1)[0] for line in namespaces} == {
        "raw_manifest",
        "synthetic_balanced_xrays",
        "synthetic_xrays",
        "xray_arrays",
        "xray_split",
    }
    for lines in (from_nodes, nodes, namespaces):
        assert all("--env demo" in line for line in lines[1:])
        assert all('--params "classification.epochs=3"' in line for line in lines[1:])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_after_a_whole_study_a_slice_and_a_wrong_version_each_get_one_line(demo_study, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(demo_study.project, project, symlinks=True)
    generators = sorted(p.name for p in (project / "data/demo/06_models/generator.keras").iterdir())
    found = _refusals(
        project,
        {
            "from-nodes": ["--from-nodes", "compare_experiments"],
            "version": ["--pipelines", "synthesis", "--load-versions", f"generator:{ABSENT}"],
        },
    )
    assert found["from-nodes"][1:] == [
        "classification_data: kept in memory only (a MemoryDataset, never saved), made by node "
        "prepare_classification_data, which this run leaves out; start from it: `kedro run "
        "--nodes prepare_classification_data,compare_experiments,build_study_report --env demo`"
    ]
    assert found["version"][1:] == [
        f"generator: --load-versions generator:{ABSENT} names no saved version; the saved ones "
        f"are {', '.join(generators)} (newest last); to load the newest instead: `kedro run "
        f"--pipelines synthesis --load-versions generator:{generators[-1]} --env demo`"
    ]
