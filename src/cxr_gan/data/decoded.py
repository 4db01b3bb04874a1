"""What every X-ray decoder returns or raises, and the checks they share: 8-bit grayscale pixels
(bright = dense) with the format and colour mode the file stored, or BadImageError with a reason a
person can act on. cxr_gan.data.decoding picks the decoder; cxr_gan.data.dicom decodes DICOM.

A file that decodes but is not a frontal chest radiograph by its own header (a CT, a lateral
view, a cine loop: cxr_gan.data.views has the rules) carries Findings; a decoder asked to exclude
their kind raises NotFrontalError before decoding any pixel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SIDE = 8  # pixels; smaller "images" are placeholders or icons, not radiographs
LUMA_601 = np.array([0.299, 0.587, 0.114])


class BadImageError(ValueError):
    """A file that is not a usable X-ray; the message is the reason shown in the quality report."""


@dataclass(frozen=True)
class Finding:
    """Why an image may not be a frontal chest radiograph: kind is one of
    cxr_gan.data.views.NON_FRONTAL_KINDS (mask, lateral, not_radiograph, multi_frame); reason
    says what showed it (a folder, a CSV column, a DICOM tag) in words."""

    kind: str
    reason: str


class NotFrontalError(BadImageError):
    """The file is not a frontal chest radiograph by a rule whose kind is excluded (its
    findings say which); raised before any pixel is decoded where the header tells."""

    def __init__(self, findings: tuple[Finding, ...]) -> None:
        self.findings = findings
        super().__init__("; ".join(finding.reason for finding in findings))


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # 2-D uint8, bright = dense
    format: str
    mode: str  # colour mode as stored (L, RGB, RGBA;16, P, I;16, MONOCHROME1, ...)
    width: int
    height: int
    # non-frontal findings that were not excluded (the caller keeps the image, flagged)
    findings: tuple[Finding, ...] = ()
    # what the decoder left out of a usable file ("2 pages, page 1 used"), "" when nothing
    note: str = ""
    # the view the file's own header states ("frontal", "lateral"), "" when it states none
    view: str = ""


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


def check_content(decoded: DecodedImage) -> None:
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


def check_size(width: int, height: int, max_pixels: int, frames: int = 1) -> None:
    """Refuse an image by its header size before decoding it, so a decompression bomb (a small
    file that expands to gigabytes) is never decoded. width, height: pixels as the header states
    them; frames: how many frames the file holds (DICOM NumberOfFrames; >= 1), each counted;
    max_pixels: the cap on width * height * frames (data_processing.max_pixels). Raises
    BadImageError when a side or the frame count is under 1, or the total exceeds max_pixels."""
    if width < 1 or height < 1:
        raise BadImageError(f"image has no pixels ({width}x{height})")
    if frames < 1:
        raise BadImageError(f"image has no frames (NumberOfFrames {frames})")
    total = width * height * frames
    if total > max_pixels:
        size = f"{width}x{height}" if frames == 1 else f"{frames} frames of {width}x{height}"
        raise BadImageError(
            f"image is {size} = {total:,} pixels, over max_pixels={max_pixels:,} (a possible "
            "decompression bomb, refused before decoding); raise data_processing.max_pixels if "
            "the file is genuine"
        )
