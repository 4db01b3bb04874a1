"""Nodes of data_processing: thin steps over cxr_gan.data and cxr_gan.reporting."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cxr_gan.data.annotations import annotate_near_duplicates, resolve_label_conflicts
from cxr_gan.data.ingest import (
    IngestResult,
    check_class_counts,
    compact_to_usable,
    flag_suspect_images,
    ingest_collection,
    usable_mask,
)
from cxr_gan.data.patients import (
    attach_patient_ids,
    dicom_patient_id_reader,
    find_patient_table,
)
from cxr_gan.data.sources import RawXrayCollection
from cxr_gan.data.split import connected_groups, links_from_keys, stratified_group_split
from cxr_gan.pipelines.data_processing.params import DataProcessingParams
from cxr_gan.reporting.data_quality import build_quality_report, plot_contact_sheet

logger = logging.getLogger(__name__)


def ingest_raw_xrays(
    raw_xrays: RawXrayCollection, params: DataProcessingParams
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Decode, normalise and hash every raw file; return the arrays and the raw-data manifest."""
    result = ingest_collection(raw_xrays, params.classes, **params.ingest_options())
    result = flag_suspect_images(result, params.on_suspect_image, raw_xrays.root)
    manifest = result.manifest
    check_class_counts(manifest, params.classes, params.min_images_per_class, raw_xrays.root)
    patient_table = find_patient_table(
        raw_xrays.csv_files,
        params.patient_csv,
        raw_xrays.root,
        manifest["relative_path"].tolist(),
    )
    manifest = attach_patient_ids(
        manifest,
        patient_table,
        raw_xrays.root,
        dicom_patient_id=dicom_patient_id_reader(
            raw_xrays.root, {f.relative_path: f.read_bytes for f in raw_xrays.files}
        ),
        probable_from_names=params.probable_patients_from_names,
    )
    manifest = annotate_near_duplicates(
        manifest,
        params.near_duplicate_max_distance,
        result.images,
        min_inliers=params.near_duplicate_min_inliers,
        candidates_per_image=params.near_duplicate_candidates,
    )
    manifest = resolve_label_conflicts(manifest, params.on_label_conflict)
    result = compact_to_usable(IngestResult(result.images, manifest))
    manifest = result.manifest
    check_class_counts(manifest, params.classes, params.min_images_per_class, raw_xrays.root)
    usable = manifest[usable_mask(manifest)].sort_values("array_index")
    arrays = {
        "images": result.images,
        "labels": usable["label"].to_numpy(np.int8),
        "ids": usable["id"].to_numpy(str),
        "source_paths": np.array([f"{raw_xrays.root}/{p}" for p in usable["relative_path"]]),
    }
    logger.info(
        "Processed %d of %d files into %s arrays (%s)",
        len(usable),
        len(manifest),
        "x".join(map(str, result.images.shape)),
        ", ".join(
            f"{folder}: {int((usable['class_folder'] == folder).sum())}"
            for folder in params.classes
        ),
    )
    return arrays, manifest


def split_train_test(raw_manifest: pd.DataFrame, params: DataProcessingParams) -> pd.DataFrame:
    """Stratified train/test split, whole patients and near-duplicate groups on one side."""
    usable = raw_manifest[usable_mask(raw_manifest)].sort_values("array_index")
    ids = usable["id"].tolist()
    position = {image_id: i for i, image_id in enumerate(ids)}
    links = links_from_keys(usable["patient_id"].astype(str).tolist())
    for i, neighbours in enumerate(usable["near_duplicates"].fillna("")):
        links += [(i, position[other]) for other in neighbours.split(";") if other in position]
    groups = connected_groups(len(ids), links)
    labels = usable["label"].to_numpy()
    is_test = stratified_group_split(labels, groups, params.test_fraction, params.split_seed)
    split = pd.DataFrame(
        {
            "id": ids,
            "label": labels,
            "patient_id": usable["patient_id"].tolist(),
            "group": groups,
            "split": np.where(is_test, "test", "train"),
        }
    )
    logger.info(
        "Split %d images into %d train and %d test (%d groups, seed %d)",
        len(split),
        int((~is_test).sum()),
        int(is_test.sum()),
        len(np.unique(groups)),
        params.split_seed,
    )
    return split


def report_data_quality(
    raw_manifest: pd.DataFrame, xray_split: pd.DataFrame, params: DataProcessingParams
) -> dict[str, Any]:
    """The JSON data-quality report: what was used, what was left out and why."""
    return build_quality_report(raw_manifest, xray_split, params.classes, params.model_dump())


def draw_contact_sheet(xray_arrays: dict[str, np.ndarray], params: DataProcessingParams) -> Figure:
    """A few processed images per class, to check orientation and contrast at a glance."""
    return plot_contact_sheet(
        xray_arrays["images"],
        xray_arrays["labels"],
        xray_arrays["ids"],
        params.classes,
        params.contact_sheet_per_class,
    )
