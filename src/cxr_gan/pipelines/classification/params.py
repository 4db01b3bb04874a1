"""Parameters of the classification pipeline: the experiments, and the classifier's settings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from cxr_gan.models.classifier_config import ClassifierConfig
from cxr_gan.models.distribution_params import DistributionParams, refuse_multi_worker_fit

Experiment = Literal[
    "real", "real_plus_synthetic", "classical_augmentation", "synthetic_only", "synthetic_pretrain"
]
EXPERIMENTS: tuple[str, ...] = Experiment.__args__
SHORTCUT_PROBE = "shortcut_probe"  # added to the experiments unless shortcut_probe: false
CLASSIFIER_FIELDS = set(ClassifierConfig.model_fields)


class ClassificationParams(ClassifierConfig):
    """conf/base/parameters_classification.yml, key `classification`.

    Besides the keys below, every field of ClassifierConfig (backbone, weights, input_size,
    epochs, learning_rate, ...) sits directly under `classification`, with ClassifierConfig's
    types, ranges and defaults (this model extends it), so `--params "classification.epochs=20"`
    works; unknown keys are refused.
    """

    experiments: list[Experiment] = Field(default_factory=lambda: list(EXPERIMENTS), min_length=1)
    seeds: list[Annotated[int, Field(ge=0, le=2**31 - 1)]] = Field(
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
    def _distribution_can_fit(self) -> ClassificationParams:
        refuse_multi_worker_fit(self.distribution.strategy, "classification.distribution.strategy")
        return self

    def classifier_config(self, **overrides: Any) -> ClassifierConfig:
        """The classifier's settings alone; validation images are chosen by the pipeline."""
        values = {**self.model_dump(include=CLASSIFIER_FIELDS), **overrides}
        values["validation_fraction"] = 0.0
        return ClassifierConfig.from_dict(values)
