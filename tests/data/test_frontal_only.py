"""Only frontal chest radiographs enter the study (cxr_gan.data.views), each exclusion with its
reason; multi-page files, HEIC/HEIF and the decompression-bomb guard (issue 23, items 2 and 4).
Every file is built here in tmp_path: the field cases (tests/data/test_field_cases.py) are one
instance of each kind, these are others."""

from __future__ import annotations

import io
import time

import cv2
import numpy as np
import pydicom
import pytest
from PIL import Image, features
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless

from cxr_gan.data.decoded import BadImageError, NotFrontalError
from cxr_gan.data.decoding import decode_xray
from cxr_gan.data.ingest import ingest_collection
from cxr_gan.data.sources import scan_folder
from cxr_gan.data.views import NON_FRONTAL_KINDS, path_findings, view_of
from tests.dicom_helpers import dicom_bytes, header_only, image_dataset

CLASSES = {"normal": 0, "covid": 1}


def _chest(seed: int, size: int = 48) -> np.ndarray:
    """A small image with a continuum of greys, different per seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    return np.clip(60 + x * 2 + y + rng.normal(0, 12, (size, size)), 0, 255).astype(np.uint8)


def _folder(tmp_path, per_class: int = 3):
    root = tmp_path / "raw"
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            cv2.imwrite(str(root / name / f"img_{index}.png"), _chest(10 * label + index))
    return root


def _ingest(root, **options):
    result = ingest_collection(
        scan_folder(root),
        CLASSES,
        image_size=32,
        resize_mode="stretch",
        max_pixels=10**8,
        on_bad_file="skip",
        scratch_dir=str(root.parent),
        **options,
    )
    return result.manifest.set_index("relative_path")


def _dicom(path, pixels=None, **tags) -> None:
    pixels = (_chest(5).astype(np.uint16) * 16) if pixels is None else pixels
    path.write_bytes(dicom_bytes(image_dataset(pixels, **tags)))


# ------------------------------------------------------------------------------ views in words


@pytest.mark.parametrize(
    "text",
    ["PA", "AP", "AP Supine", "AP erect", "frontal (unspecified)", "Frontal", "AP_horizontal"],
)
def test_frontal_spellings(text):
    assert view_of(text) == "frontal"


@pytest.mark.parametrize("text", ["LL", "RL", "L", "Lateral", "LATERAL", "lat", "RAO", "LLO"])
def test_lateral_and_oblique_spellings(text):
    assert view_of(text) == "lateral"


@pytest.mark.parametrize("text", ["", "PA and lateral", "unknown", "RLD"])
def test_no_view_or_both_is_no_evidence(text):
    assert view_of(text) == ""


def test_free_text_needs_a_whole_word_and_slices_are_named():
    assert view_of("L-SPINE", strict=True) == ""  # an L in free text is no lateral
    assert view_of("CHEST LAT", strict=True) == "lateral"
    assert view_of("Axial") == "slice"


@pytest.mark.parametrize(
    ("path", "kinds"),
    [
        ("covid/masks/x.png", ["mask"]),
        ("covid/Mask/x.png", ["mask"]),
        ("covid/leftMask/x.png", ["mask"]),
        ("covid/lung masks/x.png", ["mask"]),
        ("covid/CHNCXR_0001_0_mask.png", ["mask"]),
        ("covid/images/x.png", []),
        ("covid/unmasked_scans/x.png", []),
        ("covid/p1/chest_lateral.png", ["lateral"]),
        ("covid/LAT/x.png", ["lateral"]),
        ("covid/exam_pa_and_lateral.tif", []),
        ("covid/view1_frontal.jpg", []),
    ],
)
def test_path_findings(path, kinds):
    assert [f.kind for f in path_findings(path)] == kinds


# ------------------------------------------------------------------------------ masks


def test_masks_by_folder_or_two_levels_are_left_out_with_the_reason(tmp_path):
    root = _folder(tmp_path)
    mask = np.zeros((40, 40), np.uint8)
    mask[8:30, 5:18] = 255
    (root / "covid" / "Lung Masks").mkdir()
    cv2.imwrite(str(root / "covid" / "Lung Masks" / "img_0.png"), mask)
    drawn = mask.copy()
    drawn[0, 0] = 128  # two levels and a stray pixel: still a two-level image
    cv2.imwrite(str(root / "normal" / "outline.png"), drawn)
    manifest = _ingest(root)
    row = manifest.loc["covid/Lung Masks/img_0.png"]
    assert row["status"] == "excluded" and "mask" in row["reason"]
    assert "folder 'Lung Masks'" in row["reason"] and "keep_non_frontal: [mask]" in row["reason"]
    row = manifest.loc["normal/outline.png"]
    assert row["status"] == "excluded" and "two-level image" in row["reason"]
    assert (manifest.loc[[f"covid/img_{i}.png" for i in range(3)], "status"] == "ok").all()

    kept = _ingest(root, keep_non_frontal=["mask"])
    assert kept.loc["covid/Lung Masks/img_0.png", "status"] == "warning"
    assert "kept" in kept.loc["normal/outline.png", "reason"]


# ------------------------------------------------------------------------------ laterals


def test_lateral_from_dicom_tags_and_names_and_frontal_headers_win(tmp_path):
    root = _folder(tmp_path)
    covid = root / "covid"
    _dicom(covid / "rl.dcm", ViewPosition="RL")
    _dicom(covid / "code.dcm", ViewCodeSequence=_code_sequence("lateral"))
    _dicom(covid / "left_side.dcm", ImageLaterality="L")  # the body side, not the view
    _dicom(covid / "wrongly_lateral.dcm", ImageLaterality="LATERAL")
    _dicom(covid / "scan_lateral.dcm", ViewPosition="AP")  # the header beats the name
    _dicom(covid / "supine.dcm", ViewPosition="AP SUPINE")
    cv2.imwrite(str(covid / "x_lateral.png"), _chest(7))
    cv2.imwrite(str(covid / "pa_and_lateral.png"), _chest(8))
    manifest = _ingest(root)
    for name, where in (
        ("rl.dcm", "DICOM ViewPosition: RL"),
        ("code.dcm", "DICOM ViewCodeSequence: lateral"),
        ("wrongly_lateral.dcm", "DICOM ImageLaterality: LATERAL"),
        ("x_lateral.png", "file name 'x_lateral' says lateral"),
    ):
        row = manifest.loc[f"covid/{name}"]
        assert row["status"] == "excluded", (name, row["reason"])
        assert "lateral view" in row["reason"] and where in row["reason"], row["reason"]
    for name in ("left_side.dcm", "scan_lateral.dcm", "supine.dcm", "pa_and_lateral.png"):
        assert manifest.loc[f"covid/{name}", "status"] == "ok", name

    kept = _ingest(root, keep_non_frontal=["lateral"])
    assert kept.loc["covid/rl.dcm", "status"] == "warning"
    assert "kept" in kept.loc["covid/x_lateral.png", "reason"]


def _code_sequence(meaning: str):
    item = pydicom.Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "R-10206", "SRT", meaning
    return pydicom.Sequence([item])


def test_a_semicolon_csv_with_a_view_column_of_another_name(tmp_path):
    root = _folder(tmp_path)
    cv2.imwrite(str(root / "covid" / "00000013_005.png"), _chest(20))
    cv2.imwrite(str(root / "covid" / "00000013_006.png"), _chest(21))
    (root / "Data_Entry.csv").write_text(
        "Image Index;Finding Labels;View Position\n"
        "00000013_005.png;Pneumonia;LL\n"
        "00000013_006.png;Pneumonia;AP\n"
        "img_0.png;No Finding;PA\n",
        encoding="utf-8",
    )
    manifest = _ingest(root)
    row = manifest.loc["covid/00000013_005.png"]
    assert row["status"] == "excluded"
    assert "Data_Entry.csv column View Position: LL" in row["reason"]
    assert manifest.loc["covid/00000013_006.png", "status"] == "ok"


def test_a_csv_frontal_view_keeps_a_file_whose_name_says_lateral(tmp_path):
    root = _folder(tmp_path)
    (root / "covid" / "p9" / "s1").mkdir(parents=True)
    cv2.imwrite(str(root / "covid" / "p9" / "s1" / "lateral_marker.png"), _chest(30))
    (root / "views.csv").write_text(
        "path,Frontal/Lateral\nexport/p9/s1/lateral_marker.png,Frontal\n", encoding="utf-8"
    )
    assert _ingest(root).loc["covid/p9/s1/lateral_marker.png", "status"] == "ok"


# ------------------------------------------------------------------------------ DICOM objects


def test_other_modalities_are_left_out_before_their_pixels_are_decoded(tmp_path):
    root = _folder(tmp_path)
    covid = root / "covid"
    _dicom(covid / "ct.dcm", Modality="CT")
    broken = image_dataset(_chest(6).astype(np.uint16), Modality="US")
    broken.PixelData = broken.PixelData[:100]  # decoding it would fail: it is never decoded
    (covid / "us.dcm").write_bytes(dicom_bytes(broken))
    _dicom(covid / "dx.dcm", Modality="DX")
    _dicom(covid / "no_modality.dcm")
    del_modality = pydicom.dcmread(covid / "no_modality.dcm")
    del del_modality.Modality
    del_modality.save_as(covid / "no_modality.dcm")
    manifest = _ingest(root)
    for name, words in (("ct.dcm", "Modality CT (computed tomography)"), ("us.dcm", "US")):
        row = manifest.loc[f"covid/{name}"]
        assert row["status"] == "excluded" and words in row["reason"], row["reason"]
        assert "not a projection radiograph" in row["reason"]
    assert manifest.loc[["covid/dx.dcm", "covid/no_modality.dcm"], "status"].eq("ok").all()
    kept = _ingest(root, keep_non_frontal=["not_radiograph"])
    assert kept.loc["covid/ct.dcm", "status"] == "warning"
    assert kept.loc["covid/us.dcm", "status"] == "skipped"  # now decoded: damaged


def _multi_frame(frames: np.ndarray, **tags) -> bytes:
    dataset = image_dataset(frames[0], **tags)
    dataset.NumberOfFrames = len(frames)
    dataset.PixelData = frames.tobytes()
    return dicom_bytes(dataset)


def test_multi_frame_dicom_is_left_out_or_its_first_frame_used(tmp_path):
    frames = np.stack([_chest(i).astype(np.uint16) * 16 for i in range(3)])
    data = _multi_frame(frames)
    with pytest.raises(NotFrontalError, match="3 frames in one DICOM file"):
        decode_xray(data, "cine.dcm", exclude=NON_FRONTAL_KINDS)
    decoded = decode_xray(data, "cine.dcm", exclude=())
    assert decoded.note == "3 frames, frame 1 used"
    first = decode_xray(dicom_bytes(image_dataset(frames[0])), "one.dcm").pixels
    assert np.array_equal(decoded.pixels, first)

    root = _folder(tmp_path)
    (root / "covid" / "cine.dcm").write_bytes(data)
    assert _ingest(root).loc["covid/cine.dcm", "status"] == "excluded"
    kept = _ingest(root, keep_non_frontal=["multi_frame"]).loc["covid/cine.dcm"]
    assert kept["status"] == "warning" and "3 frames, frame 1 used" in kept["reason"]


def test_dicomdir_and_structured_reports_are_not_images(tmp_path):
    dicomdir = header_only()
    dicomdir.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    dicomdir.DirectoryRecordSequence = pydicom.Sequence([])
    with pytest.raises(BadImageError, match="a DICOMDIR.*not an image"):
        decode_xray(dicom_bytes(dicomdir), "DICOMDIR")
    report = header_only()
    report.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"  # enhanced SR, Modality not set
    with pytest.raises(BadImageError, match="structured report"):
        decode_xray(dicom_bytes(report), "SR000001")


# ------------------------------------------------------------------------------ pages, formats


def test_a_multi_page_tiff_is_flagged_and_its_first_page_used(tmp_path):
    root = _folder(tmp_path)
    pages = [Image.fromarray(_chest(40)), Image.fromarray(_chest(41))]
    pages[0].save(root / "covid" / "exam.tiff", save_all=True, append_images=pages[1:])
    decoded = decode_xray((root / "covid" / "exam.tiff").read_bytes(), "exam.tiff")
    assert np.array_equal(decoded.pixels, _chest(40))
    row = _ingest(root).loc["covid/exam.tiff"]
    assert row["status"] == "warning" and row["reason"].startswith("2 pages, page 1 used")


def _heif(major: bytes, compatible: list[bytes]) -> bytes:
    body = major + b"\0\0\0\0" + b"".join(compatible)
    box = (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body
    return box + (24).to_bytes(4, "big") + b"meta" + bytes(16) + bytes(400)


@pytest.mark.parametrize(
    ("name", "major", "compatible"),
    [("IMG_1.heic", b"heic", [b"mif1", b"heic"]), ("photo.png", b"mif1", [b"mif1", b"heix"])],
)
def test_heic_and_heif_name_the_format_and_the_fix(name, major, compatible):
    with pytest.raises(BadImageError) as refused:
        decode_xray(_heif(major, compatible), name)
    reason = str(refused.value)
    assert "HEIC/HEIF" in reason and "convert it to PNG or JPEG" in reason
    assert "damaged" not in reason


@pytest.mark.parametrize("fmt", ["WEBP", "AVIF"])
def test_webp_and_avif_decode(fmt):
    if not features.check(fmt.lower()):
        pytest.skip(f"this Pillow has no {fmt}")
    buffer = io.BytesIO()
    Image.fromarray(_chest(3, 64)).save(buffer, format=fmt, lossless=True, quality=100)
    decoded = decode_xray(buffer.getvalue(), f"x.{fmt.lower()}")
    assert decoded.format == fmt
    assert np.corrcoef(decoded.pixels.ravel(), _chest(3, 64).ravel())[0, 1] > 0.95


# ------------------------------------------------------------------------------ the bomb guard


def _j2k_frame(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (side, side)).save(buffer, format="JPEG2000", irreversible=False)
    return buffer.getvalue()


def test_a_multi_frame_jpeg2000_bomb_is_refused_from_its_header(monkeypatch):
    dataset = image_dataset(np.zeros((8, 8), np.uint8))
    dataset.file_meta.TransferSyntaxUID = JPEG2000Lossless
    dataset.Rows = dataset.Columns = 4096
    dataset.NumberOfFrames = 32
    dataset.PixelData = encapsulate([_j2k_frame(4096)] * 32)
    dataset["PixelData"].VR, dataset["PixelData"].is_undefined_length = "OB", True
    data = dicom_bytes(dataset, enforce_file_format=True)
    assert len(data) < 64_000  # a small file ...
    monkeypatch.setattr(
        pydicom.Dataset, "pixel_array", property(lambda self: pytest.fail("pixels decoded"))
    )
    started = time.perf_counter()
    with pytest.raises(BadImageError) as refused:  # ... of 537 M pixels, refused unread
        decode_xray(data, "bomb.dcm", max_pixels=100_000_000, exclude=NON_FRONTAL_KINDS)
    assert time.perf_counter() - started < 1.0
    assert "32 frames of 4096x4096 = 536,870,912 pixels" in str(refused.value)
    assert "decompression bomb" in str(refused.value)


@pytest.mark.parametrize(
    ("tag", "value", "words"),
    [("SamplesPerPixel", 4, "SamplesPerPixel 4"), ("BitsAllocated", 12, "BitsAllocated 12")],
)
def test_a_header_that_describes_no_image_is_refused_before_decoding(tag, value, words):
    dataset = image_dataset(_chest(1).astype(np.uint16))
    setattr(dataset, tag, value)
    with pytest.raises(BadImageError, match=words):
        decode_xray(dicom_bytes(dataset), "odd.dcm")


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])  # Pillow checks a TIFF again when it loads
def test_pillows_own_pixel_limit_follows_max_pixels(monkeypatch, fmt):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's ceiling, scaled down
    buffer = io.BytesIO()
    Image.fromarray(_chest(2, 100)).save(buffer, format=fmt)  # 10,000 px: 10x the ceiling
    decoded = decode_xray(buffer.getvalue(), "big", max_pixels=20_000)
    assert decoded.width == 100
    with pytest.raises(BadImageError, match="over max_pixels=5,000"):
        decode_xray(buffer.getvalue(), "big", max_pixels=5_000)
    assert Image.MAX_IMAGE_PIXELS == 1000  # restored
