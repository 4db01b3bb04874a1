"""Feature extractors for the GAN-quality metrics: a seeded random CNN or ImageNet InceptionV3.

The InceptionV3 weights come from cxr_gan.models.weights, the one module that downloads weights
(and says what to do offline).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np

from cxr_gan.metrics.image_sets import as_image_array, resize_unit
from cxr_gan.models.weights import inception_weights_path

__all__ = [
    "FEATURE_EXTRACTORS",
    "INCEPTION_V3_SIZE",
    "FeatureExtractor",
    "build_feature_extractor",
    "build_random_cnn",
]

FEATURE_EXTRACTORS = ("random_cnn", "inception_v3")
INCEPTION_V3_SIZE = 299


@dataclass(frozen=True)
class FeatureExtractor:
    """A Keras model plus the preprocessing it expects; call it on uint8 (n, h, w) images."""

    name: str
    model: keras.Model
    image_size: int
    preprocess: Callable[[np.ndarray], np.ndarray]  # float (n, s, s, 1) in 0..255 -> model input
    description: str

    @property
    def feature_dim(self) -> int:
        return int(self.model.output.shape[-1])

    def __call__(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Features (n, d) as float64, in batches so memory stays at one batch of inputs."""
        images = as_image_array(images)
        size = (self.image_size, self.image_size)
        features = []
        for start in range(0, len(images), batch_size):
            batch = resize_unit(images[start : start + batch_size], size) * 255.0
            out = self.model.predict_on_batch(self.preprocess(batch))
            features.append(np.asarray(out, np.float64))
        return np.concatenate(features)


def build_random_cnn(
    seed: int = 0, image_size: int = 128, widths: Sequence[int] = (32, 64, 128, 256)
) -> keras.Model:
    """A small untrained CNN (conv-ReLU-pool stages, global average pool) fixed by `seed`.

    Random convolutional features separate image distributions surprisingly well and need no
    download; every layer gets its own explicit initializer seed, so no global RNG is touched and
    the same seed gives the same weights (and features) on the same machine."""
    layer_seeds = np.random.SeedSequence(seed).generate_state(len(widths) * 2)
    inputs = keras.Input((image_size, image_size, 1), name="grayscale")
    x = inputs
    for stage, width in enumerate(widths):
        for conv in range(2):
            x = keras.layers.Conv2D(
                width,
                3,
                padding="same",
                activation="relu",
                kernel_initializer=keras.initializers.HeNormal(
                    seed=int(layer_seeds[stage * 2 + conv])
                ),
                bias_initializer="zeros",
                name=f"stage{stage}_conv{conv}",
            )(x)
        x = keras.layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="features")(x)
    return keras.Model(inputs, outputs, name=f"random_cnn_seed{seed}")


def _scale_minus_one_to_one(batch: np.ndarray) -> np.ndarray:
    return batch / 127.5 - 1.0


def _inception_input(batch: np.ndarray) -> np.ndarray:
    return keras.applications.inception_v3.preprocess_input(np.repeat(batch, 3, axis=-1))


def build_feature_extractor(
    name: str = "random_cnn",
    seed: int = 0,
    image_size: int = 128,
    inception_weights: str | os.PathLike | None = None,
) -> FeatureExtractor:
    """`random_cnn` (seeded, offline, comparable only with itself) or `inception_v3` (ImageNet,
    the published convention; grayscale repeated to RGB at 299 px)."""
    if name == "random_cnn":
        return FeatureExtractor(
            name=name,
            model=build_random_cnn(seed, image_size),
            image_size=image_size,
            preprocess=_scale_minus_one_to_one,
            description=(
                f"untrained random CNN (seed {seed}, {image_size} px): KID/FID compare runs that "
                "use the same extractor and seed, not published Inception numbers"
            ),
        )
    if name == "inception_v3":
        weights = inception_weights_path(inception_weights)  # before building: fail fast
        model = keras.applications.InceptionV3(
            include_top=False,
            weights=None,
            input_shape=(INCEPTION_V3_SIZE, INCEPTION_V3_SIZE, 3),
            pooling="avg",
        )
        model.load_weights(str(weights))
        return FeatureExtractor(
            name=name,
            model=model,
            image_size=INCEPTION_V3_SIZE,
            preprocess=_inception_input,
            description="ImageNet InceptionV3 pool features (2048-d), the usual FID/KID features",
        )
    raise ValueError(f"feature_extractor must be one of {FEATURE_EXTRACTORS}, got {name!r}")
