"""The GAN's networks: the study's dense generator and discriminator, and a DCGAN pair.

Both generators map (latent vector, class label) to an image in [-1, 1] of shape (s, s, 1),
float32; both discriminators map (image, label) to one float32 logit. Models are plain functional
Keras models of built-in layers (the discriminator's MinibatchStdDev aside, and the discriminator
is never saved), so a saved generator loads with Keras safe_mode and no custom code. The training
step that uses them is cxr_gan.models.gan.ConditionalGAN.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

from cxr_gan.models.gan_config import GanConfig

# The dtype of every model's last layer, whatever Keras' global policy: under mixed_float16 (see
# cxr_gan.models.device) images and logits stay float32, so losses, the LeCam averages and the
# R1 penalty are float32, as the Keras mixed-precision guide advises; under float32 it changes
# nothing.
_OUTPUT = "float32"


def _label_input() -> keras.KerasTensor:
    return keras.Input(shape=(1,), dtype="int32", name="label")


def _batch_norm(**kwargs) -> layers.BatchNormalization:
    """BatchNormalization over the global batch when built under a multi-replica strategy: with
    per-replica statistics the replicas' moving averages would drift apart, and each replica
    would normalise by the statistics of a fraction of the batch."""
    synchronized = tf.distribute.get_strategy().num_replicas_in_sync > 1
    return layers.BatchNormalization(synchronized=synchronized, **kwargs)


def build_dense_generator(config: GanConfig) -> keras.Model:
    """The study's generator: 4 x (Dense, LeakyReLU(0.2), BatchNorm(0.8)) -> Dense(pixels, tanh)."""
    size = config.gan_image_size
    latent = keras.Input(shape=(config.latent_dim,), name="latent")
    label = _label_input()
    embedded = layers.Flatten()(
        layers.Embedding(config.n_classes, config.label_embedding_dim)(label)
    )
    x = layers.Concatenate()([latent, embedded])
    for width in config.generator_widths:
        x = layers.Dense(width)(x)
        x = layers.LeakyReLU(negative_slope=0.2)(x)
        x = _batch_norm(momentum=0.8)(x)
    x = layers.Dense(size * size, activation="tanh", dtype=_OUTPUT)(x)
    image = layers.Reshape((size, size, 1), name="image", dtype=_OUTPUT)(x)
    return keras.Model([latent, label], image, name="dense_generator")


def build_dense_discriminator(config: GanConfig) -> keras.Model:
    """The study's discriminator: flattened image (+ label) -> 4 x (Dense, ReLU, Dropout) -> logit.

    The study ends in a sigmoid; here the sigmoid sits in the loss (from_logits), which is the
    same model with better numerics.
    """
    size = config.gan_image_size
    image = keras.Input(shape=(size, size, 1), name="image")
    label = _label_input()
    embedded = layers.Flatten()(
        layers.Embedding(config.n_classes, config.label_embedding_dim)(label)
    )
    x = layers.Concatenate()([layers.Flatten()(image), embedded])
    for width in config.discriminator_widths:
        x = layers.Dense(width, activation="relu")(x)
        x = layers.Dropout(config.dropout)(x)
    logit = layers.Dense(1, name="logit", dtype=_OUTPUT)(x)
    return keras.Model([image, label], logit, name="dense_discriminator")


def _generator_channels(stage: int, config: GanConfig) -> int:
    width = config.generator_filters or config.base_filters
    return max(16, width * 8 // 2**stage)


class MinibatchStdDev(layers.Layer):
    """Appends one feature map: the standard deviation of each feature over the batch, averaged
    (Karras et al. 2018, "Progressive Growing of GANs"). A batch of near-copies has a small
    spread, so the discriminator can tell a collapsed generator's batch from a real one.
    Used in the discriminator only, which is never saved: the generator stays built-in layers."""

    def call(self, x):
        # in float32 also under mixed_float16: 1e-8 is 0 in float16, and sqrt's gradient at 0
        # is infinite
        spread = keras.ops.sqrt(keras.ops.var(keras.ops.cast(x, "float32"), axis=0) + 1e-8)
        value = keras.ops.cast(keras.ops.mean(spread), x.dtype)
        return keras.ops.concatenate([x, keras.ops.ones_like(x[..., :1]) * value], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


def _discriminator_layer(layer: layers.Layer, config: GanConfig) -> layers.Layer:
    return layers.SpectralNormalization(layer) if config.spectral_norm else layer


def build_dcgan_generator(config: GanConfig) -> keras.Model:
    """Label embedding joined to the latent -> 4x4 maps -> (upsample, 3x3 conv, BN, LeakyReLU)
    stages up to the image size. Resize-then-conv (the default) avoids the checkerboard texture
    that Conv2DTranspose left on X-rays at 128 px."""
    size = config.gan_image_size
    stages = int(math.log2(size // 4))
    latent = keras.Input(shape=(config.latent_dim,), name="latent")
    label = _label_input()
    embedded = layers.Flatten()(
        layers.Embedding(config.n_classes, config.label_embedding_dim)(label)
    )
    x = layers.Concatenate()([latent, embedded])
    channels = _generator_channels(0, config)
    normalise = config.generator_norm == "batch"
    x = layers.Dense(4 * 4 * channels, use_bias=not normalise)(x)
    x = layers.Reshape((4, 4, channels))(x)
    x = _batch_norm()(x) if normalise else x
    x = layers.LeakyReLU(negative_slope=0.2)(x)
    for stage in range(1, stages + 1):
        channels = _generator_channels(stage, config)
        if config.upsampling == "transpose":
            x = layers.Conv2DTranspose(
                channels, 4, strides=2, padding="same", use_bias=not normalise
            )(x)
        else:
            x = layers.UpSampling2D(interpolation=config.upsampling)(x)
            x = layers.Conv2D(channels, 3, padding="same", use_bias=not normalise)(x)
        x = _batch_norm()(x) if normalise else x
        x = layers.LeakyReLU(negative_slope=0.2)(x)
    image = layers.Conv2D(1, 3, padding="same", activation="tanh", name="image", dtype=_OUTPUT)(x)
    return keras.Model([latent, label], image, name="dcgan_generator")


def build_dcgan_discriminator(config: GanConfig) -> keras.Model:
    """Strided 4x4 convs down to 4x4 maps, then a projection head (Miyato & Koyama 2018):
    logit = w . phi(x) + embed(label) . phi(x), which conditions on the class without
    concatenating label planes."""
    size = config.gan_image_size
    stages = int(math.log2(size // 4))
    image = keras.Input(shape=(size, size, 1), name="image")
    label = _label_input()
    x = image
    for stage in range(stages):
        conv = layers.Conv2D(min(512, config.base_filters * 2**stage), 4, strides=2, padding="same")
        x = _discriminator_layer(conv, config)(x)
        x = layers.LeakyReLU(negative_slope=0.2)(x)
    if config.minibatch_std:
        x = MinibatchStdDev()(x)
        x = _discriminator_layer(layers.Conv2D(x.shape[-1] - 1, 3, padding="same"), config)(x)
        x = layers.LeakyReLU(negative_slope=0.2)(x)
    if config.discriminator_head == "flatten":  # keeps where in the 4x4 grid a feature sits
        features = layers.Flatten()(x)
    else:
        features = layers.GlobalAveragePooling2D()(x)
    unconditional = _discriminator_layer(layers.Dense(1), config)(features)
    class_vector = layers.Flatten()(layers.Embedding(config.n_classes, features.shape[-1])(label))
    projection = layers.Dot(axes=1)([class_vector, features])
    logit = layers.Add(name="logit", dtype=_OUTPUT)([unconditional, projection])
    return keras.Model([image, label], logit, name="dcgan_discriminator")


def build_generator(config: GanConfig) -> keras.Model:
    return (build_dcgan_generator if config.architecture == "dcgan" else build_dense_generator)(
        config
    )


def build_discriminator(config: GanConfig) -> keras.Model:
    builder = (
        build_dcgan_discriminator if config.architecture == "dcgan" else build_dense_discriminator
    )
    return builder(config)
