"""data_processing: raw X-ray folder -> manifest, normalised arrays, split, quality report."""

from kedro.pipeline import Node, Pipeline

from cxr_gan.pipelines.data_processing.nodes import (
    draw_contact_sheet,
    ingest_raw_xrays,
    report_data_quality,
    split_train_test,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                ingest_raw_xrays,
                inputs=["raw_xrays", "params:data_processing"],
                outputs=["xray_arrays", "raw_manifest"],
                name="ingest_raw_xrays",
            ),
            Node(
                split_train_test,
                inputs=["raw_manifest", "params:data_processing"],
                outputs="xray_split",
                name="split_train_test",
            ),
            Node(
                report_data_quality,
                inputs=["raw_manifest", "xray_split", "params:data_processing"],
                outputs="data_quality_report",
                name="report_data_quality",
            ),
            Node(
                draw_contact_sheet,
                inputs=["xray_arrays", "params:data_processing"],
                outputs="contact_sheet",
                name="draw_contact_sheet",
            ),
        ]
    )
