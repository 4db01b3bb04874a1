"""Decode any X-ray file (PNG, JPEG, BMP, TIFF, DICOM; any mode or bit depth) to 8-bit grayscale.

Rules, chosen so that no image is silently clipped or inverted:
- 8-bit images keep their values; colour becomes luma (ITU-R 601), transparency is composited on
  black (the air around a patient), palettes are expanded first.
- Images with more than 8 bits (16-bit PNG/TIFF, 32-bit integer, float) are scaled linearly from
  their own minimum and maximum to 0..255, so a 12-bit image in a 16-bit container keeps its range.
- DICOM: rescale slope/intercept, then the VOI window (or LUT) when present, else min-max; and
  MONOCHROME1 (bright = air) is inverted so bone is always bright.
- EXIF orientation is applied, so the image is the right side up.
- Decodable files that hold no usable picture are refused too: a blank image (every pixel the
  same value, e.g. an all-black export) or one under MIN_SIDE pixels on a side (a 1x1 placeholder).
Anything that cannot be decoded raises BadImageError with a reason a person can act on.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

DICOM_SUFFIXES = {".dcm", ".dicom"}
HIDDEN_NAMES = {"thumbs.db", "desktop.ini", ".ds_store"}
MIN_SIDE = 8  # pixels; smaller "images" are placeholders or icons, not radiographs


class BadImageError(ValueError):
    """A file that is not a usable X-ray; the message is the reason shown in the quality report."""


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # 2-D uint8, bright = dense
    format: str
    mode: str  # colour mode as stored (L, RGB, RGBA, P, I;16, MONOCHROME1, ...)
    width: int
    height: int


def is_hidden_file(relative_path: str) -> bool:
    """System clutter that copying folders between machines leaves behind."""
    name = PurePath(relative_path).name
    return name.startswith(".") or name.lower() in HIDDEN_NAMES


def looks_like_dicom(data: bytes, name: str) -> bool:
    return PurePath(name).suffix.lower() in DICOM_SUFFIXES or data[128:132] == b"DICM"


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
    """Decode file bytes to grayscale uint8; `name` picks the decoder and appears in errors."""
    if len(data) == 0:
        raise BadImageError("empty file (0 bytes)")
    if looks_like_dicom(data, name):
        decoded = _decode_dicom(data, max_pixels)
    else:
        decoded = _decode_raster(data, max_pixels)
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


def _decode_raster(data: bytes, max_pixels: int) -> DecodedImage:
    try:
        image = Image.open(io.BytesIO(data))
        fmt, mode = image.format or "unknown", image.mode
        _check_size(*image.size, max_pixels)
        image.load()
        image = ImageOps.exif_transpose(image)
        pixels = _to_gray_uint8(image)
    except BadImageError:
        raise
    except UnidentifiedImageError:
        raise BadImageError("not an image Pillow can read (unknown or damaged format)") from None
    except Image.DecompressionBombError as error:
        raise BadImageError(f"decompression bomb refused: {error}") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadImageError(f"damaged or truncated image: {error}") from None
    return DecodedImage(pixels, fmt, mode, pixels.shape[1], pixels.shape[0])


def _to_gray_uint8(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        background = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, image.convert("RGBA")).convert("L")
        return np.asarray(image, dtype=np.uint8)
    if mode in ("L", "1", "RGB", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return np.asarray(image.convert("L"), dtype=np.uint8)
    # more than 8 bits: I;16 variants, I (32-bit int), F (float)
    return scale_to_uint8(np.asarray(image))


def _decode_dicom(data: bytes, max_pixels: int) -> DecodedImage:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        dataset = pydicom.dcmread(io.BytesIO(data), force=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as error:
        raise BadImageError(f"damaged DICOM file: {error}") from None
    if "PixelData" not in dataset:
        raise BadImageError("DICOM file has no pixel data (a report or structured document?)")
    _check_size(int(dataset.get("Columns", 0)), int(dataset.get("Rows", 0)), max_pixels)
    try:
        pixels = dataset.pixel_array
    except Exception as error:  # pydicom raises many kinds for unsupported transfer syntaxes
        raise BadImageError(
            f"cannot decode DICOM pixel data ({error}); for compressed DICOM install "
            "pylibjpeg or convert the file to PNG"
        ) from None
    if pixels.ndim == 3 and pixels.shape[-1] in (3, 4):
        pixels = pixels[..., :3] @ np.array([0.299, 0.587, 0.114])
    elif pixels.ndim != 2:
        raise BadImageError(f"DICOM pixel array has shape {pixels.shape}; expected one 2-D frame")
    else:
        pixels = apply_modality_lut(pixels, dataset)
        pixels = apply_voi_lut(pixels, dataset)
    gray = scale_to_uint8(pixels)
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "MONOCHROME1":
        gray = 255 - gray
    return DecodedImage(gray, "DICOM", photometric, gray.shape[1], gray.shape[0])
