"""Parameters of gan_training: the GAN's settings plus how the run is watched and saved."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from cxr_gan.models.distribution_params import DistributionParams
from cxr_gan.models.gan_config import GanConfig


class GanTrainingParams(GanConfig):
    """conf/base/parameters_gan_training.yml, key `gan_training`."""

    evaluation_fraction: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="share of each class of the training split held out to judge the GAN "
        "(never the classifier's test split); 0 = judge against the training images only",
    )
    sample_every: int = Field(
        50, ge=1, description="epochs between sample grids and the diversity line"
    )
    keep_generator: Literal["latest_diverse", "last"] = Field(
        "latest_diverse",
        description="latest_diverse: if the last diversity line reads collapsing, the "
        "generator of the latest sampled epoch that did not; last: the final generator",
    )
    checkpoint_every: int = Field(50, ge=1, description="epochs between checkpoints")
    checkpoint_dir: str | None = Field(
        "data/06_models/gan_checkpoints", description="null: no checkpoints, no resume"
    )
    samples_per_class: int = Field(6, ge=1, le=32)
    grid_epochs_shown: int = Field(6, ge=1, description="grids in the grid-over-epochs figure")
    distribution: DistributionParams = Field(
        default_factory=DistributionParams, description="tf.distribute strategy (not in run key)"
    )
    variants: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="name -> overrides; one extra namespaced run each"
    )

    def gan_config(self) -> GanConfig:
        return GanConfig(**self.model_dump(include=set(GanConfig.model_fields)))

    def with_overrides(self, overrides: dict[str, Any]) -> GanTrainingParams:
        """This run's settings with a variant's overrides, validated like the originals."""
        return GanTrainingParams.model_validate({**self.model_dump(), **overrides, "variants": {}})
