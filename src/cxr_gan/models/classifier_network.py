"""The classifier network: ResNet50 transfer model or small CNN, with the study's head.

Model (one flat functional Keras model, built-in layers only, so it saves as .keras and loads with
`keras.saving.load_model(path, safe_mode=True)` without importing this module):

    uint8-range grayscale (n, h, w, 1) -> Resizing(input_size) -> backbone -> head -> p(covid)

- resnet50: the gray channel repeated to 3 channels, then ResNet's `preprocess_input` ("caffe"
  mode: BGR order, ImageNet mean subtracted; written as a Normalization layer, which is the same
  arithmetic for a gray image), then ResNet50(include_top=False, pooling="avg"), frozen, with
  ImageNet, random or local weights. `fine_tune_layers` unfreezes its last N layers (its
  BatchNormalization layers stay frozen and in inference mode, as Keras advises for fine-tuning).
- small_cnn: four conv blocks trained from scratch, without BatchNormalization: with BN after
  every conv a version trained on 200 images predicted a constant in inference mode while its
  training loss looked fine (moving statistics far from the batch statistics).
- head (the study's): BatchNorm -> Dense(units, ReLU) -> BatchNorm -> Dropout(0.4) ->
  Dense(1, sigmoid); SGD(learning_rate=0.001), batch size 25, 100 epochs.

Also here: the head alone (trained on cached features), the backbone's fingerprint, and
inference on one padded batch. Settings: cxr_gan.models.classifier_config; training:
cxr_gan.models.classifier; prediction: cxr_gan.models.classifier_predict.
"""

from __future__ import annotations

import hashlib

import keras
import numpy as np
from keras import layers

from cxr_gan.models.classifier_config import ClassifierConfig
from cxr_gan.models.weights import (
    RESNET50_WEIGHTS_FILE,
    WeightsUnavailableError,
    resolve_resnet50_weights,
)

IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)  # what resnet50.preprocess_input subtracts
HEAD_LAYERS = ("head_bn1", "head_dense", "head_bn2", "head_dropout", "head_output")


def _backbone(inputs: keras.KerasTensor, config: ClassifierConfig, seed: int) -> tuple:
    """(features tensor, backbone layers) on top of the shared resize."""
    x = layers.Resizing(config.input_size, config.input_size, name="resize")(inputs)
    if config.backbone == "resnet50":
        weights_path = resolve_resnet50_weights(config.weights)
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
        x = layers.Normalization(
            mean=list(IMAGENET_BGR_MEAN), variance=[1.0, 1.0, 1.0], name="resnet50_preprocess"
        )(x)
        try:
            resnet = keras.applications.ResNet50(
                include_top=False, weights=weights_path, input_tensor=x, pooling="avg"
            )
        except (OSError, ValueError) as error:
            if weights_path is None:
                raise
            raise WeightsUnavailableError(
                f"cannot load ResNet50 weights from {weights_path}: {error}. The file must hold "
                f"the notop ResNet50 weights ({RESNET50_WEIGHTS_FILE}, or a .weights.h5 saved "
                "from keras.applications.ResNet50(include_top=False))"
            ) from error
        ours = {"resize", "gray_to_rgb", "resnet50_preprocess"}
        backbone_layers = [
            layer
            for layer in resnet.layers
            if layer.name not in ours and not isinstance(layer, layers.InputLayer)
        ]
        _freeze(backbone_layers, config.fine_tune_layers)
        return resnet.output, backbone_layers
    x = layers.Rescaling(1.0 / 255.0, name="cnn_rescale")(x)
    backbone_layers = []
    last = len(config.small_cnn_filters) - 1
    for index, filters in enumerate(config.small_cnn_filters):
        conv = layers.Conv2D(
            filters,
            3,
            padding="same",
            activation="relu",
            kernel_initializer=keras.initializers.HeUniform(seed=seed + 100 + index),
            name=f"cnn_block{index + 1}_conv",
        )
        x = conv(x)
        backbone_layers.append(conv)
        if index < last:  # no pooling after the last conv: Grad-CAM reads that map
            x = layers.MaxPooling2D(name=f"cnn_block{index + 1}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return x, backbone_layers


def _freeze(backbone_layers: list[keras.Layer], fine_tune_layers: int) -> None:
    for layer in backbone_layers:
        layer.trainable = False
    if fine_tune_layers:
        for layer in backbone_layers[-fine_tune_layers:]:
            if not isinstance(layer, layers.BatchNormalization):
                layer.trainable = True


def _head(features: keras.KerasTensor, config: ClassifierConfig, seed: int) -> keras.KerasTensor:
    """The study's head, with fresh layers and explicitly seeded initialisers and dropout."""
    bn = {"momentum": config.batchnorm_momentum}
    x = layers.BatchNormalization(name=HEAD_LAYERS[0], **bn)(features)
    x = layers.Dense(
        config.dense_units,
        activation="relu",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
        name=HEAD_LAYERS[1],
    )(x)
    x = layers.BatchNormalization(name=HEAD_LAYERS[2], **bn)(x)
    x = layers.Dropout(config.dropout, seed=seed + 2, name=HEAD_LAYERS[3])(x)
    return layers.Dense(
        1,
        activation="sigmoid",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 3),
        name=HEAD_LAYERS[4],
        dtype="float32",  # float32 p(covid) and loss also under mixed_float16 (Keras' advice)
    )(x)


def build_classifier(config: ClassifierConfig, seed: int = 0) -> keras.Model:
    """Uncompiled full model: (n, h, w, 1) images in 0..255 of any size -> p(covid), (n, 1)."""
    inputs = keras.Input((None, None, 1), name="xray")
    features, _ = _backbone(inputs, config, seed)
    return keras.Model(inputs, _head(features, config, seed), name=f"{config.backbone}_classifier")


def feature_extractor(model: keras.Model) -> keras.Model:
    """The part of a classifier before the head: images -> pooled backbone features."""
    return keras.Model(model.input, model.get_layer(HEAD_LAYERS[0]).input, name="features")


def head_model(feature_dim: int, config: ClassifierConfig, seed: int) -> keras.Model:
    """The study's head alone (BatchNorm -> Dense -> BatchNorm -> Dropout -> Dense(1, sigmoid)),
    for training on cached backbone features: float32 (n, feature_dim) -> p(covid) float32
    (n, 1) in 0..1. Its layers carry the full model's names (HEAD_LAYERS), so weights copy
    between it and build_classifier's head layer by layer; initialisers and dropout are seeded from
    `seed` as there. Raises nothing of its own."""
    features = keras.Input((feature_dim,), name="features")
    return keras.Model(features, _head(features, config, seed), name="head")


def compile_classifier(model: keras.Model, config: ClassifierConfig) -> None:
    """Compile in place as the study did: SGD (config.learning_rate, config.momentum),
    binary cross-entropy on p(covid) (n, 1) against 0/1 labels, and accuracy at p > 0.5
    (Keras' BinaryAccuracy). XLA is off (jit_compile=False): compiling ResNet50 on CPU costs
    more than it saves. Works for the full model and head_model alike; raises nothing of its
    own."""
    model.compile(
        optimizer=keras.optimizers.SGD(config.learning_rate, momentum=config.momentum),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
        jit_compile=False,  # XLA compiling ResNet50 on CPU costs more than it saves here
    )


def head_config(model: keras.Model) -> ClassifierConfig:
    """Enough of a config to rebuild the model's head (units, dropout, BN momentum)."""
    return ClassifierConfig(
        backbone="small_cnn",
        weights=None,
        dense_units=model.get_layer(HEAD_LAYERS[1]).units,
        dropout=model.get_layer(HEAD_LAYERS[3]).rate,
        batchnorm_momentum=model.get_layer(HEAD_LAYERS[0]).momentum,
    )


def backbone_fingerprint(model: keras.Model) -> str:
    """A short digest (16 hex characters) of a classifier's backbone weights: the feature cache
    refuses features computed by another backbone (ImageNet vs random, another random init, other
    local weights). Hashes every weight array of the layers before the head, in order."""
    digest = hashlib.blake2b(digest_size=8)
    head = set(HEAD_LAYERS)
    for layer in model.layers:
        if layer.name in head:
            continue
        for weight in layer.get_weights():
            digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def infer_batch(model: keras.Model, batch: np.ndarray, batch_size: int) -> np.ndarray:
    """Inference on one batch, padded to batch_size so the predict function is traced once."""
    model.jit_compile = False
    count = len(batch)
    if count < batch_size:
        padding = np.zeros((batch_size - count, *batch.shape[1:]), batch.dtype)
        batch = np.concatenate([batch, padding])
    return np.asarray(model.predict_on_batch(batch.astype(np.float32)))[:count]
