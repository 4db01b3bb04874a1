"""Every photometric convention decodes to what a viewer shows: inputs built here, in every
channel layout and bit depth, compared with the libraries' own renderings (correlation > 0.99)."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    apply_presentation_lut,
    apply_voi_lut,
    convert_color_space,
)
from pydicom.uid import (
    ImplicitVRLittleEndian,
    JPEGLosslessSV1,
)

from cxr_gan.data.decoded import BadImageError
from cxr_gan.data.decoding import decode_xray
from cxr_gan.data.dicom import DICOM_EXTRA_INSTALL
from tests.dicom_helpers import dicom_bytes, image_dataset


def _chest(height: int = 64, width: int = 80) -> np.ndarray:
    """A 12-bit test radiograph (values 0..4095): a smooth body with two dark 'lungs'."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    body = 3000 - 2000 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)
    lungs = 1200 * (
        np.exp(-(((x - 0.3) / 0.12) ** 2 + ((y - 0.5) / 0.25) ** 2))
        + np.exp(-(((x - 0.7) / 0.12) ** 2 + ((y - 0.5) / 0.25) ** 2))
    )
    return np.clip(body - lungs + 300 * x, 0, 4095).astype(np.uint16)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a).astype(float), np.ravel(b).astype(float))[0, 1])


# --- rasters: any channel layout at any bit depth ---------------------------------------------


def _png(samples: np.ndarray, colour_type: int) -> bytes:
    """A PNG written byte by byte (16-bit big-endian samples), for layouts no library writes."""
    height, width = samples.shape[:2]
    raw = samples.astype(">u2").reshape(height, -1).view(np.uint8).reshape(height, -1)
    rows = b"".join(b"\x00" + row.tobytes() for row in raw)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("layout", "colour_type", "channels"),
    [("grey", 0, 1), ("grey+alpha", 4, 2), ("RGB", 2, 3), ("RGBA", 6, 4)],
)
def test_16bit_png_in_every_channel_layout_equals_the_grey_control(layout, colour_type, channels):
    grey = _chest()
    opaque = np.full_like(grey, 65535)
    planes = {1: [grey], 2: [grey, opaque], 3: [grey] * 3, 4: [grey] * 3 + [opaque]}[channels]
    samples = np.dstack(planes) if channels > 1 else grey
    decoded = decode_xray(_png(samples, colour_type), f"{layout}.png")
    control = decode_xray(_png(grey, 0), "grey.png").pixels
    assert _corr(decoded.pixels, control) > 0.99
    assert abs(decoded.pixels.mean() - control.mean()) < 2  # not stored almost black
    assert decoded.pixels.max() == 255


def test_16bit_png_alpha_is_composited_on_black():
    grey = _chest()
    alpha = np.full_like(grey, 65535)
    alpha[:, :10] = 0
    decoded = decode_xray(_png(np.dstack([grey, alpha]), 4), "la16.png").pixels
    assert (decoded[:, :10] == 0).all()
    control = decode_xray(_png(grey, 0), "grey.png").pixels
    assert _corr(decoded[:, 10:], control[:, 10:]) > 0.99


def test_16bit_rgb_png_colour_becomes_luma():
    rgb = np.dstack([_chest(), _chest()[::-1], np.full_like(_chest(), 2000)])
    decoded = decode_xray(_png(rgb, 2), "colour.png").pixels
    luma = rgb.astype(float) @ np.array([0.299, 0.587, 0.114])
    assert _corr(decoded, luma) > 0.999


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_rgb_and_rgba_tiff_equal_the_grey_control(tmp_path, channels):
    grey = _chest()
    planes = [grey] * 3 + ([np.full_like(grey, 65535)] if channels == 4 else [])
    path = tmp_path / "deep.tif"
    assert cv2.imwrite(str(path), np.dstack(planes))
    decoded = decode_xray(path.read_bytes(), "deep.tif")
    control = decode_xray(_png(grey, 0), "grey.png").pixels
    assert _corr(decoded.pixels, control) > 0.99
    assert abs(decoded.pixels.mean() - control.mean()) < 2


def _tiff_photometric(data: bytes, value: int) -> bytes:
    """Set PhotometricInterpretation (tag 262) of a little-endian single-IFD TIFF."""
    assert data[:2] == b"II"
    buffer = bytearray(data)
    ifd = struct.unpack_from("<I", data, 4)[0]
    for entry in range(struct.unpack_from("<H", data, ifd)[0]):
        offset = ifd + 2 + 12 * entry
        if struct.unpack_from("<H", data, offset)[0] == 262:
            struct.pack_into("<H", buffer, offset + 8, value)
            return bytes(buffer)
    raise AssertionError("no PhotometricInterpretation tag")


@pytest.mark.parametrize("depth", ["1", "8", "16", "32F"])
def test_tiff_min_is_white_is_shown_as_a_viewer_shows_it(depth):
    """MinIsWhite: 0 is white. The file stores the negative; the decoded image is the positive."""
    grey = _chest()
    if depth == "1":
        positive = (grey > 2000).astype(np.uint8) * 255
        stored = Image.fromarray(positive == 0)
    elif depth == "8":
        positive = (grey >> 4).astype(np.uint8)
        stored = Image.fromarray(255 - positive)
    elif depth == "16":
        positive = grey
        stored = Image.fromarray((65535 - grey).astype(np.uint16))
    else:
        positive = grey.astype(np.float32) / 4095
        stored = Image.fromarray(1 - positive, "F")
    buffer = io.BytesIO()
    stored.save(buffer, format="TIFF")
    data = _tiff_photometric(buffer.getvalue(), 0)
    decoded = decode_xray(data, f"minwhite{depth}.tif").pixels
    assert _corr(decoded, positive) > 0.99
    # the same file marked MinIsBlack is the negative
    negative = decode_xray(_tiff_photometric(data, 1), "minblack.tif").pixels
    assert _corr(negative, positive) < -0.99


# --- DICOM: pydicom's chain ------------------------------------------------------------------


def _reference(dataset: pydicom.Dataset) -> np.ndarray:
    """pydicom's own rendering: modality LUT, VOI LUT or window, Presentation LUT."""
    values = apply_voi_lut(apply_modality_lut(dataset.pixel_array, dataset), dataset)
    return apply_presentation_lut(values, dataset)


# DCMTK's rule: an explicit Presentation LUT Shape sets the polarity (INVERSE for MONOCHROME1 is
# the standard's own pairing, one inversion); without one MONOCHROME1 is inverted
@pytest.mark.parametrize(
    ("photometric", "shape", "inverted"),
    [
        ("MONOCHROME2", None, False),
        ("MONOCHROME2", "IDENTITY", False),
        ("MONOCHROME2", "INVERSE", True),
        ("MONOCHROME1", None, True),
        ("MONOCHROME1", "IDENTITY", False),
        ("MONOCHROME1", "INVERSE", True),
    ],
)
def test_monochrome_and_presentation_lut_shape_in_every_combination(photometric, shape, inverted):
    raw = _chest()
    tags = {"WindowCenter": 2000, "WindowWidth": 3000, "RescaleSlope": 1, "RescaleIntercept": 0}
    if shape:
        tags["PresentationLUTShape"] = shape
    decoded = decode_xray(dicom_bytes(image_dataset(raw, photometric, **tags)), "x.dcm")
    assert decoded.mode == photometric
    windowed = apply_voi_lut(raw.astype(float), image_dataset(raw, **tags))
    assert _corr(decoded.pixels, windowed) * (-1 if inverted else 1) > 0.99


def test_presentation_lut_sequence_matches_pydicom():
    raw = _chest()
    item = pydicom.Dataset()
    item.LUTDescriptor = [256, 0, 16]
    curve = 65535 * (np.arange(256) / 255) ** 0.5
    item.LUTData = curve.astype("<u2").tobytes()
    dataset = image_dataset(raw, WindowCenter=2000, WindowWidth=4000)
    dataset.PresentationLUTSequence = [item]
    decoded = decode_xray(dicom_bytes(dataset), "plut.dcm").pixels
    reread = pydicom.dcmread(io.BytesIO(dicom_bytes(dataset)))
    assert _corr(decoded, _reference(reread)) > 0.99


def test_signed_dicom_keeps_its_sign():
    raw = (_chest().astype(np.int32) - 2048).astype(np.int16)  # CT-like, half negative
    decoded = decode_xray(dicom_bytes(image_dataset(raw)), "signed.dcm").pixels
    assert _corr(decoded, raw) > 0.999


def test_palette_colour_dicom_goes_through_its_colour_lut():
    indices = (_chest() >> 4).astype(np.uint8)
    ramp = np.arange(256)
    dataset = image_dataset(indices, "PALETTE COLOR")
    for colour, values in (("Red", ramp), ("Green", ramp[::-1]), ("Blue", ramp // 2)):
        setattr(dataset, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(
            dataset, f"{colour}PaletteColorLookupTableData", (values * 257).astype("<u2").tobytes()
        )
    decoded = decode_xray(dicom_bytes(dataset), "palette.dcm")
    rgb = apply_color_lut(indices, pydicom.dcmread(io.BytesIO(dicom_bytes(dataset))))
    assert decoded.mode == "PALETTE COLOR"
    assert _corr(decoded.pixels, rgb.astype(float) @ [0.299, 0.587, 0.114]) > 0.99


def test_ybr_full_dicom_is_converted_to_rgb_then_luma():
    grey = (_chest() >> 4).astype(np.uint8)
    rgb = np.dstack([grey, grey // 2 + 60, 255 - grey])
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    decoded = decode_xray(dicom_bytes(image_dataset(ybr, "YBR_FULL")), "ybr.dcm").pixels
    assert _corr(decoded, rgb.astype(float) @ [0.299, 0.587, 0.114]) > 0.99


# --- DICOM by content, not by name -------------------------------------------------------------


def _bare(dataset: pydicom.Dataset, implicit: bool = True) -> bytes:
    """No preamble, no file meta: how some archives and old modalities export."""
    del dataset.file_meta
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, implicit_vr=implicit, little_endian=True)
    data = buffer.getvalue()
    assert data[128:132] != b"DICM"
    return data


@pytest.mark.parametrize("implicit", [True, False])
@pytest.mark.parametrize("name", ["chest.dcm", "IM000001", "scan.img"])
def test_dicom_without_file_meta_is_recognised_by_content(implicit, name):
    raw = _chest()
    data = _bare(image_dataset(raw, "MONOCHROME1"), implicit)
    decoded = decode_xray(data, name)
    assert decoded.format == "DICOM" and decoded.mode == "MONOCHROME1"
    assert _corr(decoded.pixels, raw) < -0.99  # MONOCHROME1: bone bright


def test_a_png_named_dcm_is_a_png():
    grey = (_chest() >> 4).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, format="PNG")
    decoded = decode_xray(buffer.getvalue(), "mislabelled.dcm")
    assert decoded.format == "PNG"
    np.testing.assert_array_equal(decoded.pixels, grey)


def test_a_dcm_that_is_neither_says_so():
    with pytest.raises(BadImageError, match="neither a DICOM data set"):
        decode_xray(b"\x01\x02not dicom at all" * 20, "broken.dcm")


# --- compressed DICOM: the optional `dicom` extra ----------------------------------------------


def _jpeg_lossless(pixels: np.ndarray, precision: int = 16) -> bytes:
    """A JPEG Lossless (process 14, selection value 1) codestream, one component, written here
    because no installed library encodes it: every difference category gets a 5-bit code."""
    values = pixels.astype(np.int64)
    predicted = np.empty_like(values)
    predicted[0, 0] = 1 << (precision - 1)
    predicted[0, 1:] = values[0, :-1]
    predicted[1:, 0] = values[:-1, 0]
    predicted[1:, 1:] = values[1:, :-1]
    differences = (values - predicted) % 65536
    differences = np.where(differences >= 32768, differences - 65536, differences)
    bits = []
    for difference in differences.ravel().tolist():
        category = abs(difference).bit_length()
        bits.append(format(category, "05b"))
        if 0 < category < 16:
            extra = difference if difference > 0 else difference - 1
            bits.append(format(extra & ((1 << category) - 1), f"0{category}b"))
    stream = "".join(bits)
    stream += "1" * (-len(stream) % 8)
    entropy = bytearray()
    for start in range(0, len(stream), 8):
        entropy.append(int(stream[start : start + 8], 2))
        if entropy[-1] == 0xFF:
            entropy.append(0)

    def segment(marker: int, body: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body

    frame = struct.pack(">BHHB", precision, *pixels.shape, 1) + bytes([1, 0x11, 0])
    table = bytes([0]) + bytes([0, 0, 0, 0, 17] + [0] * 11) + bytes(range(17))
    scan = bytes([1, 1, 0, 1, 0, 0])
    return (
        b"\xff\xd8"
        + segment(0xC3, frame)
        + segment(0xC4, table)
        + segment(0xDA, scan)
        + bytes(entropy)
        + b"\xff\xd9"
    )


def _jpeg_lossless_dicom(raw: np.ndarray, photometric: str = "MONOCHROME1") -> bytes:
    dataset = image_dataset(raw, photometric, BitsStored=12, HighBit=11)
    dataset.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    dataset.PixelData = encapsulate([_jpeg_lossless(raw)])
    dataset["PixelData"].VR = "OB"
    return dicom_bytes(dataset)


def test_jpeg_lossless_dicom_decodes_with_the_extra():
    pytest.importorskip("pylibjpeg", reason="the `dicom` extra is not installed")
    pytest.importorskip("libjpeg", reason="the `dicom` extra is not installed")
    raw = _chest()
    data = _jpeg_lossless_dicom(raw)
    np.testing.assert_array_equal(pydicom.dcmread(io.BytesIO(data)).pixel_array, raw)
    decoded = decode_xray(data, "lossless.dcm")
    assert decoded.mode == "MONOCHROME1"
    assert _corr(decoded.pixels, raw) < -0.999  # exact pixels, MONOCHROME1 inverted


def test_jpeg_ls_dicom_decodes_with_the_extra():
    pytest.importorskip("libjpeg", reason="the `dicom` extra is not installed")
    from pydicom.data import get_testdata_file

    compressed = get_testdata_file("MR_small_jpeg_ls_lossless.dcm", download=False)
    plain = get_testdata_file("MR_small.dcm", download=False)
    if compressed is None or plain is None:
        pytest.skip("pydicom's bundled test files are not installed")
    with open(compressed, "rb") as handle:
        decoded = decode_xray(handle.read(), "jpegls.dcm").pixels
    with open(plain, "rb") as handle:
        expected = decode_xray(handle.read(), "plain.dcm").pixels
    np.testing.assert_array_equal(decoded, expected)


def test_without_the_extra_the_skip_reason_names_the_install_command(tmp_path):
    """The plugins hidden before pydicom loads (as on a machine without the extra)."""
    path = tmp_path / "lossless.dcm"
    path.write_bytes(_jpeg_lossless_dicom(_chest()))
    script = (
        "import sys\n"
        "for name in ('pylibjpeg', 'libjpeg', 'openjpeg', 'rle', 'gdcm'):\n"
        "    sys.modules[name] = None\n"
        "from cxr_gan.data.decoded import BadImageError\n"
        "from cxr_gan.data.decoding import decode_xray\n"
        "try:\n"
        f"    decode_xray(open({str(path)!r}, 'rb').read(), 'lossless.dcm')\n"
        "except BadImageError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert "JPEG Lossless" in result.stdout
    assert DICOM_EXTRA_INSTALL in result.stdout
    assert "uv sync --extra dicom" in result.stdout


def test_no_file_meta_with_compressed_pixels_infers_the_syntax():
    pytest.importorskip("libjpeg", reason="the `dicom` extra is not installed")
    raw = _chest()
    dataset = pydicom.dcmread(io.BytesIO(_jpeg_lossless_dicom(raw, "MONOCHROME2")))
    del dataset.file_meta
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, implicit_vr=False, little_endian=True)
    decoded = decode_xray(buffer.getvalue(), "IM0002")
    assert _corr(decoded.pixels, raw) > 0.999


def test_implicit_vr_constant_is_what_no_meta_files_use():
    assert ImplicitVRLittleEndian == "1.2.840.10008.1.2"
