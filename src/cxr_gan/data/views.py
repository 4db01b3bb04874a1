"""Which files are frontal chest radiographs: the rules that keep masks, lateral views, other
modalities and multi-frame files out of the study by default (data_processing.keep_non_frontal
keeps a kind in, flagged).

Evidence, strongest first: a view column in a CSV at the raw folder's root (CheXpert's
`Frontal/Lateral`, NIH's `View Position`, MIMIC's `ViewPosition`, the COVID-19 image collection's
`view`, PadChest's `Projection`), the DICOM header (ViewPosition, ViewCodeSequence; Modality and
NumberOfFrames in cxr_gan.data.dicom), then the file's path: a `mask`/`masks` folder or file name
(any case, `leftMask`, `lung_masks`), a folder or file name that says lateral (and not also
frontal: `exam_pa_and_lateral.tif` is not evidence), and last its pixels (a two-level image is a
mask or a drawing, not a radiograph). A stated frontal view (PA, AP, AP Supine, AP erect,
`frontal (unspecified)`, ...) keeps a file whose name says lateral.

DICOM ImageLaterality is not a view: the standard defines it as the side of the body examined
(R, L, U, B), so a left-sided frontal film says L; only a value outside that set that names a
lateral view (`LATERAL`, `LL`) counts.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cxr_gan.data.decoded import Finding

logger = logging.getLogger(__name__)

MASK, LATERAL, NOT_RADIOGRAPH, MULTI_FRAME = "mask", "lateral", "not_radiograph", "multi_frame"
NON_FRONTAL_KINDS = (MASK, LATERAL, NOT_RADIOGRAPH, MULTI_FRAME)
KEEP_HINT = "data_processing.keep_non_frontal: [{kind}] keeps such files (flagged)"

# a two-level image: its two most common values hold at least this share of the pixels
TWO_LEVEL_SHARE = 0.99
_FRONTAL_WORDS = {"PA", "AP", "FRONTAL", "POSTEROANTERIOR", "ANTEROPOSTERIOR", "FRONT"}
_LATERAL_WORDS = {"L", "LL", "RL", "LAT", "LATERAL", "LATERALE", "LLAT", "RLAT"}
_OBLIQUE_WORDS = {"RAO", "LAO", "RPO", "LPO", "RLO", "LLO", "OBL", "OBLIQUE"}
_STRICT_LATERAL = {"LAT", "LATERAL", "OBLIQUE"}
_SLICE_WORDS = {"AXIAL", "CORONAL", "SAGITTAL", "TRANSVERSE"}
# CSV columns that state a view, compared without case, spaces or punctuation
_VIEW_COLUMNS = ("frontallateral", "viewposition", "view", "views", "projection")
_NAME_FRONTAL = {"frontal", "pa", "ap", "posteroanterior", "anteroposterior"}
_NAME_LATERAL = {"lateral", "lat"}
_NAME_MASK = {"mask", "masks"}


def view_of(text: str, strict: bool = False) -> str:
    """What a stated view means: 'frontal', 'lateral' (lateral or oblique), 'slice' (a CT or MR
    plane: axial, coronal, sagittal) or '' (empty, unknown, or both frontal and lateral).
    strict: free text (a series description), where only whole words count as lateral
    (LAT, LATERAL, OBLIQUE; not L, LL, RL) and slices are not judged."""
    words = set(re.split(r"[^A-Z0-9]+", str(text).upper())) - {""}
    frontal = bool(words & _FRONTAL_WORDS)
    lateral = bool(words & (_STRICT_LATERAL if strict else _LATERAL_WORDS | _OBLIQUE_WORDS))
    if frontal != lateral:
        return "frontal" if frontal else "lateral"
    if not frontal and not strict and words & _SLICE_WORDS:
        return "slice"
    return ""


def view_finding(view: str, stated: str, where: str) -> Finding | None:
    """The finding for a stated view (view_of's answer) and where it was stated, or None."""
    if view == "lateral":
        return Finding(LATERAL, f"lateral view ({where}: {stated})")
    if view == "slice":
        return Finding(
            NOT_RADIOGRAPH,
            f"a cross-sectional slice, not a projection radiograph ({where}: {stated})",
        )
    return None


def _name_words(text: str) -> set[str]:
    """Lower-case words of a path part: split at non-letters and at camelCase humps."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return {w for w in re.split(r"[^a-z0-9]+", text.lower()) if w}


def path_findings(relative_path: str) -> tuple[Finding, ...]:
    """Findings from a file's path below its class folder: a mask folder or file name, a folder
    or file name that says lateral (and not frontal). relative_path: POSIX, from the raw root."""
    parts = relative_path.split("/")[1:]
    if not parts:
        return ()
    *folders, name = parts
    stem = name.rsplit(".", 1)[0] if "." in name[1:] else name
    named = [*(("folder", part) for part in folders), ("file name", stem)]
    findings = []
    for what, part in named:
        if _name_words(part) & _NAME_MASK:
            findings.append(Finding(MASK, f"a mask, not an X-ray ({what} '{part}')"))
            break
    for what, part in named:
        words = _name_words(part)
        if words & _NAME_LATERAL and not words & _NAME_FRONTAL:
            findings.append(Finding(LATERAL, f"lateral view ({what} '{part}' says lateral)"))
            break
    return tuple(findings)


def two_level_finding(pixels: np.ndarray) -> Finding | None:
    """A Finding (mask) when two values hold >= TWO_LEVEL_SHARE of a decoded image's pixels
    (a segmentation mask or a drawing; a radiograph has a continuum of greys). pixels: 2-D
    uint8. Looks at every 4th row and column first, so a radiograph costs a small histogram."""
    if pixels.dtype != np.uint8 or pixels.ndim != 2:
        return None
    for sample in (pixels[::4, ::4], pixels):
        counts = np.bincount(sample.ravel(), minlength=256)
        top = np.partition(counts, -2)[-2:]
        if top.sum() < TWO_LEVEL_SHARE * sample.size:
            return None
    low, high = (int(v) for v in np.sort(np.argsort(counts)[-2:]))
    share = 100 * float(top.sum()) / pixels.size
    return Finding(
        MASK,
        f"a two-level image ({share:.1f}% of pixels are {low} or {high}): a mask or a drawing, "
        "not a radiograph",
    )


@dataclass(frozen=True)
class CsvViews:
    """Views stated by a CSV at the raw folder's root: {relative path: (view, value)}, and
    where they came from, for messages."""

    by_path: dict[str, tuple[str, str]]
    source: str  # "train.csv column Frontal/Lateral"


def read_csv_views(
    csv_files: Mapping[str, Callable[[], bytes]], relative_paths: Sequence[str]
) -> CsvViews | None:
    """The first CSV (by name) at the raw root with a view column and a column that names the
    files, read for their views; None when none has both. A file is named when a CSV value
    ends with its path below the class folder (at least its file name, when that is unique):
    CheXpert's `CheXpert-v1.0-small/train/patient1/study1/view1_frontal.jpg` names
    `covid/patient1/study1/view1_frontal.jpg`. Names are compared in Unicode NFC, ignoring
    case. Delimiter (`,`, `;`, tab, `|`) and encoding (UTF-8, else Windows-1252) are detected.
    An unreadable CSV is skipped with a log line."""
    wanted = {}
    for path in relative_paths:
        parts = _name_key(path).split("/")[1:]
        if parts:
            wanted[path] = parts
    if not wanted:
        return None
    names = {parts[-1] for parts in wanted.values()} | {
        _stem(parts[-1]) for parts in wanted.values()
    }
    for name in sorted(csv_files):
        rows = _read_rows(name, csv_files[name])
        if not rows or len(rows) < 2:
            continue
        header = [_column_key(column) for column in rows[0]]
        view_column = next(
            (i for key in _VIEW_COLUMNS for i, h in enumerate(header) if h == key), None
        )
        if view_column is None:
            continue
        best = None
        for column in range(len(header)):
            values = [row[column] if column < len(row) else "" for row in rows[1:]]
            if column == view_column or not any(_last(v) in names for v in values):
                continue
            matched = _match(wanted, values)
            if matched and (best is None or len(matched) > len(best[1])):
                best = (column, matched)
        if best is None:
            continue
        column, matched = best
        by_path = {}
        for path, index in matched.items():
            row = rows[1 + index]
            value = row[view_column].strip() if view_column < len(row) else ""
            by_path[path] = (view_of(value), value)
        source = f"{name} column {rows[0][view_column]}"
        logger.info(
            "Views from %s (files named in column %s): %d of %d images matched",
            source,
            rows[0][column],
            len(by_path),
            len(wanted),
        )
        return CsvViews(by_path, source)
    return None


def _name_key(text: str) -> str:
    text = unicodedata.normalize("NFC", str(text)).replace("\\", "/").strip().casefold()
    return text[2:] if text.startswith("./") else text


def _last(value: str) -> str:
    return _name_key(value).rsplit("/", 1)[-1]


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name[1:] else name


def _column_key(text: str) -> str:
    return "".join(c for c in str(text).casefold() if c.isalnum())


def _match(wanted: dict[str, list[str]], values: list[str]) -> dict[str, int]:
    """{relative path: row index} of the files the values name by their longest path tail (with
    or without the file's extension: MIMIC names files by a bare dicom_id)."""
    tails: dict[tuple[str, ...], int] = {}
    for index, value in enumerate(values):
        parts = tuple(p for p in _name_key(value).split("/") if p)
        for start in range(len(parts)):
            tail = parts[start:]
            tails[tail] = -1 if tails.get(tail, index) != index else index
    matched = {}
    for path, parts in wanted.items():
        for named in (parts, [*parts[:-1], _stem(parts[-1])]):
            index = next(
                (tails[t] for s in range(len(named)) if (t := tuple(named[s:])) in tails), None
            )
            if index is not None:
                if index >= 0:
                    matched[path] = index
                break
    return matched


def _read_rows(name: str, read: Callable[[], bytes]) -> list[list[str]]:
    try:
        data = read()
    except OSError as error:
        logger.warning("Cannot read %s for views: %s", name, error)
        return []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    try:
        return list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as error:
        logger.warning("Cannot read %s as CSV for views: %s", name, error)
        return []
