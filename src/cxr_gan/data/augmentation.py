"""Seeded classical augmentation for grayscale X-ray batches, numpy or TensorFlow.

The study augmented its training images with Keras' ImageDataGenerator (horizontal flip, shear,
zoom; its pixel `rescale=1/255` is replaced here by ResNet's own preprocessing in the model).
The `classical` preset mirrors that recipe with ImageDataGenerator's meaning of each number:
`shear_range=0.2` is an angle in DEGREES there (so the study's shear is tiny), and `zoom_range=0.2`
draws independent x and y scale factors in [0.8, 1.2]. The `strong` preset, for the
classical_augmentation experiment, adds rotation, translation and brightness/contrast.

Every random number comes from TensorFlow's stateless ops keyed by `seed`, so the same seed gives
the same batch in eager code, inside a tf.data map and on every call; nothing touches global
random state. Parameters are drawn per image for the whole batch at once, so
`sample_augmentation` + `apply_augmentation` on slices gives the same images as one call on the
whole array, whatever the batch size.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

# the settings live in a module without TensorFlow (parameter models import them)
from cxr_gan.data.augmentation_presets import AugmentationParams, resolve_augmentation

N_PARAMS = 10  # 8 projective-transform coefficients, brightness offset, contrast factor


def _seed_pair(seed: int | tuple[int, int] | tf.Tensor) -> tf.Tensor:
    if isinstance(seed, int | np.integer):
        return tf.constant([int(seed), 0], tf.int64)
    return tf.cast(tf.reshape(seed, [2]), tf.int64)


def sample_augmentation(
    n: int | tf.Tensor,
    height: int | tf.Tensor,
    width: int | tf.Tensor,
    seed: int | tuple[int, int] | tf.Tensor,
    params: str | AugmentationParams = "classical",
) -> tf.Tensor:
    """(n, 10) float32: per image the output->input transform and brightness/contrast."""
    params = resolve_augmentation(params) or AugmentationParams()
    seeds = tf.random.split(_seed_pair(seed), 8)

    def uniform(index: int, bound: float, centre: float = 0.0) -> tf.Tensor:
        return tf.random.stateless_uniform(
            [n], seeds[index], centre - bound, centre + bound, tf.float32
        )

    flip = tf.random.stateless_uniform([n], seeds[0]) < (0.5 if params.horizontal_flip else 0.0)
    sign = tf.where(flip, -1.0, 1.0)
    shear = uniform(1, math.radians(params.shear_degrees))
    zoom_x, zoom_y = uniform(2, params.zoom_range, 1.0), uniform(3, params.zoom_range, 1.0)
    angle = uniform(4, math.radians(params.rotation_degrees))
    height, width = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    shift_x = uniform(5, params.translation_fraction) * width
    shift_y = uniform(6, params.translation_fraction) * height
    photometric = tf.random.stateless_uniform([n, 2], seeds[7], -1.0, 1.0)
    brightness = photometric[:, 0] * params.brightness * 255.0
    contrast = 1.0 + photometric[:, 1] * params.contrast
    # input = R(angle) @ Shear @ Zoom @ Flip @ (output - centre) + centre + shift, as in
    # ImageDataGenerator (it maps output to input pixels too, about the image centre)
    cos, sin = tf.cos(angle), tf.sin(angle)
    shear_a, shear_b = -tf.sin(shear), tf.cos(shear)  # shear matrix [[1, -sin], [0, cos]]
    a00 = cos * zoom_x * sign
    a01 = (cos * shear_a - sin * shear_b) * zoom_y
    a10 = sin * zoom_x * sign
    a11 = (sin * shear_a + cos * shear_b) * zoom_y
    centre_x, centre_y = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    offset_x = centre_x - (a00 * centre_x + a01 * centre_y) + shift_x
    offset_y = centre_y - (a10 * centre_x + a11 * centre_y) + shift_y
    zeros = tf.zeros_like(a00)
    columns = [a00, a01, offset_x, a10, a11, offset_y, zeros, zeros, brightness, contrast]
    return tf.stack(columns, axis=1)


def apply_augmentation(
    images: tf.Tensor, transforms: tf.Tensor, fill_mode: str = "nearest"
) -> tf.Tensor:
    """Warp (n, h, w, 1) float images by `transforms` rows, then shift brightness and contrast.

    Output stays in 0..255 (clipped), like a real exposure change would.
    """
    images = tf.cast(images, tf.float32)
    transforms = tf.cast(transforms, tf.float32)
    warped = keras.ops.image.affine_transform(
        images, transforms[:, :8], interpolation="bilinear", fill_mode=fill_mode
    )
    mean = tf.reduce_mean(warped, axis=[1, 2, 3], keepdims=True)
    contrast = tf.reshape(transforms[:, 9], [-1, 1, 1, 1])
    brightness = tf.reshape(transforms[:, 8], [-1, 1, 1, 1])
    return tf.clip_by_value((warped - mean) * contrast + mean + brightness, 0.0, 255.0)


def augment_images(
    images: np.ndarray | tf.Tensor,
    seed: int | tuple[int, int] | tf.Tensor,
    params: str | AugmentationParams = "classical",
) -> np.ndarray | tf.Tensor:
    """Augment a batch of 0..255 grayscale images, (n, h, w) or (n, h, w, 1).

    Returns float32 in 0..255 of the same shape; numpy in gives numpy out, a tensor gives a
    tensor (so it runs inside tf.data.Dataset.map). Same images and seed -> same output.
    """
    resolved = resolve_augmentation(params) or AugmentationParams()
    is_numpy = isinstance(images, np.ndarray)
    tensor = tf.convert_to_tensor(images)
    squeeze = tensor.shape.rank == 3
    if squeeze:
        tensor = tensor[..., tf.newaxis]
    shape = tf.shape(tensor)
    transforms = sample_augmentation(shape[0], shape[1], shape[2], seed, resolved)
    out = apply_augmentation(tensor, transforms, resolved.fill_mode)
    if squeeze:
        out = out[..., 0]
    return out.numpy() if is_numpy else out
