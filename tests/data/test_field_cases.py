"""../shared/field-cases: real-world inputs, each giving the result its README states.

Skipped cleanly when ../shared is absent (CI); tests/data/test_photometric.py and
tests/data/test_patients.py build every kind themselves."""

from __future__ import annotations

import hashlib
import logging
import shutil
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.pixels import apply_modality_lut, apply_presentation_lut, apply_voi_lut

from cxr_gan.data.decoding import decode_xray
from cxr_gan.data.ingest import DataProcessingError
from cxr_gan.data.phantom import draw_phantom
from cxr_gan.data.sources import RawFile, RawXrayCollection, scan_folder
from cxr_gan.pipelines.data_processing.nodes import ingest_raw_xrays, split_train_test
from cxr_gan.pipelines.data_processing.params import DataProcessingParams
from cxr_gan.reporting.data_quality import build_quality_report

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


def _with_phantoms(case: str | Path, per_class: int = 10) -> RawXrayCollection:
    """The field-case folder (a name under FIELD_CASES, or a folder) plus phantoms in each
    class, so a whole run has enough images."""
    folder = scan_folder(FIELD_CASES / case)
    phantoms = [
        RawFile(f"{name}/phantom_{index:02d}.png", partial(_phantom_png, label, index))
        for label, name in ((0, "normal"), (1, "covid"))
        for index in range(per_class)
    ]
    return RawXrayCollection(
        folder.root, folder.files + phantoms, ["covid", "normal"], folder.csv_files
    )


def _run(case: str | Path, tmp_path: Path, **params):
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
    _, manifest, _ = _run("dicom-jpeg-lossless", tmp_path / "default")
    # JPEG-LL.dcm is a nuclear-medicine image (Modality NM): out of the study by default
    row = manifest.loc["covid/JPEG-LL.dcm"]
    assert row["status"] == "excluded" and "Modality NM" in row["reason"]
    assert manifest.loc["covid/CR-ModalitySequenceLUT.dcm", "status"] in ("ok", "warning")
    _, manifest, _ = _run("dicom-jpeg-lossless", tmp_path, keep_non_frontal=["not_radiograph"])
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
    # both are CT images (a cervical spine): out of the study by default, stored as inverses
    # of each other when other modalities are kept
    _, manifest, _ = _run(case, tmp_path / "default")
    names = ["covid/inverse_plut_uncompressed.dcm", "normal/identity_control_uncompressed.dcm"]
    assert (manifest.loc[names, "status"] == "excluded").all()
    arrays, manifest, _ = _run(case, tmp_path, keep_non_frontal=["not_radiograph"])
    stored = [arrays["images"][manifest.loc[name, "array_index"]] for name in names]
    assert _corr(*stored) < -0.95


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
    _, manifest, _ = _run("controls-ok", tmp_path / "default", on_label_conflict="keep")
    assert manifest.loc["normal/tiny7x7.png", "status"] == "skipped"
    # two are DICOM test patterns stored as secondary captures (Modality OT): not projection
    # radiographs, so out of the study by default; kept on request with the same pixels. (Left
    # with only the two CR films among the phantoms, those are brightness outliers: warning.)
    other = ["covid/image_dfl.dcm", "covid/vlut_04.dcm"]
    assert (manifest.loc[other, "status"] == "excluded").all()
    assert manifest.loc[other, "reason"].str.contains("DICOM Modality OT").all()
    rest = sorted(set(CONTROLS) - set(other))
    assert manifest.loc[rest, "status"].isin(["ok", "warning"]).all()
    _, manifest, _ = _run(
        "controls-ok", tmp_path, on_label_conflict="keep", keep_non_frontal=["not_radiograph"]
    )
    assert (manifest.loc[rest, "status"] == "ok").all()  # as before any fix
    assert (manifest.loc[other, "status"] == "warning").all()


# ------------------------------------------------------------------------------ second table:
# files and views (issue 23, items 2-4); tests/data/test_frontal_only.py and
# tests/data/test_every_entry.py build another instance of each kind


def test_kaggle_masks_beside_images_are_left_out_as_masks(tmp_path):
    _, manifest, split = _run("kaggle-radiography-images-masks", tmp_path)
    masks = manifest[manifest.index.str.contains("/masks/")]
    images = manifest[manifest.index.str.contains("/images/")]
    assert len(masks) == 14 and len(images) == 14
    assert (masks["status"] == "excluded").all()
    assert masks["reason"].str.contains("a mask, not an X-ray \\(folder 'masks'\\)").all()
    assert images["status"].isin(["ok", "warning"]).all()
    assert not set(masks.index) & set(split["id"])


def test_kaggle_class_folder_names_are_refused_with_the_mapping(tmp_path):
    params = DataProcessingParams(image_size=64, min_images_per_class=1, scratch_dir=str(tmp_path))
    with pytest.raises(DataProcessingError) as refused:
        ingest_raw_xrays(scan_folder(FIELD_CASES / "kaggle-class-folder-names"), params)
    message = str(refused.value)
    assert "found: COVID, Lung_Opacity, Normal, Viral Pneumonia" in message
    assert "data_processing:\n  classes:\n    Normal: 0\n    COVID: 1" in message
    mapped = params.model_copy(update={"classes": {"Normal": 0, "COVID": 1}})
    _, manifest = ingest_raw_xrays(scan_folder(FIELD_CASES / "kaggle-class-folder-names"), mapped)
    manifest = manifest.set_index("relative_path")
    assert manifest.loc["COVID/images/COVID-1.png", "status"] in ("ok", "warning")
    assert manifest.loc["Lung_Opacity/images/Lung_Opacity-1.png", "status"] == "ignored"
    assert manifest.loc["README.md.txt", "status"] == "ignored"  # a root file: one row too


def _copy_with_links(source: Path, target: Path) -> Path:
    """`cp -a` of a field case; a link that the shared copy holds as a small text file naming
    its target (a checkout without symlinks) becomes the link it stands for."""
    shutil.copytree(source, target, symlinks=True)
    for path in sorted(target.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 256:
            named = path.read_bytes().decode("utf-8", "replace").strip()
            if named.startswith("..") and (path.parent / named).exists():
                path.unlink()
                path.symlink_to(named)
    return target


def test_symlinked_class_folder_reads_like_any_other(tmp_path):
    case = _copy_with_links(FIELD_CASES / "symlinked-class-folder", tmp_path / "case")
    assert (case / "raw" / "covid").is_symlink()
    _, manifest, _ = _run(case / "raw", tmp_path)
    expected = [
        *(f"covid/covid_0{i}.png" for i in range(4)),
        "normal/normal_00.png",
        "normal/normal_01.png",
        "normal/normal_linked.png",
        *(f"normal/siteB/siteB_0{i}.png" for i in range(3)),
    ]
    assert manifest.loc[expected, "status"].isin(["ok", "warning"]).all()
    assert manifest.loc["covid/covid_00.png", "reason"].startswith("read through a link to")
    assert (manifest.loc[expected, "sha256"].str.len() == 64).all()


def test_lateral_views_are_left_out_with_the_csv_column_or_dicom_tag(tmp_path):
    _, manifest, _ = _run("lateral-views", tmp_path)
    row = manifest.loc["covid/patient64541/study1/view2_lateral.jpg"]
    assert row["status"] == "excluded"
    assert "lateral view (train.csv column Frontal/Lateral: Lateral)" in row["reason"]
    row = manifest.loc["covid/patient64542/study1/lateral.dcm"]
    assert row["status"] == "excluded" and "DICOM ViewPosition: LL" in row["reason"]
    frontal = manifest[manifest.index.str.endswith("view1_frontal.jpg")]
    assert len(frontal) == 6 and frontal["status"].isin(["ok", "warning"]).all()
    _, kept, _ = _run("lateral-views", tmp_path / "kept", keep_non_frontal=["lateral"])
    assert kept.loc["covid/patient64542/study1/lateral.dcm", "status"] == "warning"


def test_multipage_tiff_is_flagged_page_1_used(tmp_path):
    _, manifest, _ = _run("multipage-tiff", tmp_path)
    for name in ("covid/exam_pa_and_lateral.tif", "normal/two_patients.tif"):
        row = manifest.loc[name]
        assert row["status"] == "warning" and row["reason"].startswith("2 pages, page 1 used")


def test_heic_is_named_with_its_fix_and_webp_avif_decode(tmp_path):
    _, manifest, _ = _run("heic-webp-avif", tmp_path)
    for name in ("covid/IMG_4471.HEIC", "normal/IMG_2342.png"):
        row = manifest.loc[name]
        assert row["status"] == "skipped"
        assert "HEIC/HEIF" in row["reason"] and "convert it to PNG or JPEG" in row["reason"]
        assert "damaged" not in row["reason"]
    for name, fmt in (("covid/film_photo.webp", "WEBP"), ("covid/film_photo.avif", "AVIF")):
        assert manifest.loc[name, "status"] in ("ok", "warning")
        assert manifest.loc[name, "format"] == fmt


def test_os_clutter_is_skipped_and_every_file_listed_once(tmp_path):
    case = FIELD_CASES / "os-clutter-and-names"
    _, manifest, split = _run(case, tmp_path)
    ours = manifest[~manifest.index.str.contains("/phantom_")]
    on_disk = [p for p in case.rglob("*") if p.is_file() and "phantom_" not in p.name]
    assert len(ours) == len(on_disk) == 13 and ours.index.is_unique
    real = {
        "covid/IMG 0001 (copy).PNG",
        "covid/CHEST.DCM",
        "covid/Ro\u0308ntgen Mu\u0308ller.JPEG",  # NFD, as macOS writes it
        "normal/scan 02.Jpg",
        "normal/d\u00e9sir\u00e9_thorax.png",
    }
    assert set(ours.index[ours["status"].isin(["ok", "warning"])]) == real
    clutter = ours.drop(index=sorted(real))
    assert (clutter["status"] == "skipped").all()
    assert clutter["reason"].str.contains("hidden or system file").all()
    assert "covid/Icon\\r" in clutter.index  # macOS's Icon + carriage return, escaped
    report = build_quality_report(manifest.reset_index(), split, {"normal": 0, "covid": 1}, {})
    listed = [p["relative_path"] for p in report["problems"]]
    assert sorted(listed) == sorted(clutter.index)


def test_truncated_files_are_skipped_with_a_reason_and_the_control_kept(tmp_path):
    _, manifest, _ = _run("truncated-files", tmp_path)
    for name in ("cut_pixels.dcm", "no_eoi_marker.jpg", "cut_60pct.png", "cut_60pct.jpg"):
        row = manifest.loc[f"covid/{name}"]
        assert row["status"] == "skipped" and row["reason"], name
    assert manifest.loc["covid/trailing_bytes_control.jpg", "status"] == "ok"


def test_a_pacs_export_keeps_only_its_radiograph(tmp_path):
    _, manifest, _ = _run("dicom-export-nonradiographs", tmp_path)
    expected = {
        "covid/DICOMDIR": ("skipped", "a DICOMDIR"),
        "covid/SR_report.dcm": ("skipped", "structured report"),
        "covid/CT_small.dcm": ("excluded", "DICOM Modality CT (computed tomography)"),
        "covid/US_2frame.dcm": ("excluded", "2 frames in one DICOM file"),
        "covid/US_cine_8frame.dcm": ("excluded", "8 frames in one DICOM file"),
        "covid/SC_rgb.dcm": ("excluded", "DICOM Modality OT"),
    }
    for name, (status, words) in expected.items():
        row = manifest.loc[name]
        assert row["status"] == status and words in row["reason"], (name, row["reason"])
    assert "Modality US (ultrasound)" in manifest.loc["covid/US_cine_8frame.dcm", "reason"]
    # the one radiograph is used (beside the phantoms it is a brightness outlier: warning)
    assert manifest.loc["covid/CR_chest.dcm", "status"] in ("ok", "warning")
