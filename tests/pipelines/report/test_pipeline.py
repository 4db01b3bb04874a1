"""The report pipeline reads exactly what the other pipelines make, for every shape (experiments
and GAN variants), and each of those names is a catalog entry with a file (never a default
MemoryDataset, which a `--pipelines report` run would find empty)."""

from __future__ import annotations

import pytest
from kedro.framework.cli.project import run as kedro_run_command
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from cxr_gan.pipeline_registry import register_pipelines
from cxr_gan.pipelines.report.nodes import RUN_RECORD
from tests.kedro_helpers import write_conf

SHAPED = {
    "classification": {"experiments": ["real", "real_plus_synthetic"], "shortcut_probe": False},
    "gan_training": {"variants": {"fast_lr": {"learning_rate": 0.01}}},
}


@pytest.mark.parametrize("shaped", [False, True], ids=["defaults", "variant-and-2-experiments"])
def test_the_report_reads_every_figure_and_report_the_study_makes(
    project_copy, monkeypatch, shaped
):
    if shaped:
        write_conf(project_copy, "demo/parameters_shape.yml", SHAPED)
    monkeypatch.chdir(project_copy)
    monkeypatch.setenv("KEDRO_ENV", "demo")  # the session's shape: conf/demo's
    bootstrap_project(project_copy)
    with kedro_run_command.make_context("run", ["--env", "demo"]):
        registered = register_pipelines()
    with KedroSession.create(project_path=project_copy, env="demo") as session:
        catalog = session.load_context().catalog
    report = registered["report"]
    made = set().union(*(p.all_outputs() for n, p in registered.items() if n != "report"))
    read = {name for name in report.inputs() if not name.startswith("params:")} - {RUN_RECORD}
    assert read <= made, read - made
    assert {"study_report", "study_report_markdown"} == report.all_outputs()
    assert registered["__default__"].only_nodes_with_outputs("study_report").nodes
    for name in read:
        assert getattr(catalog.get(name), "_filepath", None), name  # saved, not in memory
    if shaped:
        assert {"fast_lr.gan_quality_report", "fast_lr.synthetic_xrays"} <= read
        assert {"real_plus_synthetic.gradcam", "gan_variant_comparison"} <= read
        assert not {name for name in read if name.startswith("shortcut_probe.")}
    else:
        assert "shortcut_probe.gradcam" in read
