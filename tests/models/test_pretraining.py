"""train_classifier's initial_weights: fine-tuning starts where pre-training left every trainable
layer, end to end (small CNN) and from cached features (frozen ResNet50, the head only)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cxr_gan.models.classifier import train_classifier
from tests.models.test_classifier import SMALL_CNN, TINY_RESNET, toy_xrays, validated


def _kernels(model: keras.Model) -> list[np.ndarray]:
    """Every Dense and Conv2D layer's kernel and bias (BatchNorm's moving statistics move even
    when the learning rate is 0, so they are left out)."""
    return [
        weight
        for layer in model.layers
        if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D))
        for weight in layer.get_weights()
    ]


@pytest.mark.parametrize(
    "config",
    [
        validated(SMALL_CNN, epochs=2, validation_fraction=0),  # every layer trains
        TINY_RESNET,  # frozen backbone: the head trains on cached features
    ],
    ids=["small_cnn", "frozen_resnet50"],
)
def test_fine_tuning_starts_from_the_pretrained_weights(config):
    images, labels = toy_xrays(16, seed=0)
    pretrained, _ = train_classifier(images, labels, config, seed=1)
    other_images, other_labels = toy_xrays(16, seed=5)
    still = validated(config, learning_rate=1e-12, epochs=1)  # training can barely move them
    tuned, _ = train_classifier(
        other_images, other_labels, still, seed=2, initial_weights=pretrained
    )
    fresh, _ = train_classifier(other_images, other_labels, still, seed=2)
    for ours, theirs in zip(_kernels(tuned), _kernels(pretrained), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    assert any(
        not np.allclose(ours, theirs, atol=1e-3)
        for ours, theirs in zip(_kernels(fresh), _kernels(pretrained), strict=True)
    )


def test_weights_of_another_architecture_are_refused():
    images, labels = toy_xrays(8, seed=0)
    config = validated(SMALL_CNN, epochs=1, validation_fraction=0)
    other, _ = train_classifier(images, labels, validated(config, dense_units=4), seed=1)
    with pytest.raises(ValueError):
        train_classifier(images, labels, config, seed=1, initial_weights=other)
