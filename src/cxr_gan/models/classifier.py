"""Training the COVID-19 vs normal classifier under a tf.distribute strategy.

The classifier is split by concern, each module usable alone:

- cxr_gan.models.classifier_config: ClassifierConfig, its settings (no TensorFlow);
- cxr_gan.models.weights: the ResNet50 ImageNet weights (download, offline errors);
- cxr_gan.models.classifier_network: the network, its head, the backbone fingerprint;
- cxr_gan.models.classifier_input: tf.data input, the validation split, backbone features;
- this module: train_classifier;
- cxr_gan.models.classifier_predict: predict, predict_from_features.

Seeding: `train_classifier` calls `keras.utils.set_random_seed(seed)` (Python, numpy and
TensorFlow global seeds; it is the only global state touched) and also passes explicit seeds to
the head's initialisers and dropout, the split, the shuffles and the augmentation, so the same
seed gives the same model on the same machine (CPU thread scheduling can still change the last
bits of float sums between machines).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from cxr_gan.models import classifier_config, classifier_input, classifier_network
from cxr_gan.models.device import float32_copy
from cxr_gan.models.distribution import resolve_strategy
from cxr_gan.models.distribution_params import refuse_multi_worker_fit
from cxr_gan.progress import EpochTimer, RunPosition

logger = logging.getLogger(__name__)


class EpochLog(keras.callbacks.Callback):
    """One log line every `every` epochs and at the last (fit runs with verbose=0): where the
    run is (position's label: experiment i/N, seed j/M), the epoch, its metrics, seconds per
    epoch and an ETA for this run and the runs after it (cxr_gan.progress.EpochTimer)."""

    def __init__(
        self, every: int, epochs: int, what: str, position: RunPosition | None = None
    ) -> None:
        super().__init__()
        self.every, self.epochs, self.what = every, epochs, what
        self.timer = EpochTimer(epochs, position)

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        self.timer.restart()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        done = epoch + 1
        if done % self.every and done != self.epochs:
            return
        values = ", ".join(f"{key} {value:.4f}" for key, value in (logs or {}).items())
        position = self.timer.position
        logger.info(
            "%s%s: epoch %d/%d, %s | %s",
            f"{position.label}: " if position else "",
            self.what,
            done,
            self.epochs,
            values,
            self.timer.line(done),
        )


def _warn_if_batchnorm_lags(n_train: int, config: classifier_config.ClassifierConfig) -> None:
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
    config: classifier_config.ClassifierConfig,
    seed: int = 0,
    groups: np.ndarray | None = None,
    is_validation: np.ndarray | None = None,
    strategy: tf.distribute.Strategy | str | None = None,
    *,
    backbone_seed: int | None = None,
    augmentation_seed: int | None = None,
    features: Mapping[str, Any] | None = None,
    initial_weights: keras.Model | None = None,
    position: RunPosition | None = None,
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
    `initial_weights` (fine-tuning after pre-training): a classifier of the same configuration
    (e.g. this function's result on other images) whose weights, every layer's, this model
    starts from instead of its fresh initialisation; only its trainable layers change (with a
    frozen backbone, the head). The optimizer starts afresh. Raises ValueError when its weights
    do not fit this configuration's model.
    `position`: where this run sits in a longer job (experiment i/N, seed j/M), named in its
    progress lines, whose ETA also counts the runs after it.
    """
    keras.utils.set_random_seed(seed)
    images = classifier_input.as_image_source(
        images
    )  # memmaps and LazyRows are read a batch at a time
    labels = np.asarray(labels, np.float32)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if set(np.unique(labels)) != {0.0, 1.0}:
        raise ValueError(f"labels must contain both 0 and 1, got {sorted(set(labels.tolist()))}")
    if is_validation is None:
        is_val = classifier_input.validation_mask(labels, config.validation_fraction, seed, groups)
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
            model = classifier_network.build_classifier(config, seed)
            keras.utils.set_random_seed(seed)
        else:
            model = classifier_network.build_classifier(config, seed)
        if initial_weights is not None:
            model.set_weights(initial_weights.get_weights())
        if features is not None:
            if not config.uses_feature_cache:
                raise ValueError("precomputed features need a frozen backbone (feature_cache)")
            if features.get("fingerprint") != classifier_network.backbone_fingerprint(model):
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
        callbacks = [EpochLog(config.log_every_epochs, config.epochs, what, position)]
        if config.uses_feature_cache:
            train, val = classifier_input.feature_datasets(
                model,
                images=images,
                labels=labels,
                is_val=is_val,
                config=config,
                seed=seed,
                augmentation_seed=seed if augmentation_seed is None else augmentation_seed,
                features=features,
            )
            trainee = classifier_network.head_model(
                model.get_layer(classifier_network.HEAD_LAYERS[0]).input.shape[-1], config, seed
            )
            if initial_weights is not None:  # the head starts where pre-training left it
                for name in classifier_network.HEAD_LAYERS:
                    trainee.get_layer(name).set_weights(model.get_layer(name).get_weights())
        else:
            train, val = classifier_input.image_datasets(images, labels, is_val, config, seed)
            trainee = model
        classifier_network.compile_classifier(trainee, config)
        history = trainee.fit(
            train,
            validation_data=val,
            epochs=config.epochs,
            verbose=0,
            shuffle=False,
            callbacks=callbacks,
        )
        if trainee is not model:  # the head trained on cached features goes into the full model
            for name in classifier_network.HEAD_LAYERS:
                model.get_layer(name).set_weights(trainee.get_layer(name).get_weights())
        # trained under mixed_float16 (cxr_gan.models.device): a float32 copy leaves training
        trained = float32_copy(model)
        if trained is not trainee:
            classifier_network.compile_classifier(trained, config)
    return trained, {key: [float(v) for v in values] for key, values in history.history.items()}
