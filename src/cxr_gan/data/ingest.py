"""Stream a raw X-ray collection into one uint8 array and a manifest of every file seen.

Files are read, hashed, decoded and resized one at a time and written straight into a preallocated
memory-mapped .npy file (a scratch file, cxr_gan.data.npy_scratch, that whoever saves the arrays
may adopt instead of writing them again), so neither the raw files nor the decoded images need to
fit in memory at once. Nothing is dropped silently: each entry the scan found gets a status (ok,
warning, skipped, excluded, duplicate, label_conflict, ignored) and a reason. `warning` marks a
usable image that decoded to something suspect (an almost empty dynamic range, or a mean
brightness far outside its class's), that is kept although not frontal (keep_non_frontal), or of
which only the first page was used: kept, or left out with on_suspect_image: skip, and named in
the data-quality report either way. `excluded` marks a file that is not a frontal chest
radiograph (cxr_gan.data.views: masks, lateral views, other modalities, multi-frame files).
Empty files are reported as empty before any duplicate check; a file reached through a link out
of the raw folder is hashed only once it decoded as an image.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxr_gan.data.decoded import BadImageError, DecodedImage, Finding, NotFrontalError
from cxr_gan.data.decoding import decode_xray, is_hidden_file
from cxr_gan.data.npy_scratch import scratch_npy, shrink_npy_rows
from cxr_gan.data.preprocessing import ResizeMode, perceptual_hash, resize_square
from cxr_gan.data.sources import RawFile, RawXrayCollection, read_problem, suggest_classes
from cxr_gan.data.views import (
    LATERAL,
    MASK,
    MULTI_FRAME,
    NON_FRONTAL_KINDS,
    NOT_RADIOGRAPH,
    path_findings,
    read_csv_views,
    two_level_finding,
    view_finding,
)
from cxr_gan.progress import ProgressLog

logger = logging.getLogger(__name__)

OK, WARNING, SKIPPED, DUPLICATE, LABEL_CONFLICT, IGNORED, EXCLUDED = (
    "ok",
    "warning",
    "skipped",
    "duplicate",
    "label_conflict",
    "ignored",
    "excluded",
)
KIND_WORDS = {
    MASK: "masks",
    LATERAL: "lateral or oblique views",
    NOT_RADIOGRAPH: "other modalities (not projection radiographs)",
    MULTI_FRAME: "multi-frame files",
}
USABLE_STATUSES = (OK, WARNING)  # in the arrays and the split
# suspect-image guard (measured on ../shared/cxr-dev: the narrowest 1st-99th percentile range of
# 200 real X-rays is 62 levels, the largest class-brightness deviation 3.3 robust SDs)
SUSPECT_MIN_DYNAMIC_RANGE = 40  # 1st..99th percentile of the stored pixels, in 0..255 levels
SUSPECT_BRIGHTNESS_Z = 4.0  # |mean - class median| / (1.4826 * MAD) above this is suspect
SUSPECT_MIN_CLASS_SIZE = 8  # fewer usable images in a class: no brightness comparison
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
    "mean_brightness",
    "dynamic_range",
    "array_index",
]


class DataProcessingError(RuntimeError):
    """The raw data cannot make a usable dataset; the message says which folder or file and why."""


@dataclass
class IngestResult:
    images: np.ndarray  # (n, size, size) uint8 np.memmap, rows in manifest order of "ok"
    manifest: pd.DataFrame  # one row per file seen, MANIFEST_COLUMNS


def check_class_folders(collection: RawXrayCollection, classes: Mapping[str, int]) -> None:
    """Fail before any work when a class folder is missing, cannot be read or holds no files at
    all; a missing one's message lists the folders found and, when they map onto the classes
    one to one (`COVID/`, `Normal/`), the data_processing.classes that would accept them."""
    missing = [folder for folder in classes if folder not in collection.folders]
    if missing:
        found = [f for f in collection.folders if not is_hidden_file(f"{f}/x")]
        mapping = suggest_classes(found, classes)
        raise DataProcessingError(
            f"class folder '{missing[0]}' is missing in {collection.root} (data_processing."
            f"classes: {', '.join(classes)}; found: {', '.join(found) or 'no folder'}): put the "
            f"class's images in {collection.root}/{missing[0]}/, change data_processing.classes "
            "to match your folder names, or try `kedro run --env demo` for built-in phantom "
            "X-rays"
            + (
                f". These folders are accepted with, in conf/local/parameters.yml:\n{mapping}"
                if mapping
                else ""
            )
        )
    for folder in classes:
        blocked = [f for f in collection.files if f.relative_path == folder and f.problem]
        if blocked:
            raise DataProcessingError(
                f"class folder {collection.root}/{folder}: {blocked[0].problem}; make it "
                "readable, or point data_processing.classes at a folder that is"
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
    on_label_conflict: str = "exclude",
    keep_non_frontal: Collection[str] = (),
    patient_csv: str | None = "auto",
) -> IngestResult:
    """Decode every file of every class folder; see the module docstring for the rules.

    keep_non_frontal: kinds of cxr_gan.data.views.NON_FRONTAL_KINDS kept in (status warning)
    instead of left out (status excluded). patient_csv: which CSV at the root may state views
    as well as patients ("auto": any, a file name: that one, None: none is read). The images
    land in a scratch .npy under scratch_dir (default $TMPDIR), sized for every candidate file
    and shrunk in place to the usable ones at the end. Raises DataProcessingError for a
    missing, unreadable or empty class folder, and, with on_bad_file: fail, for the first bad
    file."""
    check_class_folders(collection, classes)
    candidates = [f for f in collection.files if f.folder in classes]
    rows: list[dict] = [
        _outside_classes_row(f) for f in collection.files if f.folder not in classes
    ]
    for folder in sorted({f.folder for f in collection.files} - set(classes)):
        if folder and not is_hidden_file(f"{folder}/x"):
            logger.warning(
                "Ignoring folder %s/%s: it is not one of data_processing.classes %s",
                collection.root,
                folder,
                sorted(classes),
            )
    # disk-backed: pages are written out and can be dropped by the kernel as decoding goes on
    images = scratch_npy((len(candidates), image_size, image_size), np.uint8, scratch_dir)
    tables = {
        name: read for name, read in collection.csv_files.items() if patient_csv in ("auto", name)
    }
    judge = _Judge(collection.root, tables, candidates, max_pixels, on_bad_file, keep_non_frontal)
    first_by_hash: dict[str, dict] = {}
    progress = ProgressLog(len(candidates), "Decoding X-rays", logger, unit="files")
    count = 0
    for raw in candidates:
        label = int(classes[raw.folder])
        row = _row(raw.relative_path, raw.folder, label, OK, "")
        rows.append(row)
        progress.update()
        decoded = judge.decode(raw, row)
        if decoded is None:
            continue
        first = first_by_hash.get(row["sha256"])
        if first is not None:
            if first["label"] == label:
                row.update(status=DUPLICATE, reason=f"exact duplicate of {first['id']}")
                continue
            reason = f"label conflict: same content in two classes: {first['id']} and {row['id']}"
            if on_label_conflict == "fail" or on_bad_file == "fail":
                raise DataProcessingError(
                    f"{reason}: keep the image in one class folder only, or set "
                    "data_processing.on_label_conflict: exclude"
                )
            if on_label_conflict != "keep":
                for conflicting in (first, row):
                    conflicting.update(status=LABEL_CONFLICT, reason=reason)
                logger.error("%s; both copies are left out of every split", reason)
                continue
            logger.warning("%s; both kept (on_label_conflict: keep)", reason)
            row["reason"] = _joined(row["reason"], reason)
            first["reason"] = _joined(first["reason"], reason)
        else:
            first_by_hash[row["sha256"]] = row
        pixels = resize_square(decoded.pixels, image_size, resize_mode)
        images[count] = pixels
        row.update(
            format=decoded.format,
            mode=decoded.mode,
            width=decoded.width,
            height=decoded.height,
            phash=f"{perceptual_hash(pixels):016x}",
            mean_brightness=round(float(pixels.mean()), 2),
            dynamic_range=int(np.subtract(*np.percentile(pixels, [99, 1]))),
            array_index=count,
        )
        count += 1
    judge.log_exclusions()
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    return compact_to_usable(IngestResult(images, manifest))


class _Judge:
    """Reads one candidate file and decides what it is: a usable image (returned decoded, its
    row's size, hash and any flag filled in), or a row marked skipped or excluded (None)."""

    def __init__(
        self,
        root: str,
        tables: Mapping[str, Callable[[], bytes]],
        candidates: list[RawFile],
        max_pixels: int,
        on_bad_file: str,
        keep_non_frontal: Collection[str],
    ) -> None:
        self.root = root
        self.max_pixels, self.on_bad_file = max_pixels, on_bad_file
        self.exclude = frozenset(NON_FRONTAL_KINDS) - frozenset(keep_non_frontal)
        paths = [f.relative_path for f in candidates]
        self.views = read_csv_views(tables, paths) if tables else None
        self.excluded: dict[str, list[str]] = {}

    def decode(self, raw: RawFile, row: dict) -> DecodedImage | None:
        path = raw.relative_path
        data = self._read(raw, row)
        if data is None:
            return None
        if not raw.outside_target:
            row["sha256"] = hashlib.sha256(data).hexdigest()
        findings = [f for f in path_findings(path) if f.kind == MASK]
        named_lateral = [f for f in path_findings(path) if f.kind == LATERAL]
        view, stated = self.views.by_path.get(path, ("", "")) if self.views else ("", "")
        if view:  # the CSV states the view (frontal, lateral, a slice): the name is no evidence
            finding = view_finding(view, stated, self.views.source)
            findings += [finding] if finding else []
            named_lateral = []
        if self._excluded(row, findings):
            return None
        try:
            decoded = decode_xray(data, path, self.max_pixels, self.exclude)
        except NotFrontalError as error:
            self._excluded(row, findings + list(error.findings))
            return None
        except BadImageError as error:
            reason = str(error)
            if raw.outside_target:
                reason += f" (a link to {raw.outside_target}, outside the raw folder: not hashed)"
            _reject(row, SKIPPED, reason, self.on_bad_file, self.root)
            return None
        if raw.outside_target:
            row["sha256"] = hashlib.sha256(data).hexdigest()
        del data
        findings += decoded.findings
        if decoded.view:  # the header states the view: the name is no evidence
            named_lateral = []
        findings += named_lateral
        if not any(f.kind == MASK for f in findings):
            two_level = two_level_finding(decoded.pixels)
            findings += [two_level] if two_level else []
        if self._excluded(row, findings):
            return None
        notes = [f"{f.reason} (kept: data_processing.keep_non_frontal)" for f in findings]
        notes += [decoded.note] if decoded.note else []
        if notes:
            row.update(status=WARNING, reason="; ".join(notes))
            logger.warning("Keeping %s/%s, but %s", self.root, path, row["reason"])
        if raw.outside_target:
            row["reason"] = _joined(
                row["reason"],
                f"read through a link to {raw.outside_target}, outside the raw folder",
            )
        return decoded

    def _read(self, raw: RawFile, row: dict) -> bytes | None:
        """The file's bytes, or None with the row marked skipped: clutter, an entry that is not
        a readable file, a read that failed, an empty file."""
        if is_hidden_file(raw.relative_path):  # clutter, never worth failing a run for
            _reject(row, SKIPPED, "hidden or system file, not an X-ray", "skip")
            return None
        if raw.problem:  # not a file (FIFO, link loop) is never worth failing a run for
            never_fatal = raw.problem.startswith(("not a regular file", "link loop"))
            on_bad_file = "skip" if never_fatal else self.on_bad_file
            _reject(row, SKIPPED, raw.problem, on_bad_file, self.root)
            return None
        try:
            data = raw.read_bytes()
        except OSError as error:
            _reject(row, SKIPPED, read_problem(error), self.on_bad_file, self.root)
            return None
        row["size_bytes"] = len(data)
        if not data:  # before any hash, so empty files are never duplicates or conflicts
            _reject(row, SKIPPED, "empty file (0 bytes)", self.on_bad_file, self.root)
            return None
        return data

    def _excluded(self, row: dict, findings: list[Finding]) -> bool:
        """Mark the row excluded when a finding's kind is excluded (every finding in its reason)."""
        kinds = [f.kind for f in findings if f.kind in self.exclude]
        if not kinds:
            return False
        keep = ", ".join(dict.fromkeys(kinds))
        row.update(
            status=EXCLUDED,
            reason="not a frontal chest radiograph: "
            + "; ".join(dict.fromkeys(f.reason for f in findings))
            + f" (data_processing.keep_non_frontal: [{keep}] keeps it)",
        )
        self.excluded.setdefault(kinds[0], []).append(row["relative_path"])
        return True

    def log_exclusions(self) -> None:
        for kind, paths in self.excluded.items():
            logger.warning(
                "Left out %d file(s) of %s as %s, not frontal chest radiographs (e.g. %s; each "
                "with its reason in the manifest and the data-quality report); "
                "data_processing.keep_non_frontal: [%s] keeps them",
                len(paths),
                self.root,
                KIND_WORDS[kind],
                paths[0],
                kind,
            )


def _outside_classes_row(raw: RawFile) -> dict:
    """The row of an entry outside every class folder: clutter and unreadable entries skipped,
    files at the root or in another folder ignored."""
    row = _row(raw.relative_path, raw.folder, -1, IGNORED, "")
    if is_hidden_file(raw.relative_path):
        row.update(status=SKIPPED, reason="hidden or system file, not an X-ray")
    elif raw.problem:
        row.update(status=SKIPPED, reason=raw.problem)
    elif not raw.folder:
        row["reason"] = "a file at the raw folder's root, outside every class folder"
    else:
        row["reason"] = f"folder '{raw.folder}' is not in classes"
    return row


def _joined(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second


def usable_mask(manifest: pd.DataFrame) -> pd.Series:
    """Rows whose image is in the arrays and the split (status ok or warning)."""
    return manifest["status"].isin(USABLE_STATUSES)


def compact_to_usable(result: IngestResult) -> IngestResult:
    """Drop from the arrays every row whose status is no longer usable, in place (no second copy
    of the images), and renumber array_index to match."""
    manifest = result.manifest.copy()
    in_array = manifest["array_index"] >= 0
    kept = manifest.index[in_array & usable_mask(manifest)]
    kept = manifest.loc[kept].sort_values("array_index").index
    manifest.loc[in_array & ~usable_mask(manifest), "array_index"] = -1
    _compact_in_place(result.images, manifest.loc[kept, "array_index"].astype(int).tolist())
    manifest.loc[kept, "array_index"] = np.arange(len(kept))
    manifest["array_index"] = manifest["array_index"].astype(int)
    return IngestResult(shrink_npy_rows(result.images, len(kept)), manifest)


def flag_suspect_images(
    result: IngestResult, on_suspect_image: str, root: str = ""
) -> IngestResult:
    """Status `warning` for usable images that decoded to something a viewer would not show as a
    radiograph: an almost empty dynamic range, or a mean brightness far outside the class's
    (robust z-score). on_suspect_image: keep (default; they stay in the arrays) or skip."""
    manifest = result.manifest.copy()
    usable = usable_mask(manifest) & (manifest["array_index"] >= 0)
    reasons: dict[int, str] = {}
    for index in manifest.index[usable]:
        spread = int(manifest.at[index, "dynamic_range"])
        if spread < SUSPECT_MIN_DYNAMIC_RANGE:
            reasons[index] = (
                f"suspect image: decoded dynamic range is only {spread} of 255 levels (1st-99th "
                "percentile); it may be a wrongly decoded file or a blank export: look at it"
            )
    for folder, members in manifest[usable].groupby("class_folder"):
        if len(members) < SUSPECT_MIN_CLASS_SIZE:
            continue
        brightness = members["mean_brightness"].astype(float)
        median = float(brightness.median())
        spread = 1.4826 * float((brightness - median).abs().median())
        if spread <= 0:
            continue
        for index, value in brightness.items():
            z = (value - median) / spread
            if abs(z) > SUSPECT_BRIGHTNESS_Z and index not in reasons:
                reasons[index] = (
                    f"suspect image: mean brightness {value:.0f} is {abs(z):.1f} robust SDs "
                    f"{'below' if z < 0 else 'above'} class {folder}'s median {median:.0f}; "
                    "it may be inverted or wrongly decoded: look at it"
                )
    for index, reason in reasons.items():
        where = (
            f"{root}/{manifest.at[index, 'relative_path']}" if root else manifest.at[index, "id"]
        )
        if on_suspect_image == "skip":
            manifest.loc[index, ["status", "reason"]] = [SKIPPED, reason]
            logger.warning("Skipping %s (on_suspect_image: skip): %s", where, reason)
        else:
            earlier = str(manifest.at[index, "reason"] or "")
            manifest.loc[index, ["status", "reason"]] = [WARNING, _joined(earlier, reason)]
            logger.warning("Keeping %s, but %s", where, reason)
    return compact_to_usable(IngestResult(result.images, manifest))


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
        "mean_brightness": float("nan"),
        "dynamic_range": -1,
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
    usable = manifest[usable_mask(manifest)]
    for folder in classes:
        count = int((usable["class_folder"] == folder).sum())
        if count < min_images:
            problems = manifest[(manifest["class_folder"] == folder) & ~usable_mask(manifest)]
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
