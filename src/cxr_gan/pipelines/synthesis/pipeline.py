"""synthesis: generator -> 50 synthetic X-rays (one versioned set), a balanced set, quality report,
and the generator's model card.

Each GAN variant gets its own namespaced copy, reading that variant's generator.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from cxr_gan.data.classification_inputs import INGEST_OPTIONS
from cxr_gan.pipelines.shape import configured_shape
from cxr_gan.pipelines.synthesis.nodes import (
    assess_synthetic_quality,
    describe_generator,
    synthesize_balanced_xrays,
    synthesize_xrays,
)

_PARAMS = ["params:synthesis", "params:data_processing.classes"]  # the classes: folder -> label
# how an external folder is ingested: as data_processing ingests the raw folder
_INGEST = {option: f"params:data_processing.{option}" for option in INGEST_OPTIONS}


def _synthesis_pipeline() -> Pipeline:
    return Pipeline(
        [
            Node(
                synthesize_xrays,
                inputs=["generator", *_PARAMS],
                outputs="synthetic_xrays",
                name="synthesize_xrays",
            ),
            Node(
                synthesize_balanced_xrays,
                inputs=["generator", *_PARAMS],
                outputs="synthetic_balanced_xrays",
                name="synthesize_balanced_xrays",
            ),
            Node(
                assess_synthetic_quality,
                inputs={
                    "generator": "generator",
                    "synthetic_xrays": "synthetic_xrays",
                    "xray_arrays": "xray_arrays",
                    "xray_split": "xray_split",
                    "gan_split": "gan_split",
                    "params": "params:synthesis",
                    "classes": "params:data_processing.classes",
                    "external_xrays": "external_xrays",  # optional: absent, the node gets None
                    **_INGEST,
                },
                outputs=["gan_quality_report", "gan_quality_figure"],
                name="assess_synthetic_quality",
            ),
            Node(
                describe_generator,
                inputs=[
                    "generator",
                    "gan_history",
                    "gan_split",
                    "raw_manifest",
                    "gan_quality_report",
                    "params:data_processing.classes",
                ],
                outputs="generator_card",
                name="describe_generator",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    main = _synthesis_pipeline()
    copies = [
        Pipeline(
            _synthesis_pipeline(),
            namespace=name,
            # shared: every variant is judged against the same GAN evaluation split
            inputs={"xray_arrays", "xray_split", "gan_split", "raw_manifest", "external_xrays"},
            parameters={*_PARAMS, *_INGEST.values()},
        )
        for name in configured_shape().variants
    ]
    return main + sum(copies, Pipeline([]))
