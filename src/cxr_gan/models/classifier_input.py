"""The classifier's input: images as tf.data batches, the validation split, and the feature cache.

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


Images are read batch by batch by row number, so memory-mapped sets and LazyRows selections are
never loaded whole.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cxr_gan.data.augmentation import apply_augmentation, augment_images, sample_augmentation
from cxr_gan.data.augmentation_presets import AugmentationParams, resolve_augmentation
from cxr_gan.data.lazy_rows import select_rows
from cxr_gan.data.split import stratified_group_split
from cxr_gan.data.tf_batches import gathered_batches
from cxr_gan.models.classifier_config import ClassifierConfig
from cxr_gan.models.classifier_network import feature_extractor, infer_batch
from cxr_gan.progress import ProgressLog

logger = logging.getLogger(__name__)


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
            features = infer_batch(extractor, batch, batch_size)
            if out is None:
                out = np.empty((len(draws), n, features.shape[-1]), np.float32)
            out[index, start : start + len(batch)] = features
            progress.update(len(batch), extra=f"(draw {draw})")
    return out


def augmentation_draws(config: ClassifierConfig) -> tuple[int, ...]:
    """The feature cache's draws for a config: (1..augmentation_draws) with augmentation, (0,)
    (the unaugmented image) without."""
    if config.augmentation_params is None:
        return (0,)
    return tuple(range(1, config.augmentation_draws + 1))


def feature_datasets(
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
    """(train, validation) datasets of backbone features for training the head alone (the
    feature cache; see the module docstring for why this equals end-to-end training of a frozen
    backbone).

    images: uint8 grayscale 0..255, (n, h, w) or (n, h, w, 1), an array, memmap or LazyRows;
    labels: (n,) int 0 (normal) / 1 (covid); is_val: (n,) bool, True for validation images.
    features: the cache ({"train": float32 (draws, n_train, d), "validation": float32 (n_val,
    d)}), or None to extract them now with the model's backbone (augmented draws seeded by
    augmentation_seed). Training batches are (float32 (b, d), labels (b,)), reshuffled each
    epoch with `seed`, each image's draw picked afresh per epoch; validation is None when no
    image is in it. Raises ValueError when cached features do not match the draws and image
    counts, or the images are not grayscale (n, h, w[, 1])."""
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


def image_datasets(
    images: np.ndarray,
    labels: np.ndarray,
    is_val: np.ndarray,
    config: ClassifierConfig,
    seed: int,
) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """(train, validation) datasets of images for end-to-end training (no feature cache).

    images: uint8 grayscale 0..255, (n, h, w) or (n, h, w, 1), an array, memmap or LazyRows,
    read a batch at a time by row number (indexed_batches); labels: (n,) int 0 / 1; is_val: (n,)
    bool. Training batches are (float32 (b, h, w, 1) in 0..255, labels (b,)), reshuffled each
    epoch with `seed`, and, when the config has augmentation, transformed afresh per batch and
    epoch (augment_images, seeded from `seed`); validation batches are unaugmented float32, or
    None when no image is in it. Raises nothing itself; a wrongly shaped image set fails when a
    batch is read (ValueError from as_image_batch)."""
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
