"""`kedro run --namespaces <experiment or variant>` runs that slice with the shared nodes it
needs."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from kedro.config import OmegaConfigLoader
from kedro.framework.cli.cli import KedroCLI
from kedro.framework.project import settings
from kedro.framework.startup import bootstrap_project

from cxr_gan.pipeline_registry import register_pipelines
from cxr_gan.session import nodes_for_namespaces
from tests.kedro_helpers import TINY_STUDY, run_kedro, use_tiny_phantoms, write_conf

SHAPE = {
    "classification": {"experiments": ["real", "synthetic_only"], "shortcut_probe": False},
    "gan_training": {"variants": {"fast_lr": {"learning_rate": 0.01}}},
}
SHARED = {"prepare_classification_data", "prepare_external_data"}


def test_a_slice_gets_the_nodes_that_make_its_in_memory_inputs(project_copy, monkeypatch):
    write_conf(project_copy, "local/parameters_shape.yml", SHAPE)
    monkeypatch.chdir(project_copy)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    bootstrap_project(project_copy)
    pipeline = register_pipelines()["__default__"]
    catalog = OmegaConfigLoader("conf", **settings.CONFIG_LOADER_ARGS)["catalog"]

    real = {node.name for node in nodes_for_namespaces(pipeline, ["real"], catalog)}
    assert real >= SHARED  # classification_data, external_data: MemoryDatasets
    assert {"real.train_and_evaluate", "real.score_external"} <= real
    assert not {name for name in real if name.startswith("synthetic_only.")}
    assert "compare_experiments" not in real
    assert "ingest_raw_xrays" not in real  # its outputs are saved: read from disk

    variant = nodes_for_namespaces(pipeline, ["fast_lr"], catalog)
    assert variant and {node.namespace for node in variant} == {"fast_lr"}  # inputs all saved


def _versions(project, relative: str) -> int:
    return len(list((project / "data/demo/08_reporting/classification" / relative).iterdir()))


@pytest.mark.slow
def test_kedro_run_namespaces_runs_one_experiment_with_its_shared_nodes(project_copy, monkeypatch):
    use_tiny_phantoms(project_copy, count_per_class=12, env="demo")
    write_conf(
        project_copy, "demo/parameters_shape.yml", {"classification": SHAPE["classification"]}
    )
    run_kedro(project_copy, env="demo", params=TINY_STUDY)  # the whole study once
    assert _versions(project_copy, "real/evaluation.json") == 1

    monkeypatch.chdir(project_copy)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    bootstrap_project(project_copy)
    params = ",".join(f"{key}={json.dumps(value)}" for key, value in TINY_STUDY.items())
    result = CliRunner().invoke(
        KedroCLI(project_path=project_copy),
        ["run", "--env", "demo", "--namespaces", "real", "--params", params],
    )
    assert result.exit_code == 0, result.output[-3000:]
    assert _versions(project_copy, "real/evaluation.json") == 2
    assert _versions(project_copy, "synthetic_only/evaluation.json") == 1  # not in the slice
    comparisons = (project_copy / "data/demo/08_reporting/classification_comparison.json").iterdir()
    assert len(list(comparisons)) == 1


def test_an_unknown_namespace_is_one_line_naming_those_that_exist(project_copy, monkeypatch):
    use_tiny_phantoms(project_copy, count_per_class=12, env="demo")
    monkeypatch.chdir(project_copy)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    bootstrap_project(project_copy)
    result = CliRunner().invoke(
        KedroCLI(project_path=project_copy), ["run", "--env", "demo", "--namespaces", "nosuch"]
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "--namespaces nosuch" in result.output and "real" in result.output
