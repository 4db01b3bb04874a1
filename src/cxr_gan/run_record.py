"""What a run loaded and wrote: the study report's input versions, and the paths printed at the
end of every `kedro run`.

RunRecordHooks (registered in settings.py):

- `before_node_run`: a node that reads `report_run_record` (the study report) gets, in its place,
  {"run": {run_id, save_version, env, kedro_version, pipeline_names, load_versions,
  project_path}, "inputs":
  {dataset name: {"version", "path"}}}: the version and file of every other input it loaded;
- `after_dataset_saved`: remembers the path each saved output was written to;
- `after_pipeline_run`: logs (INFO, one plain line each) the run's key outputs, with the version
  folder every output of the run went to, then the study report's paths, the HTML one last (the
  run's last line); when the run did not build the report, how to rebuild it;
- `on_pipeline_error`: logs the path of every output the failed run wrote before the error.

Paths are those of the versions this run saved (<filepath>/<version>/<name>). Outputs saved in
worker processes (ParallelRunner) are found at the end from their save version instead.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io.core import AbstractVersionedDataset

from cxr_gan.catalog_lookup import catalog_dataset
from cxr_gan.lineage import run_command

logger = logging.getLogger(__name__)

RUN_RECORD = "report_run_record"
REPORTS = {
    "study_report": "Study report",
    "study_report_markdown": "Study report, Markdown (its figures beside it)",
}
# outputs printed by name at the end of a run (a GAN variant's too: "<variant>.generator")
KEY_OUTPUTS = (
    "data_quality_report",
    "contact_sheet",
    "generator",
    "generator_card",  # its model card's folder (model_card.md, model_card.json)
    "gan_loss_curves",
    "gan_quality_report",
    "synthetic_xrays",
    "classification_comparison_table",
    "classification_comparison_plot",
)


def _file_or_folder(dataset: Any, path: Any) -> str:
    """A folder dataset (an image set, the Markdown report) marks a version with one file in
    it (manifest.csv, study_report.md): its path is the version folder, unless that file is the
    report itself."""
    path = Path(str(path))
    own_name = Path(str(getattr(dataset, "_filepath", path))).name
    if path.name != own_name and path.suffix not in (".md", ".html"):
        return str(path.parent)
    return str(path)


def _versioned(dataset: Any) -> bool:
    return isinstance(dataset, AbstractVersionedDataset) and dataset._version is not None


def _save_version(dataset: Any) -> str | None:
    return dataset.resolve_save_version() if _versioned(dataset) else None


def saved_path(dataset: Any) -> str | None:
    """Where this run's save of `dataset` went: the versioned path for its save version, the
    file path of an unversioned file dataset; None for a dataset without a file (memory)."""
    if _versioned(dataset):
        return _file_or_folder(dataset, dataset._get_versioned_path(dataset.resolve_save_version()))
    filepath = getattr(dataset, "_filepath", None)
    return str(filepath) if filepath is not None else None


def loaded_version(dataset: Any) -> dict[str, str | None]:
    """{"version", "path"} of what `dataset` loads now: the --load-versions one, else the
    version this run saved (LoadsOwnSaveMixin), else the latest."""
    if _versioned(dataset):
        return {
            "version": dataset.resolve_load_version(),
            "path": _file_or_folder(dataset, dataset._get_load_path()),
        }
    filepath = getattr(dataset, "_filepath", None)
    return {"version": None, "path": str(filepath) if filepath is not None else None}


class RunRecordHooks:
    """Records what a run loads and writes; see the module's docstring."""

    def __init__(self) -> None:
        self._run: dict[str, Any] = {}
        self._written: dict[str, str] = {}

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._written = {}
        self._run = {
            key: run_params.get(key)
            for key in (
                "run_id",
                "env",
                "kedro_version",
                "pipeline_names",
                "load_versions",
                "project_path",
            )
        }

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any) -> dict[str, Any] | None:
        if RUN_RECORD not in node.inputs:
            return None
        inputs = {}
        for name in node.inputs:
            if name in (RUN_RECORD, "parameters") or name.startswith("params:"):
                continue
            dataset = catalog_dataset(catalog, name)
            if dataset is not None:
                inputs[name] = loaded_version(dataset)
        save_version = next(
            filter(None, (_save_version(catalog_dataset(catalog, o)) for o in node.outputs)), None
        )
        return {RUN_RECORD: {"run": {**self._run, "save_version": save_version}, "inputs": inputs}}

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        # the catalog is not passed here; the path is resolved at the end (see _outputs)
        self._written.setdefault(dataset_name, "")

    @hook_impl(trylast=True)  # the paths are the run's last lines, after the node timings
    def after_pipeline_run(self, pipeline: Any, catalog: Any) -> None:
        written = self._outputs(pipeline, catalog)
        if not written:
            return
        key = [n for n in written if n.rsplit(".", 1)[-1] in KEY_OUTPUTS and n not in REPORTS]
        saved = (_save_version(catalog_dataset(catalog, name)) for name in written)
        versions = sorted({version for version in saved if version})
        logger.info(
            "This run wrote %d output(s), each in a folder named by its version (%s)%s",
            len(written),
            ", ".join(versions) or "unversioned",
            "; the key ones:" if key else ".",
        )
        for name in key:
            logger.info("  %s: %s", name, written[name])
        if not set(REPORTS) & set(written):
            logger.info(
                "This run did not rebuild the study report; to rebuild it from the latest "
                "outputs: %s",
                run_command({"env": self._run.get("env"), "pipeline_names": ["report"]}),
            )
        for name, title in reversed(REPORTS.items()):  # the HTML report's path is the last line
            if name in written:
                logger.info("%s: %s", title, written[name])

    @hook_impl(trylast=True)
    def on_pipeline_error(self, pipeline: Any, catalog: Any) -> None:
        written = self._outputs(pipeline, catalog)
        if not written:
            logger.info("This run failed before writing any output.")
            return
        logger.info("This run failed; it wrote %d output(s) before the error:", len(written))
        for name, path in written.items():
            logger.info("  %s: %s", name, path)

    def _outputs(self, pipeline: Any, catalog: Any) -> dict[str, str]:
        """{output name: path} of what this run wrote, in the order it wrote them: the outputs
        saved in this process, then any other output of the pipeline whose save version exists
        (saved by a worker process)."""
        names = list(self._written)
        names += [n for n in sorted(pipeline.all_outputs()) if n not in self._written]
        written = {}
        for name in names:
            dataset = catalog_dataset(catalog, name)
            path = saved_path(dataset) if dataset is not None else None
            if path is None:
                continue
            if name in self._written or (_versioned(dataset) and Path(path).exists()):
                written[name] = path
        self._written = {}
        return written
