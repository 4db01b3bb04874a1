"""DICOM X-rays: recognised by content and rendered as a radiology viewer shows them (the rules are
in cxr_gan.data.decoding's docstring: modality LUT, VOI LUT or window, Presentation LUT,
MONOCHROME1 inverted when no Presentation LUT says otherwise), or refused with the fix (a missing
decoder names the `dicom` extra). pydicom is imported only when a file needs it."""

from __future__ import annotations

import io
import struct

from cxr_gan.data.decoded import LUMA_601, BadImageError, DecodedImage, check_size, scale_to_uint8

DICOM_SUFFIXES = {".dcm", ".dicom"}
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


def decode_dicom(data: bytes, max_pixels: int) -> DecodedImage:
    """Render a DICOM file's one frame as a viewer shows it: modality LUT, then VOI LUT or
    window, then the Presentation LUT (or MONOCHROME1 inverted without one), all by pydicom's
    pydicom.pixels functions; colour (RGB, YBR, PALETTE COLOR) is reduced to ITU-R BT.601 luma.

    data: the whole file's bytes; max_pixels: the cap on Columns * Rows (check_size). Returns a
    DecodedImage whose pixels are uint8 (height, width), 0..255, bright = dense, stretched from
    the rendered image's own min..max (scale_to_uint8), with format "DICOM" and mode the
    PhotometricInterpretation. Raises BadImageError when the file is damaged or has no pixel
    data, is over max_pixels, needs a decoder that is not installed (naming the `dicom` extra)
    or unknown, holds more than one frame, has an unsupported Presentation LUT, or has no finite
    pixel values. pydicom is imported here, not at import."""
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
    check_size(int(dataset.get("Columns", 0)), int(dataset.get("Rows", 0)), max_pixels)
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
