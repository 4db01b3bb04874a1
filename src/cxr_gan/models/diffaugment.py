"""DiffAugment (Zhao et al. 2020) for one-channel images in [-1, 1].

The same differentiable augmentations are applied to real and generated images right before the
discriminator, so it cannot memorise ~100 training images, while gradients still reach the
generator. Written for grayscale: the 'color' policy is brightness and contrast only (saturation
has no meaning for one channel).
"""

from __future__ import annotations

import keras
import tensorflow as tf

POLICIES = ("color", "translation", "cutout")


def diff_augment(
    images: tf.Tensor,
    seed_generator: keras.random.SeedGenerator,
    policy: tuple[str, ...] = POLICIES,
    translation_ratio: float = 0.125,
    cutout_ratio: float = 0.5,
) -> tf.Tensor:
    """Augment a (batch, h, w, 1) batch; every op is differentiable with respect to `images`."""
    unknown = set(policy) - set(POLICIES)
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {sorted(unknown)}; choose from {POLICIES}")
    if "color" in policy:
        images = _brightness(images, seed_generator)
        images = _contrast(images, seed_generator)
    if "translation" in policy:
        images = _translation(images, seed_generator, translation_ratio)
    if "cutout" in policy:
        images = _cutout(images, seed_generator, cutout_ratio)
    return images


def _per_image_uniform(images: tf.Tensor, seed_generator, low=0.0, high=1.0) -> tf.Tensor:
    batch = tf.shape(images)[0]
    return keras.random.uniform((batch, 1, 1, 1), low, high, seed=seed_generator)


def _brightness(images, seed_generator):
    return images + (_per_image_uniform(images, seed_generator) - 0.5)


def _contrast(images, seed_generator):
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * _per_image_uniform(images, seed_generator, 0.5, 1.5) + mean


def _random_offsets(batch, limit, seed_generator):
    """Integer offsets in [-limit, limit] per image, drawn from the seeded generator."""
    draws = keras.random.uniform((batch, 1, 1), 0.0, 1.0, seed=seed_generator)
    return tf.cast(tf.floor(draws * tf.cast(2 * limit + 1, tf.float32)), tf.int32) - limit


def _translation(images, seed_generator, ratio):
    """Shift each image by up to ratio of its size, filling with zeros (mid-gray)."""
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    limit_y = tf.cast(tf.cast(height, tf.float32) * ratio + 0.5, tf.int32)
    limit_x = tf.cast(tf.cast(width, tf.float32) * ratio + 0.5, tf.int32)
    shift_y = _random_offsets(batch, limit_y, seed_generator)
    shift_x = _random_offsets(batch, limit_x, seed_generator)
    grid_b, grid_y, grid_x = tf.meshgrid(
        tf.range(batch), tf.range(height), tf.range(width), indexing="ij"
    )
    source_y = tf.clip_by_value(grid_y + shift_y + 1, 0, height + 1)
    source_x = tf.clip_by_value(grid_x + shift_x + 1, 0, width + 1)
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
    return tf.gather_nd(padded, tf.stack([grid_b, source_y, source_x], axis=-1))


def _cutout(images, seed_generator, ratio):
    """Zero one square of ratio x size per image at a random place."""
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    cut_h = tf.cast(tf.cast(height, tf.float32) * ratio + 0.5, tf.int32)
    cut_w = tf.cast(tf.cast(width, tf.float32) * ratio + 0.5, tf.int32)
    centre_y = _random_offsets(batch, (height + 1 - cut_h % 2) // 2, seed_generator) + height // 2
    centre_x = _random_offsets(batch, (width + 1 - cut_w % 2) // 2, seed_generator) + width // 2
    grid_y = tf.range(height)[None, :, None]
    grid_x = tf.range(width)[None, None, :]
    inside = (
        (grid_y >= centre_y - cut_h // 2)
        & (grid_y < centre_y - cut_h // 2 + cut_h)
        & (grid_x >= centre_x - cut_w // 2)
        & (grid_x < centre_x - cut_w // 2 + cut_w)
    )
    return images * tf.cast(~inside, images.dtype)[..., None]
