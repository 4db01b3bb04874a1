"""Every supported format and colour mode, written to disk for real and decoded back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cxr_gan.data.decoded import BadImageError, scale_to_uint8
from cxr_gan.data.decoding import decode_xray, is_hidden_file
from tests.conftest import gradient_image
from tests.dicom_helpers import dicom_bytes, image_dataset


def _roundtrip(tmp_path: Path, image: Image.Image, name: str, **save_args) -> np.ndarray:
    path = tmp_path / name
    image.save(path, **save_args)
    return decode_xray(path.read_bytes(), name).pixels


@pytest.mark.parametrize(
    ("mode", "name"),
    [("L", "a.png"), ("L", "a.bmp"), ("L", "a.tif"), ("RGB", "a.png"), ("RGB", "a.bmp")],
)
def test_8bit_images_keep_their_gray_values(tmp_path, mode, name):
    gray = gradient_image()
    decoded = _roundtrip(tmp_path, Image.fromarray(gray).convert(mode), name)
    np.testing.assert_array_equal(decoded, gray)


def test_rgb_jpeg_becomes_luma_close_to_original(tmp_path):
    gray = gradient_image()
    decoded = _roundtrip(tmp_path, Image.fromarray(gray).convert("RGB"), "a.jpg", quality=95)
    assert decoded.shape == gray.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - gray).mean() < 3


def test_cmyk_jpeg_is_not_inverted(tmp_path):
    gray = gradient_image()
    decoded = _roundtrip(tmp_path, Image.fromarray(gray).convert("CMYK"), "a.jpg", quality=95)
    assert np.corrcoef(decoded.ravel(), gray.ravel())[0, 1] > 0.95


def test_rgba_and_la_are_composited_on_black(tmp_path):
    gray = gradient_image()
    alpha = np.full_like(gray, 255)
    alpha[:, :10] = 0  # transparent strip: the air around the patient
    rgba = Image.fromarray(np.dstack([gray, gray, gray, alpha]), "RGBA")
    decoded = _roundtrip(tmp_path, rgba, "rgba.png")
    assert (decoded[:, :10] == 0).all()
    np.testing.assert_array_equal(decoded[:, 10:], gray[:, 10:])
    la = Image.fromarray(np.dstack([gray, alpha]), "LA")
    np.testing.assert_array_equal(_roundtrip(tmp_path, la, "la.png"), decoded)


def test_palette_png_expands_to_its_colours(tmp_path):
    gray = gradient_image()
    palette = Image.fromarray(gray).convert("RGB").quantize(colors=64)
    decoded = _roundtrip(tmp_path, palette, "p.png")
    expected = np.asarray(palette.convert("L"))
    np.testing.assert_array_equal(decoded, expected)


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    # a 12-bit image in a 16-bit container: values 0..4095 must span the whole 8-bit range
    values = (gradient_image().astype(np.int64) * 4095 // 255).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    decoded = decode_xray(path.read_bytes(), "deep.png")
    assert decoded.mode.startswith("I")
    assert decoded.pixels.min() == 0 and decoded.pixels.max() == 255
    assert len(np.unique(decoded.pixels)) > 100  # not clipped into a few levels


def test_16bit_tiff_with_tiny_range_keeps_contrast(tmp_path):
    values = (1000 + gradient_image().astype(np.uint16) // 32).astype(
        np.uint16
    )  # only 8 distinct levels
    path = tmp_path / "deep.tif"
    Image.fromarray(values).save(path)
    decoded = decode_xray(path.read_bytes(), "deep.tif").pixels
    assert decoded.min() == 0 and decoded.max() == 255


def test_exif_orientation_is_applied(tmp_path):
    gray = gradient_image(48, 32)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90 degree clockwise turn
    path = tmp_path / "rotated.jpg"
    Image.fromarray(gray).save(path, exif=exif, quality=95)
    decoded = decode_xray(path.read_bytes(), "rotated.jpg").pixels
    assert decoded.shape == (48, 32)
    expected = np.rot90(gray, k=-1)
    assert np.abs(decoded.astype(int) - expected).mean() < 3


def _dicom_bytes(
    pixels: np.ndarray, photometric: str = "MONOCHROME2", with_pixels: bool = True, **tags
) -> bytes:
    """A 12-bit (16 allocated) CR image."""
    dataset = image_dataset(
        pixels.astype(np.uint16), photometric, with_pixels, BitsStored=12, HighBit=11, **tags
    )
    return dicom_bytes(dataset)


def test_dicom_monochrome2_uses_full_range():
    raw = (gradient_image().astype(np.uint16) * 16).astype(np.uint16)  # 12-bit values
    decoded = decode_xray(_dicom_bytes(raw), "scan.dcm")
    assert decoded.format == "DICOM"
    assert decoded.pixels[0, 0] == 0 and decoded.pixels.max() == 255
    assert np.corrcoef(decoded.pixels.ravel(), raw.ravel())[0, 1] > 0.999


def test_dicom_monochrome1_is_inverted_so_bone_is_bright():
    raw = (gradient_image().astype(np.uint16) * 16).astype(np.uint16)
    normal = decode_xray(_dicom_bytes(raw), "a.dcm").pixels
    inverted = decode_xray(_dicom_bytes(raw, "MONOCHROME1"), "b.dcm").pixels
    np.testing.assert_array_equal(inverted, 255 - normal)


def test_dicom_voi_window_is_applied():
    raw = (gradient_image().astype(np.uint16) * 16).astype(np.uint16)
    windowed = decode_xray(_dicom_bytes(raw, WindowCenter=1000, WindowWidth=400), "w.dcm").pixels
    # everything below the window is black, above it white
    assert (windowed[raw < 800] == 0).all() and (windowed[raw > 1200] == 255).all()


def test_dicom_rescale_slope_and_intercept_keep_order():
    raw = (gradient_image().astype(np.uint16) * 16).astype(np.uint16)
    decoded = decode_xray(_dicom_bytes(raw, RescaleSlope=2, RescaleIntercept=-1024), "r.dcm").pixels
    assert np.corrcoef(decoded.ravel(), raw.ravel())[0, 1] > 0.999


def test_dicom_detected_by_magic_without_extension():
    raw = (gradient_image().astype(np.uint16) * 16).astype(np.uint16)
    assert decode_xray(_dicom_bytes(raw), "IM0001").format == "DICOM"


def test_dicom_without_pixel_data_is_a_bad_file():
    raw = gradient_image().astype(np.uint16)
    with pytest.raises(BadImageError, match="no pixel data"):
        decode_xray(_dicom_bytes(raw, with_pixels=False), "report.dcm")


def test_bad_files_raise_with_a_reason(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(gradient_image(200, 200)).save(good)
    data = good.read_bytes()
    with pytest.raises(BadImageError, match="empty file"):
        decode_xray(b"", "empty.png")
    with pytest.raises(BadImageError, match="damaged or truncated"):
        decode_xray(data[: len(data) // 2], "truncated.png")
    with pytest.raises(BadImageError, match="not an image"):
        decode_xray(b"patient notes, not pixels", "notes.png")
    with pytest.raises(BadImageError, match="decompression bomb"):
        decode_xray(data, "huge.png", max_pixels=100 * 100)


def test_hidden_files_are_recognised():
    assert is_hidden_file("covid/.DS_Store")
    assert is_hidden_file("covid/._img1.png")
    assert is_hidden_file("normal/Thumbs.db")
    assert not is_hidden_file("normal/img1.png")


def test_constant_image_scales_to_zero_not_nan():
    assert (scale_to_uint8(np.full((4, 4), 7, np.uint16)) == 0).all()
