"""ClassifierConfig: everything that defines one classifier run, without TensorFlow.

One pydantic model serves the model code (cxr_gan.models.classifier) and the classification
pipeline's parameters (pipelines/classification/params.py extends it with the experiment-level
keys), so every setting has one type, one range and one default. Kedro validates the parameters
while it starts, so this module imports no TensorFlow.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cxr_gan.data.augmentation_presets import AugmentationParams, resolve_augmentation

Backbone = Literal["resnet50", "small_cnn"]
BACKBONES: tuple[str, ...] = Backbone.__args__


class ClassifierConfig(BaseModel):
    """Everything that defines one classifier run; the defaults are the study's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    backbone: Backbone = Field("resnet50", description="resnet50 | small_cnn")
    weights: str | None = Field(
        "imagenet", description="imagenet | null (random) | path to a notop .h5 file"
    )
    input_size: int = Field(224, ge=8, le=4096)
    dense_units: int = Field(256, ge=1)
    dropout: float = Field(0.4, ge=0, lt=1)
    batchnorm_momentum: float = Field(
        0.99, ge=0, lt=1, description="Keras' default; lower it for runs of a few steps"
    )
    learning_rate: float = Field(0.001, gt=0, le=10)
    momentum: float = Field(0.0, ge=0, lt=1)
    batch_size: int = Field(25, ge=1)
    epochs: int = Field(100, ge=1)
    fine_tune_layers: int = Field(
        0, ge=0, description="unfreeze the last N ResNet50 layers (end-to-end training)"
    )
    augmentation: Literal["classical", "strong", "none"] | None = "classical"
    augmentation_draws: int = Field(
        5, ge=1, description="augmented copies per training image in the feature cache"
    )
    feature_cache: bool = Field(True, description="frozen ResNet50: train the head on features")
    validation_fraction: float = Field(
        0.1, ge=0, lt=1, description="of the TRAINING images, stratified, seeded"
    )
    feature_batch_size: int = Field(32, ge=1)
    log_every_epochs: int = Field(10, ge=1)
    small_cnn_filters: tuple[int, ...] = Field((16, 32, 64, 128), min_length=1)

    @field_validator("weights", mode="before")
    @classmethod
    def _weights_file_or_keyword(cls, weights: Any) -> Any:
        if isinstance(weights, os.PathLike):
            weights = os.fspath(weights)
        if weights not in ("imagenet", None) and not str(weights).endswith(".h5"):
            raise ValueError(
                f"weights must be 'imagenet', null, or a path to a .h5 / .weights.h5 file, "
                f"not {weights!r}"
            )
        return weights

    @field_validator("augmentation", mode="before")
    @classmethod
    def _known_augmentation(cls, augmentation: Any) -> Any:
        if isinstance(augmentation, str):
            resolve_augmentation(augmentation)  # raises on an unknown preset, naming the presets
        return augmentation

    @model_validator(mode="after")
    def _size_fits_backbone(self) -> ClassifierConfig:
        if self.backbone == "resnet50" and self.input_size < 32:
            raise ValueError(f"ResNet50 needs input_size >= 32, not {self.input_size}")
        return self

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ClassifierConfig:
        """From a parameters mapping (e.g. Kedro YAML); unknown keys are refused, not ignored."""
        known = set(ClassifierConfig.model_fields)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown classifier parameter(s) {unknown}; known: {sorted(known)}")
        return cls.model_validate(dict(values))

    @property
    def augmentation_params(self) -> AugmentationParams | None:
        return resolve_augmentation(self.augmentation)

    @property
    def uses_feature_cache(self) -> bool:
        """Only a completely frozen backbone is a fixed function whose outputs can be cached."""
        return self.backbone == "resnet50" and self.fine_tune_layers == 0 and self.feature_cache
