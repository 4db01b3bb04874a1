"""Settings of the conditional GAN, shared by the model code and the gan_training pipeline."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class GanConfig(BaseModel):
    """What defines a trained generator: change any field and training starts afresh."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    architecture: Literal["dcgan", "dense"] = "dcgan"
    gan_image_size: int = Field(64, ge=8, le=1024, description="side the GAN works at, px")
    latent_dim: int = Field(100, ge=1)
    n_classes: int = Field(2, ge=1)
    epochs: int = Field(200, ge=1)
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(0.0002, gt=0, le=1)
    beta_1: float = Field(0.5, ge=0, lt=1)
    seed: int = 42
    diffaugment: bool = True
    diffaugment_policy: tuple[Literal["color", "translation", "cutout"], ...] = (
        "color",
        "translation",
        "cutout",
    )
    ema_decay: float = Field(0.999, ge=0, lt=1, description="0 disables the moving average")
    # dcgan
    base_filters: int = Field(32, ge=4, description="discriminator's first conv width")
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
