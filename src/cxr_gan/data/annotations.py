"""Add what the files alone do not say to the manifest: patient ids and near duplicates."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd

from cxr_gan.data.ingest import OK, DataProcessingError, find_near_duplicates

logger = logging.getLogger(__name__)
PATIENT_COLUMNS = ("filename", "patient_id")


def find_patient_table(
    tables: Mapping[str, pd.DataFrame], patient_csv: str | None, root: str
) -> tuple[str, pd.DataFrame] | None:
    """The CSV that maps files to patients: the one named, or with patient_csv='auto' the only
    root CSV that has both a filename and a patient_id column."""
    if patient_csv is None:
        return None
    if patient_csv != "auto":
        if patient_csv not in tables:
            raise DataProcessingError(
                f"data_processing.patient_csv names {root}/{patient_csv}, which does not exist: "
                f"put the CSV there, set patient_csv: auto, or null to split without patient ids"
            )
        table = tables[patient_csv]
        missing = [c for c in PATIENT_COLUMNS if c not in table.columns]
        if missing:
            raise DataProcessingError(
                f"{root}/{patient_csv} lacks column(s) {missing}; it needs 'filename' (path "
                "relative to the raw folder, e.g. covid/img1.png) and 'patient_id'"
            )
        return patient_csv, table
    matches = [
        (name, table)
        for name, table in tables.items()
        if all(column in table.columns for column in PATIENT_COLUMNS)
    ]
    if len(matches) > 1:
        names = ", ".join(name for name, _ in matches)
        raise DataProcessingError(
            f"several CSVs in {root} have filename and patient_id columns ({names}): "
            "name one with data_processing.patient_csv"
        )
    return matches[0] if matches else None


def attach_patient_table(manifest: pd.DataFrame, name: str, table: pd.DataFrame) -> pd.DataFrame:
    """Join the table's columns onto the manifest by path (clashing names get a csv_ prefix)."""
    table = table.drop_duplicates("filename").set_index("filename")
    table.columns = [f"csv_{c}" if c in manifest.columns else c for c in table.columns]
    merged = manifest.join(table, on="relative_path")
    merged["patient_id"] = merged["patient_id"].fillna("").astype(str)
    usable = merged["status"] == OK
    unmatched = int((usable & (merged["patient_id"] == "")).sum())
    if unmatched:
        logger.warning(
            "%d usable images have no patient_id in %s; each is split as its own patient",
            unmatched,
            name,
        )
    logger.info(
        "Patient ids from %s for %d images",
        name,
        int((usable & ~(merged["patient_id"] == "")).sum()),
    )
    return merged


def annotate_near_duplicates(manifest: pd.DataFrame, max_distance: int) -> pd.DataFrame:
    """Column near_duplicates: ids of other usable images within max_distance pHash bits."""
    manifest = manifest.copy()
    usable = manifest.index[manifest["status"] == OK].tolist()
    pairs = find_near_duplicates(manifest.loc[usable, "phash"].tolist(), max_distance)
    neighbours: dict[int, list[str]] = {index: [] for index in usable}
    for i, j, _ in pairs:
        a, b = usable[i], usable[j]
        neighbours[a].append(manifest.at[b, "id"])
        neighbours[b].append(manifest.at[a, "id"])
    manifest["near_duplicates"] = [";".join(neighbours.get(i, [])) for i in manifest.index]
    if pairs:
        logger.warning(
            "%d near-duplicate pairs (pHash distance <= %d); they are kept together in one split "
            "and listed in the data-quality report",
            len(pairs),
            max_distance,
        )
    return manifest
