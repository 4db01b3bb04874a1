"""Node of report: the loaded outputs of the other pipelines -> the study report (HTML, Markdown).

The node is a thin call of cxr_gan.reporting.study_report; it only maps catalog names to that
module's StudyResults. The catalog names it reads are listed by `report_inputs` (pipeline.py
builds the node from it, so the two cannot disagree).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cxr_gan.reporting.report_gan import GanResults
from cxr_gan.reporting.software import software_versions
from cxr_gan.reporting.study_report import ExperimentFigures, StudyResults, build_study_report

logger = logging.getLogger(__name__)

RUN_RECORD = "report_run_record"  # filled by cxr_gan.run_record.RunRecordHooks
DATA_INPUTS = ("data_quality_report", "contact_sheet")
# a GAN's outputs, under the variant's namespace for a variant (gan_training, synthesis)
GAN_INPUTS = (
    "gan_history",
    "gan_loss_curves",
    "gan_grids_over_epochs",
    "gan_sample_grids",
    "gan_quality_report",
    "gan_quality_figure",
    "synthetic_xrays",
    "generator_card",  # the model card, linked from the GAN's section
)
CLASSIFICATION_INPUTS = (
    "classification_comparison",
    "classification_comparison_table",
    "classification_comparison_plot",
)
EXPERIMENT_FIGURES = ("training_curves", "roc_curve", "gradcam")
# the parameters shown: each pipeline's section (params:<section>, not the whole "parameters",
# so that an Airflow task of this pipeline starts from nothing kept in memory)
PARAMETER_SECTIONS = ("data_processing", "gan_training", "synthesis", "classification")


def report_inputs(experiments: Sequence[str], variants: Sequence[str]) -> list[str]:
    """The catalog names the report reads for these experiments and GAN variants, in order."""
    names = [*DATA_INPUTS, *GAN_INPUTS]
    for variant in variants:
        names += [f"{variant}.{name}" for name in GAN_INPUTS]
    if variants:
        names.append("gan_variant_comparison")
    names += CLASSIFICATION_INPUTS
    for experiment in experiments:
        names += [f"{experiment}.{figure}" for figure in EXPERIMENT_FIGURES]
    return [*names, *(f"params:{section}" for section in PARAMETER_SECTIONS), RUN_RECORD]


def _final_grid(
    sample_grids: Mapping[str, Any] | None, history: Mapping[str, Any] | None = None
) -> bytes | None:
    """The sample grid of the saved generator's epoch (gan_history's generator_epoch, see
    keep_generator), else the last one, as PNG bytes."""
    if not sample_grids or not len(sample_grids["images"]):
        return None
    from cxr_gan.data.thumbnails import png_bytes

    epochs = list(sample_grids["manifest"]["epoch"])
    saved = (history or {}).get("generator_epoch")
    index = epochs.index(saved) if saved in epochs else -1
    return png_bytes(sample_grids["images"][index])


def _sheet(image_set: Mapping[str, Any] | None) -> bytes | None:
    from cxr_gan.data.thumbnails import thumbnail_sheet

    if not image_set or not len(image_set["images"]):
        return None
    return thumbnail_sheet(image_set["images"])


def _gan(loaded: Mapping[str, Any], prefix: str) -> GanResults:
    def get(name: str) -> Any:
        return loaded.get(prefix + name)

    return GanResults(
        history=get("gan_history"),
        loss_curves=get("gan_loss_curves"),
        grids_over_epochs=get("gan_grids_over_epochs"),
        final_grid=_final_grid(get("gan_sample_grids"), get("gan_history")),
        quality=get("gan_quality_report"),
        quality_figure=get("gan_quality_figure"),
        synthetic_sheet=_sheet(get("synthetic_xrays")),
        card=get("generator_card"),
    )


def build_report(
    loaded: Mapping[str, Any], experiments: Sequence[str], variants: Sequence[str]
) -> tuple[str, dict[str, Any]]:
    """The study report from the loaded outputs ({catalog name: data}, names of report_inputs):
    (the HTML page, {"markdown", "figures"} for the Markdown twin's folder). Paths are shown
    relative to the project (the run record's project_path, else the working directory);
    the software versions and git commit are read there (reporting.software)."""
    record = loaded.get(RUN_RECORD) or {}
    root = str((record.get("run") or {}).get("project_path") or Path.cwd())
    results = StudyResults(
        data_quality=loaded.get("data_quality_report"),
        contact_sheet=loaded.get("contact_sheet"),
        gan=_gan(loaded, ""),
        variants={name: _gan(loaded, f"{name}.") for name in variants},
        variant_comparison=loaded.get("gan_variant_comparison"),
        comparison=loaded.get("classification_comparison"),
        comparison_markdown=loaded.get("classification_comparison_table"),
        comparison_plot=loaded.get("classification_comparison_plot"),
        experiments={
            name: ExperimentFigures(
                *(loaded.get(f"{name}.{figure}") for figure in EXPERIMENT_FIGURES)
            )
            for name in experiments
        },
        parameters={
            section: loaded[f"params:{section}"]
            for section in PARAMETER_SECTIONS
            if f"params:{section}" in loaded
        },
        run_record=loaded.get(RUN_RECORD),
        software=software_versions(root),
        project_root=root,
    )
    report = build_study_report(results)
    logger.info(
        "Study report built: %d figures, %d experiment(s), %d GAN variant(s)",
        report.figure_count,
        len(experiments),
        len(variants),
    )
    return report.html, {"markdown": report.markdown, "figures": report.figures}
