"""Decode any X-ray file (PNG, JPEG, BMP, TIFF, DICOM; any mode or bit depth) to 8-bit grayscale.

The goal is the picture a radiology viewer shows, by the file's own photometric conventions, or a
named refusal. Rules, chosen so that no image is silently clipped, darkened or inverted:
- 8-bit images keep their values; colour becomes luma (ITU-R 601), transparency is composited on
  black (the air around a patient), palettes are expanded first.
- Images with more than 8 bits per sample (16-bit PNG/TIFF in any channel layout: grey, grey+alpha,
  RGB, RGBA; 32-bit integer, float) are read at full depth (Pillow, or OpenCV IMREAD_UNCHANGED
  where Pillow would cut colour channels to their top 8 bits), made grey the same way, then scaled
  linearly from their own minimum and maximum to 0..255, so a 12-bit image in a 16-bit container
  keeps its range.
- TIFF PhotometricInterpretation MinIsWhite is honoured at every bit depth (0 = white).
- DICOM is recognised by content (the DICM marker, or a data set without preamble and file meta,
  whose transfer syntax is then inferred) and rendered through pydicom's chain: the modality LUT,
  the VOI LUT or window, then the Presentation LUT (Sequence or Shape); without a Presentation LUT,
  MONOCHROME1 (bright = air) is inverted so bone is always bright. As in DCMTK, an explicit
  Presentation LUT Shape decides the polarity: INVERSE shows the image inverted (for MONOCHROME1
  that is the standard's own pairing, one inversion), IDENTITY shows the values as they are.
  PALETTE COLOR goes through its colour LUT, YBR is converted to RGB by pydicom, signed data
  keeps its sign.
- EXIF orientation is applied, so the image is the right side up.
- Decodable files that hold no usable picture are refused too: a blank image (every pixel the
  same value, e.g. an all-black export) or one under MIN_SIDE pixels on a side (a 1x1 placeholder).
Anything that cannot be decoded raises BadImageError with a reason a person can act on.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import PurePath

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

DICOM_SUFFIXES = {".dcm", ".dicom"}
HIDDEN_NAMES = {"thumbs.db", "desktop.ini", ".ds_store"}
MIN_SIDE = 8  # pixels; smaller "images" are placeholders or icons, not radiographs
LUMA_601 = np.array([0.299, 0.587, 0.114])
DICOM_EXTRA_INSTALL = "`uv sync --extra dicom` (or `pip install 'cxr-gan[dicom]'`)"
# transfer syntaxes the `dicom` extra (pylibjpeg + pylibjpeg-libjpeg) decodes
DICOM_EXTRA_SYNTAXES = {
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-lossless
}
_PNG_COLOUR_TYPES = {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}
_ORIENTATION_TRANSPOSES = {  # EXIF orientation -> the Pillow transpose that undoes it
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class BadImageError(ValueError):
    """A file that is not a usable X-ray; the message is the reason shown in the quality report."""


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # 2-D uint8, bright = dense
    format: str
    mode: str  # colour mode as stored (L, RGB, RGBA;16, P, I;16, MONOCHROME1, ...)
    width: int
    height: int


def is_hidden_file(relative_path: str) -> bool:
    """System clutter that copying folders between machines leaves behind."""
    name = PurePath(relative_path).name
    return name.startswith(".") or name.lower() in HIDDEN_NAMES


def looks_like_dicom(data: bytes, name: str = "") -> bool:
    """DICOM by content: the DICM marker after the 128-byte preamble, or a bare data set (no
    preamble, no file meta) that starts with a group 0002 or 0008 element. The name is not used:
    a .dcm file that holds a PNG is a PNG, an extensionless DICOM is DICOM."""
    del name  # kept for callers; content decides
    if data[128:132] == b"DICM":
        return True
    return _bare_dicom_dataset(data) is not None


def _bare_dicom_dataset(data: bytes):
    """The data set of a DICOM stream without preamble or file meta, or None if it is not one."""
    if len(data) < 8 or data[:2] not in (b"\x08\x00", b"\x02\x00", b"\x00\x08", b"\x00\x02"):
        return None
    import pydicom

    try:
        dataset = pydicom.dcmread(io.BytesIO(data), force=True)
        known = [key for key in ("PixelData", "SOPClassUID", "Rows", "Modality") if key in dataset]
    except Exception:  # noqa: BLE001 - anything pydicom cannot parse is simply not DICOM
        return None
    return dataset if known else None


def scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map an image's own range linearly onto 0..255 (a constant image becomes all zeros)."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        raise BadImageError("image has no finite pixel values")
    low, high = values[finite].min(), values[finite].max()
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    scaled = (np.where(finite, values, low) - low) * (255.0 / (high - low))
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def decode_xray(data: bytes, name: str, max_pixels: int = 100_000_000) -> DecodedImage:
    """Decode file bytes to grayscale uint8; the content picks the decoder, `name` is for errors."""
    if len(data) == 0:
        raise BadImageError("empty file (0 bytes)")
    if looks_like_dicom(data):
        decoded = _decode_dicom(data, max_pixels)
    else:
        try:
            decoded = _decode_raster(data, max_pixels)
        except BadImageError as error:
            if PurePath(name).suffix.lower() in DICOM_SUFFIXES and "not an image" in str(error):
                raise BadImageError(
                    "named like DICOM but holds neither a DICOM data set (no DICM marker, no "
                    "readable DICOM elements) nor an image Pillow can read: damaged or not an image"
                ) from None
            raise
    _check_content(decoded)
    return decoded


def _check_content(decoded: DecodedImage) -> None:
    """Refuse images that decode but carry nothing to learn from (see the module docstring)."""
    if min(decoded.width, decoded.height) < MIN_SIDE:
        raise BadImageError(
            f"image is only {decoded.width}x{decoded.height} px, under {MIN_SIDE} px on a side: "
            "a placeholder or icon, not an X-ray; replace it with the full-size image"
        )
    pixels = decoded.pixels
    if pixels.min() == pixels.max():
        raise BadImageError(
            f"blank image: every pixel has the value {int(pixels.min())} (all black or all "
            "white); the export or scan probably failed, so replace the file"
        )


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise BadImageError(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise BadImageError(
            f"image is {width}x{height} = {width * height:,} pixels, over max_pixels="
            f"{max_pixels:,} (a possible decompression bomb); raise data_processing.max_pixels "
            "if the file is genuine"
        )


# --- rasters -------------------------------------------------------------------------------------


def _decode_raster(data: bytes, max_pixels: int) -> DecodedImage:
    try:
        image = Image.open(io.BytesIO(data))
        fmt, mode = image.format or "unknown", image.mode
        _check_size(*image.size, max_pixels)
        bits, layout = _stored_depth(image, data)
        if bits > 8 and not _pillow_keeps_depth(mode):
            # Pillow would keep only the top 8 bits of each colour channel: read full depth
            pixels = _deep_channels_to_gray(data, _orientation(image))
            mode = f"{layout or mode};{bits}"
        else:
            min_is_white = _tiff_min_is_white_left_to_us(image)
            image.load()
            image = ImageOps.exif_transpose(image)
            pixels = _to_gray_uint8(image, min_is_white)
    except BadImageError:
        raise
    except UnidentifiedImageError:
        raise BadImageError("not an image Pillow can read (unknown or damaged format)") from None
    except Image.DecompressionBombError as error:
        raise BadImageError(f"decompression bomb refused: {error}") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadImageError(f"damaged or truncated image: {error}") from None
    return DecodedImage(pixels, fmt, mode, pixels.shape[1], pixels.shape[0])


def _stored_depth(image: Image.Image, data: bytes) -> tuple[int, str]:
    """Bits per sample as stored in the file, and the stored channel layout where Pillow's mode
    hides it (a 16-bit grey+alpha PNG opens as RGBA)."""
    if image.format == "PNG" and data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 25:
        return int(data[24]), _PNG_COLOUR_TYPES.get(data[25], "")
    if image.format == "TIFF":
        bits = image.tag_v2.get(258, 8)
        bits = max(bits) if isinstance(bits, tuple) else int(bits)
        return bits, ""
    return 8, ""


def _pillow_keeps_depth(mode: str) -> bool:
    """Modes in which Pillow hands over every stored bit (single channel deep images, bilevel)."""
    return mode.startswith(("I", "F")) or mode in ("1", "P", "L")


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not lose the image
        return 1


def _deep_channels_to_gray(data: bytes, orientation: int) -> np.ndarray:
    """16-bit grey+alpha, RGB, RGBA (PNG, TIFF) at full depth through OpenCV IMREAD_UNCHANGED:
    luma (ITU-R 601), alpha composited on black, EXIF orientation, then min-max to 0..255."""
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise BadImageError("damaged or truncated image: OpenCV cannot decode its full bit depth")
    alpha = None
    if array.ndim == 3 and array.shape[2] in (2, 4):
        alpha, array = array[..., -1], array[..., :-1]
        if array.shape[2] == 1:
            array = array[..., 0]
    values = array.astype(np.float32)
    if values.ndim == 3:
        values = cv2.cvtColor(values, cv2.COLOR_BGR2GRAY)  # 0.299 R + 0.587 G + 0.114 B
    if alpha is not None:
        full = np.iinfo(alpha.dtype).max if alpha.dtype.kind in "iu" else 1.0
        values = values * (alpha.astype(np.float32) / np.float32(full))
    if orientation in _ORIENTATION_TRANSPOSES:
        values = np.asarray(
            Image.fromarray(values, "F").transpose(_ORIENTATION_TRANSPOSES[orientation])
        )
    return scale_to_uint8(values)


def _tiff_min_is_white_left_to_us(image: Image.Image) -> bool:
    """A TIFF with PhotometricInterpretation MinIsWhite (0 = white) that Pillow does not invert
    itself (it does for 1- and 8-bit, through its ';I' raw modes, not for deeper samples)."""
    if image.format != "TIFF" or image.tag_v2.get(262) != 0:
        return False
    rawmodes = []
    for tile in image.tile:
        args = tile.args if isinstance(tile.args, tuple) else (tile.args,)
        rawmodes += [a for a in args if isinstance(a, str)]
    return not any(rawmode.endswith(";I") for rawmode in rawmodes)


def _to_gray_uint8(image: Image.Image, invert: bool = False) -> np.ndarray:
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image.convert("RGBA")).convert("L")
        return np.asarray(image, dtype=np.uint8)
    if mode in ("L", "1", "RGB", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        gray = np.asarray(image.convert("L"), dtype=np.uint8)
        return 255 - gray if invert else gray
    # more than 8 bits: I;16 variants, I (32-bit int), F (float)
    values = np.asarray(image)
    return scale_to_uint8(-values.astype(np.float64) if invert else values)


# --- DICOM ---------------------------------------------------------------------------------------


def _decode_dicom(data: bytes, max_pixels: int) -> DecodedImage:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import (
        apply_color_lut,
        apply_modality_lut,
        apply_presentation_lut,
        apply_voi_lut,
    )

    try:
        dataset = pydicom.dcmread(io.BytesIO(data), force=True)
    except (InvalidDicomError, OSError, ValueError, EOFError, struct.error) as error:
        raise BadImageError(f"damaged DICOM file: {error}") from None
    if "PixelData" not in dataset:
        raise BadImageError("DICOM file has no pixel data (a report or structured document?)")
    _check_size(int(dataset.get("Columns", 0)), int(dataset.get("Rows", 0)), max_pixels)
    syntax = _transfer_syntax(dataset)
    _check_decoder_installed(syntax)
    try:
        pixels = dataset.pixel_array  # YBR is converted to RGB here (pydicom's convert_color_space)
    except Exception as error:  # noqa: BLE001 - pydicom raises many kinds for damaged pixel data
        raise BadImageError(
            f"cannot decode DICOM pixel data ({syntax.name}): {error}; the file is probably "
            "damaged: re-export it, or convert it to PNG"
        ) from None
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    samples = int(dataset.get("SamplesPerPixel", 1))
    if photometric == "PALETTE COLOR" and pixels.ndim == 2:
        pixels = apply_color_lut(pixels, dataset)
    if pixels.ndim == 3 and (samples > 1 or photometric == "PALETTE COLOR"):
        gray = scale_to_uint8(pixels[..., :3] @ LUMA_601)  # RGB (YBR already converted) -> luma
        return DecodedImage(gray, "DICOM", photometric, gray.shape[1], gray.shape[0])
    if pixels.ndim != 2:
        raise BadImageError(f"DICOM pixel array has shape {pixels.shape}; expected one 2-D frame")
    pixels = apply_modality_lut(pixels, dataset)
    pixels = apply_voi_lut(pixels, dataset)
    if "PresentationLUTSequence" in dataset or "PresentationLUTShape" in dataset:
        try:
            gray = scale_to_uint8(apply_presentation_lut(pixels, dataset))
        except NotImplementedError as error:
            raise BadImageError(f"unsupported DICOM presentation LUT: {error}") from None
    else:
        gray = scale_to_uint8(pixels)
        if photometric == "MONOCHROME1":
            gray = 255 - gray
    return DecodedImage(gray, "DICOM", photometric, gray.shape[1], gray.shape[0])


def _transfer_syntax(dataset):
    """The file's transfer syntax; for a data set without file meta, the one pydicom read it with
    (native pixel data) or the one its compressed stream's header names."""
    from pydicom.uid import (
        UID,
        ExplicitVRBigEndian,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
    )

    meta = dataset.file_meta
    if "TransferSyntaxUID" in meta:
        return UID(meta.TransferSyntaxUID)
    if dataset["PixelData"].is_undefined_length:
        syntax = _sniff_encapsulated_syntax(dataset.PixelData)
        if syntax is None:
            raise BadImageError(
                "DICOM without file meta holds compressed pixel data of a kind that cannot be "
                "recognised: re-export it with its file meta (a proper Part 10 file) or as PNG"
            )
    else:
        implicit, little = dataset.original_encoding
        if implicit:
            syntax = ImplicitVRLittleEndian
        else:
            syntax = ExplicitVRLittleEndian if little else ExplicitVRBigEndian
    meta.TransferSyntaxUID = syntax
    return UID(syntax)


def _sniff_encapsulated_syntax(pixel_data: bytes) -> str | None:
    """Transfer syntax of encapsulated pixel data from its first fragment's codestream header."""
    from pydicom.encaps import generate_fragments

    try:
        fragment = next(generate_fragments(pixel_data[8 + _offset_table_length(pixel_data) :]))
    except Exception:  # noqa: BLE001
        return None
    if fragment[:4] == b"\x00\x00\x00\x0c" or fragment[:2] == b"\xff\x4f":
        return "1.2.840.10008.1.2.4.90"  # JPEG 2000 (the lossless and lossy decoders are one)
    if fragment[:2] == b"\xff\xd8":
        for marker, syntax in (
            (b"\xff\xc3", "1.2.840.10008.1.2.4.57"),
            (b"\xff\xf7", "1.2.840.10008.1.2.4.80"),
            (b"\xff\xc1", "1.2.840.10008.1.2.4.51"),
            (b"\xff\xc0", "1.2.840.10008.1.2.4.50"),
        ):
            if marker in fragment[:4096]:
                return syntax
    if len(fragment) > 64 and 1 <= struct.unpack_from("<I", fragment)[0] <= 15:
        return "1.2.840.10008.1.2.5"  # RLE: a 64-byte header counting 1..15 segments
    return None


def _offset_table_length(pixel_data: bytes) -> int:
    return struct.unpack_from("<I", pixel_data, 4)[0]


def _check_decoder_installed(syntax) -> None:
    """Refuse with the exact fix when no installed plugin can decode the transfer syntax."""
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise BadImageError(
            f"DICOM transfer syntax {syntax.name} ({syntax}) has no pixel decoder in pydicom: "
            "convert the file to an uncompressed DICOM or PNG"
        ) from None
    if decoder.is_available:
        return
    if str(syntax) in DICOM_EXTRA_SYNTAXES:
        raise BadImageError(
            f"compressed DICOM ({syntax.name}) needs a decoder that is not installed: run "
            f"{DICOM_EXTRA_INSTALL} to install pylibjpeg and pylibjpeg-libjpeg, or convert the "
            "file to PNG"
        )
    raise BadImageError(
        f"compressed DICOM ({syntax.name}) needs a decoder that is not installed ("
        + "; ".join(decoder.missing_dependencies)
        + "): install one of them, or convert the file to PNG"
    )
