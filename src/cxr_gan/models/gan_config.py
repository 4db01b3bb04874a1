"""Settings of the conditional GAN, shared by the model code and the gan_training pipeline."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class GanConfig(BaseModel):
    """What defines a trained generator: change any field and training starts afresh."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    architecture: Literal["dcgan", "dense"] = "dcgan"
    gan_image_size: int = Field(64, ge=8, le=1024, description="side the GAN works at, px")
    latent_dim: int = Field(100, ge=1)
    n_classes: int = Field(2, ge=1)
    epochs: int = Field(800, ge=1)
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(0.0002, gt=0, le=1)
    d_learning_rate: float | None = Field(
        None, gt=0, le=1, description="discriminator's Adam rate; null = learning_rate (TTUR)"
    )
    beta_1: float = Field(0.5, ge=0, lt=1)
    beta_2: float = Field(0.999, ge=0, lt=1)
    seed: int = Field(
        42,
        ge=0,
        le=2**31 - 1,
        description="same seed + parameters + data on one machine = the same generator",
    )
    diffaugment: bool = True
    diffaugment_policy: tuple[Literal["color", "translation", "cutout"], ...] = (
        "color",
        "translation",
        "cutout",
    )
    ema_decay: float = Field(0.999, ge=0, lt=1, description="0 disables the moving average")
    # dcgan
    base_filters: int = Field(32, ge=4, description="discriminator's first conv width")
    generator_filters: int | None = Field(
        None, ge=4, description="generator width (its 4x4 maps have 8x this); null = base_filters"
    )
    generator_norm: Literal["batch", "none"] = Field(
        "batch", description="dcgan generator: BatchNorm after each conv, or none"
    )
    loss: Literal["bce", "hinge"] = Field(
        "bce", description="bce: non-saturating (the study); hinge: Lim & Ye 2017, as in SNGAN"
    )
    spectral_norm: bool = Field(False, description="Miyato et al. 2018, on D's conv/dense")
    minibatch_std: bool = Field(
        True, description="Karras et al. 2018: D sees the batch's spread (penalises collapse)"
    )
    discriminator_head: Literal["pool", "flatten"] = Field(
        "flatten", description="pool: global average; flatten: keep D's 4x4 spatial layout"
    )
    lecam_weight: float = Field(0.0, ge=0, description="LeCam regulariser (Tseng et al. 2021)")
    mode_seeking_weight: float = Field(
        1.0,
        ge=0,
        description="mode-seeking term (Mao et al. 2019): different latents, different images",
    )
    imle_weight: float = Field(
        0.0,
        ge=0,
        description="IMLE term (Li & Malik 2018): each real image pulls its nearest of "
        "imle_samples generated images of its class (coarse L1), so no training image is left "
        "uncovered; 0 = off",
    )
    imle_samples: int = Field(4, ge=1, le=64, description="generated candidates per real image")
    imle_pool: int = Field(4, ge=1, description="IMLE compares images average-pooled by this")
    r1_gamma: float = Field(0.0, ge=0, description="R1 penalty on real images (Mescheder 2018)")
    r1_every: int = Field(16, ge=1, description="lazy R1: penalise every N steps (x N)")
    upsampling: Literal["bilinear", "nearest", "transpose"] = "bilinear"
    label_embedding_dim: int = Field(50, ge=1)
    # dense (the study's)
    generator_widths: tuple[int, ...] = (256, 512, 1024, 1024)
    discriminator_widths: tuple[int, ...] = (1024, 512, 256, 128)
    dropout: float = Field(0.3, ge=0, lt=1)

    @model_validator(mode="after")
    def _size_fits_architecture(self) -> GanConfig:
        size = self.gan_image_size
        if self.architecture == "dcgan" and (size < 16 or size & (size - 1)):
            raise ValueError(
                f"gan_image_size={size} cannot be made by the dcgan architecture: it doubles "
                "4x4 feature maps, so use a power of two from 16 up (64, 128 or 256 are typical), "
                "or architecture: dense for any size"
            )
        return self
