"""A sheet of small thumbnails of an image set as one PNG (kedro-viz previews, study report)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# thumbnails on one sheet at most, and their side in pixels
MAX_THUMBNAILS = 24
THUMBNAIL_SIDE = 64
GAP = 2  # pixels of background between thumbnails


def thumbnail_sheet(
    images: Sequence[np.ndarray] | np.ndarray,
    max_images: int = MAX_THUMBNAILS,
    side: int = THUMBNAIL_SIDE,
    columns: int | None = None,
) -> bytes:
    """PNG bytes of the first `max_images` images, each resized to side x side (area or cubic
    interpolation), in a grid of `columns` (default: about square) on a white background.

    images: 2-D grayscale or 3-D (h, w, channels) arrays, uint8 or uint16 (scaled to 8 bits);
    sizes may differ. Raises ValueError for an empty set."""
    import cv2  # OpenCV only when a sheet is drawn

    chosen = list(images[:max_images])
    if not chosen:
        raise ValueError("an image set with no images has no thumbnail sheet")
    columns = columns or math.ceil(math.sqrt(len(chosen)))
    rows = math.ceil(len(chosen) / columns)
    step = side + GAP
    sheet = np.full((rows * step - GAP, columns * step - GAP), 255, np.uint8)
    for index, image in enumerate(chosen):
        pixels = np.asarray(image)
        if pixels.dtype == np.uint16:
            pixels = (pixels >> 8).astype(np.uint8)
        if pixels.ndim == 3:
            pixels = cv2.cvtColor(pixels[..., :3].astype(np.uint8), cv2.COLOR_BGR2GRAY)
        shrink = max(pixels.shape[:2]) > side
        small = cv2.resize(
            pixels.astype(np.uint8),
            (side, side),
            interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC,
        )
        row, column = divmod(index, columns)
        sheet[row * step : row * step + side, column * step : column * step + side] = small
    ok, encoded = cv2.imencode(".png", sheet)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 array
        raise ValueError("could not encode the thumbnail sheet as PNG")
    return encoded.tobytes()
