"""Add what the files alone do not say to the manifest: near duplicates, label conflicts, each
image's source; patient ids come from cxr_gan.data.patients."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from cxr_gan.data.duplicates import (
    NEAR_DUPLICATE_CANDIDATES,
    NEAR_DUPLICATE_MIN_INLIERS,
    find_near_duplicate_pairs,
)
from cxr_gan.data.ingest import (
    LABEL_CONFLICT,
    DataProcessingError,
    find_near_duplicates,
    usable_mask,
)
from cxr_gan.data.patients import (
    FILE_COLUMNS,
    PatientTable,
    match_patient_rows,
    normalise_column,
    read_csv_bytes,
)

logger = logging.getLogger(__name__)


def annotate_near_duplicates(
    manifest: pd.DataFrame,
    max_distance: int,
    images: np.ndarray | None = None,
    *,
    min_inliers: int = NEAR_DUPLICATE_MIN_INLIERS,
    candidates_per_image: int = NEAR_DUPLICATE_CANDIDATES,
) -> pd.DataFrame:
    """Column near_duplicates: ids of other usable images that are the same radiograph.

    images: the stored arrays, uint8 (n, size, size), row = manifest's array_index (read one row
    at a time, so a memmap stays on disk). With them, re-encoded, resized, slightly cropped and
    rotated copies are found (cxr_gan.data.duplicates: pHash and ORB candidates, verified by
    ORB + RANSAC with at least min_inliers re-aligned matches both ways; pHash alone decides
    only for images with too few keypoints to verify). Without them (None), pHashes within
    max_distance bits pair images (the detector before; misses crops and rotations)."""
    manifest = manifest.copy()
    usable_rows = usable_mask(manifest)
    if images is not None:
        usable_rows &= manifest["array_index"] >= 0
    usable = manifest.index[usable_rows].tolist()
    phashes = manifest.loc[usable, "phash"].tolist()
    if images is None:
        pairs = [(i, j) for i, j, _ in find_near_duplicates(phashes, max_distance)]
        how = f"pHash distance <= {max_distance}"
    else:
        rows = manifest.loc[usable, "array_index"].astype(int).tolist()
        pairs = sorted(
            find_near_duplicate_pairs(
                len(usable),
                lambda position: np.asarray(images[rows[position]]),
                phashes,
                max_distance=max_distance,
                min_inliers=min_inliers,
                candidates_per_image=candidates_per_image,
            )
        )
        how = f"ORB + RANSAC: >= {min_inliers} matches agree both ways once aligned"
    neighbours: dict[int, list[str]] = {index: [] for index in usable}
    for i, j in pairs:
        a, b = usable[i], usable[j]
        neighbours[a].append(manifest.at[b, "id"])
        neighbours[b].append(manifest.at[a, "id"])
    manifest["near_duplicates"] = [";".join(neighbours.get(i, [])) for i in manifest.index]
    if pairs:
        logger.warning(
            "%d near-duplicate pairs (%s); they are kept together in one split "
            "and listed in the data-quality report",
            len(pairs),
            how,
        )
    return manifest


def resolve_label_conflicts(manifest: pd.DataFrame, on_label_conflict: str) -> pd.DataFrame:
    """Near-duplicate pairs in different classes are one radiograph with two labels.

    exclude: both leave every split (status label_conflict, the reason names both files);
    fail: stop the run naming both; keep: keep both (they are split together)."""
    manifest = manifest.copy()
    label_of = dict(zip(manifest["id"], manifest["label"], strict=True))
    conflicts: dict[int, list[str]] = {}
    for index in manifest.index[usable_mask(manifest)]:
        others = [
            other
            for other in str(manifest.at[index, "near_duplicates"] or "").split(";")
            if other and label_of.get(other) != manifest.at[index, "label"]
        ]
        if others:
            conflicts[index] = others
    if not conflicts:
        return manifest
    pairs = sorted(
        {tuple(sorted((manifest.at[i, "id"], o))) for i, os in conflicts.items() for o in os}
    )
    listed = "; ".join(f"{a} and {b}" for a, b in pairs)
    if on_label_conflict == "fail":
        raise DataProcessingError(
            f"the same radiograph is in two classes (near duplicates): {listed}. Keep each image "
            "in one class folder only, or set data_processing.on_label_conflict: exclude"
        )
    if on_label_conflict == "keep":
        logger.warning("Label conflicts kept (on_label_conflict: keep): %s", listed)
        return manifest
    for index, others in conflicts.items():
        here = manifest.at[index, "id"]
        manifest.at[index, "status"] = LABEL_CONFLICT
        manifest.at[index, "reason"] = (
            "label conflict: near duplicate of "
            + ", ".join(others)
            + f" in another class; {here} is left out of every split"
        )
    logger.error("Label conflicts (near duplicates in two classes), left out: %s", listed)
    return manifest


def read_source_column(
    csv_files: Mapping[str, Callable[[], bytes]],
    root: str,
    relative_paths: list[str],
    column: str,
) -> list[str] | None:
    """Each file's value of `column` (e.g. source_repo: the archive it came from) from a CSV at
    the folder's root that has a file-name column and that column (names compared without case,
    spaces, hyphens or underscores); files are matched as for patient ids (match_patient_rows).
    Returns one string per path ("unknown" where no row names the file), or None when no root
    CSV has the column or names any of the files. Unreadable CSVs are skipped with a log line."""
    wanted = normalise_column(column)
    for name in sorted(csv_files):
        try:
            table, _ = read_csv_bytes(name, csv_files[name](), root)
        except DataProcessingError as error:
            logger.info("Not reading sources from %s/%s: %s", root, name, error)
            continue
        columns = {normalise_column(c): c for c in table.columns}
        file_column = next((columns[c] for c in FILE_COLUMNS if c in columns), None)
        if file_column is None or wanted not in columns:
            continue
        found = PatientTable(name, "sources", file_column, None, table)
        found.patient_ids = [str(row) for row in range(len(table))]  # every row its own key
        rows = match_patient_rows(found, relative_paths)
        if not any(row >= 0 for row in rows):
            continue
        values = table[columns[wanted]].astype(str).str.strip().tolist()
        sources = [values[row] if row >= 0 and values[row] else "unknown" for row in rows]
        logger.info(
            "Image sources from %s/%s (column %s): %d of %d images matched",
            root,
            name,
            columns[wanted],
            sum(row >= 0 for row in rows),
            len(rows),
        )
        return sources
    return None
