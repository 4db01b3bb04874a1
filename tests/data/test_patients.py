"""Patient ids from the CSV layouts people have, label conflicts, and the suspect-image guard:
each input is built here and run through the data_processing ingest node."""

from __future__ import annotations

import logging
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cxr_gan.data.ingest import DataProcessingError
from cxr_gan.data.sources import scan_folder
from cxr_gan.pipelines.data_processing.nodes import ingest_raw_xrays, split_train_test
from cxr_gan.pipelines.data_processing.params import DataProcessingParams
from tests.conftest import write_class_folder


def _run(root, tmp_path, **params):
    params = DataProcessingParams(
        image_size=32, min_images_per_class=2, scratch_dir=str(tmp_path), **params
    )
    arrays, manifest = ingest_raw_xrays(scan_folder(root), params)
    return arrays, manifest.set_index("relative_path"), split_train_test(manifest, params)


def _patients(manifest: pd.DataFrame, names: list[str]) -> list[str]:
    return manifest.loc[names, "patient_id"].tolist()


COVID = [f"covid/img_{i:03d}.png" for i in range(12)]


@pytest.mark.parametrize(
    ("columns", "file_value"),
    [
        ({"file": "filename", "patient": "patient_id"}, lambda p: p),  # this project's own
        ({"file": "filename", "patient": "Patientid"}, lambda p: p.split("/")[-1]),  # collection
        ({"file": "Image Index", "patient": "Patient ID"}, lambda p: p.split("/")[-1]),  # NIH
        ({"file": "FILE_NAME", "patient": "patient id"}, lambda p: p),  # case, spaces, underscores
    ],
)
def test_patient_csv_layouts_are_recognised(raw_folder, tmp_path, caplog, columns, file_value):
    caplog.set_level(logging.INFO)
    films = [f"covid/film_{i:03d}.png" for i in range(12)]  # names unique across classes
    for old, new in zip(COVID, films, strict=True):
        (raw_folder / old).rename(raw_folder / new)
    rows = [
        {columns["file"]: file_value(path), columns["patient"]: f"P{i // 3}", "age": "60"}
        for i, path in enumerate(films)
    ]
    pd.DataFrame(rows).to_csv(raw_folder / "metadata.csv", index=False)
    _, manifest, split = _run(raw_folder, tmp_path)
    assert _patients(manifest, films) == [f"P{i // 3}" for i in range(12)]
    assert manifest.loc[films[0], "age"] == "60"  # other columns are carried along
    assert (split[split["patient_id"] != ""].groupby("patient_id")["split"].nunique() == 1).all()
    assert "metadata.csv" in caplog.text and columns["patient"] in caplog.text
    assert "12 of 24 usable images matched" in caplog.text


def test_a_bare_name_in_two_class_folders_gives_no_patient_id(raw_folder, tmp_path, caplog):
    pd.DataFrame({"filename": ["img_000.png"], "Patientid": ["A"]}).to_csv(
        raw_folder / "metadata.csv", index=False
    )
    with pytest.raises(DataProcessingError, match="cannot give patient ids: none of"):
        _run(raw_folder, tmp_path, patient_csv="metadata.csv")
    _, manifest, _ = _run(raw_folder, tmp_path)
    assert (manifest["patient_id"] == "").all()
    assert "name several images" in caplog.text


def test_chexpert_patient_folders_give_patient_ids(tmp_path):
    root = tmp_path / "raw"
    write_class_folder(root, "normal", 12, seed=1)
    for patient in range(4):
        for study in range(3):
            folder = root / "covid" / f"patient{patient:05d}" / f"study{study + 1}"
            folder.mkdir(parents=True)
            pixels = np.kron(
                np.random.default_rng(patient * 10 + study).integers(0, 256, (8, 8)),
                np.ones((6, 6)),
            ).astype(np.uint8)
            Image.fromarray(pixels).save(folder / "view1_frontal.jpg", quality=95)
    _, manifest, split = _run(root, tmp_path)
    covid = manifest[manifest["class_folder"] == "covid"]
    assert sorted(set(covid["patient_id"])) == [f"patient{p:05d}" for p in range(4)]
    assert (split[split["patient_id"] != ""].groupby("patient_id")["split"].nunique() == 1).all()


def test_chexpert_csv_paths_give_patient_ids(raw_folder, tmp_path):
    """A CheXpert-style CSV: Path column with the patient folder, no patient column."""
    for index in range(3):
        target = raw_folder / "covid" / "patient00042" / f"study{index}"
        target.mkdir(parents=True)
        (raw_folder / COVID[index]).rename(target / "view1_frontal.jpg")
    paths = [f"CheXpert-v1.0-small/train/patient00042/study{i}/view1_frontal.jpg" for i in range(3)]
    pd.DataFrame({"Path": paths, "Sex": ["F"] * 3}).to_csv(raw_folder / "train.csv", index=False)
    _, manifest, _ = _run(raw_folder, tmp_path)
    moved = [f"covid/patient00042/study{i}/view1_frontal.jpg" for i in range(3)]
    assert _patients(manifest, moved) == ["patient00042"] * 3
    assert manifest.loc[moved[0], "Sex"] == "F"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252"])
def test_spreadsheet_encodings_are_read_with_a_warning(raw_folder, tmp_path, caplog, encoding):
    table = pd.DataFrame(
        {"filename": COVID[:2], "patient_id": ["A", "A"], "notes": ["patient’s first film"] * 2}
    )
    (raw_folder / "patients.csv").write_bytes(table.to_csv(index=False).encode(encoding))
    _, manifest, _ = _run(raw_folder, tmp_path)
    assert _patients(manifest, COVID[:2]) == ["A", "A"]
    assert manifest.loc[COVID[0], "notes"] == "patient’s first film"
    if encoding == "cp1252":
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any("patients.csv" in r.getMessage() and "1252" in r.getMessage() for r in warnings)


def test_unrelated_or_broken_csvs_never_crash_and_say_why(raw_folder, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    pd.DataFrame({"study": ["x"], "score": ["1"]}).to_csv(raw_folder / "scores.csv", index=False)
    (raw_folder / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (raw_folder / "empty.csv").write_bytes(b"")
    (raw_folder / "ragged.csv").write_text('a,b\n1,2,3,4\n"unclosed\n')
    _, manifest, _ = _run(raw_folder, tmp_path)
    assert (manifest["patient_id"] == "").all()
    for name in ("scores.csv", "binary.csv", "empty.csv", "ragged.csv"):
        assert f"Not using {raw_folder}/{name} for patient ids:" in caplog.text


def test_patient_csv_null_reads_no_csv(raw_folder, tmp_path, monkeypatch):
    pd.DataFrame({"filename": COVID, "patient_id": ["A"] * 12}).to_csv(
        raw_folder / "patients.csv", index=False
    )
    collection = scan_folder(raw_folder)

    def refuse():
        raise AssertionError("read although patient_csv is null")

    collection.csv_files["patients.csv"] = refuse
    params = DataProcessingParams(
        image_size=32, min_images_per_class=2, scratch_dir=str(tmp_path), patient_csv=None
    )
    _, manifest = ingest_raw_xrays(collection, params)
    assert (manifest["patient_id"] == "").all()


def test_a_named_csv_that_cannot_be_used_names_itself_and_the_fix(raw_folder, tmp_path):
    pd.DataFrame({"study": ["x"]}).to_csv(raw_folder / "scores.csv", index=False)
    with pytest.raises(
        DataProcessingError, match=r"scores.csv cannot give patient ids.*patient_id"
    ):
        _run(raw_folder, tmp_path, patient_csv="scores.csv")
    pd.DataFrame({"filename": ["elsewhere/x.png"], "patient_id": ["A"]}).to_csv(
        raw_folder / "other.csv", index=False
    )
    with pytest.raises(DataProcessingError, match="other.csv cannot give patient ids: none of"):
        _run(raw_folder, tmp_path, patient_csv="other.csv")


# --- one radiograph with two labels ------------------------------------------------------------


def _cross_class_copy(raw_folder) -> tuple[str, str]:
    """normal/img_000.png re-encoded as a JPEG (quality 85) under covid/."""
    Image.open(raw_folder / "normal" / "img_000.png").save(
        raw_folder / "covid" / "copy.jpg", quality=85
    )
    return "normal/img_000.png", "covid/copy.jpg"


def test_near_duplicate_in_two_classes_is_excluded_by_default(raw_folder, tmp_path):
    first, second = _cross_class_copy(raw_folder)
    arrays, manifest, split = _run(raw_folder, tmp_path)
    assert (manifest.loc[[first, second], "status"] == "label_conflict").all()
    assert first in manifest.loc[second, "reason"] and second in manifest.loc[first, "reason"]
    assert not {first, second} & set(split["id"])
    assert len(arrays["images"]) == len(arrays["ids"]) == 24 - 1  # 25 files, two left out


def test_label_conflict_fail_and_keep(raw_folder, tmp_path):
    first, second = _cross_class_copy(raw_folder)
    with pytest.raises(DataProcessingError, match=r"img_000.png and covid/copy.jpg|copy.jpg and"):
        _run(raw_folder, tmp_path, on_label_conflict="fail")
    _, manifest, split = _run(raw_folder, tmp_path, on_label_conflict="keep")
    assert (manifest.loc[[first, second], "status"] == "ok").all()
    sides = split.set_index("id").loc[[first, second], "split"]
    assert sides.nunique() == 1


def test_exact_copy_in_two_classes_follows_on_label_conflict(raw_folder, tmp_path):
    (raw_folder / "covid" / "same.png").write_bytes(
        (raw_folder / "normal/img_001.png").read_bytes()
    )
    _, manifest, _ = _run(raw_folder, tmp_path)
    assert (
        manifest.loc[["normal/img_001.png", "covid/same.png"], "status"] == "label_conflict"
    ).all()
    _, manifest, _ = _run(raw_folder, tmp_path, on_label_conflict="keep")
    assert (manifest.loc[["normal/img_001.png", "covid/same.png"], "status"] == "ok").all()


# --- the suspect-image guard ---------------------------------------------------------------------


def _suspects(raw_folder):
    """A near-empty image (what a 16-bit RGB PNG became when cut to its top byte) and one far
    darker than its class."""
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 16, (48, 48), dtype=np.uint8)).save(
        raw_folder / "covid" / "almost_black.png"
    )
    for index in range(12):  # a class of mid-grey images, and one very dark one
        path = raw_folder / "normal" / f"img_{index:03d}.png"
        pixels = np.asarray(Image.open(path)).astype(int) // 2 + 64
        Image.fromarray(pixels.astype(np.uint8)).save(path)
    dark = rng.integers(0, 60, (8, 8), dtype=np.uint8)
    Image.fromarray(np.kron(dark, np.ones((6, 6), np.uint8))).save(
        raw_folder / "normal" / "dark.png"
    )
    return "covid/almost_black.png", "normal/dark.png"


def test_suspect_images_get_status_warning_and_are_kept(raw_folder, tmp_path):
    empty, dark = _suspects(raw_folder)
    arrays, manifest, split = _run(raw_folder, tmp_path)
    assert manifest.loc[empty, "status"] == "warning"
    assert "dynamic range" in manifest.loc[empty, "reason"]
    assert manifest.loc[dark, "status"] == "warning"
    assert "mean brightness" in manifest.loc[dark, "reason"]
    assert {empty, dark} <= set(split["id"]) and {empty, dark} <= set(arrays["ids"])
    assert (manifest.drop(index=[empty, dark])["status"] == "ok").all()


def test_on_suspect_image_skip_leaves_them_out(raw_folder, tmp_path):
    empty, dark = _suspects(raw_folder)
    arrays, manifest, split = _run(raw_folder, tmp_path, on_suspect_image="skip")
    assert (manifest.loc[[empty, dark], "status"] == "skipped").all()
    assert not {empty, dark} & set(split["id"])
    assert len(arrays["images"]) == len(arrays["ids"]) == 24


# --- patient keys from any common layout (issue 23) ---------------------------------------------


def _image(seed: int) -> np.ndarray:
    """A distinct 48x48 image (8x8 random blocks: distinct at pHash's scale)."""
    blocks = np.random.default_rng(seed).integers(0, 256, (8, 8), dtype=np.uint8)
    return np.kron(blocks, np.ones((6, 6), np.uint8))


def _write(root, relative: str, seed: int) -> str:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_image(seed)).save(path)
    return relative


def _one_side(split: pd.DataFrame, ids: list[str]) -> bool:
    return split.set_index("id").loc[ids, "split"].nunique() == 1


def _same_patient(manifest: pd.DataFrame, names: list[str]) -> bool:
    patients = manifest.loc[names, "patient_id"]
    return patients.nunique() == 1 and patients.iloc[0] != ""


@pytest.mark.parametrize(
    ("file_column", "patient_column", "value", "sep"),
    [
        ("Bild", "Patienten-ID", lambda p: p.split("/")[-1].rsplit(".", 1)[0], ";"),  # stems
        ("image_name", "participant_id", lambda p: p.split("/")[-1].upper(), "\t"),  # case
        ("x", "anonymized_patient_id", lambda p: "./" + p, "|"),  # any file column name
    ],
)
def test_a_patient_csv_is_recognised_by_content(
    raw_folder, tmp_path, caplog, file_column, patient_column, value, sep
):
    caplog.set_level(logging.INFO)
    films = [f"covid/film_{i:03d}.png" for i in range(12)]
    for old, new in zip(COVID, films, strict=True):
        (raw_folder / old).rename(raw_folder / new)
    table = pd.DataFrame(
        {
            "study_uid": [f"1.2.3.{i}" for i in range(12)],  # never a patient key
            "age": ["60"] * 12,
            file_column: [value(p) for p in films],
            patient_column: [f"P{i // 3}" for i in range(12)],
        }
    )
    table.to_csv(raw_folder / "liste.csv", sep=sep, index=False)
    _, manifest, split = _run(raw_folder, tmp_path)
    assert _patients(manifest, films) == [f"P{i // 3}" for i in range(12)]
    assert all(_one_side(split, films[i : i + 3]) for i in range(0, 12, 3))
    assert manifest.loc[films[0], "patient_source"] == "csv"
    logged = caplog.text
    assert "liste.csv" in logged and file_column in logged and patient_column in logged
    assert "12 of 24 usable images matched" in logged
    if sep != ",":
        assert "-separated" in logged


def test_nfd_file_names_match_an_nfc_csv(raw_folder, tmp_path):
    import unicodedata

    names = ["Müller", "Øre-Čapek", "José"]
    films = []
    for index, name in enumerate(names * 2):
        decomposed = unicodedata.normalize("NFD", f"covid/{name}_{index}.png")  # as macOS writes
        films.append(_write(raw_folder, decomposed, 100 + index))
    table = pd.DataFrame(
        {
            "filename": [
                unicodedata.normalize("NFC", f"{n}_{i}.PNG") for i, n in enumerate(names * 2)
            ],
            "patient_id": names * 2,
        }
    )
    table.to_csv(raw_folder / "patients.csv", index=False, encoding="utf-8")
    _, manifest, split = _run(raw_folder, tmp_path)
    for pair in ((films[0], films[3]), (films[1], films[4]), (films[2], films[5])):
        assert _same_patient(manifest, list(pair)) and _one_side(split, list(pair))


def test_a_csv_with_only_a_study_column_gives_no_patient(raw_folder, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    pd.DataFrame(
        {"image_id": [p.split("/")[1] for p in COVID], "StudyInstanceUID": ["1.2.3"] * 12}
    ).to_csv(raw_folder / "train_image_level.csv", index=False)
    _, manifest, _ = _run(raw_folder, tmp_path)
    assert (manifest["patient_id"] == "").all()
    assert "no patient column" in caplog.text and "study or series UID" in caplog.text


@pytest.mark.parametrize(
    ("layout", "subject"),
    [
        ("p1{d}/p1{d}00000{i}/s5{d}00000{j}/view.jpg", "p1{d}00000{i}"),  # MIMIC-CXR-JPG
        ("sub-0{i}/ses-0{j}/xray.png", "sub-0{i}"),  # BIDS
        ("patient{i}/study{j}/view1_frontal.png", "patient{i}"),  # CheXpert, no CSV
    ],
)
def test_subject_folders_group_their_files(tmp_path, layout, subject):
    root = tmp_path / "raw"
    write_class_folder(root, "normal", 12, seed=1)
    files, subjects = [], []
    for i in range(1, 5):
        for j in range(1, 4):
            relative = "covid/" + layout.format(d=i, i=i, j=j)
            if relative.endswith(".jpg"):
                path = root / relative
                path.parent.mkdir(parents=True)
                Image.fromarray(_image(i * 10 + j)).save(path, quality=95)
            else:
                _write(root, relative, i * 10 + j)
            files.append(relative)
            subjects.append(subject.format(d=i, i=i))
    _, manifest, split = _run(root, tmp_path)
    assert manifest.loc[files, "patient_id"].tolist() == subjects  # never a study or bucket
    assert (manifest.loc[files, "patient_source"] == "folder").all()
    assert all(_one_side(split, files[k : k + 3]) for k in range(0, 12, 3))


def _dicom(path, seed: int, **tags) -> None:
    from tests.dicom_helpers import dicom_bytes, image_dataset

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dicom_bytes(image_dataset(_image(seed), **tags)))


def test_dicom_patient_ids_group_images_and_study_uids_never_do(raw_folder, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    study, series = "1.2.826.0.1.99.1", "1.2.826.0.1.99.2"
    layout = {  # file -> PatientID; every file shares one study and series UID
        "covid/aa/1.dcm": "PAT-A",
        "covid/bb/2.dcm": "PAT-A",
        "covid/cc/3": "PAT-B",  # no extension: DICOM by content
        "covid/dd/4.dcm": "PAT-C",
        "covid/ee/5.dcm": "ANONYMOUS",  # a placeholder is no key
        "covid/ff/6.dcm": "ANONYMOUS",
    }
    for seed, (name, patient) in enumerate(layout.items()):
        _dicom(
            raw_folder / name,
            200 + seed,
            PatientID=patient,
            StudyInstanceUID=study,
            SeriesInstanceUID=series,
        )
    _, manifest, split = _run(raw_folder, tmp_path)
    names = list(layout)
    assert manifest.loc[names, "patient_id"].tolist() == [
        "PAT-A",
        "PAT-A",
        "PAT-B",
        "PAT-C",
        "",
        "",
    ]
    assert (manifest.loc[names[:4], "patient_source"] == "dicom").all()
    assert _one_side(split, names[:2])
    assert "DICOM header's PatientID" in caplog.text


def test_keys_of_every_kind_combine_as_a_union(raw_folder, tmp_path):
    """The CSV links a and b, b's DICOM header links it to c, c's subject folder to d."""
    _write(raw_folder, "covid/a.png", 300)
    _dicom(raw_folder / "covid" / "b.dcm", 301, PatientID="X1")
    _dicom(raw_folder / "covid" / "patient7" / "c.dcm", 302, PatientID="X1")
    _write(raw_folder, "covid/patient7/d.png", 303)
    _write(raw_folder, "covid/e.png", 304)  # linked to nothing
    pd.DataFrame({"filename": ["covid/a.png", "covid/b.dcm"], "patient_id": ["K", "K"]}).to_csv(
        raw_folder / "patients.csv", index=False
    )
    _, manifest, split = _run(raw_folder, tmp_path)
    linked = ["covid/a.png", "covid/b.dcm", "covid/patient7/c.dcm", "covid/patient7/d.png"]
    assert manifest.loc[linked, "patient_id"].tolist() == ["K"] * 4  # the CSV's id names it
    assert manifest.loc[linked, "patient_source"].tolist() == [
        "csv",
        "csv+dicom",
        "folder+dicom",
        "folder",
    ]
    assert manifest.loc["covid/e.png", "patient_id"] == ""
    assert _one_side(split, linked)


def _named(root, names: list[str]) -> list[str]:
    """Distinct images (seeded by their names) at the given paths."""
    return [_write(root, name, zlib.crc32(name.encode())) for name in names]


def test_panel_letters_and_nih_numbers_are_probably_one_patient(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    root = tmp_path / "raw"
    write_class_folder(root, "normal", 60, seed=1)  # 5% of 60: a group of 3 may be used
    write_class_folder(root, "covid", 60, seed=2)
    groups = [
        ["covid/COVID-00039a.png", "covid/COVID-00039b.png", "covid/COVID-00039c.png"],
        ["covid/x-gr1_lrg-a.png", "covid/x-gr1_lrg-b.png"],
        ["covid/fig-002-a1.png", "covid/fig-002-a2.png"],
        ["normal/nih__00001389_001.png", "normal/nih__00001389_003.png"],
    ]
    counters = [
        "covid/COVID-1.png",
        "covid/COVID-2.png",
        "normal/phantom_00001.png",
        "normal/phantom_00002.png",
    ]
    _named(root, [n for group in groups for n in group] + counters)
    _, manifest, split = _run(root, tmp_path)
    for group in groups:
        assert _same_patient(manifest, group) and _one_side(split, group)
        assert manifest.loc[group[0], "patient_id"].startswith("probable:")
        assert (manifest.loc[group, "patient_source"] == "file name (probable)").all()
    assert (manifest.loc[counters, "patient_id"] == "").all()  # a counter is never a key
    assert "probable_patients_from_names: false" in caplog.text
    _, manifest, _ = _run(root, tmp_path, probable_patients_from_names=False)
    assert (manifest["patient_id"] == "").all()


def test_a_large_name_group_is_logged_not_used(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    root = tmp_path / "raw"
    write_class_folder(root, "normal", 40, seed=1)
    write_class_folder(root, "covid", 40, seed=2)
    big = _named(root, [f"covid/scan1{letter}.png" for letter in "abcdefghijkl"])  # 12 images
    share = _named(root, [f"normal/film7{letter}.png" for letter in "abc"])  # 3 of 43: over 5%
    small = _named(root, ["normal/film8a.png", "normal/film8b.png"])  # a pair is always allowed
    _, manifest, _ = _run(root, tmp_path)
    assert (manifest.loc[big + share, "patient_id"] == "").all()
    assert _same_patient(manifest, small)
    assert "Not grouping the 12 images named like covid/scan1a.png" in caplog.text
    assert "Not grouping the 3 images named like normal/film7a.png" in caplog.text


def test_most_images_without_a_key_is_a_warning_in_log_and_report(raw_folder, tmp_path, caplog):
    from cxr_gan.pipelines.data_processing.nodes import report_data_quality

    params = DataProcessingParams(image_size=32, min_images_per_class=2, scratch_dir=str(tmp_path))
    _, manifest = ingest_raw_xrays(scan_folder(raw_folder), params)
    report = report_data_quality(manifest, split_train_test(manifest, params), params)
    sentence = "split per image: the same patient may be in training and test"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(sentence in w and "24 of 24" in w for w in warnings)
    assert sentence in report["patient_warning"] and report["patients"] == 0
    # half the images with a key: no warning
    pd.DataFrame({"filename": COVID, "patient_id": [f"P{i}" for i in range(12)]}).to_csv(
        raw_folder / "patients.csv", index=False
    )
    _, manifest = ingest_raw_xrays(scan_folder(raw_folder), params)
    report = report_data_quality(manifest, split_train_test(manifest, params), params)
    assert report["patient_warning"] is None and report["patients"] == 12
    assert report["patient_key_sources"] == {"csv": 12}
