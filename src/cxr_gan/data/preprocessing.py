"""Turn decoded grayscale X-rays into the square arrays every model reads."""

from __future__ import annotations

from typing import Literal

import cv2
import imagehash
import numpy as np
from PIL import Image

ResizeMode = Literal["stretch", "pad", "crop"]
UINT8_SCALE = 1.0 / 255.0  # stored uint8 value * UINT8_SCALE = model value in [0, 1]


def resize_square(pixels: np.ndarray, size: int, mode: ResizeMode = "stretch") -> np.ndarray:
    """Resize a 2-D uint8 image to size x size.

    stretch: ignore the aspect ratio (what the study did); pad: fit inside and fill the rest with
    black; crop: fill the square and cut the centre. Area interpolation when shrinking avoids
    aliasing of fine rib texture; cubic when enlarging.
    """
    height, width = pixels.shape
    if mode == "stretch":
        return _resize(pixels, size, size)
    if mode == "pad":
        scale = size / max(height, width)
        new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
        resized = _resize(pixels, new_w, new_h)
        out = np.zeros((size, size), np.uint8)
        top, left = (size - new_h) // 2, (size - new_w) // 2
        out[top : top + new_h, left : left + new_w] = resized
        return out
    if mode == "crop":
        scale = size / min(height, width)
        new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
        resized = _resize(pixels, new_w, new_h)
        top, left = (new_h - size) // 2, (new_w - size) // 2
        return resized[top : top + size, left : left + size]
    raise ValueError(f"resize_mode must be stretch, pad or crop, not {mode!r}")


def _resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    shrinking = width * height <= pixels.shape[0] * pixels.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(pixels, (width, height), interpolation=interpolation)


def down_and_up(images: np.ndarray, size: int) -> np.ndarray:
    """Each image brought to size x size and back: what a generator working at `size` px can show.

    uint8 (n, h, w) -> uint8 (n, h, w), image by image (no statistic crosses images): down with
    area interpolation (as GAN training shrinks real images), up with the cubic interpolation
    that enlarges synthetic images (resize_square). Images at or below `size` come back as they
    are.
    """
    height, width = images.shape[1:3]
    if size >= min(height, width) or len(images) == 0:
        return np.asarray(images)
    return np.stack(
        [_resize(_resize(image, size, size), width, height) for image in images]
    ).reshape(images.shape)


def perceptual_hash(pixels: np.ndarray) -> int:
    """64-bit pHash: robust to resizing, re-encoding and small contrast changes."""
    return int(str(imagehash.phash(Image.fromarray(pixels))), 16)
