"""../shared/field-cases: real-world inputs, each giving the result its README states.

Skipped cleanly when ../shared is absent (CI); tests/data/test_photometric.py and
tests/data/test_patients.py build every kind themselves."""

from __future__ import annotations

import hashlib
import logging
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.pixels import apply_modality_lut, apply_presentation_lut, apply_voi_lut

from cxr_gan.data.decoding import decode_xray
from cxr_gan.data.phantom import draw_phantom
from cxr_gan.data.sources import RawFile, RawXrayCollection, scan_folder
from cxr_gan.pipelines.data_processing.nodes import ingest_raw_xrays, split_train_test
from cxr_gan.pipelines.data_processing.params import DataProcessingParams

REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
FIELD_CASES = REPO.parent / "shared" / "field-cases"
pytestmark = pytest.mark.skipif(not FIELD_CASES.is_dir(), reason="../shared/field-cases absent")

# decoded pixels (SHA-256) of controls-ok on main before any fix: they must not change
CONTROLS = {
    "covid/RG1_J2KI.dcm": "be2493f8b6c080e5f3c45e861cec7328a734202e04b06c5ee3925cae551a77d3",
    "covid/RG3_J2KR.dcm": "0d4aa1ce58c43934c0244ecdbc2ae8f270833d3cfe5ac1e2b7a97c798cbb9891",
    "covid/image_dfl.dcm": "1f5f1b1c1a57606a55d7e4212ee2655c8205b45e264bd55057f7388c258deef8",
    "covid/vlut_04.dcm": "74853be063ef5655c12d6c25be10f47107b8dc515978e73bff0bb35c33f01af8",
    "normal/cmyk.jpg": "ce682ed6cf41feee2fbf6ea776e61a80dfb00523e64cf7aaab24666bbf6eafa6",
    "normal/exif6.jpg": "9a09918afb13afa84e9a6a827d35f60b48d4bd85a4672a1525c3e6889de8fbd2",
    "normal/gray16.jp2": "64bbfe9be54b6cbf9adf1ed24f3767c6536b7f4eff4ce9272db0ad03e64acf1d",
    "normal/gray16.tif": "64bbfe9be54b6cbf9adf1ed24f3767c6536b7f4eff4ce9272db0ad03e64acf1d",
    "normal/gray16_12bit.png": "64bbfe9be54b6cbf9adf1ed24f3767c6536b7f4eff4ce9272db0ad03e64acf1d",
    "normal/la8.png": "f1ae023c1af2cbb24f60da556a0d347e74c5283aaf43ebe44710426295a5a760",
    "normal/palette.png": "f1ae023c1af2cbb24f60da556a0d347e74c5283aaf43ebe44710426295a5a760",
    "normal/progressive.jpg": "ce682ed6cf41feee2fbf6ea776e61a80dfb00523e64cf7aaab24666bbf6eafa6",
}


def _phantom_png(label: int, index: int) -> bytes:
    ok, encoded = cv2.imencode(".png", draw_phantom(label, index, 7, 128, None))
    assert ok
    return encoded.tobytes()


def _with_phantoms(case: str, per_class: int = 10) -> RawXrayCollection:
    """The field-case folder plus phantoms in each class, so a whole run has enough images."""
    folder = scan_folder(FIELD_CASES / case)
    phantoms = [
        RawFile(f"{name}/phantom_{index:02d}.png", partial(_phantom_png, label, index))
        for label, name in ((0, "normal"), (1, "covid"))
        for index in range(per_class)
    ]
    return RawXrayCollection(
        folder.root, folder.files + phantoms, ["covid", "normal"], folder.csv_files
    )


def _run(case: str, tmp_path: Path, **params):
    params = DataProcessingParams(
        image_size=64, min_images_per_class=1, scratch_dir=str(tmp_path), **params
    )
    arrays, manifest = ingest_raw_xrays(_with_phantoms(case), params)
    split = split_train_test(manifest, params)
    return arrays, manifest.set_index("relative_path"), split


def _read(case: str, relative: str):
    path = FIELD_CASES / case / relative
    return decode_xray(path.read_bytes(), path.name).pixels.astype(float)


def _corr(a, b) -> float:
    return float(np.corrcoef(np.ravel(a).astype(float), np.ravel(b).astype(float))[0, 1])


@pytest.mark.parametrize(
    ("case", "name"),
    [
        ("dicom-no-file-meta", "covid/CR-MONO1-10-chest.dcm"),
        ("dicom-no-extension", "covid/CR-MONO1-10-chest"),
    ],
)
def test_chest_cr_without_file_meta_is_decoded_like_a_viewer(tmp_path, case, name):
    _, manifest, _ = _run(case, tmp_path)
    assert manifest.loc[name, "status"] == "ok", manifest.loc[name, "reason"]
    assert manifest.loc[name, "format"] == "DICOM"
    expected = np.asarray(Image.open(FIELD_CASES / "dicom-no-file-meta" / "expected.png"))
    assert _corr(_read(case, name), expected) > 0.99


def test_jpeg_lossless_dicoms_match_pydicoms_rendering(tmp_path):
    pytest.importorskip("libjpeg", reason="the `dicom` extra is not installed")
    _, manifest, _ = _run("dicom-jpeg-lossless", tmp_path)
    for path in (FIELD_CASES / "dicom-jpeg-lossless" / "covid").iterdir():
        name = f"covid/{path.name}"
        # JPEG-LL.dcm is a dark non-chest test image: usable, flagged `warning` beside chest films
        assert manifest.loc[name, "status"] in ("ok", "warning"), manifest.loc[name, "reason"]
        dataset = pydicom.dcmread(path)
        reference = apply_voi_lut(apply_modality_lut(dataset.pixel_array, dataset), dataset)
        if dataset.PhotometricInterpretation == "MONOCHROME1":
            reference = reference.max() - reference
        assert _corr(_read("dicom-jpeg-lossless", name), reference) > 0.99


def test_presentation_lut_inverse_and_identity_are_inverses(tmp_path):
    case = "dicom-presentation-lut"
    inverse = _read(case, "covid/inverse_plut_uncompressed.dcm")
    identity = _read(case, "normal/identity_control_uncompressed.dcm")
    # the control carries a Presentation LUT Sequence (an S-shaped curve), not a bare IDENTITY,
    # so the two are inverses up to that curve
    assert _corr(inverse, identity) < -0.95
    for name, pixels in (
        ("covid/inverse_plut_uncompressed.dcm", inverse),
        ("normal/identity_control_uncompressed.dcm", identity),
    ):
        dataset = pydicom.dcmread(FIELD_CASES / case / name)
        values = apply_voi_lut(apply_modality_lut(dataset.pixel_array, dataset), dataset)
        assert _corr(pixels, apply_presentation_lut(values, dataset)) > 0.99


def test_16bit_channel_pngs_equal_their_grey_control(tmp_path):
    case = "png-16bit-channels"
    control = _read(case, "normal/gray16_12bit_control.png")
    for name in ("covid/rgb16_12bit.png", "covid/graya16_12bit.png"):
        pixels = _read(case, name)
        assert _corr(pixels, control) > 0.99
        assert abs(pixels.mean() - control.mean()) < 2
    # one radiograph in both classes is a label conflict; kept here to see each decode
    _, manifest, _ = _run(case, tmp_path, on_label_conflict="keep")
    statuses = manifest.loc[["covid/rgb16_12bit.png", "covid/graya16_12bit.png"], "status"]
    assert statuses.isin(["ok", "warning"]).all()  # beside phantoms they are brightness outliers


@pytest.mark.parametrize("case", ["csv-collection-layout", "csv-cp1252"])
def test_collection_metadata_csv_keeps_each_patient_on_one_side(tmp_path, caplog, case):
    caplog.set_level(logging.INFO)
    _, manifest, split = _run(case, tmp_path)
    films = manifest.loc[[f"covid/patient{p}-day{d}.jpeg" for p in (1, 2, 3, 4) for d in (0, 3, 6)]]
    assert sorted(set(films["patient_id"])) == ["1", "2", "3", "4"]
    assert (split.groupby("patient_id")["split"].nunique().drop("", errors="ignore") == 1).all()
    logged = caplog.text
    assert "metadata.csv" in logged and "Patientid" in logged and "filename" in logged
    if case == "csv-cp1252":
        assert "Windows-1252" in logged


def test_csv_cp1252_gives_the_same_split_and_null_reads_no_csv(tmp_path, monkeypatch):
    _, _, utf8 = _run("csv-collection-layout", tmp_path / "a")
    _, _, cp1252 = _run("csv-cp1252", tmp_path / "b")
    assert utf8.drop(columns="group").equals(cp1252.drop(columns="group"))

    def refuse():
        raise AssertionError("a CSV was read although patient_csv is null")

    collection = _with_phantoms("csv-cp1252")
    collection.csv_files["metadata.csv"] = refuse
    params = DataProcessingParams(
        image_size=64, min_images_per_class=1, scratch_dir=str(tmp_path), patient_csv=None
    )
    _, manifest = ingest_raw_xrays(collection, params)
    assert (manifest["patient_id"] == "").all()


def test_cross_class_duplicate_is_a_label_conflict_out_of_every_split(tmp_path):
    _, manifest, split = _run("cross-class-duplicate", tmp_path)
    names = ["covid/archiveB_fig1a.jpg", "normal/archiveA_0001.png"]
    assert (manifest.loc[names, "status"] == "label_conflict").all()
    assert all(other in manifest.loc[names[0], "reason"] for other in names[1:])
    assert not set(names) & set(split["id"])


def test_controls_keep_their_pixels(tmp_path):
    for name, digest in CONTROLS.items():
        pixels = decode_xray((FIELD_CASES / "controls-ok" / name).read_bytes(), name).pixels
        assert hashlib.sha256(pixels.tobytes()).hexdigest() == digest, name
    # the controls are one radiograph in many formats in both classes: label conflicts by
    # default, so kept here to see each one decode
    _, manifest, _ = _run("controls-ok", tmp_path, on_label_conflict="keep")
    assert manifest.loc["normal/tiny7x7.png", "status"] == "skipped"
    assert (manifest.loc[list(CONTROLS), "status"] == "ok").all()
