"""Parameters of the synthesis pipeline."""

from __future__ import annotations

from pydantic import Field

from cxr_gan.metrics.gan_quality_settings import GanQualitySettings


class SynthesisParams(GanQualitySettings):
    """conf/base/parameters_synthesis.yml, key `synthesis`: the images to make, and how they are
    judged (GanQualitySettings' keys, with its types, ranges and defaults)."""

    n_images: int = Field(50, ge=2, description="synthetic images of `label` (the study: 50)")
    label: str = Field("covid", description="class folder name of the images to make")
    per_class_images: int = Field(
        50,
        ge=1,
        description="images per class in the balanced set (synthetic_only, synthetic_pretrain)",
    )
    output_size: int | None = Field(
        None,
        ge=8,
        le=4096,
        description="PNG side in px; null = the generator's own size (no resampling); an int "
        "resizes every image (cubic up, area down) and the manifest says from what",
    )
    seed: int = Field(
        1234,
        ge=0,
        le=2**31 - 1,
        description="latent seed; (generator, seed, latent index) identifies an image",
    )
    batch_size: int = Field(64, ge=1)
    quality_sample_sets: int = Field(
        3, ge=1, description="sets of n_images sampled for KID (50 images alone are noisy)"
    )
    quality_image_size: int = Field(
        128, ge=16, le=1024, description="side at which SSIM and MS-SSIM compare images"
    )
