"""Patient ids from the CSV layouts people have, label conflicts, and the suspect-image guard:
each input is built here and run through the data_processing ingest node."""

from __future__ import annotations

import logging

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
