"""gan_training: training split -> conditional GAN generator, history, sample grids, figures.

One extra namespaced copy per entry of gan_training.variants (see pipelines/shape.py), and a
figure comparing every variant's final samples.
"""

from __future__ import annotations

import warnings
from typing import Any

from kedro.pipeline import Node, Pipeline

from cxr_gan.pipelines.gan_training.nodes import (
    compare_variant_grids,
    plot_grids_over_epochs,
    plot_training_curves,
    split_gan_evaluation,
    train_conditional_gan,
)
from cxr_gan.pipelines.gan_training.params import GanTrainingParams
from cxr_gan.pipelines.shape import configured_shape


def _trainer_with(overrides: dict[str, Any]):
    def train_variant(xray_arrays, gan_split, params: GanTrainingParams):
        return train_conditional_gan(xray_arrays, gan_split, params.with_overrides(overrides))

    train_variant.__doc__ = f"Train the GAN with overrides {overrides}."
    return train_variant


def _training_pipeline(train_function) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_function,
                inputs=["xray_arrays", "gan_split", "params:gan_training"],
                outputs=["generator", "gan_history", "gan_sample_grids"],
                name="train_conditional_gan",
            ),
            Node(
                plot_training_curves,
                inputs="gan_history",
                outputs="gan_loss_curves",
                name="plot_gan_loss_curves",
            ),
            Node(
                plot_grids_over_epochs,
                inputs=["gan_sample_grids", "gan_history", "params:gan_training"],
                outputs="gan_grids_over_epochs",
                name="plot_gan_grids_over_epochs",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    # one GAN split for the main run and every variant: all are judged on the same images
    split = Pipeline(
        [
            Node(
                split_gan_evaluation,
                inputs=["xray_split", "params:gan_training"],
                outputs="gan_split",
                name="split_gan_evaluation",
            )
        ]
    )
    main = split + _training_pipeline(train_conditional_gan)
    variants = configured_shape().variants
    if not variants:
        return main
    shared = {"xray_arrays", "gan_split"}
    copies = [
        Pipeline(
            _training_pipeline(_trainer_with(overrides)),
            namespace=name,
            inputs=shared,
            parameters={"params:gan_training"},
        )
        for name, overrides in variants.items()
    ]
    with warnings.catch_warnings():  # "a.b" names here are namespaced outputs, used on purpose
        warnings.filterwarnings("ignore", message="One or more dataset names contain")
        comparison = _comparison_node(variants)
    return main + sum(copies, Pipeline([])) + Pipeline([comparison])


def _comparison_node(variants: dict[str, dict[str, Any]]) -> Node:
    return Node(
        compare_variant_grids,
        inputs={
            "params": "params:gan_training",
            "main_grids": "gan_sample_grids",
            **{f"{name}_grids": f"{name}.gan_sample_grids" for name in variants},
        },
        outputs="gan_variant_comparison",
        name="compare_gan_variants",
    )
