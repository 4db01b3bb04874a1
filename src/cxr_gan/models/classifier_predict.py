"""Classifier predictions: p(covid) per image, from images or from cached backbone features."""

from __future__ import annotations

import logging

import keras
import numpy as np

from cxr_gan.models.classifier_input import as_image_batch, as_image_source
from cxr_gan.models.classifier_network import HEAD_LAYERS, head_config, head_model, infer_batch
from cxr_gan.progress import ProgressLog

logger = logging.getLogger(__name__)


def predict(model: keras.Model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """p(covid) per image, (n,) float32, in inference mode (BN moving stats, no dropout)."""
    images = as_image_source(images)
    progress = ProgressLog(len(images), "Classifier predictions", logger, unit="images")
    out = []
    for start in range(0, len(images), batch_size):
        batch = as_image_batch(images[start : start + batch_size])
        out.append(infer_batch(model, batch, batch_size)[:, 0])
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
    head = head_model(features.shape[-1], head_config(model), 0)
    for name in HEAD_LAYERS:
        head.get_layer(name).set_weights(model.get_layer(name).get_weights())
    out = [
        infer_batch(head, features[start : start + batch_size], batch_size)[:, 0]
        for start in range(0, len(features), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros(0, np.float32)
