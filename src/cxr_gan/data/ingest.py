"""Stream a raw X-ray collection into one uint8 array and a manifest of every file seen.

Files are read, hashed, decoded and resized one at a time and written straight into a preallocated
memory-mapped .npy file (a scratch file that the xray_arrays dataset then moves into its version
folder), so neither the raw files nor the decoded images need to fit in memory at once. Nothing
is dropped silently: each file gets a status (ok, skipped, duplicate, label_conflict, ignored)
and a reason.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxr_gan.data.decoding import BadImageError, decode_xray, is_hidden_file
from cxr_gan.data.preprocessing import ResizeMode, perceptual_hash, resize_square
from cxr_gan.data.sources import RawXrayCollection
from cxr_gan.datasets.npy_folder_dataset import scratch_npy, shrink_npy_rows
from cxr_gan.progress import ProgressLog

logger = logging.getLogger(__name__)

OK, SKIPPED, DUPLICATE, LABEL_CONFLICT, IGNORED = (
    "ok",
    "skipped",
    "duplicate",
    "label_conflict",
    "ignored",
)
MANIFEST_COLUMNS = [
    "id",
    "relative_path",
    "class_folder",
    "label",
    "status",
    "reason",
    "sha256",
    "size_bytes",
    "format",
    "mode",
    "width",
    "height",
    "phash",
    "array_index",
]


class DataProcessingError(RuntimeError):
    """The raw data cannot make a usable dataset; the message says which folder or file and why."""


@dataclass
class IngestResult:
    images: np.ndarray  # (n, size, size) uint8 np.memmap, rows in manifest order of "ok"
    manifest: pd.DataFrame  # one row per file seen, MANIFEST_COLUMNS


def check_class_folders(collection: RawXrayCollection, classes: Mapping[str, int]) -> None:
    """Fail before any work when a class folder is missing or holds no files at all."""
    for folder in classes:
        if folder not in collection.folders:
            raise DataProcessingError(
                f"class folder '{folder}' is missing in {collection.root}: put the class's images "
                f"in {collection.root}/{folder}/, change data_processing.classes to match your "
                "folder names, or try `kedro run --env demo` for built-in phantom X-rays"
            )
        if not [f for f in collection.in_folder(folder) if not is_hidden_file(f.relative_path)]:
            raise DataProcessingError(
                f"class folder {collection.root}/{folder} is empty: copy the class's images "
                "(PNG, JPEG, BMP, TIFF or DICOM) into it, or try `kedro run --env demo` for "
                "built-in phantom X-rays"
            )


def ingest_collection(
    collection: RawXrayCollection,
    classes: Mapping[str, int],
    *,
    image_size: int,
    resize_mode: ResizeMode,
    max_pixels: int,
    on_bad_file: str,
    scratch_dir: str | Path | None = None,
) -> IngestResult:
    """Decode every file of every class folder; see the module docstring for the rules.

    The images land in a scratch .npy under scratch_dir (default $TMPDIR), sized for every
    candidate file and shrunk in place to the usable ones at the end."""
    check_class_folders(collection, classes)
    candidates = [f for f in collection.files if f.folder in classes]
    rows: list[dict] = [
        _row(f.relative_path, f.folder, -1, IGNORED, f"folder '{f.folder}' is not in classes")
        for f in collection.files
        if f.folder not in classes
    ]
    for folder in sorted({f.folder for f in collection.files} - set(classes)):
        logger.warning(
            "Ignoring folder %s/%s: it is not one of data_processing.classes %s",
            collection.root,
            folder,
            sorted(classes),
        )
    # disk-backed: pages are written out and can be dropped by the kernel as decoding goes on
    images = scratch_npy((len(candidates), image_size, image_size), np.uint8, scratch_dir)
    first_by_hash: dict[str, dict] = {}
    progress = ProgressLog(len(candidates), "Decoding X-rays", logger, unit="files")
    count = 0
    for raw in candidates:
        label = int(classes[raw.folder])
        row = _row(raw.relative_path, raw.folder, label, OK, "")
        rows.append(row)
        progress.update()
        if is_hidden_file(raw.relative_path):  # clutter, never worth failing a run for
            _reject(row, SKIPPED, "hidden or system file, not an X-ray", "skip")
            continue
        data = raw.read_bytes()
        row["size_bytes"] = len(data)
        row["sha256"] = hashlib.sha256(data).hexdigest()
        first = first_by_hash.get(row["sha256"])
        if first is not None:
            if first["label"] == label:
                row.update(status=DUPLICATE, reason=f"exact duplicate of {first['id']}")
            else:
                reason = f"same content in two classes: {first['id']} and {row['id']}"
                for conflicting in (first, row):
                    conflicting.update(status=LABEL_CONFLICT, reason=reason)
                logger.error("Label conflict: %s; both copies are left out", reason)
                if on_bad_file == "fail":
                    raise DataProcessingError(f"{reason}: keep the image in one class folder only")
            continue
        first_by_hash[row["sha256"]] = row
        try:
            decoded = decode_xray(data, raw.relative_path, max_pixels)
        except BadImageError as error:
            _reject(row, SKIPPED, str(error), on_bad_file, collection.root)
            continue
        del data
        pixels = resize_square(decoded.pixels, image_size, resize_mode)
        images[count] = pixels
        row.update(
            format=decoded.format,
            mode=decoded.mode,
            width=decoded.width,
            height=decoded.height,
            phash=f"{perceptual_hash(pixels):016x}",
            array_index=count,
        )
        count += 1

    kept = [row for row in rows if row["status"] == OK and row["array_index"] >= 0]
    removed = [row for row in rows if row["status"] != OK and row["array_index"] >= 0]
    for row in removed:
        row["array_index"] = -1
    _compact_in_place(images, [row["array_index"] for row in kept])
    for new_index, row in enumerate(kept):
        row["array_index"] = new_index
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    return IngestResult(shrink_npy_rows(images, len(kept)), manifest)


def _row(relative_path: str, folder: str, label: int, status: str, reason: str) -> dict:
    return {
        "id": relative_path,
        "relative_path": relative_path,
        "class_folder": folder,
        "label": label,
        "status": status,
        "reason": reason,
        "sha256": "",
        "size_bytes": 0,
        "format": "",
        "mode": "",
        "width": 0,
        "height": 0,
        "phash": "",
        "array_index": -1,
    }


def _reject(row: dict, status: str, reason: str, on_bad_file: str, root: str = "") -> None:
    row.update(status=status, reason=reason)
    where = f"{root}/{row['relative_path']}" if root else row["relative_path"]
    if on_bad_file == "fail":
        raise DataProcessingError(
            f"{where}: {reason}. Remove or replace the file, or set "
            "data_processing.on_bad_file: skip to leave such files out and list them in the report"
        )
    logger.warning("Skipping %s: %s", where, reason)


def _compact_in_place(images: np.ndarray, old_indices: list[int]) -> None:
    """Move kept rows to the front without a second copy of the array (old_indices ascending)."""
    for new_index, old_index in enumerate(old_indices):
        if new_index != old_index:
            images[new_index] = images[old_index]


def check_class_counts(
    manifest: pd.DataFrame, classes: Mapping[str, int], min_images: int, root: str
) -> None:
    """Stop when a class has too few usable images to train and test on."""
    usable = manifest[manifest["status"] == OK]
    for folder in classes:
        count = int((usable["class_folder"] == folder).sum())
        if count < min_images:
            problems = manifest[(manifest["class_folder"] == folder) & (manifest["status"] != OK)]
            raise DataProcessingError(
                f"class folder {root}/{folder} has {count} usable images, fewer than "
                f"data_processing.min_images_per_class={min_images} ({len(problems)} files were "
                "left out; see the reasons logged above). Add images, lower "
                "min_images_per_class, or try `kedro run --env demo` for built-in phantom X-rays"
            )


def find_near_duplicates(phashes: list[str], max_distance: int) -> list[tuple[int, int, int]]:
    """Pairs (i, j, distance) of images whose 64-bit pHashes differ in <= max_distance bits."""
    if len(phashes) < 2:
        return []
    hashes = np.array([int(h, 16) for h in phashes], dtype=np.uint64)
    pairs = []
    for i in range(len(hashes) - 1):
        distances = np.bitwise_count(hashes[i + 1 :] ^ hashes[i])
        for offset in np.flatnonzero(distances <= max_distance):
            pairs.append((i, i + 1 + int(offset), int(distances[offset])))
    return pairs
