"""report: the latest (or --load-versions) saved outputs of the study -> one HTML page and its
Markdown twin (data/08_reporting/study_report.html, study_report_md). The last node of
__default__; `kedro run --pipelines report` rebuilds the page alone from what is saved."""

from __future__ import annotations

import warnings

from kedro.pipeline import Node, Pipeline

from cxr_gan.pipelines.report.nodes import build_report, report_inputs
from cxr_gan.pipelines.shape import configured_shape


def create_pipeline(**kwargs) -> Pipeline:
    shape = configured_shape()  # the experiments and GAN variants whose outputs exist
    experiments, variants = list(shape.experiments), list(shape.variants)
    # keyword name -> catalog name ("real.gradcam" is not a Python name: "real__gradcam")
    inputs = {
        name.replace(".", "__").replace(":", "__"): name
        for name in report_inputs(experiments, variants)
    }

    def build_study_report(**by_key):
        return build_report(
            {inputs[key]: data for key, data in by_key.items()}, experiments, variants
        )

    build_study_report.__doc__ = build_report.__doc__
    with warnings.catch_warnings():  # "a.b" names here are namespaced outputs, used on purpose
        warnings.filterwarnings("ignore", message="One or more dataset names contain")
        node = Node(
            build_study_report,
            inputs=inputs,
            outputs=["study_report", "study_report_markdown"],
            name="build_study_report",
        )
    return Pipeline([node])
