"""COVID-19 vs normal classifier: the study's ResNet50 transfer model, plus a small CNN for demos.

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

Feature caching (the default for a frozen ResNet50). Training a head on a frozen backbone is the
same as training the head on the backbone's features: the backbone is a fixed function (its
weights never change, and its BatchNormalization layers run in inference mode in both cases, as
frozen Keras 3 BN layers always do), so `head(backbone(x))` sees exactly the features it would
see end to end, and the gradients reach only the head. So features are computed once per image
and augmentation draw and the head trains on those arrays; an epoch costs milliseconds instead of
a full ResNet50 pass. The one difference: augmentation is sampled from a fixed pool of
`augmentation_draws` augmented copies per image (draws 1..k, one picked at random per image and
epoch) instead of a fresh transform every epoch. Draw 0, the unaugmented image, is what validation
images use (and training images when augmentation is off); like ImageDataGenerator, training with
augmentation never shows the unaugmented image.
`feature_cache=False` (or fine-tuning, or the small CNN) trains end to end on images instead;
with no augmentation both paths give the same head (tested).

Seeding: `train_classifier` calls `keras.utils.set_random_seed(seed)` (Python, numpy and
TensorFlow global seeds; it is the only global state touched) and also passes explicit seeds to
the head's initialisers and dropout, the split, the shuffles and the augmentation, so the same
seed gives the same model on the same machine (CPU thread scheduling can still change the last
bits of float sums between machines).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from cxr_gan.data.augmentation import (
    AugmentationParams,
    apply_augmentation,
    augment_images,
    resolve_augmentation,
    sample_augmentation,
)
from cxr_gan.data.lazy_rows import select_rows
from cxr_gan.data.split import stratified_group_split
from cxr_gan.data.tf_batches import gathered_batches
from cxr_gan.models.classifier_config import BACKBONES, ClassifierConfig  # noqa: F401 (its old home)
from cxr_gan.models.device import float32_copy
from cxr_gan.models.distribution import refuse_multi_worker_fit, resolve_strategy
from cxr_gan.models.weights import (
    RESNET50_WEIGHTS_FILE,
    RESNET50_WEIGHTS_MD5,
    RESNET50_WEIGHTS_ORIGIN,
)
from cxr_gan.progress import ProgressLog

logger = logging.getLogger(__name__)

# RESNET50_WEIGHTS_ORIGIN is read from this module at call time, so tests can point it at a
# closed local port
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)  # what resnet50.preprocess_input subtracts
HEAD_LAYERS = ("head_bn1", "head_dense", "head_bn2", "head_dropout", "head_output")


class WeightsUnavailableError(RuntimeError):
    """The backbone's pretrained weights cannot be found or loaded; the message says what to do."""


# ---------------------------------------------------------------------------- weights


def keras_cache_dir() -> Path:
    """The folder Keras caches downloads in: $KERAS_HOME, else ~/.keras (read at call time)."""
    base = Path(os.environ.get("KERAS_HOME") or Path("~/.keras").expanduser())
    with contextlib.suppress(OSError):
        (base / "models").mkdir(parents=True, exist_ok=True)
    if not os.access(base, os.W_OK):  # keras.utils.get_file falls back the same way
        base = Path("/tmp/.keras")
    return base


def resolve_resnet50_weights(weights: str | None) -> str | None:
    """A local file path to load (downloading ImageNet weights into the Keras cache), or None.

    Raises WeightsUnavailableError, naming the file Keras expects and the alternatives, when the
    ImageNet file is neither cached nor downloadable (offline machines) or a local file is missing.
    """
    if weights is None:
        return None
    if weights != "imagenet":
        if not Path(weights).is_file():
            raise WeightsUnavailableError(
                f"classifier weights file {weights} does not exist; give the path of a ResNet50 "
                f"notop weights file (.h5 or .weights.h5), weights: imagenet, or weights: null"
            )
        return str(weights)
    cache = keras_cache_dir()
    target = cache / "models" / RESNET50_WEIGHTS_FILE
    try:
        return keras.utils.get_file(
            RESNET50_WEIGHTS_FILE,
            RESNET50_WEIGHTS_ORIGIN + RESNET50_WEIGHTS_FILE,
            cache_subdir="models",
            file_hash=RESNET50_WEIGHTS_MD5,
            cache_dir=str(cache),
        )
    except Exception as error:  # get_file raises bare Exception for network failures
        raise WeightsUnavailableError(
            f"ImageNet weights for ResNet50 are not in the Keras cache and could not be "
            f"downloaded ({error}). Either put the file {RESNET50_WEIGHTS_FILE} at {target} "
            f"(the Keras cache: ~/.keras/models/, or $KERAS_HOME/models/ when KERAS_HOME is set; "
            f"download it from {RESNET50_WEIGHTS_ORIGIN}{RESNET50_WEIGHTS_FILE} on a machine with "
            f"internet), or set the classifier parameter weights: /path/to/local/"
            f"{RESNET50_WEIGHTS_FILE} to load a local copy, or weights: null to train from random "
            f"initialisation (much weaker than ImageNet transfer)."
        ) from error


# ---------------------------------------------------------------------------- model


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


def _head_model(feature_dim: int, config: ClassifierConfig, seed: int) -> keras.Model:
    features = keras.Input((feature_dim,), name="features")
    return keras.Model(features, _head(features, config, seed), name="head")


def _compile(model: keras.Model, config: ClassifierConfig) -> None:
    model.compile(
        optimizer=keras.optimizers.SGD(config.learning_rate, momentum=config.momentum),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
        jit_compile=False,  # XLA compiling ResNet50 on CPU costs more than it saves here
    )


# ---------------------------------------------------------------------------- data


def as_image_batch(images: np.ndarray) -> np.ndarray:
    """(n, h, w) or (n, h, w, 1) grayscale 0..255 -> (n, h, w, 1), dtype kept."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[-1] != 1:
        raise ValueError(f"expected grayscale images (n, h, w), got shape {images.shape}")
    return images


def as_image_source(images: Any) -> Any:
    """Images to read batch by batch: arrays (memmaps included) as an (n, h, w, 1) view without
    copying; a LazyRows selection as it is, after a shape check (batches get their channel axis
    from as_image_batch when read)."""
    if isinstance(images, np.ndarray) or not hasattr(images, "shape"):
        return as_image_batch(images)
    shape = tuple(images.shape)
    if len(shape) == 3 or (len(shape) == 4 and shape[-1] == 1):
        return images
    raise ValueError(f"expected grayscale images (n, h, w), got shape {shape}")


def indexed_batches(
    images: Any,
    labels: np.ndarray,
    rows: np.ndarray,
    batch_size: int,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    """(uint8 images (b, h, w, 1), labels) batches of images[rows], gathered by row number.

    Only row numbers live in the tf.data graph, so a memory-mapped set is read a batch at a
    time. Shuffling row numbers with a seed gives the order that shuffling the images did."""
    rows = np.asarray(rows, np.int64)
    labels = np.asarray(labels)
    height, width = images.shape[1:3]

    def gather(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        picked = rows[positions]
        return as_image_batch(np.asarray(images[picked])), labels[picked]

    dataset = tf.data.Dataset.range(len(rows))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(rows), seed=shuffle_seed, reshuffle_each_iteration=True)
    dtypes = (tf.as_dtype(images.dtype), tf.as_dtype(labels.dtype))
    return gathered_batches(dataset, batch_size, gather, dtypes, (None, height, width, 1))


def validation_mask(
    labels: np.ndarray, fraction: float, seed: int, groups: np.ndarray | None = None
) -> np.ndarray:
    """Boolean mask of validation images: about `fraction` of each class, whole groups only.

    `groups` (e.g. patient ids as integers) keeps a patient's images on one side.
    """
    labels = np.asarray(labels)
    if fraction == 0:
        return np.zeros(len(labels), bool)
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    mask = stratified_group_split(labels, groups, fraction, seed)
    for label in np.unique(labels):
        if not mask[labels == label].any() or mask[labels == label].all():
            raise ValueError(
                f"validation_fraction={fraction} leaves class {label} with no validation or no "
                f"training image ({int(np.sum(labels == label))} images); change the fraction "
                "or use 0 for no validation"
            )
    return mask


def _infer(model: keras.Model, batch: np.ndarray, batch_size: int) -> np.ndarray:
    """Inference on one batch, padded to batch_size so the predict function is traced once."""
    model.jit_compile = False
    count = len(batch)
    if count < batch_size:
        padding = np.zeros((batch_size - count, *batch.shape[1:]), batch.dtype)
        batch = np.concatenate([batch, padding])
    return np.asarray(model.predict_on_batch(batch.astype(np.float32)))[:count]


def extract_features(
    extractor: keras.Model,
    images: np.ndarray,
    seed: int,
    *,
    augmentation: str | AugmentationParams | None = None,
    draws: tuple[int, ...] = (0,),
    batch_size: int = 32,
) -> np.ndarray:
    """(len(draws), n, d) float32 features; draw 0 is unaugmented, draw k > 0 is augmentation
    seeded by (seed, k), drawn per image, so the result does not depend on batch_size."""
    images = as_image_source(images)
    n, height, width = images.shape[:3]
    params = resolve_augmentation(augmentation)
    if params is None and any(draws):
        raise ValueError("augmented draws (k > 0) need an augmentation preset")
    progress = ProgressLog(n * len(draws), "Backbone features", logger, unit="images")
    out = None
    for index, draw in enumerate(draws):
        transforms = None
        if draw:
            transforms = sample_augmentation(n, height, width, (seed, draw), params)
        for start in range(0, n, batch_size):
            batch = as_image_batch(images[start : start + batch_size]).astype(np.float32)
            if transforms is not None:
                chunk = transforms[start : start + batch_size]
                batch = apply_augmentation(batch, chunk, params.fill_mode).numpy()
            features = _infer(extractor, batch, batch_size)
            if out is None:
                out = np.empty((len(draws), n, features.shape[-1]), np.float32)
            out[index, start : start + len(batch)] = features
            progress.update(len(batch), extra=f"(draw {draw})")
    return out


class EpochLog(keras.callbacks.Callback):
    """One log line every `every` epochs (fit runs with verbose=0)."""

    def __init__(self, every: int, epochs: int, what: str) -> None:
        super().__init__()
        self.every, self.epochs, self.what = every, epochs, what

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        done = epoch + 1
        if done % self.every and done != self.epochs:
            return
        values = ", ".join(f"{key} {value:.4f}" for key, value in (logs or {}).items())
        logger.info("%s: epoch %d/%d, %s", self.what, done, self.epochs, values)


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


def augmentation_draws(config: ClassifierConfig) -> tuple[int, ...]:
    """The feature cache's draws for a config: (1..augmentation_draws) with augmentation, (0,)
    (the unaugmented image) without."""
    if config.augmentation_params is None:
        return (0,)
    return tuple(range(1, config.augmentation_draws + 1))


def _cached_datasets(
    model: keras.Model,
    *,
    images: np.ndarray,
    labels: np.ndarray,
    is_val: np.ndarray,
    config: ClassifierConfig,
    seed: int,
    augmentation_seed: int,
    features: Mapping[str, Any] | None = None,
) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    draws = augmentation_draws(config)
    if features is None:
        extractor = feature_extractor(model)
        train_features = extract_features(
            extractor,
            select_rows(images, np.flatnonzero(~is_val)),
            augmentation_seed,
            augmentation=config.augmentation_params,
            draws=draws,
            batch_size=config.feature_batch_size,
        )
    else:
        train_features = np.asarray(features["train"], np.float32)
        if train_features.shape[:2] != (len(draws), int((~is_val).sum())):
            raise ValueError(
                f"cached training features have shape {train_features.shape}; expected "
                f"({len(draws)} draws, {int((~is_val).sum())} images, features)"
            )
    # (draws, n, d) stays one numpy array: only (row, draw) numbers go through tf.data, and each
    # batch gathers its features, so there is no second copy as a TF constant (GBs at 30k images)
    train_labels = labels[~is_val]
    count = train_features.shape[1]
    order = tf.data.Dataset.range(count).shuffle(count, seed=seed, reshuffle_each_iteration=True)
    if len(draws) > 1:  # one of the image's augmented copies, picked afresh every epoch
        picks = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True)
        order = tf.data.Dataset.zip((order, picks)).map(lambda row, pick: (row, pick % len(draws)))
    else:
        order = order.map(lambda row: (row, tf.constant(0, tf.int64)))

    def gather(rows: np.ndarray, draw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return train_features[draw, rows], train_labels[rows]

    train = gathered_batches(
        order,
        config.batch_size,
        gather,
        (tf.float32, tf.as_dtype(train_labels.dtype)),
        (None, train_features.shape[-1]),
    )
    if not is_val.any():
        return train, None
    if features is not None and features.get("validation") is not None:
        val_features = np.asarray(features["validation"], np.float32)
        if len(val_features) != int(is_val.sum()):
            raise ValueError(
                f"{len(val_features)} cached validation features for {int(is_val.sum())} images"
            )
    else:
        val_features = extract_features(
            feature_extractor(model),
            select_rows(images, np.flatnonzero(is_val)),
            augmentation_seed,
            batch_size=config.feature_batch_size,
        )[0]
    val = tf.data.Dataset.from_tensor_slices((val_features, labels[is_val]))
    return train, val.batch(config.batch_size)


def _image_datasets(
    images: np.ndarray,
    labels: np.ndarray,
    is_val: np.ndarray,
    config: ClassifierConfig,
    seed: int,
) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    params = config.augmentation_params
    train = indexed_batches(
        images, labels, np.flatnonzero(~is_val), config.batch_size, shuffle_seed=seed
    )
    if params is None:
        train = train.map(lambda x, y: (tf.cast(x, tf.float32), y))
    else:  # a fresh, seeded transform for every batch of every epoch
        seeds = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True)
        train = tf.data.Dataset.zip((train, seeds)).map(
            lambda batch, draw: (
                augment_images(
                    tf.cast(batch[0], tf.float32),
                    tf.stack([tf.constant(seed, tf.int64), draw]),
                    params,
                ),
                batch[1],
            )
        )
    train = train.prefetch(tf.data.AUTOTUNE)
    if not is_val.any():
        return train, None
    val = indexed_batches(images, labels, np.flatnonzero(is_val), config.batch_size)
    return train, val.map(lambda x, y: (tf.cast(x, tf.float32), y))


# ---------------------------------------------------------------------------- train / predict


def _warn_if_batchnorm_lags(n_train: int, config: ClassifierConfig) -> None:
    """BN moving statistics start at mean 0, variance 1 and move by (1 - momentum) per step; in
    a short run they stay far from the real statistics, so inference-mode predictions shrink
    towards a constant while the training loss looks fine."""
    steps = config.epochs * -(-n_train // config.batch_size)
    if config.batchnorm_momentum**steps > 0.05:
        logger.warning(
            "Only %d training steps: the head's BatchNormalization moving statistics "
            "(momentum %.3g) will not have converged, so inference-mode predictions may be "
            "squeezed towards a constant; train longer or lower batchnorm_momentum (e.g. 0.9)",
            steps,
            config.batchnorm_momentum,
        )


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    config: ClassifierConfig,
    seed: int = 0,
    groups: np.ndarray | None = None,
    is_validation: np.ndarray | None = None,
    strategy: tf.distribute.Strategy | str | None = None,
    *,
    backbone_seed: int | None = None,
    augmentation_seed: int | None = None,
    features: Mapping[str, Any] | None = None,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Train on TRAINING images only; returns the compiled full model and its history.

    images: (n, h, w) uint8 0..255; labels: 0 normal, 1 covid. A stratified, seeded
    `validation_fraction` of these images (whole `groups` when given) is held out for val_loss /
    val_accuracy; the test split never enters here. History: {"loss", "accuracy", "val_loss",
    "val_accuracy"} -> one float per epoch (no val_* when validation_fraction is 0).
    `is_validation`, a boolean mask over `images`, chooses the validation images explicitly
    instead (the pipeline holds out the same real images in every experiment, so synthetic
    images are never validated on).
    `strategy` (a tf.distribute strategy or its name; None: the default one): models and
    optimizers are built under its scope, and config.batch_size is the global batch, which
    Keras' fit splits across the replicas.
    `backbone_seed` (default: seed) initialises a random (weights=None) backbone and
    `augmentation_seed` (default: seed) draws the cached augmented copies, so several seeds can
    share one backbone and one pool of features while `seed` still sets the head, the shuffles
    and which copy each epoch sees.
    `features` (feature-cache path only): precomputed backbone features {"fingerprint": the
    backbone_fingerprint they came from, "train": float32 (draws, n_train, d) in the order of
    the training images, draws as augmentation_draws(config), "validation": float32 (n_val, d)
    or None}, e.g. from models.feature_cache; raises ValueError when they came from another
    backbone or do not fit the images.
    """
    keras.utils.set_random_seed(seed)
    images = as_image_source(images)  # memmaps and LazyRows are read a batch at a time
    labels = np.asarray(labels, np.float32)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if set(np.unique(labels)) != {0.0, 1.0}:
        raise ValueError(f"labels must contain both 0 and 1, got {sorted(set(labels.tolist()))}")
    if is_validation is None:
        is_val = validation_mask(labels, config.validation_fraction, seed, groups)
    else:
        is_val = np.asarray(is_validation, bool)
        if is_val.shape != labels.shape:
            raise ValueError(f"is_validation has shape {is_val.shape}, labels {labels.shape}")
    parameter = "classification.distribution.strategy"
    if isinstance(strategy, str):  # refuse before make_strategy starts a cluster
        refuse_multi_worker_fit(strategy, parameter)
    strategy = resolve_strategy(strategy, parameter)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        refuse_multi_worker_fit("multi_worker", parameter)
    with strategy.scope():  # the models' and optimizers' variables live on the replicas
        if backbone_seed is not None and backbone_seed != seed:
            keras.utils.set_random_seed(backbone_seed)  # a random backbone's initial weights
            model = build_classifier(config, seed)
            keras.utils.set_random_seed(seed)
        else:
            model = build_classifier(config, seed)
        if features is not None:
            if not config.uses_feature_cache:
                raise ValueError("precomputed features need a frozen backbone (feature_cache)")
            if features.get("fingerprint") != backbone_fingerprint(model):
                raise ValueError(
                    "the cached features came from another backbone (weights or initialisation "
                    "differ): recompute them with this configuration and backbone_seed"
                )
        what = f"{config.backbone} classifier"
        logger.info(
            "Training %s on %d images (%d held out for validation), %s, augmentation %s",
            what,
            int((~is_val).sum()),
            int(is_val.sum()),
            "cached features" if config.uses_feature_cache else "end to end",
            config.augmentation or "none",
        )
        _warn_if_batchnorm_lags(int((~is_val).sum()), config)
        callbacks = [EpochLog(config.log_every_epochs, config.epochs, what)]
        if config.uses_feature_cache:
            train, val = _cached_datasets(
                model,
                images=images,
                labels=labels,
                is_val=is_val,
                config=config,
                seed=seed,
                augmentation_seed=seed if augmentation_seed is None else augmentation_seed,
                features=features,
            )
            trainee = _head_model(model.get_layer(HEAD_LAYERS[0]).input.shape[-1], config, seed)
        else:
            train, val = _image_datasets(images, labels, is_val, config, seed)
            trainee = model
        _compile(trainee, config)
        history = trainee.fit(
            train,
            validation_data=val,
            epochs=config.epochs,
            verbose=0,
            shuffle=False,
            callbacks=callbacks,
        )
        if trainee is not model:  # the head trained on cached features goes into the full model
            for name in HEAD_LAYERS:
                model.get_layer(name).set_weights(trainee.get_layer(name).get_weights())
        # trained under mixed_float16 (cxr_gan.models.device): a float32 copy leaves training
        trained = float32_copy(model)
        if trained is not trainee:
            _compile(trained, config)
    return trained, {key: [float(v) for v in values] for key, values in history.history.items()}


def predict(model: keras.Model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """p(covid) per image, (n,) float32, in inference mode (BN moving stats, no dropout)."""
    images = as_image_source(images)
    progress = ProgressLog(len(images), "Classifier predictions", logger, unit="images")
    out = []
    for start in range(0, len(images), batch_size):
        batch = as_image_batch(images[start : start + batch_size])
        out.append(_infer(model, batch, batch_size)[:, 0])
        progress.update(len(batch))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def predict_from_features(
    model: keras.Model, features: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """p(covid) per image from cached backbone features: the classifier's head alone, in
    inference mode. features: float32 (n, d) from this model's backbone (feature_extractor);
    returns (n,) float32 in [0, 1], equal to predict(model, images) up to float rounding."""
    features = np.asarray(features, np.float32)
    if features.ndim != 2:
        raise ValueError(f"expected features (n, d), got shape {features.shape}")
    head = _head_model(features.shape[-1], _head_config(model), 0)
    for name in HEAD_LAYERS:
        head.get_layer(name).set_weights(model.get_layer(name).get_weights())
    out = [
        _infer(head, features[start : start + batch_size], batch_size)[:, 0]
        for start in range(0, len(features), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _head_config(model: keras.Model) -> ClassifierConfig:
    """Enough of a config to rebuild the model's head (units, dropout, BN momentum)."""
    return ClassifierConfig(
        backbone="small_cnn",
        weights=None,
        dense_units=model.get_layer(HEAD_LAYERS[1]).units,
        dropout=model.get_layer(HEAD_LAYERS[3]).rate,
        batchnorm_momentum=model.get_layer(HEAD_LAYERS[0]).momentum,
    )
