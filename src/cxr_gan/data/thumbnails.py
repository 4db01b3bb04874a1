"""A sheet of small thumbnails of an image set as one PNG (kedro-viz previews, study report)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# thumbnails on one sheet at most, and their side in pixels
MAX_THUMBNAILS = 24
THUMBNAIL_SIDE = 64
GAP = 2  # pixels of background between thumbnails


def png_bytes(image: np.ndarray) -> bytes:
    """PNG file bytes of one image: uint8 (h, w) grayscale or (h, w, 3) BGR, as OpenCV encodes
    it (other dtypes are converted to 8 bits with OpenCV's warning). Raises cv2.error for a shape
    OpenCV cannot encode, ValueError when encoding returns no data."""
    import cv2  # OpenCV only when an image is encoded

    ok, encoded = cv2.imencode(".png", np.asarray(image))
    if not ok:
        raise ValueError("OpenCV could not encode the image as PNG")
    return encoded.tobytes()


def tile_grid(images: np.ndarray, rows: int, gap: int = GAP) -> np.ndarray:
    """uint8 (n, s, s) -> one uint8 image with `rows` rows (and ceil(n / rows) columns) of the
    images in order, separated by `gap` white (255) pixels."""
    count, size = images.shape[0], images.shape[1]
    columns = math.ceil(count / rows)
    step = size + gap
    grid = np.full((rows * step - gap, columns * step - gap), 255, np.uint8)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[row * step : row * step + size, column * step : column * step + size] = image
    return grid


def thumbnail_sheet(
    images: Sequence[np.ndarray] | np.ndarray,
    max_images: int = MAX_THUMBNAILS,
    side: int = THUMBNAIL_SIDE,
) -> bytes:
    """PNG bytes of the first `max_images` images, each resized to side x side (area or cubic
    interpolation), in an about square grid (tile_grid) on a white background.

    images: 2-D grayscale or 3-D (h, w, channels) arrays, uint8 or uint16 (scaled to 8 bits);
    sizes may differ. Raises ValueError for an empty set."""
    import cv2  # OpenCV only when a sheet is drawn

    chosen = list(images[:max_images])
    if not chosen:
        raise ValueError("an image set with no images has no thumbnail sheet")
    smalls = []
    for image in chosen:
        pixels = np.asarray(image)
        if pixels.dtype == np.uint16:
            pixels = (pixels >> 8).astype(np.uint8)
        if pixels.ndim == 3:
            pixels = cv2.cvtColor(pixels[..., :3].astype(np.uint8), cv2.COLOR_BGR2GRAY)
        shrink = max(pixels.shape[:2]) > side
        smalls.append(
            cv2.resize(
                pixels.astype(np.uint8),
                (side, side),
                interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC,
            )
        )
    columns = math.ceil(math.sqrt(len(smalls)))
    return png_bytes(tile_grid(np.stack(smalls), rows=math.ceil(len(smalls) / columns)))
