"""Parameters of the classification pipeline: the experiments, and the classifier's settings."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cxr_gan.models.classifier import ClassifierConfig

Experiment = Literal["real", "real_plus_synthetic", "classical_augmentation", "synthetic_only"]
EXPERIMENTS: tuple[str, ...] = Experiment.__args__
SHORTCUT_PROBE = "shortcut_probe"  # added to the experiments unless shortcut_probe: false
CLASSIFIER_FIELDS = {field.name for field in dataclasses.fields(ClassifierConfig)}


class ClassificationParams(BaseModel):
    """conf/base/parameters_classification.yml, key `classification`.

    Besides the keys below, every field of ClassifierConfig (backbone, weights, input_size,
    epochs, learning_rate, ...) sits directly under `classification`, so
    `--params "classification.epochs=20"` works; unknown keys are refused.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    experiments: list[Experiment] = Field(default_factory=lambda: list(EXPERIMENTS), min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [42], min_length=1)
    n_bootstrap: int = Field(2000, ge=100)
    gradcam_images: int = Field(8, ge=0, le=64)
    validation_fraction: float = Field(
        0.1, ge=0, lt=1, description="of the real training split, the same in every experiment"
    )
    shortcut_probe: bool = Field(True, description="train and test `real` on borders only too")
    mask_fraction: float = Field(0.7, gt=0, lt=1, description="hidden centre, share of each side")
    probe_warning_lower_bound: float = Field(
        0.65, ge=0.5, lt=1, description="warn when the probe's AUC interval lies above this"
    )
    source_column: str | None = Field(
        "source_repo", description="raw-manifest column naming each image's source archive"
    )
    min_source_images: int = Field(10, ge=2, description="smaller source groups are not scored")

    @model_validator(mode="after")
    def _classifier_settings_are_valid(self) -> ClassificationParams:
        extra = dict(self.model_extra or {})
        unknown = sorted(set(extra) - CLASSIFIER_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown classification parameter(s) {unknown}; allowed: "
                f"{sorted(CLASSIFIER_FIELDS | set(type(self).model_fields))}"
            )
        self.classifier_config()  # raises ValueError naming the key and value
        return self

    def classifier_config(self, **overrides: Any) -> ClassifierConfig:
        values = {**(self.model_extra or {}), **overrides}
        values["validation_fraction"] = 0.0  # validation images are chosen by the pipeline
        return ClassifierConfig.from_dict(values)
