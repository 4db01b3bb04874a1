"""The fast many-pair SSIM equals tf.image.ssim; class_diversity is quick and sees collapse."""

from __future__ import annotations

import time

import numpy as np
import pytest
import tensorflow as tf

from cxr_gan.data.phantom import draw_phantom
from cxr_gan.metrics.image_sets import resize_unit
from cxr_gan.metrics.ssim import (
    SSIM_FILTER_SIGMA,
    SSIM_FILTER_SIZE,
    class_diversity,
    cross_ssim,
    mean_pairwise_ms_ssim,
    ms_ssim_settings,
    nearest_real_ssim,
    pairwise_ms_ssim,
    ssim_filter_size,
)


def phantoms(count: int, size: int, seed: int) -> np.ndarray:
    return np.stack([draw_phantom(index % 2, index, seed, size) for index in range(count)])


def tf_ssim_matrix(first: np.ndarray, second: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The reference: tf.image.ssim on every pair, as nearest_real_ssim once computed it."""
    a, b = resize_unit(first, size), resize_unit(second, size)
    filter_size = ssim_filter_size(min(size))
    scores = tf.image.ssim(
        np.repeat(a, len(b), axis=0),
        np.tile(b, (len(a), 1, 1, 1)),
        max_val=1.0,
        filter_size=filter_size,
        filter_sigma=SSIM_FILTER_SIGMA * filter_size / SSIM_FILTER_SIZE,
    )
    return scores.numpy().reshape(len(a), len(b))


@pytest.mark.parametrize("size", [(48, 48), (40, 56), (9, 9)])
def test_nearest_real_ssim_equals_tf_image_ssim(size):
    real = phantoms(7, 64, seed=0)
    synthetic = np.concatenate([phantoms(5, 32, seed=1), real[:2, ::2, ::2]])  # two near-copies
    expected = tf_ssim_matrix(synthetic, real, size)

    best, index = nearest_real_ssim(synthetic, real, size)
    np.testing.assert_allclose(best, expected.max(axis=1), atol=1e-4)
    np.testing.assert_array_equal(index, expected.argmax(axis=1))
    a, b = resize_unit(synthetic, size)[..., 0], resize_unit(real, size)[..., 0]
    filter_size = ssim_filter_size(min(size))
    sigma = SSIM_FILTER_SIGMA * filter_size / SSIM_FILTER_SIZE
    np.testing.assert_allclose(cross_ssim(a, b, filter_size, sigma), expected, atol=1e-4)


def test_cross_ssim_handles_more_images_than_one_opencv_call_takes():
    rng = np.random.default_rng(0)
    second = rng.random((130, 16, 16), dtype=np.float32)  # > 128 channels: two cv2 calls
    scores = cross_ssim(second[:2], second, 11, 1.5)
    np.testing.assert_allclose(scores[[0, 1], [0, 1]], 1.0, atol=1e-5)
    expected = tf.image.ssim(second[:1, ..., None], second[129:, ..., None], 1.0).numpy()
    np.testing.assert_allclose(scores[0, 129], expected[0], atol=1e-4)


@pytest.mark.parametrize("size", [(128, 128), (85, 99), (37, 45), (12, 12)])
def test_pairwise_ms_ssim_equals_tf_image_ssim_multiscale(size):
    """4 scales (128 px), odd sides halved at every scale (85 x 99), 2 scales with an odd side
    (37 x 45), a shrunk filter (12 px); pairs in batches smaller than their number."""
    images = np.concatenate([phantoms(6, 64, seed=3), phantoms(1, 64, seed=3)])  # one copy
    unit = resize_unit(images, size)
    settings = ms_ssim_settings(min(size))
    first, second = np.triu_indices(len(unit), k=1)
    expected = tf.image.ssim_multiscale(
        unit[first],
        unit[second],
        max_val=1.0,
        power_factors=settings.power_factors,
        filter_size=settings.filter_size,
        filter_sigma=settings.filter_sigma,
    ).numpy()
    scores = pairwise_ms_ssim(unit[..., 0], first, second, settings, batch_size=5)
    np.testing.assert_allclose(scores, expected, atol=2e-5)
    assert scores[(first == 0) & (second == 6)] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="smaller than the 11-px filter"):
        pairwise_ms_ssim(unit[..., 0], first, second, ms_ssim_settings(2 * min(size) + 40))


def test_class_diversity_is_fast_and_tells_collapse_from_variety():
    varied = phantoms(16, 64, seed=2)
    noise = np.random.default_rng(0).integers(-3, 4, varied.shape)
    collapsed = np.clip(varied[:1].astype(int) + noise, 0, 255).astype(np.uint8)
    class_diversity(varied[:4])  # first call builds TF's graph pieces
    started = time.perf_counter()
    varied_score = class_diversity(varied)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"16 images took {elapsed:.2f} s"
    assert class_diversity(collapsed) > varied_score + 0.3
    # the report's measure at its comparison size (128 px)
    assert varied_score == mean_pairwise_ms_ssim(varied, image_size=(128, 128))
