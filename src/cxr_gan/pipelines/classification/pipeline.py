"""classification: one namespaced copy of the same experiment pipeline per experiment, and one
comparison that answers "did the synthetic images help?"."""

from __future__ import annotations

import warnings
from typing import Any

from kedro.pipeline import Node, Pipeline
from matplotlib.figure import Figure

from cxr_gan.data.classification_inputs import ClassificationData
from cxr_gan.pipelines.classification.nodes import (
    compare_experiments,
    compute_backbone_features,
    explain_with_gradcam,
    plot_experiment_curves,
    plot_experiment_roc,
    prepare_classification_data,
    prepare_external_data,
    score_external,
    train_and_evaluate,
)
from cxr_gan.pipelines.classification.params import ClassificationParams
from cxr_gan.pipelines.shape import configured_shape

# data_processing's settings the external folder is ingested with, each a node input of its own
# (keyword options of data.ingest.ingest_collection; DataProcessingParams.ingest_options's keys)
INGEST_OPTIONS = (
    "image_size",
    "resize_mode",
    "max_pixels",
    "on_bad_file",
    "scratch_dir",
    "on_label_conflict",
    "keep_non_frontal",
    "patient_csv",
)
_SHARED = {
    "classification_data",
    "synthetic_xrays",
    "synthetic_balanced_xrays",
    "external_data",
    "backbone_features",
}


def _for_experiment(experiment: str):
    def train_experiment(
        classification_data,
        synthetic_xrays,
        synthetic_balanced_xrays,
        external_data,
        backbone_features,
        params: ClassificationParams,
    ):
        return train_and_evaluate(
            experiment,
            classification_data,
            synthetic_xrays,
            synthetic_balanced_xrays,
            params,
            external_data,
            backbone_features,
        )

    def plot_curves(classification_history):
        return plot_experiment_curves(classification_history, experiment)

    def explain(classifier, classification_data, params: ClassificationParams):
        return explain_with_gradcam(experiment, classifier, classification_data, params)

    train_experiment.__doc__ = f"Train and evaluate the '{experiment}' experiment over seeds."
    explain.__doc__ = f"Grad-CAM of the '{experiment}' model on test images as it sees them."
    return train_experiment, plot_curves, explain


def _experiment_pipeline(experiment: str) -> Pipeline:
    train_experiment, plot_curves, explain = _for_experiment(experiment)
    nodes = [
        Node(
            train_experiment,
            inputs=[
                "classification_data",
                "synthetic_xrays",
                "synthetic_balanced_xrays",
                "external_data",
                "backbone_features",
                "params:classification",
            ],
            outputs=["classifier", "classification_history", "classification_evaluation"],
            name="train_and_evaluate",
        ),
        Node(plot_curves, "classification_history", "training_curves", name="plot_training_curves"),
        Node(plot_experiment_roc, "classification_evaluation", "roc_curve", name="plot_roc_curve"),
        Node(
            score_external,
            ["classification_evaluation", "params:classification"],
            ["external_evaluation", "external_predictions"],
            name="score_external",
        ),
        Node(
            explain,
            ["classifier", "classification_data", "params:classification"],
            "gradcam",
            name="explain_with_gradcam",
        ),
    ]
    return Pipeline(
        nodes, namespace=experiment, inputs=_SHARED, parameters={"params:classification"}
    )


def create_pipeline(**kwargs) -> Pipeline:
    experiments = list(configured_shape().experiments)
    prepare = Node(
        prepare_classification_data,
        [
            "xray_arrays",
            "xray_split",
            "raw_manifest",
            "params:classification",
            "synthetic_xrays",  # their manifests give the GAN's size (generator_size)
            "synthetic_balanced_xrays",
        ],
        "classification_data",
        name="prepare_classification_data",
    )
    external = Node(
        prepare_external_data,
        {
            "external_xrays": "external_xrays",
            "classes": "params:data_processing.classes",
            "classification_data": "classification_data",
            "params": "params:classification",
            **{option: f"params:data_processing.{option}" for option in INGEST_OPTIONS},
        },
        "external_data",
        name="prepare_external_data",
    )
    features = Node(
        compute_backbone_features,
        [
            "classification_data",
            "synthetic_xrays",
            "synthetic_balanced_xrays",
            "external_data",
            "params:classification",
        ],
        "backbone_features",
        name="compute_backbone_features",
    )
    with warnings.catch_warnings():  # "a.b" names here are namespaced outputs, used on purpose
        warnings.filterwarnings("ignore", message="One or more dataset names contain")
        compare = _comparison_node(experiments)
    return (
        Pipeline([prepare, external, features])
        + sum((_experiment_pipeline(e) for e in experiments), Pipeline([]))
        + Pipeline([compare])
    )


def _comparison_node(experiments: list[str]) -> Node:
    """compare_experiments over every experiment's evaluation and external evaluation, passed
    by position in the order of `experiments`."""

    def compare(
        params: ClassificationParams,
        classification_data: ClassificationData,
        gan_quality_report: dict[str, Any] | None,
        *results: dict[str, Any],
    ) -> tuple[dict[str, Any], str, Figure]:
        evaluations = dict(zip(experiments, results[: len(experiments)], strict=True))
        externals = dict(zip(experiments, results[len(experiments) :], strict=True))
        return compare_experiments(
            params, classification_data, gan_quality_report, evaluations, externals
        )

    compare.__doc__ = compare_experiments.__doc__
    return Node(
        compare,
        inputs=[
            "params:classification",
            "classification_data",
            "gan_quality_report",  # its verdict sits beside the answer
            *[f"{e}.classification_evaluation" for e in experiments],
            *[f"{e}.external_evaluation" for e in experiments],
        ],
        outputs=[
            "classification_comparison",
            "classification_comparison_table",
            "classification_comparison_plot",
        ],
        name="compare_experiments",
    )
