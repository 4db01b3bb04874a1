"""Patient keys and confounds on ../shared: the field cases about patients (second table of its
README: csv-collection-layout, csv-cp1252, mimic-cxr-jpg-layout, siim-covid-dicom-patientid,
semicolon-csv-excel-locale), a variant of each kind built here from the case, and cxr-dev's
probable same-patient names and format-and-mode confound.

Beside tests/data/test_field_cases.py (same helpers), kept apart so the decoding and layout
cases there and the patient cases here can change independently. Every test skips cleanly when
../shared (or the one folder it reads) is absent; tests/data/test_patients.py builds each kind
itself without ../shared."""

from __future__ import annotations

import logging
import shutil
import unicodedata
from functools import partial
from pathlib import Path

import pandas as pd
import pydicom
import pytest

from cxr_gan.data.patients import attach_patient_ids, find_patient_table
from cxr_gan.data.sources import RawFile, RawXrayCollection, scan_folder
from cxr_gan.pipelines.data_processing.nodes import (
    ingest_raw_xrays,
    report_data_quality,
    split_train_test,
)
from cxr_gan.pipelines.data_processing.params import DataProcessingParams
from tests.data.test_field_cases import FIELD_CASES, _phantom_png, _with_phantoms

CXR_DEV = FIELD_CASES.parent / "cxr-dev"
needs_cases = pytest.mark.skipif(not FIELD_CASES.is_dir(), reason="../shared/field-cases absent")
needs_cxr_dev = pytest.mark.skipif(not CXR_DEV.is_dir(), reason="../shared/cxr-dev absent")


def _params(tmp_path: Path, **params) -> DataProcessingParams:
    defaults = {"image_size": 64, "min_images_per_class": 1, "scratch_dir": str(tmp_path)}
    return DataProcessingParams(**(defaults | params))


def _run(collection: RawXrayCollection, tmp_path: Path, **params):
    """ingest, split and data-quality report; the manifest indexed by relative path."""
    params = _params(tmp_path, **params)
    _, manifest = ingest_raw_xrays(collection, params)
    split = split_train_test(manifest, params)
    report = report_data_quality(manifest, split, params)
    return manifest.set_index("relative_path"), split, report


def _with_phantoms_from(folder: Path, per_class: int = 10) -> RawXrayCollection:
    """A copy of a case (changed by a test) plus phantoms, as _with_phantoms does for a case."""
    copied = scan_folder(folder)
    phantoms = [
        RawFile(f"{name}/phantom_{index:02d}.png", partial(_phantom_png, label, index))
        for label, name in ((0, "normal"), (1, "covid"))
        for index in range(per_class)
    ]
    return RawXrayCollection(
        copied.root, copied.files + phantoms, ["covid", "normal"], copied.csv_files
    )


def _each_patient_on_one_side(split: pd.DataFrame) -> bool:
    sides = split[split["patient_id"] != ""].groupby("patient_id")["split"].nunique()
    return bool((sides == 1).all()) and len(sides) > 0


def _copy(case: str, tmp_path: Path) -> Path:
    target = tmp_path / case
    shutil.copytree(FIELD_CASES / case, target)
    return target


# --- the cases as they are ----------------------------------------------------------------------


@needs_cases
def test_mimic_subject_folders_are_one_patient(tmp_path):
    manifest, split, report = _run(_with_phantoms("mimic-cxr-jpg-layout"), tmp_path)
    films = manifest[manifest.index.str.contains("/p1")]
    assert len(films) == 22 and films["status"].isin(["ok", "warning"]).all()
    subjects = films.index.str.split("/").str[2]  # covid/p10/p10000032/s5.../x.jpg
    assert (films["patient_id"] == subjects).all()  # the p<8 digits> folder, never p10 or s5...
    assert films["patient_id"].str.fullmatch(r"p\d{8}").all()
    assert (films["patient_source"] == "folder").all()
    assert _each_patient_on_one_side(split)
    assert report["patients"] == subjects.nunique()


@needs_cases
def test_siim_dicom_patient_ids_group_images_and_the_report_counts_them(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    case = "siim-covid-dicom-patientid"
    manifest, split, report = _run(_with_phantoms(case), tmp_path)
    dicoms = manifest[manifest.index.str.endswith(".dcm")]
    headers = {
        name: pydicom.dcmread(FIELD_CASES / case / name, stop_before_pixels=True)
        for name in dicoms.index
    }
    assert dicoms["status"].isin(["ok", "warning"]).all()
    assert dicoms["patient_id"].tolist() == [headers[n].PatientID for n in dicoms.index]
    assert dicoms["patient_id"].nunique() < len(dicoms)  # some patients have several films
    assert _each_patient_on_one_side(split)
    assert report["patients"] == len({h.PatientID for h in headers.values()})
    # the study-level CSV names no image and has no patient column: not used, and why
    assert "Not using" in caplog.text and "train_image_level.csv" in caplog.text


@needs_cases
def test_semicolon_csv_from_a_european_spreadsheet_gives_patient_ids(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    case = "semicolon-csv-excel-locale"
    manifest, split, _ = _run(_with_phantoms(case), tmp_path)
    table = pd.read_csv(FIELD_CASES / case / "patienten.csv", sep=";", dtype=str, encoding="cp1252")
    expected = dict(zip(table["filename"], table["patient_id"], strict=True))
    assert manifest.loc[list(expected), "patient_id"].tolist() == list(expected.values())
    assert _each_patient_on_one_side(split)
    assert "patienten.csv" in caplog.text and "';'-separated" in caplog.text
    usable = int(manifest["status"].isin(["ok", "warning"]).sum())
    assert f"{len(expected)} of {usable} usable images matched" in caplog.text


# --- variants of each kind, built here from the cases -------------------------------------------


@needs_cases
def test_collection_csv_with_other_column_names_and_semicolons_gives_the_same_split(tmp_path):
    """csv-collection-layout's metadata.csv re-saved by a German Excel (`;`, cp1252) with other
    column names and the file column last: the same patients and split as the case."""
    reference, reference_split, _ = _run(_with_phantoms("csv-collection-layout"), tmp_path / "a")
    folder = _copy("csv-cp1252", tmp_path)
    table = pd.read_csv(folder / "metadata.csv", dtype=str, encoding="cp1252")
    table = table.rename(columns={"Patientid": "Patienten-Nr", "filename": "Aufnahme"})
    table = table[[c for c in table.columns if c != "Aufnahme"] + ["Aufnahme"]]
    (folder / "metadata.csv").write_bytes(table.to_csv(sep=";", index=False).encode("cp1252"))
    manifest, split, _ = _run(_with_phantoms_from(folder), tmp_path / "b")
    films = [f"covid/patient{p}-day{d}.jpeg" for p in (1, 2, 3, 4) for d in (0, 3, 6)]
    assert manifest.loc[films, "patient_id"].tolist() == reference.loc[films, "patient_id"].tolist()
    assert split.drop(columns="group").equals(reference_split.drop(columns="group"))


@needs_cases
def test_mimic_variant_bids_subjects_and_patient_folders(tmp_path):
    """The MIMIC films moved to sub-<id>/ses-<n>/ (BIDS) in covid/ and patient<n>/study<n>/ in
    normal/: the subject is the patient, never the session or study."""
    source = FIELD_CASES / "mimic-cxr-jpg-layout"
    target = tmp_path / "moved"
    expected = {}
    for path in sorted(source.glob("*/p1*/p*/s*/*.jpg")):
        folder, _, subject, study = path.relative_to(source).parts[:4]
        new_subject = f"sub-{subject[-3:]}" if folder == "covid" else f"patient{subject[-2:]}"
        session = f"ses-{study[-2:]}" if folder == "covid" else f"study{study[-2:]}"
        relative = f"{folder}/{new_subject}/{session}/{path.name}"
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / relative)
        expected[relative] = new_subject
    manifest, split, _ = _run(_with_phantoms_from(target), tmp_path)
    assert manifest.loc[list(expected), "patient_id"].tolist() == list(expected.values())
    assert _each_patient_on_one_side(split)


@needs_cases
def test_siim_variant_flat_folder_and_one_shared_study_uid(tmp_path):
    """The SIIM DICOMs flattened into their class folders, without extensions, and all given
    one StudyInstanceUID: PatientID still groups them, the shared study joins nobody."""
    source = FIELD_CASES / "siim-covid-dicom-patientid"
    target = tmp_path / "flat"
    expected = {}
    for path in sorted(source.glob("*/*/*/*.dcm")):
        dataset = pydicom.dcmread(path)
        dataset.StudyInstanceUID = "1.2.826.0.1.3680043.10.1234.1"
        relative = f"{path.relative_to(source).parts[0]}/{path.stem}"
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        dataset.save_as(target / relative)
        expected[relative] = dataset.PatientID
    manifest, split, report = _run(_with_phantoms_from(target), tmp_path)
    assert manifest.loc[list(expected), "patient_id"].tolist() == list(expected.values())
    assert report["patients"] == len(set(expected.values()))
    assert _each_patient_on_one_side(split)


@needs_cases
def test_semicolon_variant_tabs_and_nfd_names(tmp_path):
    """semicolon-csv-excel-locale with tab-separated rows, bare upper-case names and the files
    renamed with a decomposed (NFD) umlaut, as macOS writes them; the CSV says it in NFC."""
    folder = _copy("semicolon-csv-excel-locale", tmp_path)
    table = pd.read_csv(folder / "patienten.csv", sep=";", dtype=str, encoding="cp1252")
    (folder / "patienten.csv").unlink()
    renamed = {}
    for relative in table["filename"]:
        new = relative.replace("CR.", unicodedata.normalize("NFD", "Röntgen."))
        (folder / relative).rename(folder / new)
        renamed[relative] = new
    table["Datei"] = [
        unicodedata.normalize("NFC", renamed[r]).split("/")[1].upper() for r in table["filename"]
    ]
    table.drop(columns="filename").to_csv(folder / "patients.tsv.csv", sep="\t", index=False)
    manifest, split, _ = _run(_with_phantoms_from(folder), tmp_path / "run")
    assert (
        manifest.loc[list(renamed.values()), "patient_id"].tolist() == table["patient_id"].tolist()
    )
    assert _each_patient_on_one_side(split)


# --- cxr-dev: probable same-patient names, and the confound in plain sight ---------------------


@pytest.fixture(scope="module")
def cxr_dev_without_manifest(tmp_path_factory):
    """data_processing on cxr-dev with its manifest.csv hidden: (manifest, split, report)."""
    folder = scan_folder(CXR_DEV)
    collection = RawXrayCollection(folder.root, folder.files, folder.folders, {})
    tmp_path = tmp_path_factory.mktemp("cxr-dev")
    return _run(collection, tmp_path, image_size=32)


@needs_cxr_dev
def test_cxr_dev_probable_same_patient_names_stay_together(cxr_dev_without_manifest):
    manifest, split, report = cxr_dev_without_manifest
    truth = pd.read_csv(CXR_DEV / "manifest.csv", dtype=str).set_index("filename")["patient_id"]
    grouped = manifest["patient_id"].reindex(truth.index)
    assert len(truth) == 200 and manifest.loc[truth.index, "status"].isin(["ok", "warning"]).all()
    pairs = [(a, b) for a in truth.index for b in truth.index if a < b and truth[a] == truth[b]]
    together = sum(grouped[a] != "" and grouped[a] == grouped[b] for a, b in pairs)
    groups = grouped[grouped != ""].groupby(grouped[grouped != ""])
    wrong = sum(truth[members.index].nunique() > 1 for _, members in groups)
    assert len(pairs) == 46
    assert together >= 18, together
    assert wrong <= 2, wrong
    assert _each_patient_on_one_side(split)
    # most images still have no key: said as a WARNING in the report
    assert "split per image" in report["patient_warning"]


@needs_cxr_dev
def test_cxr_dev_report_warns_of_format_and_colour_mode(cxr_dev_without_manifest, tmp_path):
    manifest, split, report = cxr_dev_without_manifest
    warnings = " ".join(report["confound_warnings"])
    assert "every normal image is a grayscale PNG" in warnings
    assert "98% of covid images are JPEG or colour" in warnings
    assert "file format" in warnings
    assert report["attributes_by_class"]["format"]["normal"] == [{"value": "PNG", "images": 100}]
    # with its manifest (which names each image's source_repo) the warning stays, and the
    # archive is named as a confound too
    plain = manifest.reset_index().drop(columns=["patient_id", "patient_source"])
    table = find_patient_table(
        scan_folder(CXR_DEV).csv_files, "auto", str(CXR_DEV), plain["relative_path"].tolist()
    )
    with_csv = attach_patient_ids(plain, table, str(CXR_DEV))
    params = _params(tmp_path)
    again = report_data_quality(with_csv, split_train_test(with_csv, params), params)
    attributes = [c["attribute"] for c in again["confounds"]]
    assert "format x colour_mode" in attributes and "source" in attributes
    assert again["patient_warning"] is None and again["patients"] == 160
