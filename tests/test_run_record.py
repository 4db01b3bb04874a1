"""The run-record hooks on real versioned datasets, without a Kedro run: which paths a run's end
prints, and what the report node is told it loaded."""

from __future__ import annotations

from pathlib import Path

from kedro.io import DataCatalog
from kedro.io.core import Version
from kedro.pipeline import Node, Pipeline

from cxr_gan.datasets import ImageSetDataset, JSONDataset, RunRecordDataset
from cxr_gan.run_record import RUN_RECORD, RunRecordHooks
from tests.kedro_helpers import captured_log

OLD, NEW = "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"


def _catalog(tmp_path: Path, save: str | None) -> DataCatalog:
    return DataCatalog(
        {
            "gan_quality_report": JSONDataset(
                filepath=str(tmp_path / "q.json"), version=Version(None, save)
            ),
            "synthetic_xrays": ImageSetDataset(
                filepath=str(tmp_path / "set"), version=Version(None, save)
            ),
            "study_report": JSONDataset(
                filepath=str(tmp_path / "r.json"), version=Version(None, save)
            ),
            RUN_RECORD: RunRecordDataset(),
        }
    )


def _identity(x):
    return x


def test_a_run_without_the_report_says_how_to_rebuild_it(tmp_path: Path):
    catalog = _catalog(tmp_path, NEW)
    catalog.save("gan_quality_report", {"verdict": "diverse"})
    pipeline = Pipeline(
        [Node(_identity, "generator", "gan_quality_report"), Node(_identity, "x", "study_report")]
    )
    hooks = RunRecordHooks()
    hooks.before_pipeline_run({"run_id": "r", "env": "demo"}, pipeline, catalog)
    hooks.after_dataset_saved("gan_quality_report")
    with captured_log() as lines:
        hooks.after_pipeline_run(pipeline, catalog)
    assert (
        lines[0] == f"This run wrote 1 output(s), each in a folder named by its version ({NEW})"
        "; the key ones:"
    )
    assert lines[1] == f"  gan_quality_report: {tmp_path / 'q.json' / NEW / 'q.json'}"
    assert lines[2].startswith("This run did not rebuild the study report")
    assert lines[2].endswith("kedro run --pipelines report --env demo")  # the study's own env
    assert len(lines) == 3  # the report, never saved in this run, is not listed


def test_a_failed_run_lists_what_it_saved_even_from_other_processes(tmp_path: Path):
    catalog = _catalog(tmp_path, NEW)
    catalog.save("gan_quality_report", {})  # as a ParallelRunner worker: no hook call here
    pipeline = Pipeline([Node(_identity, "generator", "gan_quality_report")])
    hooks = RunRecordHooks()
    hooks.before_pipeline_run({}, pipeline, catalog)
    with captured_log() as lines:
        hooks.on_pipeline_error(pipeline, catalog)
    assert lines == [
        "This run failed; it wrote 1 output(s) before the error:",
        f"  gan_quality_report: {tmp_path / 'q.json' / NEW / 'q.json'}",
    ]
    with captured_log() as lines:
        RunRecordHooks().on_pipeline_error(Pipeline([]), catalog)
    assert lines == ["This run failed before writing any output."]


def test_the_report_node_is_told_the_version_and_path_of_each_input(tmp_path: Path):
    import numpy as np
    import pandas as pd

    old = _catalog(tmp_path, OLD)
    old.save("gan_quality_report", {"verdict": "diverse"})
    old.save(
        "synthetic_xrays",
        {
            "images": np.zeros((1, 4, 4), np.uint8),
            "manifest": pd.DataFrame({"filename": ["a.png"]}),
        },
    )
    catalog = _catalog(tmp_path, NEW)
    node = Node(
        lambda q, s, r: q,
        ["gan_quality_report", "synthetic_xrays", RUN_RECORD],
        "study_report",
    )
    hooks = RunRecordHooks()
    hooks.before_pipeline_run({"run_id": "r1", "load_versions": {}}, Pipeline([node]), catalog)
    record = hooks.before_node_run(node, catalog)[RUN_RECORD]
    assert record["run"]["run_id"] == "r1" and record["run"]["save_version"] == NEW
    assert record["inputs"] == {
        "gan_quality_report": {"version": OLD, "path": str(tmp_path / "q.json" / OLD / "q.json")},
        "synthetic_xrays": {"version": OLD, "path": str(tmp_path / "set" / OLD)},
    }
    assert hooks.before_node_run(Node(_identity, "x", "y"), catalog) is None
