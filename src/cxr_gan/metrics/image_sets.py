"""Shape checks and resizing shared by the GAN-quality metrics.

Images are numpy uint8 arrays of shape (n, h, w) in 0..255 (a trailing channel axis of 1 is
accepted); sets may differ in size and are resized by the function that compares them.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

ImageSet = np.ndarray | Sequence[np.ndarray]


def as_image_array(images: np.ndarray, what: str = "images") -> np.ndarray:
    """Validate a (n, h, w) or (n, h, w, 1) grayscale stack and return it as (n, h, w)."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or min(images.shape) < 1:
        raise ValueError(
            f"{what}: expected grayscale images of shape (n, h, w), got {images.shape}"
        )
    return images


def resize_unit(images: np.ndarray, size: tuple[int, int], batch_size: int = 64) -> np.ndarray:
    """uint8 (n, h, w) -> float32 (n, size_h, size_w, 1) in [0, 1], antialiased when shrinking.

    Batched so that resizing 446-px originals never holds more than one batch of floats."""
    import tensorflow as tf  # here, not at import: reporting's figures import this module

    images = as_image_array(images)
    out = np.empty((len(images), *size, 1), np.float32)
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size, ..., None].astype(np.float32) / 255.0
        if batch.shape[1:3] != size:
            batch = tf.image.resize(batch, size, method="bilinear", antialias=True).numpy()
        out[start : start + batch_size] = np.clip(batch, 0.0, 1.0)
    return out


def common_size(*image_sets: np.ndarray) -> tuple[int, int]:
    """The smallest height and width among the sets: shrinking never invents detail."""
    sets = [as_image_array(images) for images in image_sets]
    return min(s.shape[1] for s in sets), min(s.shape[2] for s in sets)


def as_image_sets(synthetic: ImageSet) -> list[np.ndarray]:
    """One array, or a list of arrays (one per sampling seed), as a list of (n, h, w) arrays."""
    if isinstance(synthetic, np.ndarray):
        return [as_image_array(synthetic, "synthetic")]
    sets = [as_image_array(images, f"synthetic set {i}") for i, images in enumerate(synthetic)]
    if not sets:
        raise ValueError("synthetic: no image sets given")
    return sets


def at_gan_resolution(images: np.ndarray, gan_image_size: int | None) -> np.ndarray:
    """uint8 (n, h, w) -> uint8 (n, g, g) with g = gan_image_size (cv2.INTER_AREA), if larger.

    A 64 px generator cannot show 446 px detail, so real images are judged at the generator's
    resolution: brought down here, then resized like the synthetic ones wherever the metrics
    compare (so "up again" is the same interpolation for both). Images already at or below g,
    or gan_image_size None, are returned unchanged."""
    images = as_image_array(images)
    if gan_image_size is None or max(images.shape[1:]) <= gan_image_size:
        return images
    size = (gan_image_size, gan_image_size)
    return np.stack([cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in images])


def stack_images(*image_sets: np.ndarray | None) -> np.ndarray:
    """Several uint8 sets as one, shrunk (cv2.INTER_AREA) to their common size if they differ."""
    sets = [as_image_array(images) for images in image_sets if images is not None and len(images)]
    size = common_size(*sets)
    return np.concatenate(
        [
            images
            if images.shape[1:] == size
            else np.stack([cv2.resize(i, size[::-1], interpolation=cv2.INTER_AREA) for i in images])
            for images in sets
        ]
    )
