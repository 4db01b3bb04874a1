"""Parameters of the classification pipeline: the experiments, and the classifier's settings."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cxr_gan.models.classifier_config import ClassifierConfig
from cxr_gan.models.distribution_params import DistributionParams, refuse_multi_worker_fit

Experiment = Literal["real", "real_plus_synthetic", "classical_augmentation", "synthetic_only"]
EXPERIMENTS: tuple[str, ...] = Experiment.__args__
SHORTCUT_PROBE = "shortcut_probe"  # added to the experiments unless shortcut_probe: false
CLASSIFIER_FIELDS = {field.name for field in dataclasses.fields(ClassifierConfig)}
_DEFAULTS = ClassifierConfig()


def _default(name: str) -> Any:
    return getattr(_DEFAULTS, name)


class ClassifierSettings(BaseModel):
    """ClassifierConfig's fields with types and ranges, so a bad value names its key before any
    work starts (the dataclass alone checks only some ranges, and no types). Defaults come from
    ClassifierConfig; a test keeps the two field lists in step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backbone: Literal["resnet50", "small_cnn"] = _default("backbone")
    weights: str | None = Field(_default("weights"), description="imagenet | null | .h5 path")
    input_size: int = Field(_default("input_size"), ge=8, le=4096)
    dense_units: int = Field(_default("dense_units"), ge=1)
    dropout: float = Field(_default("dropout"), ge=0, lt=1)
    batchnorm_momentum: float = Field(_default("batchnorm_momentum"), ge=0, lt=1)
    learning_rate: float = Field(_default("learning_rate"), gt=0, le=10)
    momentum: float = Field(_default("momentum"), ge=0, lt=1)
    batch_size: int = Field(_default("batch_size"), ge=1)
    epochs: int = Field(_default("epochs"), ge=1)
    fine_tune_layers: int = Field(_default("fine_tune_layers"), ge=0)
    augmentation: Literal["classical", "strong", "none"] | None = _default("augmentation")
    augmentation_draws: int = Field(_default("augmentation_draws"), ge=1)
    feature_cache: bool = _default("feature_cache")
    feature_batch_size: int = Field(_default("feature_batch_size"), ge=1)
    log_every_epochs: int = Field(_default("log_every_epochs"), ge=1)
    small_cnn_filters: tuple[int, ...] = Field(_default("small_cnn_filters"), min_length=1)


class ClassificationParams(ClassifierSettings):
    """conf/base/parameters_classification.yml, key `classification`.

    Besides the keys below, every field of ClassifierConfig (backbone, weights, input_size,
    epochs, learning_rate, ...) sits directly under `classification`, so
    `--params "classification.epochs=20"` works; unknown keys are refused.
    """

    experiments: list[Experiment] = Field(default_factory=lambda: list(EXPERIMENTS), min_length=1)
    seeds: list[int] = Field(
        default_factory=lambda: [42, 43, 44, 45, 46],
        min_length=1,
        description="one model per seed; the first also chooses the validation images, a "
        "random backbone's weights and the cached augmented copies",
    )
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
    match_synthetic_resolution: bool = Field(
        True,
        description="when the GAN works below input_size, real images (training, validation, "
        "test, external) go to the GAN's size and back like the synthetic ones, so blur cannot "
        "mark the synthetic class",
    )
    distribution: DistributionParams = Field(
        default_factory=DistributionParams, description="tf.distribute strategy for training"
    )

    @model_validator(mode="after")
    def _classifier_settings_are_valid(self) -> ClassificationParams:
        self.classifier_config()  # ClassifierConfig's own checks (ResNet50 input_size >= 32)
        refuse_multi_worker_fit(self.distribution.strategy, "classification.distribution.strategy")
        return self

    def classifier_config(self, **overrides: Any) -> ClassifierConfig:
        values = {**self.model_dump(include=CLASSIFIER_FIELDS), **overrides}
        values["validation_fraction"] = 0.0  # validation images are chosen by the pipeline
        return ClassifierConfig.from_dict(values)
