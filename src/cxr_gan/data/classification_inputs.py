"""The classification pipeline's shared inputs: the real splits every experiment uses, read the
way the synthetic images were made, with each test image's source; and the optional external
test folder, processed exactly like the raw data."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import pandas as pd

from cxr_gan.data.annotations import read_source_column
from cxr_gan.data.experiments import (
    ImageSubset,
    RealSplits,
    match_resolution,
    resolution_plan,
    split_real_images,
)
from cxr_gan.data.ingest import OK, ingest_collection
from cxr_gan.data.sources import RawXrayCollection

logger = logging.getLogger(__name__)
# data_processing's settings an extra folder is ingested with (the external test folder, the
# GAN's external realism check), each a node input of its own: the keyword options of
# data.ingest.ingest_collection, DataProcessingParams.ingest_options's keys
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


@dataclass(frozen=True, eq=False)
class ClassificationData(RealSplits):
    """Real train / validation / test images shared by every experiment (catalog entry
    classification_data, in memory for one run), plus:"""

    resolution: Mapping[str, Any]  # resolution_plan(): whether real images went through the
    # GAN's size and back ("matched", "generator_size", ...), and the report's sentence
    test_sources: np.ndarray | None  # str (n_test,): each test image's source, None if unknown


class ExternalData(TypedDict, total=False):
    """The external test folder (catalog entry external_data); {} when there is none."""

    images: np.ndarray  # uint8 (n, s, s), a memmap or LazyRows
    labels: np.ndarray  # int32 (n,)
    ids: np.ndarray  # str (n,)
    root: str
    sources: np.ndarray | None  # str (n,), from a CSV at the folder's root; None without one


def assemble_classification_data(
    xray_arrays: dict[str, np.ndarray],
    xray_split: pd.DataFrame,
    raw_manifest: pd.DataFrame,
    *,
    validation_fraction: float,
    seed: int,
    match_synthetic_resolution: bool,
    generator_size: int | None,
    input_size: int,
    source_column: str | None,
) -> ClassificationData:
    """The real splits (split_real_images), read through the GAN's size and back when
    resolution_plan says so (match_resolution), and each test image's source (the raw
    manifest's source_column, when it has one).

    xray_arrays: {"images": uint8 (n, s, s) 0..255 (a memmap), "labels": int (n,) 0/1, "ids":
    str (n,)}; xray_split: one row per id with "split" ("train" / "test") and "patient_id";
    validation_fraction: 0 (none) up to below 1, of the training split, whole patients only;
    generator_size, input_size: px. The subsets hold uint8 (n, s, s) LazyRows (read a batch at a
    time) and int32 labels; test_sources is str (n_test,) or None. Raises KeyError when an image
    id is missing from xray_split, ValueError when validation_fraction is 1 or more."""
    splits = split_real_images(xray_arrays, xray_split, validation_fraction, seed)
    plan = resolution_plan(
        match_synthetic_resolution, generator_size, int(splits.test.images.shape[1]), input_size
    )
    if plan["matched"]:
        splits = dataclasses.replace(
            splits,
            **{
                part: dataclasses.replace(
                    subset, images=match_resolution(subset.images, plan["generator_size"])
                )
                for part, subset in (
                    ("train", splits.train),
                    ("validation", splits.validation),
                    ("test", splits.test),
                )
            },
        )
    logger.info(plan["sentence"])
    data = ClassificationData(
        **{field.name: getattr(splits, field.name) for field in dataclasses.fields(splits)},
        resolution=plan,
        test_sources=image_sources(raw_manifest, splits.test.ids, source_column),
    )
    logger.info(
        "Classification data: %d real training, %d validation, %d test images",
        len(data.train),
        len(data.validation),
        len(data.test),
    )
    return data


def image_sources(
    raw_manifest: pd.DataFrame, ids: np.ndarray, column: str | None
) -> np.ndarray | None:
    """Each image's source (raw_manifest[column], "unknown" where empty or the id is not in the
    manifest): str (len(ids),) in the order of ids; None when `column` is None/empty or the
    manifest has no such column (logged, so per-source metrics are skipped, not failed).
    Raises KeyError when the manifest has `column` but no "id" column."""
    if column and column in raw_manifest.columns:
        source_of = dict(zip(raw_manifest["id"], raw_manifest[column].astype(str), strict=True))
        return np.array([source_of.get(i, "") or "unknown" for i in ids])
    if column:
        logger.info(
            "The raw manifest has no column '%s' (classification.source_column): "
            "per-source metrics skipped; add it to the patient CSV to get them",
            column,
        )
    return None


def external_test_set(
    external_xrays: RawXrayCollection,
    classes: Mapping[str, int],
    ingest_options: Mapping[str, Any],
    resolution: Mapping[str, Any] | None,
    source_column: str | None,
) -> ExternalData:
    """The external folder ingested like the raw data (ingest_collection with the same classes
    and options), read through the GAN's size and back when the real images were
    (resolution["matched"]), with each image's source from a CSV at the folder's root that
    names the files (read_source_column); "sources" is None without one.

    Returns ExternalData: images uint8 (n, s, s) 0..255 (memmap, or LazyRows when matched),
    labels int32 (n,) from `classes` (folder -> 0/1), ids str (n,), root, sources str (n,) or
    None. resolution: resolution_plan()'s dict ("matched", "generator_size" in px) or None.
    Raises DataProcessingError when a class folder is missing or holds no files."""
    result = ingest_collection(external_xrays, classes, **ingest_options)
    usable = result.manifest[result.manifest["status"] == OK].sort_values("array_index")
    logger.info("External validation: %d usable images from %s", len(usable), external_xrays.root)
    images = result.images
    if (resolution or {}).get("matched"):
        images = match_resolution(images, resolution["generator_size"])
    sources = None
    if source_column:
        found = read_source_column(
            external_xrays.csv_files,
            external_xrays.root,
            usable["relative_path"].astype(str).tolist(),
            source_column,
        )
        if found is None:
            logger.info(
                "No CSV at the root of %s names each image's %s: external per-source metrics "
                "and the source-matched AUC skipped",
                external_xrays.root,
                source_column,
            )
        else:
            sources = np.array(found)
    return {
        "images": images,
        "labels": usable["label"].to_numpy(np.int32),
        "ids": usable["id"].to_numpy(str),
        "root": external_xrays.root,
        "sources": sources,
    }


def external_subset(external_data: ExternalData | None) -> ImageSubset | None:
    """The external folder as an ImageSubset, None without one ({} or None): images uint8
    (n, s, s) as stored, labels int32 (n,) 0/1, ids str (n,), synthetic all False (n,). Raises
    KeyError when a non-empty external_data lacks "images", "labels" or "ids"."""
    if not external_data:
        return None
    labels = external_data["labels"]
    return ImageSubset(
        external_data["images"], labels, external_data["ids"], np.zeros(len(labels), bool)
    )
