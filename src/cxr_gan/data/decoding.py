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
- Size is checked from the header before any pixel is decoded (max_pixels; DICOM counts every
  frame). Pillow's own ceiling (Image.MAX_IMAGE_PIXELS, 179 M pixels before it refuses) is lifted
  while a file is decoded here, so max_pixels alone decides; deep colour PNG/TIFF read by OpenCV
  stay under OpenCV's own 2^30 pixels.
- A file of several pages or frames (multi-page TIFF, animated GIF/WebP/PNG) gives its first,
  with a note ("2 pages, page 1 used"); HEIC/HEIF is named, with the fix (convert it).
Anything that cannot be decoded raises BadImageError with a reason a person can act on.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Collection
from pathlib import PurePath

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cxr_gan.data.decoded import (
    BadImageError,
    DecodedImage,
    check_content,
    check_size,
    scale_to_uint8,
)
from cxr_gan.data.dicom import DICOM_SUFFIXES, decode_dicom, looks_like_dicom

# system clutter: Windows thumbnails and folder settings, macOS's folder icon (`Icon\r`) and zip
# resource forks (__MACOSX), Windows' recycle bin and volume information
HIDDEN_NAMES = {"thumbs.db", "ehthumbs.db", "desktop.ini", ".ds_store", "icon\r"}
HIDDEN_FOLDERS = {"__macosx", "$recycle.bin", "system volume information"}
# ISO base media file brands (the `ftyp` box) of HEIC/HEIF stills and sequences, and of AVIF
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1"}
_HEIF_BRANDS |= {b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
HEIF_FIX = (
    "HEIC/HEIF image (an iPhone or camera photo format) that this product does not decode: "
    "convert it to PNG or JPEG (macOS Preview: File > Export; or `heif-convert NAME.HEIC "
    "NAME.png` from libheif) and put the converted file in its place"
)
_PILLOW_LIMIT = threading.Lock()
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


def is_hidden_file(relative_path: str) -> bool:
    """System clutter that copying folders between machines leaves behind: a hidden name
    (`.DS_Store`, AppleDouble `._x.png`), a known system file (HIDDEN_NAMES; macOS's folder
    icon, `Icon` and a carriage return, also as the manifest writes it, `Icon\\r`), or anything
    in a hidden or system folder (`.git/`, `__MACOSX/`). relative_path: POSIX, relative to the
    raw folder."""
    *folders, name = PurePath(relative_path).parts or ("",)
    lowered = name.lower()
    if name.startswith(".") or lowered in HIDDEN_NAMES or lowered == "icon\\r":
        return True
    return any(f.startswith(".") or f.lower() in HIDDEN_FOLDERS for f in folders)


def decode_xray(
    data: bytes, name: str, max_pixels: int = 100_000_000, exclude: Collection[str] = ()
) -> DecodedImage:
    """Decode file bytes to grayscale uint8; the content picks the decoder, `name` is for errors.

    data: the file's bytes; name: its name or path, for messages; max_pixels: the cap on the
    pixels the header states (every frame counted); exclude: kinds of
    cxr_gan.data.views.NON_FRONTAL_KINDS that DICOM headers are checked for (default none).
    Returns a DecodedImage (uint8 2-D pixels, bright = dense). Raises
    cxr_gan.data.decoded.NotFrontalError (a BadImageError) when a DICOM header shows an
    excluded kind, before any pixel is decoded, and BadImageError with the reason for anything
    else that cannot be used."""
    if len(data) == 0:
        raise BadImageError("empty file (0 bytes)")
    if looks_like_dicom(data):
        decoded = decode_dicom(data, max_pixels, frozenset(exclude))
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
    check_content(decoded)
    return decoded


# --- rasters -------------------------------------------------------------------------------------


def _decode_raster(data: bytes, max_pixels: int) -> DecodedImage:
    """Pillow (or OpenCV for deep colour) with max_pixels as the only size limit: Pillow's own
    MAX_IMAGE_PIXELS, which it checks when a file is opened and again when a TIFF is loaded, is
    lifted while this file is decoded (under a lock, then restored), and check_size refuses an
    image over max_pixels from its header, before any pixel is decoded."""
    with _PILLOW_LIMIT:
        ceiling = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return _decode_raster_unlimited(data, max_pixels)
        finally:
            Image.MAX_IMAGE_PIXELS = ceiling


def _decode_raster_unlimited(data: bytes, max_pixels: int) -> DecodedImage:
    try:
        image = Image.open(io.BytesIO(data))
        check_size(*image.size, max_pixels)
        fmt, mode = image.format or "unknown", image.mode
        note = _pages_note(image)
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
        brand = _iso_brands(data)
        if brand & _AVIF_BRANDS:
            raise BadImageError(
                f"AVIF image that this Pillow ({Image.__version__}) cannot decode: install "
                "Pillow >= 11.3 built with AVIF (`uv sync` installs it), or convert it to PNG"
            ) from None
        if brand & _HEIF_BRANDS:
            raise BadImageError(HEIF_FIX) from None
        raise BadImageError("not an image Pillow can read (unknown or damaged format)") from None
    except Image.DecompressionBombError as error:
        raise BadImageError(f"decompression bomb refused: {error}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise BadImageError(f"damaged or truncated image: {error}") from None
    return DecodedImage(pixels, fmt, mode, pixels.shape[1], pixels.shape[0], note=note)


def _pages_note(image: Image.Image) -> str:
    """'2 pages, page 1 used' for a multi-page TIFF (frames for animations), '' for one page.
    MPO (a camera JPEG with a preview or depth image) is one picture."""
    count = int(getattr(image, "n_frames", 1) or 1) if image.format != "MPO" else 1
    if count <= 1:
        return ""
    unit = "pages" if image.format == "TIFF" else "frames"
    return (
        f"{count} {unit}, {unit[:-1]} 1 used: the other {count - 1} are not read (split the file "
        f"into one image per {unit[:-1]} to use them)"
    )


def _iso_brands(data: bytes) -> set[bytes]:
    """The major and compatible brands of an ISO base media file (HEIF, AVIF), else empty."""
    if data[4:8] != b"ftyp" or len(data) < 16:
        return set()
    size = min(int.from_bytes(data[:4], "big"), len(data), 256)
    return {data[8:12]} | {data[i : i + 4] for i in range(16, size - 3, 4)}


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
