"""Patient ids for the manifest: from a CSV at the raw folder's root, in any of the layouts people
have (see docs/data.md), and from patient folders in the file paths (CheXpert style:
.../patient00001/...). Column names are matched without regard to case, spaces, hyphens or
underscores; file names are matched as paths relative to the raw folder, then relative to the
class folder, then (when unique on both sides) by bare file name. A patient-level split
(cxr_gan.data.split) keeps one patient's images on one side."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pandas as pd

from cxr_gan.data.ingest import DataProcessingError, usable_mask

logger = logging.getLogger(__name__)

# normalised column names (lower case, no spaces, hyphens or underscores), most specific first
FILE_COLUMNS = ("filename", "imageindex", "path", "imagepath", "file", "image", "imagefile")
PATIENT_COLUMNS = ("patientid", "patient", "subjectid", "subject")
PATIENT_FOLDER = re.compile(r"^patient\d+$", re.IGNORECASE)


@dataclass
class PatientTable:
    """A CSV that maps files to patients, read and understood."""

    name: str
    layout: str  # which of the recognised layouts, for the log
    file_column: str
    patient_column: str | None  # None: ids come from patient folders in file_column's paths
    table: pd.DataFrame
    encoding_note: str = ""
    patient_ids: list[str] = field(default_factory=list)


def normalise_column(column: str) -> str:
    """A CSV column name as the layouts compare it: lower case, without whitespace, underscores,
    hyphens or a byte-order mark ("Patient ID" and "patient_id" -> "patientid"), so a
    spreadsheet's spelling does not hide a column. Any value is turned into a string first;
    raises nothing."""
    return re.sub(r"[\s_\-]+", "", str(column).replace("\ufeff", "")).lower()


def read_csv_bytes(name: str, data: bytes, root: str) -> tuple[pd.DataFrame, str]:
    """A CSV as strings, whatever encoding a spreadsheet saved it in; (table, note on encoding).
    Raises DataProcessingError naming the file when it is not a readable CSV."""
    note = ""
    if data.startswith(b"\xef\xbb\xbf"):
        text, note = data[3:].decode("utf-8", errors="replace"), "UTF-8 with a byte-order mark"
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text, note = data.decode("cp1252"), "Windows-1252 (cp1252)"
            except UnicodeDecodeError:
                text, note = data.decode("latin-1"), "Latin-1"
    if note and not note.startswith("UTF-8"):
        logger.warning(
            "%s/%s is not UTF-8; read it as %s, the encoding spreadsheets such as Excel use. "
            "Save it as 'CSV UTF-8' to silence this warning",
            root,
            name,
            note,
        )
    try:
        table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise DataProcessingError(
            f"{root}/{name} is not a readable CSV ({str(error).strip()}): fix or remove it, or "
            "set data_processing.patient_csv: null to split without patient ids"
        ) from None
    return table, note


def understand_patient_table(name: str, table: pd.DataFrame) -> PatientTable | str:
    """The table's layout, or one line saying why it cannot give patient ids."""
    columns = {normalise_column(column): column for column in table.columns}
    file_column = next((columns[c] for c in FILE_COLUMNS if c in columns), None)
    patient_column = next((columns[c] for c in PATIENT_COLUMNS if c in columns), None)
    if file_column is None:
        return (
            "it has no file-name column (looked for filename, Image Index, Path, file, image; "
            f"it has {', '.join(map(str, table.columns[:8]))}"
            + (", ..." if len(table.columns) > 8 else "")
            + ")"
        )
    if patient_column is None:
        paths = table[file_column].astype(str)
        if paths.map(lambda p: _patient_folder(p) is not None).any():
            table_ = PatientTable(
                name, "CheXpert-style paths with a patient folder", file_column, None, table
            )
            table_.patient_ids = [_patient_folder(p) or "" for p in paths]
            return table_
        return (
            f"it has a file-name column ({file_column}) but no patient column (looked for "
            "patient_id, Patient ID, Patientid, patient, subject_id)"
        )
    if normalise_column(file_column) == "imageindex":
        layout = "NIH ChestX-ray14 (Image Index, Patient ID)"
    elif table[file_column].astype(str).str.contains("/").any():
        layout = "file paths and patient ids (filename,patient_id)"
    else:
        layout = "bare file names and patient ids (COVID-19 image collection style)"
    found = PatientTable(name, layout, file_column, patient_column, table)
    found.patient_ids = [str(p).strip() for p in table[patient_column]]
    return found


def _patient_folder(path: str) -> str | None:
    """The patient folder in a CheXpert-style path (.../patient00001/study1/view1.jpg)."""
    for part in PurePosixPath(str(path).replace("\\", "/")).parts[:-1]:
        if PATIENT_FOLDER.match(part):
            return part
    return None


def _clean(path: str) -> str:
    path = str(path).strip().replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.lower()


def _from_patient_folder(path: str) -> str | None:
    folder = _patient_folder(path)
    if folder is None:
        return None
    parts = PurePosixPath(path).parts
    return "/".join(parts[parts.index(folder) :])


def _lookup(pairs: list[tuple[str, int]], patient_ids: list[str]) -> dict[str, int]:
    """key -> row; a key that names rows of different patients is dropped as ambiguous."""
    index: dict[str, int] = {}
    ambiguous: set[str] = set()
    for key, row in pairs:
        if key in index and patient_ids[index[key]] != patient_ids[row]:
            ambiguous.add(key)
        index.setdefault(key, row)
    return {key: row for key, row in index.items() if key not in ambiguous}


def match_patient_rows(table: PatientTable, relative_paths: list[str]) -> list[int]:
    """For each file, the row of the table that names it (-1 when none does): by path relative
    to the raw folder, or to the class folder, or from a patient folder on (CheXpert), or by bare
    file name when that name is unique among both the files and the table's rows."""
    names = [_clean(p) for p in table.table[table.file_column].astype(str)]
    ids = table.patient_ids
    by_path = _lookup([(n, r) for r, n in enumerate(names)], ids)
    by_patient = _lookup(
        [(k, r) for r, n in enumerate(names) if (k := _from_patient_folder(n)) is not None], ids
    )
    by_name = _lookup([(PurePosixPath(n).name, r) for r, n in enumerate(names)], ids)
    files = [_clean(p) for p in relative_paths]
    name_counts = pd.Series([PurePosixPath(f).name for f in files]).value_counts()
    matches, exact = [], []
    for path in files:
        below_class = path.split("/", 1)[1] if "/" in path else path
        name = PurePosixPath(path).name
        candidates = [by_path.get(path), by_path.get(below_class)]
        if (key := _from_patient_folder(path)) is not None:
            candidates.append(by_patient.get(key))
        if name_counts.get(name, 0) == 1:
            candidates.append(by_name.get(name))
        matches.append(next((c for c in candidates if c is not None), -1))
        exact.append(candidates[0] is not None)
    # a row that names several files other than by their full path (img1.png in covid/ and in
    # normal/) is ambiguous: none of them gets its patient id
    hits = pd.Series([row for row, is_exact in zip(matches, exact, strict=True) if not is_exact])
    ambiguous = set(hits[hits.duplicated(keep=False) & (hits >= 0)])
    if ambiguous:
        logger.warning(
            "%d rows of %s name several images (e.g. the same file name in two class folders); "
            "those images get no patient id from it: use paths relative to the raw folder",
            len(ambiguous),
            table.name,
        )
    return [
        -1 if row in ambiguous and not is_exact else row
        for row, is_exact in zip(matches, exact, strict=True)
    ]


def find_patient_table(
    csv_files: Mapping[str, Callable[[], bytes]],
    patient_csv: str | None,
    root: str,
    relative_paths: list[str],
) -> tuple[PatientTable, list[int]] | None:
    """The CSV that maps files to patients and, per file, its matching row (-1: none).

    patient_csv: a file name at the raw root (it must be usable, or the run stops with the fix),
    'auto' (the one root CSV whose layout is recognised and that names at least one image; each
    CSV not used is logged with the reason), or None (no CSV is read at all)."""
    if patient_csv is None:
        return None
    if patient_csv != "auto":
        if patient_csv not in csv_files:
            raise DataProcessingError(
                f"data_processing.patient_csv names {root}/{patient_csv}, which does not exist: "
                f"put the CSV there, set patient_csv: auto, or null to split without patient ids"
            )
        names = [patient_csv]
    else:
        names = sorted(csv_files)
    usable = []
    for name in names:
        try:
            table, note = read_csv_bytes(name, csv_files[name](), root)
            found = understand_patient_table(name, table)
        except DataProcessingError as error:
            if patient_csv != "auto":
                raise
            logger.info("Not using %s/%s for patient ids: %s", root, name, error)
            continue
        if isinstance(found, str):
            if patient_csv != "auto":
                raise DataProcessingError(
                    f"{root}/{name} cannot give patient ids: {found}. Add a column "
                    "patient_id (and filename: the path relative to the raw folder, e.g. "
                    "covid/img1.png), or set patient_csv: null"
                )
            logger.info("Not using %s/%s for patient ids: %s", root, name, found)
            continue
        found.encoding_note = note
        rows = match_patient_rows(found, relative_paths)
        matched = sum(row >= 0 for row in rows)
        if not matched:
            reason = (
                f"none of its {len(table)} rows names one of the {len(relative_paths)} images "
                f"(column {found.file_column}, e.g. {table[found.file_column].iloc[0]!r})"
                if len(table)
                else "it has no rows"
            )
            if patient_csv != "auto":
                raise DataProcessingError(
                    f"{root}/{name} cannot give patient ids: {reason}. Its file names must be "
                    "paths relative to the raw folder (covid/img1.png) or bare file names"
                )
            logger.info("Not using %s/%s for patient ids: %s", root, name, reason)
            continue
        usable.append((found, rows))
    if len(usable) > 1:
        listed = ", ".join(found.name for found, _ in usable)
        raise DataProcessingError(
            f"several CSVs in {root} can give patient ids ({listed}): name one with "
            "data_processing.patient_csv"
        )
    return usable[0] if usable else None


def attach_patient_ids(
    manifest: pd.DataFrame, found: tuple[PatientTable, list[int]] | None, root: str = ""
) -> pd.DataFrame:
    """Column patient_id (and the CSV's other columns, csv_-prefixed where they clash): from the
    patient table, else from a patient folder in the file's path, else empty (its own patient)."""
    manifest = manifest.copy()
    paths = manifest["relative_path"].astype(str).tolist()
    patient_ids = [""] * len(manifest)
    if found is not None:
        table, rows = found
        extra = [
            c for c in table.table.columns if c not in (table.file_column, table.patient_column)
        ]
        for column in extra:
            target = f"csv_{column}" if column in manifest.columns else column
            values = table.table[column].tolist()
            manifest[target] = [values[row] if row >= 0 else "" for row in rows]
        patient_ids = [table.patient_ids[row] if row >= 0 else "" for row in rows]
    from_folders = 0
    for index, path in enumerate(paths):
        if not patient_ids[index] and (folder := _patient_folder(path)) is not None:
            patient_ids[index] = folder
            from_folders += 1
    manifest["patient_id"] = patient_ids
    usable = usable_mask(manifest)
    with_id = int((usable & (manifest["patient_id"] != "")).sum())
    if found is not None:
        table, rows = found
        columns = f"{table.file_column} -> {table.patient_column or 'patient folder in the path'}"
        logger.info(
            "Patient ids from %s/%s (%s layout; columns %s%s): %d of %d usable images matched",
            root,
            table.name,
            table.layout,
            columns,
            f"; read as {table.encoding_note}" if table.encoding_note else "",
            int((usable & pd.Series([r >= 0 for r in rows], index=manifest.index)).sum()),
            int(usable.sum()),
        )
    if from_folders:
        logger.info(
            "Patient ids from patient folders in the paths (e.g. patient00001/) for %d files",
            from_folders,
        )
    unmatched = int(usable.sum()) - with_id
    if (found is not None or from_folders) and unmatched:
        logger.warning(
            "%d usable images have no patient id; each is split as its own patient", unmatched
        )
    return manifest
