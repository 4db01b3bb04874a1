"""SSIM and MS-SSIM for GAN diversity and memorization checks, fast enough for many pairs.

- Memorization: each synthetic image's highest SSIM to any real training image. tf.image.ssim
  on every (synthetic, real) pair filters five images per pair with a dense 11x11 window; here
  each image's Gaussian local mean and local mean of squares are filtered once, and only the cross
  product x*y is filtered per pair, with the separable window (cv2, VALID padding). Same numbers
  as tf.image.ssim (float32, within 1e-4), many times faster.
- Diversity: mean pairwise MS-SSIM within a set (Odena et al. 2017); higher means more alike.
  Compare with real images measured the same way at the same size (see ms_ssim_settings).
  tf.image.ssim_multiscale's arithmetic, with the same trick as above at every scale: each
  image is halved, filtered and squared once, and only x*y is filtered per pair (same numbers
  within 1e-5; about 5x faster on 1000 pairs of 128 px images on 2 CPU cores).

Images are numpy uint8 arrays of shape (n, h, w) in 0..255.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from cxr_gan.metrics.image_sets import as_image_array, common_size, resize_unit
from cxr_gan.progress import ProgressLog

logger = logging.getLogger(__name__)

# Wang et al. 2003 scale weights, finest scale first (tf.image.ssim_multiscale's default)
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_FILTER_SIZE, SSIM_FILTER_SIGMA = 11, 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03  # tf.image.ssim's constants, for max_val = 1
OPENCV_MAX_CHANNELS = 128  # cv2 (5.x) filters at most this many channels in one call
# the side at which the GAN report compares images (synthesis.quality_image_size's default)
COMPARISON_SIZE = 128


# ---------------------------------------------------------------- SSIM of many pairs


def ssim_filter_size(side: int) -> int:
    """tf.image.ssim's 11-px window, shrunk (odd) for images smaller than 11 px."""
    return min(SSIM_FILTER_SIZE, side - (1 - side % 2))


def gaussian_window(filter_size: int, sigma: float) -> np.ndarray:
    """The normalised 1-D Gaussian whose outer product is tf.image.ssim's 2-D window."""
    coords = np.arange(filter_size, dtype=np.float64) - (filter_size - 1) / 2.0
    weights = np.exp(-0.5 * coords**2 / sigma**2)
    return weights / weights.sum()


def gaussian_filter_valid(images: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable Gaussian with VALID padding on channel-last float32 (h, w, c) stacks.

    Returns (h - f + 1, w - f + 1, c): the border rows a VALID convolution drops are cut off, so
    cv2's border rule never touches a result. cv2 filters at most 128 channels per call."""
    radius = (len(window) - 1) // 2
    height, width = images.shape[0] - 2 * radius, images.shape[1] - 2 * radius
    out = np.empty((height, width, images.shape[2]), np.float32)
    for start in range(0, images.shape[2], OPENCV_MAX_CHANNELS):
        part = slice(start, start + OPENCV_MAX_CHANNELS)
        filtered = cv2.sepFilter2D(
            np.ascontiguousarray(images[:, :, part]), cv2.CV_32F, window, window
        )
        out[:, :, part] = filtered.reshape(*filtered.shape[:2], -1)[
            radius : radius + height, radius : radius + width
        ]
    return out


def cross_ssim(first: np.ndarray, second: np.ndarray, filter_size: int, sigma: float) -> np.ndarray:
    """SSIM of every pair: float32 (n, h, w) x (m, h, w) in [0, 1] -> float64 (n, m).

    tf.image.ssim's formula (max_val 1, k1 0.01, k2 0.03, Gaussian window, VALID padding, no
    covariance compensation), with each image's local mean and local mean of squares filtered
    once and only the cross products x*y filtered per pair. Memory: about 3 filtered copies of
    `second` at a time."""
    window = gaussian_window(filter_size, sigma).astype(np.float32)
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    # (h, w, n): images as channels, contiguous once so that no filter call copies them again
    a = np.ascontiguousarray(np.moveaxis(np.asarray(first, np.float32), 0, -1))
    b = np.ascontiguousarray(np.moveaxis(np.asarray(second, np.float32), 0, -1))
    mean_a, mean_b = gaussian_filter_valid(a, window), gaussian_filter_valid(b, window)
    square_a, square_b = gaussian_filter_valid(a * a, window), gaussian_filter_valid(b * b, window)
    scores = np.empty((a.shape[2], b.shape[2]))
    for index in range(a.shape[2]):
        mu_a = mean_a[:, :, index : index + 1]
        cross = gaussian_filter_valid(a[:, :, index : index + 1] * b, window)
        mean_product = 2.0 * mu_a * mean_b
        mean_squares = mu_a * mu_a + mean_b * mean_b
        luminance = (mean_product + c1) / (mean_squares + c1)
        structure = (2.0 * cross - mean_product + c2) / (
            square_a[:, :, index : index + 1] + square_b - mean_squares + c2
        )
        scores[index] = (luminance * structure).mean(axis=(0, 1))
    return scores


def nearest_real_ssim(
    synthetic: np.ndarray,
    real: np.ndarray,
    image_size: tuple[int, int] | None = None,
    chunk: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """For each synthetic image, the highest SSIM to any real image and that image's index.

    A GAN trained on ~80 images can simply reproduce some of them; a near-1 SSIM to a training
    image flags such a copy. Both sets are resized to `image_size` (default: the smaller size).
    Returns float64 (n_synthetic,) SSIMs in [-1, 1] and int64 (n_synthetic,) real indices."""
    synthetic, real = as_image_array(synthetic, "synthetic"), as_image_array(real, "real")
    size = tuple(image_size or common_size(synthetic, real))
    syn_unit, real_unit = resize_unit(synthetic, size)[..., 0], resize_unit(real, size)[..., 0]
    filter_size = ssim_filter_size(min(size))
    sigma = SSIM_FILTER_SIGMA * filter_size / SSIM_FILTER_SIZE
    best = np.empty(len(syn_unit))
    best_index = np.empty(len(syn_unit), np.int64)
    progress = ProgressLog(len(syn_unit), "Nearest real SSIM", logger, unit="images")
    for start in range(0, len(syn_unit), chunk):  # chunks only pace the progress lines
        scores = cross_ssim(syn_unit[start : start + chunk], real_unit, filter_size, sigma)
        best[start : start + len(scores)] = scores.max(axis=1)
        best_index[start : start + len(scores)] = scores.argmax(axis=1)
        progress.update(len(scores))
    return best, best_index


def count_memorized(nearest_ssims: np.ndarray, threshold: float = 0.9) -> int:
    """How many synthetic images are at least `threshold` SSIM from a real one: likely copies."""
    return int(np.sum(np.asarray(nearest_ssims) >= threshold))


# ---------------------------------------------------------------- MS-SSIM diversity


@dataclass(frozen=True)
class MsSsimSettings:
    power_factors: tuple[float, ...]
    filter_size: int
    filter_sigma: float

    @property
    def scales(self) -> int:
        return len(self.power_factors)


def ms_ssim_settings(side: int) -> MsSsimSettings:
    """MS-SSIM settings that work for images whose shorter side is `side` pixels.

    TF needs the image at every scale (each halving rounds up) to be at least filter_size
    pixels, so its default (5 scales, 11-px filter) needs >= 161 px. Rule: keep the 11-px,
    sigma-1.5 Gaussian and use as many of the 5 standard scales as fit (5 scales from 161 px,
    4 from 81, 3 from 41, 2 from 21), with the standard weights of those scales renormalised to
    sum to 1. Below 21 px the filter shrinks (odd size, sigma scaled with it) so that 2 scales
    still fit. Values are comparable only between sets measured at the same size and rule."""
    sizes = [side]
    while len(sizes) < len(MS_SSIM_WEIGHTS):
        sizes.append(math.ceil(sizes[-1] / 2))
    scales = sum(size >= SSIM_FILTER_SIZE for size in sizes)
    filter_size, sigma = SSIM_FILTER_SIZE, SSIM_FILTER_SIGMA
    if scales < 2:
        filter_size = math.ceil(side / 2)
        filter_size -= 1 - filter_size % 2  # odd, so the window has a centre
        if filter_size < 3:
            raise ValueError(f"images of {side} px are too small for MS-SSIM (need >= 6 px)")
        sigma = SSIM_FILTER_SIGMA * filter_size / SSIM_FILTER_SIZE
        scales = 2
    weights = np.array(MS_SSIM_WEIGHTS[:scales])
    return MsSsimSettings(tuple(float(w) for w in weights / weights.sum()), filter_size, sigma)


def _pairs(n: int, max_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    first, second = np.triu_indices(n, k=1)
    if len(first) > max_pairs:
        chosen = np.sort(np.random.default_rng(seed).choice(len(first), max_pairs, replace=False))
        first, second = first[chosen], second[chosen]
    return first, second


def mean_pairwise_ms_ssim(
    images: np.ndarray,
    max_pairs: int = 1000,
    seed: int = 0,
    image_size: tuple[int, int] | None = None,
    batch_size: int = 128,
) -> float:
    """Mean MS-SSIM over all pairs within one set (or `max_pairs` random distinct pairs): the
    standard GAN diversity score. Higher = the images are more alike (mode collapse); compare
    with the real set's value at the same image_size (see ms_ssim_settings for the scale rule)."""
    images = as_image_array(images)
    if len(images) < 2:
        raise ValueError("mean_pairwise_ms_ssim needs at least 2 images")
    size = image_size or images.shape[1:3]
    settings = ms_ssim_settings(min(size))
    unit = resize_unit(images, tuple(size))[..., 0]
    first, second = _pairs(len(unit), max_pairs, seed)
    return float(np.mean(pairwise_ms_ssim(unit, first, second, settings, batch_size)))


def _halve(images: np.ndarray) -> np.ndarray:
    """tf.image.ssim_multiscale's step to the next scale on (h, w, n): an odd side gets its
    last row or column mirrored (SYMMETRIC padding), then 2x2 average pooling."""
    height, width = images.shape[:2]
    if height % 2 or width % 2:
        images = np.pad(images, ((0, height % 2), (0, width % 2), (0, 0)), mode="symmetric")
    pooled = images[0::2, 0::2] + images[1::2, 0::2] + images[0::2, 1::2] + images[1::2, 1::2]
    return np.ascontiguousarray(pooled / np.float32(4.0), dtype=np.float32)


def pairwise_ms_ssim(
    unit: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    settings: MsSsimSettings,
    batch_size: int = 128,
) -> np.ndarray:
    """MS-SSIM of the pairs (unit[first[k]], unit[second[k]]) of float32 (n, h, w) images in
    [0, 1]: float64 (pairs,), what tf.image.ssim_multiscale(max_val=1, the settings' power
    factors, filter size and sigma) gives for those pairs, within 1e-5.

    At every scale each image's Gaussian local mean and local mean of squares are filtered
    once (VALID, separable, cv2), and only the cross product x*y is filtered per pair, a batch
    of pairs at a time (memory: a few filtered copies of `batch_size` images). Every scale but
    the last contributes its contrast-structure term, the last its SSIM, each clipped at 0 and
    raised to its power factor, as in TensorFlow. Raises ValueError when an image is smaller
    than the filter at some scale (ms_ssim_settings chooses settings that fit)."""
    window = gaussian_window(settings.filter_size, settings.filter_sigma).astype(np.float32)
    c1, c2 = np.float32(SSIM_K1**2), np.float32(SSIM_K2**2)
    first, second = np.asarray(first), np.asarray(second)
    product = np.ones(len(first))
    images = np.ascontiguousarray(np.moveaxis(np.asarray(unit, np.float32), 0, -1))  # (h, w, n)
    last = settings.scales - 1
    for scale, weight in enumerate(settings.power_factors):
        if scale:
            images = _halve(images)
        if min(images.shape[:2]) < settings.filter_size:
            raise ValueError(
                f"at scale {scale} the images are {images.shape[:2]} px, smaller than the "
                f"{settings.filter_size}-px filter: use ms_ssim_settings for their size"
            )
        means = gaussian_filter_valid(images, window)
        squares = gaussian_filter_valid(images * images, window)
        for start in range(0, len(first), batch_size):
            a, b = first[start : start + batch_size], second[start : start + batch_size]
            mean_a, mean_b = means[:, :, a], means[:, :, b]
            cross = gaussian_filter_valid(images[:, :, a] * images[:, :, b], window)
            mean_product = mean_a * mean_b * np.float32(2.0)
            mean_squares = np.square(mean_a) + np.square(mean_b)
            contrast_structure = (cross * np.float32(2.0) - mean_product + c2) / (
                squares[:, :, a] + squares[:, :, b] - mean_squares + c2
            )
            if scale == last:
                luminance = (mean_product + c1) / (mean_squares + c1)
                value = (luminance * contrast_structure).mean(axis=(0, 1))
            else:
                value = contrast_structure.mean(axis=(0, 1))
            product[start : start + len(a)] *= np.maximum(value, 0.0).astype(np.float64) ** weight
    return product


def class_diversity(
    images: np.ndarray, image_size: int = COMPARISON_SIZE, max_pairs: int = 1000, seed: int = 0
) -> float:
    """Mean pairwise MS-SSIM of one class's samples at the report's comparison size.

    For the GAN trainer's per-epoch diversity line: uint8 (n, h, w), n >= 2 (about 16 samples
    of a class: 120 pairs, well under a second at 128 px on a laptop CPU), any h, w; returns a
    float in about [0, 1], where higher = more alike. Measured exactly as gan_quality_report
    measures synthetic diversity, so the training log and the final report agree."""
    return mean_pairwise_ms_ssim(images, max_pairs, seed, (image_size, image_size))
