"""The GAN-quality report's settings, without TensorFlow: gan_quality_report takes its defaults
from here, and the synthesis pipeline's parameters (pipelines/synthesis/params.py) extend it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GanQualitySettings(BaseModel):
    """How synthetic images are judged; the defaults are the report's."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    feature_extractor: Literal["random_cnn", "inception_v3"] = "random_cnn"
    inception_weights: str | None = Field(None, description="local InceptionV3 notop .h5 file")
    memorization_threshold: float = Field(0.9, gt=0, le=1)
    coverage_k: int = Field(
        5, ge=1, le=50, description="neighbours per real image for coverage/density (Naeem: 5)"
    )
    collapse_margin: float = Field(
        0.05,
        ge=0,
        le=1,
        description="'collapsed' when synthetic MS-SSIM > real (at the GAN's size) + this",
    )
    min_coverage_ratio: float = Field(
        0.6,
        ge=0,
        le=1,
        description="'collapsed (missing modes)' when coverage < this x an equal number of "
        "other real images' coverage",
    )
    auc_folds: int = Field(
        5, ge=2, le=20, description="cross-validation folds of the real-vs-synthetic classifier"
    )
    realism_margin: float = Field(
        0.10,
        ge=0,
        le=0.5,
        description="realistic when the real-vs-synthetic AUC is at most its floor (other real "
        "images at the GAN's resolution) + this, or realism_ceiling if higher",
    )
    realism_ceiling: float = Field(
        0.80, ge=0.5, le=1, description="the AUC limit is never stricter than this"
    )
    realism_slack: float = Field(
        0.05,
        ge=0,
        le=0.5,
        description="realistic also needs the AUC interval's upper end at most limit + this",
    )


DEFAULTS = GanQualitySettings()
