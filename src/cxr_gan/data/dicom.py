"""DICOM X-rays: recognised by content and rendered as a radiology viewer shows them (the rules are
in cxr_gan.data.decoding's docstring: modality LUT, VOI LUT or window, Presentation LUT,
MONOCHROME1 inverted when no Presentation LUT says otherwise), or refused with the fix (a missing
decoder names the `dicom` extra). pydicom is imported only when a file needs it.

Before any pixel is decoded the header is checked: objects that hold no image (a DICOMDIR, a
structured report, any file without pixel data) are refused as such; NumberOfFrames,
SamplesPerPixel and BitsAllocated must describe an image and Rows x Columns x frames must fit
max_pixels (a 10 KB multi-frame JPEG 2000 file can expand to gigabytes); and the findings of
cxr_gan.data.views are made: a Modality that is not a projection radiograph (CR, DX, RG and the
vendors' DR stay), several frames, a lateral or oblique ViewPosition."""

from __future__ import annotations

import io
import struct
from collections.abc import Collection

from cxr_gan.data.decoded import (
    LUMA_601,
    BadImageError,
    DecodedImage,
    Finding,
    NotFrontalError,
    check_size,
    scale_to_uint8,
)
from cxr_gan.data.views import MULTI_FRAME, NOT_RADIOGRAPH, view_finding, view_of

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
# Modality values of projection radiographs: computed and digital radiography, radiographic
# (film) imaging, and DR, which some vendors write although the standard says DX
PROJECTION_MODALITIES = {"CR", "DX", "RG", "DR"}
MODALITY_NAMES = {
    "CT": "computed tomography",
    "MR": "magnetic resonance",
    "US": "ultrasound",
    "NM": "nuclear medicine",
    "PT": "PET",
    "XA": "X-ray angiography",
    "RF": "fluoroscopy",
    "MG": "mammography",
    "OT": "other, often a secondary capture",
    "SC": "secondary capture",
    "IO": "intra-oral radiograph",
    "PX": "panoramic dental radiograph",
    "ES": "endoscopy",
    "XC": "external camera photograph",
    "OP": "ophthalmic photograph",
    "SM": "slide microscopy",
    "DOC": "document",
    "SEG": "segmentation",
}
_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
_SR_SOP_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
_BITS_ALLOCATED = {1, 8, 16, 32, 64}


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


def decode_dicom(
    data: bytes, max_pixels: int, exclude: Collection[str] = frozenset()
) -> DecodedImage:
    """Render a DICOM file's (first) frame as a viewer shows it: modality LUT, then VOI LUT or
    window, then the Presentation LUT (or MONOCHROME1 inverted without one), all by pydicom's
    pydicom.pixels functions; colour (RGB, YBR, PALETTE COLOR) is reduced to ITU-R BT.601 luma.

    data: the whole file's bytes; max_pixels: the cap on Columns * Rows * NumberOfFrames
    (check_size); exclude: kinds of cxr_gan.data.views.NON_FRONTAL_KINDS to refuse. Returns a
    DecodedImage whose pixels are uint8 (height, width), 0..255, bright = dense, stretched from
    the rendered image's own min..max (scale_to_uint8), with format "DICOM", mode the
    PhotometricInterpretation, the header's findings that were not excluded, the view its header
    states, and a note when frame 1 of several was used. Raises NotFrontalError (before decoding
    any pixel) when a finding's kind is in exclude; BadImageError when the file is damaged, is
    not an image (DICOMDIR, structured report, no pixel data), has a NumberOfFrames,
    SamplesPerPixel or BitsAllocated that describes no image, is over max_pixels, needs a
    decoder that is not installed (naming the `dicom` extra) or unknown, has an unsupported
    Presentation LUT, or has no finite pixel values. pydicom is imported here, not at import."""
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
    _refuse_non_image(dataset)
    frames = _check_layout(dataset, max_pixels)
    findings, view = dicom_findings(dataset, frames)
    if any(finding.kind in exclude for finding in findings):
        raise NotFrontalError(findings)
    syntax = _transfer_syntax(dataset)
    _check_decoder_installed(syntax)
    note = ""
    try:
        if frames > 1:  # only the first frame is decoded (its size was checked with the rest)
            dataset.pixel_array_options(index=0)
            note = f"{frames} frames, frame 1 used"
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
    extra = {"findings": findings, "note": note, "view": view}
    if pixels.ndim == 3 and (samples > 1 or photometric == "PALETTE COLOR"):
        gray = scale_to_uint8(pixels[..., :3] @ LUMA_601)  # RGB (YBR already converted) -> luma
        return DecodedImage(gray, "DICOM", photometric, gray.shape[1], gray.shape[0], **extra)
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
    return DecodedImage(gray, "DICOM", photometric, gray.shape[1], gray.shape[0], **extra)


def _refuse_non_image(dataset) -> None:
    """DICOM objects that are not images: a DICOMDIR (the index of an export), a structured
    report, or anything else without pixel data."""
    meta_class = str(dataset.file_meta.get("MediaStorageSOPClassUID", ""))
    sop_class = str(dataset.get("SOPClassUID", "")) or meta_class
    modality = str(dataset.get("Modality", "")).strip().upper()
    if meta_class == _DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in dataset:
        raise BadImageError(
            "a DICOMDIR (no pixel data): the index of a DICOM export (CD, DVD, PACS), not an "
            "image; the images are the files it lists, which are read on their own"
        )
    if modality == "SR" or sop_class.startswith(_SR_SOP_CLASS_PREFIX):
        raise BadImageError(
            "a DICOM structured report (SR, no pixel data): a document, not an image"
        )
    if "PixelData" not in dataset:
        what = f"Modality {modality}" if modality else f"SOP class {sop_class or 'unknown'}"
        raise BadImageError(
            f"DICOM file has no pixel data ({what}): a report, document or index, not an image"
        )


def _check_layout(dataset, max_pixels: int) -> int:
    """The number of frames, once NumberOfFrames, SamplesPerPixel and BitsAllocated describe an
    image and Rows x Columns x frames fits max_pixels: all from the header, before decoding."""
    try:
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
        samples = int(dataset.get("SamplesPerPixel", 1) or 1)
        bits = int(dataset.get("BitsAllocated", 0) or 0)
        width, height = int(dataset.get("Columns", 0) or 0), int(dataset.get("Rows", 0) or 0)
    except (TypeError, ValueError) as error:
        raise BadImageError(f"damaged DICOM header: {error}") from None
    if samples not in (1, 3):
        raise BadImageError(
            f"DICOM SamplesPerPixel {samples}: an image has 1 (grey) or 3 (colour) samples per "
            "pixel; the header is damaged"
        )
    if bits not in _BITS_ALLOCATED:
        raise BadImageError(
            f"DICOM BitsAllocated {bits}: pixel data is stored in 1, 8, 16, 32 or 64 bits; the "
            "header is damaged"
        )
    check_size(width, height, max_pixels, frames)
    return frames


def dicom_findings(dataset, frames: int = 1) -> tuple[tuple[Finding, ...], str]:
    """(findings, stated view) from a DICOM header: a Modality that is not a projection
    radiograph, several frames, a lateral or oblique view (ViewPosition, ViewCodeSequence, an
    ImageLaterality outside R/L/U/B that names one, else the series or protocol description);
    the view is "frontal", "lateral" or "" (none stated)."""
    findings = []
    modality = str(dataset.get("Modality", "")).strip().upper()
    if modality and modality not in PROJECTION_MODALITIES:
        name = MODALITY_NAMES.get(modality, "not a radiograph modality")
        findings.append(
            Finding(
                NOT_RADIOGRAPH,
                f"DICOM Modality {modality} ({name}): not a projection radiograph (CR, DX, RG)",
            )
        )
    if frames > 1:
        findings.append(
            Finding(MULTI_FRAME, f"{frames} frames in one DICOM file: a cine loop or a stack")
        )
    view, stated, where = "", "", ""
    for keyword, strict in (
        ("ViewPosition", False),
        ("ViewCodeSequence", False),
        ("ImageLaterality", False),
        ("SeriesDescription", True),
        ("ProtocolName", True),
    ):
        stated = _header_text(dataset, keyword)
        if keyword == "ImageLaterality" and stated.upper() in ("R", "L", "U", "B"):
            continue  # the side of the body, not the view
        view = view_of(stated, strict=strict) if stated else ""
        if view:
            where = f"DICOM {keyword}"
            break
    finding = view_finding(view, stated, where) if view else None
    if finding is not None:
        findings.append(finding)
    return tuple(findings), view if view in ("frontal", "lateral") else ""


def _header_text(dataset, keyword: str) -> str:
    try:
        if keyword == "ViewCodeSequence":
            sequence = dataset.get(keyword)
            return str(sequence[0].get("CodeMeaning", "")).strip() if sequence else ""
        return str(dataset.get(keyword, "") or "").strip()
    except Exception:  # noqa: BLE001 - a damaged optional element is no evidence
        return ""


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
