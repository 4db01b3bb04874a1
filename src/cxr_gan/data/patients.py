"""Patient keys for the manifest, from every common layout, joined into one patient per image.

Keys come from (see docs/data.md, "Patient ids"):
- a CSV at the raw folder's root, recognised by content: the column whose values name the most
  images (as paths relative to the raw folder or the class folder, from a subject folder on, as
  bare names or as stems), and a patient column found by name (patient_id, Patientid, Patient
  ID, subject_id, participant_id, ...; never by position, never a study or series column); the
  delimiter is sniffed (`,` `;` tab `|`) and names are compared after Unicode NFC normalisation
  and case folding;
- subject folders between the class folder and the file: the innermost of `p` + 8 digits
  (MIMIC-CXR, not its `p10` bucket), `patient<digits>` (CheXpert), `subject<digits>`,
  `sub-<id>` (BIDS); never a study folder (`s<digits>`, `study1`, `ses-01`);
- a DICOM's PatientID, read from the header without decoding pixels (a study or series UID is
  never a patient key).

Keys combine as a union (union-find): files linked by any key are one patient. Images without any
key may still be grouped as "probably one patient" by their names (panel letters, NIH's
`<8 digits>_<3 digits>`; probable_name_key). A patient-level split (cxr_gan.data.split) keeps one
patient's images on one side."""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from cxr_gan.data.ingest import DataProcessingError, usable_mask
from cxr_gan.data.split import connected_groups, links_from_keys

logger = logging.getLogger(__name__)

# normalised column names (lower case, no spaces, hyphens or underscores), most specific first:
# preferred when several columns name the same number of images
FILE_COLUMNS = (
    "filename",
    "imageindex",
    "path",
    "imagepath",
    "file",
    "image",
    "imagefile",
    "imagename",
    "dicomid",
    "imageid",
)
# patient columns by name, most specific first; PATIENT_COLUMN_PATTERN takes the rest
PATIENT_COLUMNS = (
    "patientid",
    "patient",
    "subjectid",
    "subject",
    "participantid",
    "participant",
    "patientidentifier",
    "patientnumber",
    "patientno",
    "patientnr",
    "patientcode",
    "patientkey",
    "pid",
    "mrn",
    "medicalrecordnumber",
    "idpatient",
    "numeropatient",
    "idpaciente",
    "paciente",
    "patientennummer",
    "patnr",
)
PATIENT_COLUMN_PATTERN = re.compile(
    r"^(?:anon(?:ymi[sz]ed)?|deidentified|pseudonymi[sz]ed|masked|hashed)?"
    r"(?:patient|subject|participant|pat|paciente|patienten)"
    r"(?:id|identifier|number|num|no|nr|code|key|uid|ref)?"
    r"(?:anon(?:ymi[sz]ed)?|hash(?:ed)?)?$"
)
# subject folders (the innermost one between the class folder and the file is the key)
PATIENT_FOLDER = re.compile(
    r"^(?:p\d{8}|(?:patient|subject|participant)[-_ ]?\d+|sub-[a-z0-9]+)$", re.IGNORECASE
)
# values that stand for "no patient id" (an anonymiser's or spreadsheet's placeholder)
PLACEHOLDER_IDS = frozenset(
    {
        "",
        "nan",
        "none",
        "null",
        "unknown",
        "anonymous",
        "anonymized",
        "anonymised",
        "anon",
        "n/a",
        "na",
        "-",
        "?",
        "removed",
        "deidentified",
    }
)
DELIMITERS = (",", ";", "\t", "|")
# "probably one patient" from file names (only for images without a key)
NIH_NAME = re.compile(r"^(?P<base>.*?(?<!\d)\d{8})_\d{3}$")  # 00001389_001: patient 00001389
PANEL_AFTER_DIGIT = re.compile(r"^(?P<base>.*\d)[a-z]$", re.IGNORECASE)  # COVID-00039a
PANEL_AFTER_HYPHEN = re.compile(r"^(?P<base>.*-)[a-z]\d?$", re.IGNORECASE)  # gr1_lrg-a, 002-a1
PROBABLE_GROUP_MAX_IMAGES = 10  # a larger name group is logged, not used
PROBABLE_GROUP_MAX_CLASS_SHARE = 0.05  # nor one over 5% of its class (a pair is always allowed)
MOST_WITHOUT_KEY = 0.5  # more than this share of usable images without a key: the warning below
SPLIT_PER_IMAGE = "split per image: the same patient may be in training and test"
SOURCE_NAMES = {"csv": "patient CSV", "folder": "subject folder", "dicom": "DICOM PatientID"}
PROBABLE = "file name (probable)"
KEY_PRIORITY = ("csv", "dicom", "folder")  # which kind of key names a patient known by several


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


def normalise_name(text: str) -> str:
    """A file name or path as names are compared: Unicode NFC (macOS writes names decomposed,
    NFD), case-folded, backslashes as slashes, without surrounding whitespace or a leading
    "./". Any value is turned into a string first; raises nothing."""
    path = unicodedata.normalize("NFC", str(text)).strip().replace("\\", "/").casefold()
    while path.startswith("./"):
        path = path[2:]
    return path


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV's header line: the most frequent of `,` `;` tab `|` (a
    European-locale spreadsheet saves `;`), `,` when none occurs. Raises nothing."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])  # ties: the first listed
    return best if counts[best] else ","


def read_csv_bytes(name: str, data: bytes, root: str) -> tuple[pd.DataFrame, str]:
    """A CSV as strings, whatever encoding and delimiter a spreadsheet saved it with;
    (table, note on encoding and delimiter, "" for UTF-8 with commas). Raises
    DataProcessingError naming the file when it is not a readable CSV."""
    notes = []
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", errors="replace")
        notes.append("UTF-8 with a byte-order mark")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text, encoding = data.decode("cp1252"), "Windows-1252 (cp1252)"
            except UnicodeDecodeError:
                text, encoding = data.decode("latin-1"), "Latin-1"
            notes.append(encoding)
            logger.warning(
                "%s/%s is not UTF-8; read it as %s, the encoding spreadsheets such as Excel use. "
                "Save it as 'CSV UTF-8' to silence this warning",
                root,
                name,
                encoding,
            )
    delimiter = sniff_delimiter(text)
    if delimiter != ",":
        notes.append(f"{'tab' if delimiter == chr(9) else repr(delimiter)}-separated")
    try:
        table = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise DataProcessingError(
            f"{root}/{name} is not a readable CSV ({str(error).strip()}): fix or remove it, or "
            "set data_processing.patient_csv: null to split without patient ids"
        ) from None
    return table, ", ".join(notes)


def patient_column_of(table: pd.DataFrame) -> str | None:
    """The table's patient column by its name (PATIENT_COLUMNS in order, then
    PATIENT_COLUMN_PATTERN: e.g. "Patient ID", "subject_id", "participant_id",
    "anonymized_patient_id"), or None. Never chosen by position, and never a study, series or
    image column (those name examinations, not people)."""
    columns = {normalise_column(column): column for column in table.columns}
    for wanted in PATIENT_COLUMNS:
        if wanted in columns:
            return columns[wanted]
    return next((columns[c] for c in columns if PATIENT_COLUMN_PATTERN.match(c)), None)


class _FileNames:
    """Every name a CSV value may give an image by: its path relative to the raw folder, below
    its class folder, from its subject folder on, its file name and its stem (normalise_name)."""

    def __init__(self, relative_paths: list[str]) -> None:
        self.paths = [normalise_name(p) for p in relative_paths]
        self.below_class = [p.split("/", 1)[1] if "/" in p else p for p in self.paths]
        self.from_subject = [_from_patient_folder(p, below_class=True) for p in self.paths]
        self.names = [PurePosixPath(p).name for p in self.paths]
        self.stems = [PurePosixPath(p).stem for p in self.paths]
        self.name_counts = pd.Series(self.names, dtype=object).value_counts().to_dict()
        self.stem_counts = pd.Series(self.stems, dtype=object).value_counts().to_dict()


def _row_lookups(values: list[str], patient_ids: list[str]) -> tuple[dict, dict, dict]:
    """CSV rows by path, by the path from its subject folder on, and by file name; a key that
    names rows of different patients is dropped as ambiguous."""
    names = [normalise_name(v) for v in values]
    by_path = _lookup([(n, r) for r, n in enumerate(names) if n], patient_ids)
    by_patient = _lookup(
        [
            (k, r)
            for r, n in enumerate(names)
            if "/" in n and (k := _from_patient_folder(n)) is not None
        ],
        patient_ids,
    )
    by_name = _lookup([(n.rsplit("/", 1)[-1], r) for r, n in enumerate(names) if n], patient_ids)
    return by_path, by_patient, by_name


def _match_rows(
    values: list[str], patient_ids: list[str], files: _FileNames
) -> tuple[list[int], list[bool]]:
    """Per file, the row that names it (-1: none) and whether it matched by its full path."""
    by_path, by_patient, by_name = _row_lookups(values, patient_ids)
    matches, exact = [], []
    for index, path in enumerate(files.paths):
        candidates = [by_path.get(path), by_path.get(files.below_class[index])]
        if (key := files.from_subject[index]) is not None:
            candidates.append(by_patient.get(key))
        name, stem = files.names[index], files.stems[index]
        if files.name_counts.get(name, 0) == 1:
            candidates.append(by_name.get(name))
        if stem != name and files.stem_counts.get(stem, 0) == 1:
            candidates.append(by_name.get(stem))  # a CSV of stems (e.g. MIMIC's dicom_id)
        matches.append(next((c for c in candidates if c is not None), -1))
        exact.append(candidates[0] is not None)
    return matches, exact


def _images_named(values: list[str], files: _FileNames) -> int:
    """How many images a column's values name in any way (ambiguous names counted too)."""
    keys = {normalise_name(v) for v in values}
    paths = [k for k in keys if "/" in k]  # (a cheap test first: a CSV may have 100,000 rows)
    keys |= {k.rsplit("/", 1)[1] for k in paths}
    keys |= {k for k in map(_from_patient_folder, paths) if k is not None}
    keys.discard("")
    return sum(
        bool(
            keys
            & {
                files.paths[i],
                files.below_class[i],
                files.names[i],
                files.stems[i],
                files.from_subject[i] or "",
            }
        )
        for i in range(len(files.paths))
    )


def understand_patient_table(
    name: str, table: pd.DataFrame, relative_paths: list[str]
) -> PatientTable | str:
    """The table's layout, or one line saying why it cannot give patient ids.

    The file column is found by content: of all columns but the patient column, the one whose
    values name the most of relative_paths (any column name; ties go to the usual names,
    FILE_COLUMNS). The patient column is found by name (patient_column_of); without one, paths
    with a subject folder (CheXpert's Path) give the patient. relative_paths: POSIX paths
    relative to the raw folder. Raises nothing."""
    patient_column = patient_column_of(table)
    files = _FileNames(relative_paths)
    preference = {c: i for i, c in enumerate(FILE_COLUMNS)}
    file_column, best, named = None, None, 0
    for position, column in enumerate(table.columns):
        if column == patient_column:
            continue
        count = _images_named(table[column].astype(str).tolist(), files)
        rank = (-count, preference.get(normalise_column(column), len(preference)), position)
        if count and (best is None or rank < best):
            file_column, best, named = column, rank, count
    if file_column is None:
        listed = ", ".join(map(str, table.columns[:8])) + (
            ", ..." if len(table.columns) > 8 else ""
        )
        return (
            f"none of its {len(table)} rows names one of the {len(relative_paths)} images "
            f"(looked in every column, {listed}, for paths relative to the raw or class folder, "
            "file names and stems)"
            if len(table)
            else "it has no rows"
        )
    if patient_column is None:
        paths = table[file_column].astype(str)
        if paths.map(lambda p: _patient_folder(p) is not None).any():
            table_ = PatientTable(
                name, "paths with a subject folder (CheXpert style)", file_column, None, table
            )
            table_.patient_ids = [_patient_folder(p) or "" for p in paths]
            return table_
        return (
            f"its column {file_column} names {named} images but it has no patient column "
            "(looked for patient_id, Patient ID, Patientid, patient, subject_id, participant_id, "
            "MRN and the like; a study or series UID is not a patient key)"
        )
    if normalise_column(file_column) == "imageindex":
        layout = "NIH ChestX-ray14 (Image Index, Patient ID)"
    elif table[file_column].astype(str).str.contains("/").any():
        layout = "file paths and patient ids"
    else:
        layout = "file names and patient ids (COVID-19 image collection style)"
    found = PatientTable(name, layout, file_column, patient_column, table)
    found.patient_ids = [_clean_id(p) for p in table[patient_column]]
    return found


def _clean_id(value: object) -> str:
    """A patient key as given (NFC, stripped), or "" for a placeholder (PLACEHOLDER_IDS)."""
    text = unicodedata.normalize("NFC", str(value)).strip()
    return "" if text.casefold() in PLACEHOLDER_IDS else text


def _patient_folder_index(path: str, below_class: bool = False) -> tuple[list[str], int]:
    """The path's parts and the index of its innermost subject folder (-1: none); below_class:
    the first component (the class folder) is never one."""
    parts = list(PurePosixPath(str(path).replace("\\", "/")).parts)
    for index in range(len(parts) - 2, 0 if below_class else -1, -1):
        if PATIENT_FOLDER.match(parts[index]):
            return parts, index
    return parts, -1


def _patient_folder(path: str, below_class: bool = False) -> str | None:
    """The innermost subject folder in a path (.../p10/p10000032/s5/x.jpg -> p10000032), or
    None."""
    parts, index = _patient_folder_index(path, below_class)
    return parts[index] if index >= 0 else None


def _from_patient_folder(path: str, below_class: bool = False) -> str | None:
    """The path from its innermost subject folder on (p10000032/s5/x.jpg), or None."""
    parts, index = _patient_folder_index(path, below_class)
    return "/".join(parts[index:]) if index >= 0 else None


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
    to the raw folder, or to the class folder, or from a subject folder on (CheXpert, MIMIC), or
    by bare file name or stem when that is unique among the files (names compared after NFC
    normalisation and case folding). A row that names several files other than by their full
    path (img1.png in covid/ and in normal/) gives none of them a patient id (logged)."""
    values = table.table[table.file_column].astype(str).tolist()
    ids = table.patient_ids or [str(row) for row in range(len(values))]
    matches, exact = _match_rows(values, ids, _FileNames(relative_paths))
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
    'auto' (the one root CSV that names at least one image and has a patient column or subject
    folders in its paths; each CSV not used is logged with the reason), or None (no CSV is read
    at all). Raises DataProcessingError for a named CSV that is missing or cannot be used, and
    when several CSVs can give patient ids (name one)."""
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
            found = understand_patient_table(name, table, relative_paths)
        except DataProcessingError as error:
            if patient_csv != "auto":
                raise
            logger.info("Not using %s/%s for patient ids: %s", root, name, error)
            continue
        reason = found if isinstance(found, str) else ""
        if not reason:
            found.encoding_note = note
            rows = match_patient_rows(found, relative_paths)
            if not any(row >= 0 for row in rows):
                reason = (
                    f"none of its {len(table)} rows names one of the {len(relative_paths)} "
                    f"images unambiguously (column {found.file_column}, e.g. "
                    f"{table[found.file_column].iloc[0]!r})"
                )
        if reason:
            if patient_csv != "auto":
                raise DataProcessingError(
                    f"{root}/{name} cannot give patient ids: {reason}. Add a column patient_id "
                    "and a column filename (the path relative to the raw folder, e.g. "
                    "covid/img1.png, or the bare file name), or set patient_csv: null"
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


def read_dicom_patient_id(source: str | Path | io.BufferedIOBase | bytes) -> str:
    """A DICOM file's PatientID (0010,0020), read from its header only: pydicom stops before the
    pixel data, so no frame is read or decoded. source: a path, an open binary file or the
    file's bytes. Returns "" when the tag is absent, empty or a placeholder (PLACEHOLDER_IDS),
    or when the header cannot be read; raises nothing. Study and series UIDs are never used."""
    import pydicom

    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        dataset = pydicom.dcmread(
            source, stop_before_pixels=True, force=True, specific_tags=["PatientID"]
        )
        return _clean_id(dataset.get("PatientID", "") or "")
    except Exception:  # noqa: BLE001 - a header pydicom cannot read gives no key, not a crash
        return ""


def dicom_patient_id_reader(
    root: str, read_bytes: Mapping[str, Callable[[], bytes]]
) -> Callable[[str], str]:
    """relative path -> PatientID (read_dicom_patient_id): from the file under root when it is
    on disk (only the header is read), else from its bytes (read_bytes[relative path])."""

    def patient_id(relative_path: str) -> str:
        path = Path(root) / relative_path
        if path.is_file():
            try:
                with path.open("rb") as handle:
                    return read_dicom_patient_id(handle)
            except OSError:
                return ""
        reader = read_bytes.get(relative_path)
        return read_dicom_patient_id(reader()) if reader is not None else ""

    return patient_id


def probable_name_key(relative_path: str) -> str | None:
    """The key that groups an image with others "probably of one patient" by its name alone,
    or None: the folder plus the stem without a panel letter after a digit (COVID-00039a/b ->
    COVID-00039) or after a hyphen (gr1_lrg-a/-b, also -a1/-a2), or NIH ChestX-ray14's patient
    number (00001389_001/_003 -> 00001389). A bare counter after a word (COVID-1,
    phantom_00001) is never a key. Names are compared after NFC normalisation and case folding."""
    path = PurePosixPath(normalise_name(relative_path))
    stem = path.stem
    for pattern in (NIH_NAME, PANEL_AFTER_DIGIT, PANEL_AFTER_HYPHEN):
        if (match := pattern.match(stem)) is not None:
            return f"{path.parent}/{match.group('base')}"
    return None


def without_key_warning(manifest: pd.DataFrame) -> str | None:
    """The WARNING sentence when most usable images (over MOST_WITHOUT_KEY) have no patient key
    and are split per image, else None. manifest: with columns status and patient_id; raises
    KeyError without them."""
    usable = manifest[usable_mask(manifest)]
    missing = int((usable["patient_id"].fillna("").astype(str) == "").sum())
    if not len(usable) or missing <= MOST_WITHOUT_KEY * len(usable):
        return None
    return (
        f"{SPLIT_PER_IMAGE} ({missing} of {len(usable)} usable images have no patient key: no "
        "patient CSV row, subject folder, DICOM PatientID or name group). Put a CSV with columns "
        "filename and patient_id at the raw folder's root to split by patient"
    )


def attach_patient_ids(
    manifest: pd.DataFrame,
    found: tuple[PatientTable, list[int]] | None,
    root: str = "",
    *,
    dicom_patient_id: Callable[[str], str] | None = None,
    probable_from_names: bool = True,
) -> pd.DataFrame:
    """Columns patient_id and patient_source (and the CSV's other columns, csv_-prefixed where
    they clash): each image's patient, the union of every key that links it to other images.

    Keys: the patient CSV's row (found), the innermost subject folder in the path, and, for usable
    DICOMs, dicom_patient_id(relative_path) (dicom_patient_id_reader; None reads no header).
    Images that share any key are one patient (union-find); its patient_id is the CSV id if one
    is known, else the DICOM PatientID, else the folder. patient_source says which kinds of key
    the image itself had ("csv", "folder", "dicom", joined with "+"). With probable_from_names,
    usable images without a key are grouped by probable_name_key (patient_id "probable:...",
    patient_source "file name (probable)") unless the group has over PROBABLE_GROUP_MAX_IMAGES
    images or over PROBABLE_GROUP_MAX_CLASS_SHARE of its class (logged, not used). Images left
    without a key have patient_id "" (each its own patient); when they are most of the usable
    images a WARNING says so (without_key_warning). Raises nothing of its own."""
    manifest = manifest.copy()
    paths = manifest["relative_path"].astype(str).tolist()
    usable = usable_mask(manifest).to_numpy()
    keys: dict[str, list[str]] = {source: [""] * len(manifest) for source in SOURCE_NAMES}
    if found is not None:
        table, rows = found
        extra = [
            c for c in table.table.columns if c not in (table.file_column, table.patient_column)
        ]
        for column in extra:
            target = f"csv_{column}" if column in manifest.columns else column
            values = table.table[column].tolist()
            manifest[target] = [values[row] if row >= 0 else "" for row in rows]
        keys["csv"] = [table.patient_ids[row] if row >= 0 else "" for row in rows]
    keys["folder"] = [_patient_folder(path, below_class=True) or "" for path in paths]
    if dicom_patient_id is not None and "format" in manifest.columns:
        formats = manifest["format"].astype(str).tolist()
        keys["dicom"] = [
            dicom_patient_id(path) if use and fmt == "DICOM" else ""
            for path, use, fmt in zip(paths, usable, formats, strict=True)
        ]
    patient_ids, sources = _union_of_keys(keys)
    _log_keys(keys, usable, found, root)
    if probable_from_names:
        _group_probable_patients(manifest, paths, usable, patient_ids, sources)
    manifest["patient_id"] = patient_ids
    manifest["patient_source"] = sources
    _warn_of_a_giant_patient(patient_ids, usable)
    with_key = int(sum(bool(p) for p, u in zip(patient_ids, usable, strict=True) if u))
    unmatched = int(usable.sum()) - with_key
    if warning := without_key_warning(manifest):
        logger.warning("WARNING: %s", warning)
    elif unmatched:
        logger.warning(
            "%d usable images have no patient id; each is split as its own patient", unmatched
        )
    return manifest


def _warn_of_a_giant_patient(patient_ids: list[str], usable) -> None:
    """One patient holding most usable images is more likely an anonymiser's constant than a
    person (the split cannot put it in test): said, not changed."""
    keyed = pd.Series([p for p, u in zip(patient_ids, usable, strict=True) if u and p])
    if keyed.empty:
        return
    counts = keyed.value_counts()
    if counts.iloc[0] > PROBABLE_GROUP_MAX_IMAGES and counts.iloc[0] > 0.5 * int(usable.sum()):
        logger.warning(
            "Patient %r holds %d of %d usable images: if that id is a placeholder an anonymiser "
            "wrote (in the patient CSV or the DICOM PatientID), fix it there, or the split "
            "cannot put this patient's images in test",
            counts.index[0],
            int(counts.iloc[0]),
            int(usable.sum()),
        )


def _union_of_keys(keys: Mapping[str, list[str]]) -> tuple[list[str], list[str]]:
    """Per image, its patient (the union of every kind of key: images that share any key are
    one patient) and the kinds of key it had itself ("csv+dicom", "" for none)."""
    count = len(keys["csv"])
    links = [
        link
        for source, values in keys.items()
        for link in links_from_keys([f"{source}:{k}" if k else "" for k in values])
    ]
    groups = connected_groups(count, links).tolist()
    name_of: dict[int, str] = {}
    for source in KEY_PRIORITY:  # the first kind known names the patient
        for index, key in enumerate(keys[source]):
            if key:
                name_of.setdefault(groups[index], key)
    patient_ids = [name_of.get(group, "") for group in groups]
    sources = ["+".join(s for s in SOURCE_NAMES if keys[s][i]) for i in range(count)]
    distinct = {(s, k) for s, values in keys.items() for k in values if k}
    if len(name_of) < len(distinct) and len({s for s, _ in distinct}) > 1:
        logger.info(
            "Patient keys of %s joined as one union: %d distinct keys are %d patients (files "
            "linked by any key are one patient)",
            " and ".join(SOURCE_NAMES[s] for s in SOURCE_NAMES if any(keys[s])),
            len(distinct),
            len(name_of),
        )
    return patient_ids, sources


def _log_keys(
    keys: Mapping[str, list[str]],
    usable,
    found: tuple[PatientTable, list[int]] | None,
    root: str,
) -> None:
    """One line per kind of key: where it came from and how many usable images it gave."""
    total = int(usable.sum())
    if found is not None:
        table, _ = found
        columns = f"{table.file_column} -> {table.patient_column or 'subject folder in the path'}"
        logger.info(
            "Patient ids from %s/%s (%s; columns %s%s): %d of %d usable images matched",
            root,
            table.name,
            table.layout,
            columns,
            f"; read as {table.encoding_note}" if table.encoding_note else "",
            sum(bool(k) for k, u in zip(keys["csv"], usable, strict=True) if u),
            total,
        )
    for source, what in (
        (
            "folder",
            "subject folders in the paths (innermost p<8 digits>, patient<digits>, "
            "sub-<id>; never a study folder)",
        ),
        ("dicom", "the DICOM header's PatientID (never a study or series UID)"),
    ):
        given = [k for k, u in zip(keys[source], usable, strict=True) if u and k]
        if given:
            logger.info(
                "Patient ids from %s: %d of %d usable images, %d patients",
                what,
                len(given),
                total,
                len(set(given)),
            )


def _group_probable_patients(
    manifest: pd.DataFrame,
    paths: list[str],
    usable,
    patient_ids: list[str],
    sources: list[str],
) -> None:
    """Give usable images without a key a "probable" patient from their names, in place."""
    folders = manifest["class_folder"].astype(str).tolist()
    class_sizes = pd.Series([f for f, u in zip(folders, usable, strict=True) if u]).value_counts()
    groups: dict[str, list[int]] = {}
    for index, path in enumerate(paths):
        key = probable_name_key(path) if usable[index] and not patient_ids[index] else None
        if key is not None:
            groups.setdefault(key, []).append(index)
    used, refused = [], []
    for members in groups.values():
        if len(members) < 2:
            continue
        smallest = min(int(class_sizes.get(folders[i], 0)) for i in members)
        limit = min(
            PROBABLE_GROUP_MAX_IMAGES,
            max(2, int(PROBABLE_GROUP_MAX_CLASS_SHARE * smallest)),
        )
        (used if len(members) <= limit else refused).append(members)
    for members in refused:
        logger.info(
            "Not grouping the %d images named like %s as one patient: a name group of over %d "
            "images or %.0f%% of a class is more likely a naming scheme than one person",
            len(members),
            paths[members[0]],
            PROBABLE_GROUP_MAX_IMAGES,
            100 * PROBABLE_GROUP_MAX_CLASS_SHARE,
        )
    for members in used:
        key = probable_name_key(paths[members[0]])
        for index in members:
            patient_ids[index] = f"probable:{key}"
            sources[index] = PROBABLE
    if used:
        examples = "; ".join(", ".join(paths[i] for i in members[:3]) for members in used[:3])
        logger.info(
            "Probably one patient by file name (a panel letter after a digit or hyphen, NIH's "
            "<8 digits>_<3 digits>): %d groups, %d images, kept on one side of the split (e.g. "
            "%s); data_processing.probable_patients_from_names: false turns this off",
            len(used),
            sum(len(m) for m in used),
            examples,
        )
