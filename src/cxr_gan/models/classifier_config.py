"""ClassifierConfig: everything that defines one classifier run, without TensorFlow.

Parameter models (pipelines/classification/params.py) build it while Kedro starts, so this module
imports no TensorFlow; the network, training and prediction are in cxr_gan.models.classifier.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cxr_gan.data.augmentation_presets import AugmentationParams, resolve_augmentation

BACKBONES = ("resnet50", "small_cnn")


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything that defines one classifier run; the defaults are the study's settings."""

    backbone: str = "resnet50"  # resnet50 | small_cnn
    weights: str | None = "imagenet"  # imagenet | None (random) | path to a notop .h5 file
    input_size: int = 224
    dense_units: int = 256
    dropout: float = 0.4
    batchnorm_momentum: float = 0.99  # Keras' default; lower it for runs of a few steps
    learning_rate: float = 0.001
    momentum: float = 0.0
    batch_size: int = 25
    epochs: int = 100
    fine_tune_layers: int = 0  # unfreeze the last N ResNet50 layers (end-to-end training)
    augmentation: str | None = "classical"  # classical | strong | none / None
    augmentation_draws: int = 5  # augmented copies per training image in the feature cache
    feature_cache: bool = True  # frozen ResNet50: train the head on cached features
    validation_fraction: float = 0.1  # of the TRAINING images, stratified, seeded
    feature_batch_size: int = 32
    log_every_epochs: int = 10
    small_cnn_filters: tuple[int, ...] = (16, 32, 64, 128)

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, not {self.backbone!r}")
        if self.backbone == "resnet50" and self.input_size < 32:
            raise ValueError(f"ResNet50 needs input_size >= 32, not {self.input_size}")
        if self.input_size < 8:
            raise ValueError(f"input_size must be at least 8, not {self.input_size}")
        if self.weights not in ("imagenet", None) and not str(self.weights).endswith(".h5"):
            raise ValueError(
                f"weights must be 'imagenet', null, or a path to a .h5 / .weights.h5 file, "
                f"not {self.weights!r}"
            )
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in [0, 1), not {self.validation_fraction}"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")
        for name in ("dense_units", "batch_size", "epochs", "augmentation_draws"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.fine_tune_layers < 0:
            raise ValueError(f"fine_tune_layers must be >= 0, not {self.fine_tune_layers}")
        if self.feature_batch_size < 1 or self.log_every_epochs < 1:
            raise ValueError("feature_batch_size and log_every_epochs must be at least 1")
        if not self.small_cnn_filters:
            raise ValueError("small_cnn_filters needs at least one block")
        resolve_augmentation(self.augmentation)  # raises on an unknown preset

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ClassifierConfig:
        """From a parameters mapping (e.g. Kedro YAML); unknown keys are refused, not ignored."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown classifier parameter(s) {unknown}; known: {sorted(known)}")
        values = dict(values)
        if "small_cnn_filters" in values:
            values["small_cnn_filters"] = tuple(values["small_cnn_filters"])
        return cls(**values)

    @property
    def augmentation_params(self) -> AugmentationParams | None:
        return resolve_augmentation(self.augmentation)

    @property
    def uses_feature_cache(self) -> bool:
        """Only a completely frozen backbone is a fixed function whose outputs can be cached."""
        return self.backbone == "resnet50" and self.fine_tune_layers == 0 and self.feature_cache
