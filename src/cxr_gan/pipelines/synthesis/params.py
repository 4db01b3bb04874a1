"""Parameters of the synthesis pipeline."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SynthesisParams(BaseModel):
    """conf/base/parameters_synthesis.yml, key `synthesis`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_images: int = Field(50, ge=1, description="synthetic images of `label` (the study: 50)")
    label: str = Field("covid", description="class folder name of the images to make")
    per_class_images: int = Field(
        50, ge=1, description="images per class in the balanced set (synthetic_only experiment)"
    )
    output_size: int | None = Field(
        None,
        ge=8,
        le=4096,
        description="PNG side in px; null = the generator's own size (no resampling); an int "
        "resizes every image (cubic up, area down) and the manifest says from what",
    )
    seed: int = 1234
    batch_size: int = Field(64, ge=1)
    feature_extractor: Literal["random_cnn", "inception_v3"] = "random_cnn"
    inception_weights: str | None = Field(None, description="local InceptionV3 notop .h5 file")
    quality_sample_sets: int = Field(
        3, ge=1, description="sets of n_images sampled for KID (50 images alone are noisy)"
    )
    memorization_threshold: float = Field(0.9, gt=0, le=1)
    quality_image_size: int = Field(
        128, ge=16, le=1024, description="side at which SSIM and MS-SSIM compare images"
    )
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
