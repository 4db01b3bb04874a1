"""The data-quality report (JSON) and contact sheet (figure) of the data_processing pipeline."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cxr_gan.data.ingest import LABEL_CONFLICT, WARNING, usable_mask
from cxr_gan.data.patients import PROBABLE, without_key_warning
from cxr_gan.reporting.confounds import attributes_by_class, find_confounds

logger = logging.getLogger(__name__)
ODD_ASPECT_RATIO = 3.0  # longer side / shorter side above this: probably not a chest X-ray view


def dataset_fingerprint(sha256s: list[str]) -> str:
    """One hash of the sorted content hashes: equal fingerprints mean identical input images.

    sha256s: hex SHA-256 digests of the images' file contents, any order. Returns 64 hex
    characters."""
    return hashlib.sha256("\n".join(sorted(sha256s)).encode()).hexdigest()


def usable_fingerprint(manifest: pd.DataFrame) -> str:
    """The data's fingerprint: dataset_fingerprint of the usable rows' (status ok or warning)
    sha256 column of a raw manifest (data_processing's raw_manifest). The data-quality report,
    every output's lineage record (cxr_gan.lineage) and the generator's model card all carry
    this one value. Raises KeyError when the manifest has no status or sha256 column."""
    return dataset_fingerprint(manifest.loc[usable_mask(manifest), "sha256"].tolist())


def build_quality_report(
    manifest: pd.DataFrame, split: pd.DataFrame, classes: Mapping[str, int], settings: dict
) -> dict[str, Any]:
    """Counts per class and stage, every problem file with its reason, duplicates, the split,
    the patient keys (and the WARNING when most images have none), and the file attributes per
    class with a WARNING for each that nearly gives the class away (cxr_gan.reporting.confounds);
    both warnings are logged too."""
    usable = manifest[usable_mask(manifest)]
    per_class = {}
    for folder, label in classes.items():
        files = manifest[manifest["class_folder"] == folder]
        in_split = split[split["label"] == label]
        per_class[folder] = {
            "label": label,
            "files_seen": len(files),
            "usable": int(usable_mask(files).sum()),
            "warnings": int((files["status"] == WARNING).sum()),
            "left_out_by_status": _counts(files.loc[~usable_mask(files), "status"]),
            "train": int((in_split["split"] == "train").sum()),
            "test": int((in_split["split"] == "test").sum()),
        }
    problems = manifest.loc[
        ~usable_mask(manifest), ["relative_path", "class_folder", "status", "reason"]
    ]
    warnings = manifest.loc[
        manifest["status"] == WARNING, ["relative_path", "class_folder", "status", "reason"]
    ]
    conflicts = manifest.loc[
        manifest["status"] == LABEL_CONFLICT, ["relative_path", "class_folder", "reason"]
    ]
    split_of = dict(zip(split["id"], split["split"], strict=True))
    near_pairs = []
    usable_ids = set(usable["id"])
    for _, row in usable.iterrows():
        for other in filter(None, str(row.get("near_duplicates", "")).split(";")):
            if row["id"] < other and other in usable_ids:
                near_pairs.append(
                    {
                        "a": row["id"],
                        "b": other,
                        "same_class": bool(
                            usable.loc[usable["id"] == other, "label"].iloc[0] == row["label"]
                        ),
                        "same_split": split_of.get(row["id"]) == split_of.get(other),
                    }
                )
    patients = _patients(usable, manifest)
    confounds = find_confounds(usable, classes)
    for confound in confounds:
        logger.warning("WARNING: %s", confound["sentence"])
    return {
        "fingerprint": usable_fingerprint(manifest),
        "settings": settings,
        "totals": {
            "files_seen": len(manifest),
            "usable": len(usable),
            "left_out": len(problems),
            "left_out_by_status": _counts(manifest.loc[~usable_mask(manifest), "status"]),
            "warnings": len(warnings),
            "train": int((split["split"] == "train").sum()),
            "test": int((split["split"] == "test").sum()),
        },
        "classes": per_class,
        "formats": _counts(usable["format"]),
        "modes": _counts(usable["mode"]),
        "original_sizes": {
            "width_min": int(usable["width"].min()) if len(usable) else 0,
            "width_max": int(usable["width"].max()) if len(usable) else 0,
            "height_min": int(usable["height"].min()) if len(usable) else 0,
            "height_max": int(usable["height"].max()) if len(usable) else 0,
        },
        "attributes_by_class": attributes_by_class(usable, classes),
        "confounds": confounds,
        "confound_warnings": [f"WARNING: {c['sentence']}" for c in confounds],
        **patients,
        "problems": problems.to_dict(orient="records"),
        "warnings": warnings.to_dict(orient="records"),
        "label_conflicts": conflicts.to_dict(orient="records"),
        "odd_images": _odd_images(usable),
        "near_duplicate_pairs": near_pairs,
        "near_duplicates_across_splits": sum(not p["same_split"] for p in near_pairs),
    }


def _patients(usable: pd.DataFrame, manifest: pd.DataFrame) -> dict[str, Any]:
    """How the split is grouped: patients known from a key, probable name groups, images
    without a key, the kinds of key, and the split-per-image WARNING (or None)."""
    if "patient_id" not in usable:
        return {"split_grouping": "near duplicates", "patients": 0, "patient_warning": None}
    ids = usable["patient_id"].fillna("").astype(str)
    source = usable.get("patient_source", pd.Series("", index=usable.index)).fillna("")
    known = ids[(ids != "") & (source != PROBABLE)]
    probable = ids[source == PROBABLE]
    grouping = "near duplicates"
    if len(known) or len(probable):
        grouping = "patient_id and near duplicates"
    warning = without_key_warning(manifest)
    return {
        "split_grouping": grouping,
        "patients": int(known.nunique()),
        "probable_patient_groups": int(probable.nunique()),
        "images_without_patient_key": int((ids == "").sum()),
        "patient_key_sources": _counts(source[source != ""].astype(str)),
        "patient_warning": f"WARNING: {warning}" if warning else None,
    }


def _odd_images(usable: pd.DataFrame) -> list[dict[str, Any]]:
    """Usable images whose shape suggests a wrong file (kept: a person should look at them)."""
    odd = []
    for _, row in usable.iterrows():
        width, height = int(row["width"]), int(row["height"])
        if min(width, height) > 0 and max(width, height) / min(width, height) > ODD_ASPECT_RATIO:
            odd.append(
                {
                    "relative_path": row["relative_path"],
                    "class_folder": row["class_folder"],
                    "reason": f"{width}x{height} px: aspect ratio over {ODD_ASPECT_RATIO:g}:1, "
                    "unusual for a chest X-ray; it was kept and resized to a square, so check it",
                }
            )
    return odd


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(key): int(count) for key, count in values.value_counts().items()}


def plot_contact_sheet(
    images: np.ndarray,
    labels: np.ndarray,
    ids: np.ndarray,
    classes: Mapping[str, int],
    per_class: int,
) -> Figure:
    """A row of processed images per class, with counts, to check orientation and contrast."""
    largest_class = max(int(np.sum(labels == label)) for label in classes.values())
    columns = max(1, min(per_class, largest_class))
    # a bare Figure, not pyplot: no global figure registry to leak or to need a display
    figure = Figure(figsize=(1.8 * columns, 2.1 * len(classes)))
    axes = figure.subplots(len(classes), columns, squeeze=False)
    for row, (folder, label) in enumerate(classes.items()):
        members = np.flatnonzero(labels == label)
        for column in range(columns):
            axis = axes[row][column]
            axis.axis("off")
            if column < len(members):
                index = members[column * len(members) // columns]
                axis.imshow(images[index], cmap="gray", vmin=0, vmax=255)
                axis.set_title(str(ids[index]).split("/")[-1][:22], fontsize=6)
        axes[row][0].text(
            -0.1,
            0.5,
            f"{folder}\n(n={len(members)})",
            transform=axes[row][0].transAxes,
            ha="right",
            va="center",
            fontsize=9,
        )
    figure.suptitle(
        f"Processed X-rays: {len(labels)} usable, {images.shape[1]}x{images.shape[2]} px",
        fontsize=10,
    )
    figure.tight_layout()
    return figure
