"""Realism measures that a feature-space distance can miss: exposure and pixel-level KID.

A GAN trained with DiffAugment's `color` policy learns that the discriminator ignores brightness
and contrast, and its X-rays come out washed out or dark while random-CNN features (which
standardise much of that away) still look close. Two measures see it directly:

- exposure: the distributions of per-image mean brightness and per-image standard deviation
  (contrast), compared by the Wasserstein-1 distance (scipy.stats.wasserstein_distance) in
  grey levels (0-255): how far, on average, the synthetic set's exposure must move to match;
- pixel KID: KID (Binkowski et al. 2018) on the raw pixels of images brought to 32 x 32, in a
  FeatureSpace fitted on the real images, so global exposure and layout count, texture does not.

No TensorFlow here: the benchmarks' judge and the tests use it on plain arrays.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.stats import wasserstein_distance

from cxr_gan.metrics.image_sets import as_image_array

PIXEL_SIDE = 32  # pixel KID's side: global exposure and layout, not texture


def exposure_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image mean and standard deviation of uint8 images (n, h, w) or (n, h, w, 1), in grey
    levels: two float64 (n,) arrays in [0, 255] and [0, 127.5]."""
    unit = as_image_array(images).reshape(len(images), -1).astype(np.float64)
    return unit.mean(axis=1), unit.std(axis=1)


def exposure_w1(real: np.ndarray, synthetic: np.ndarray) -> dict[str, float]:
    """Wasserstein-1 distances (grey levels, >= 0; 0 = the same distribution) between the real
    and synthetic sets' per-image mean brightness ("mean") and per-image standard deviation
    ("std"). Sets may differ in size and image size. Raises ValueError on an empty set."""
    if min(len(real), len(synthetic)) < 1:
        raise ValueError("exposure_w1 needs at least one image on each side")
    real_mean, real_std = exposure_stats(real)
    fake_mean, fake_std = exposure_stats(synthetic)
    return {
        "mean": float(wasserstein_distance(real_mean, fake_mean)),
        "std": float(wasserstein_distance(real_std, fake_std)),
    }


def pixel_vectors(images: np.ndarray, side: int = PIXEL_SIDE) -> np.ndarray:
    """uint8 images (n, h, w) -> float64 (n, side * side) in [0, 1]: each image brought to
    side x side by area averaging (cv2.INTER_AREA) and flattened; pixel KID's features."""
    images = as_image_array(images)
    small = [cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA) for image in images]
    return np.stack(small).reshape(len(images), -1).astype(np.float64) / 255.0
