"""Hide the centre of X-rays, so that only borders remain: the shortcut probe's input.

If a classifier can still tell the classes apart from the borders alone (text markers, frames,
collimation, exposure, compression), its accuracy on full images may reflect the image source,
not the disease.
"""

from __future__ import annotations

import numpy as np

MASK_VALUE = 128  # mid-gray: carries no information about the hidden lungs or their exposure


def central_box(size: tuple[int, int], fraction: float) -> tuple[slice, slice]:
    """Rows and columns of the centred box covering `fraction` of each side."""
    if not 0 < fraction < 1:
        raise ValueError(f"mask_fraction must be between 0 and 1, not {fraction}")
    height, width = size
    box_h, box_w = round(height * fraction), round(width * fraction)
    top, left = (height - box_h) // 2, (width - box_w) // 2
    return slice(top, top + box_h), slice(left, left + box_w)


def mask_center(images: np.ndarray, fraction: float = 0.7, value: int = MASK_VALUE) -> np.ndarray:
    """A copy of uint8 images (n, h, w) whose central `fraction` of each side is `value`."""
    rows, columns = central_box(images.shape[1:3], fraction)
    masked = np.array(images, copy=True)
    masked[:, rows, columns] = value
    return masked
