"""Settings of the conditional GAN, shared by the model code and the gan_training pipeline."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class GanConfig(BaseModel):
    """What defines a trained generator: change any field and training starts afresh."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    architecture: Literal["dcgan", "dense"] = "dcgan"
    gan_image_size: int = Field(128, ge=8, le=1024, description="side the GAN works at, px")
    latent_dim: int = Field(100, ge=1)
    n_classes: int = Field(2, ge=1)
    epochs: int = Field(750, ge=1)
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
    # no `color` by default: it randomises exposure of real and fake alike, so D stops judging
    # it, and the synthetic X-rays came out washed out or dark (docs/benchmarks.md, issue 22)
    diffaugment_policy: tuple[Literal["color", "translation", "cutout"], ...] = (
        "translation",
        "cutout",
    )
    ema_decay: float = Field(0.999, ge=0, lt=1, description="0 disables the moving average")
    # dcgan
    base_filters: int = Field(16, ge=4, description="discriminator's first conv width")
    generator_filters: int | None = Field(
        32, ge=4, description="generator width (its 4x4 maps have 8x this); null = base_filters"
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
        3.0,
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

    def parameter_counts(self) -> tuple[int, int]:
        """(generator, discriminator) variable counts, weights and BatchNorm statistics, worked
        out from these settings as gan_networks builds them, without TensorFlow (the run's
        preflight sizes checkpoints with it; tests hold it to the built models)."""
        size, emb = self.gan_image_size, self.label_embedding_dim
        if self.architecture == "dense":
            generator, width = self.n_classes * emb, self.latent_dim + emb
            for units in self.generator_widths:
                generator += width * units + units + 4 * units  # Dense, BatchNorm
                width = units
            generator += width * size * size + size * size
            discriminator, width = self.n_classes * emb, size * size + emb
            for units in self.discriminator_widths:  # Dense, and Dropout's seed state (2)
                discriminator += width * units + units + 2
                width = units
            return generator, discriminator + width + 1
        stages = int(math.log2(size // 4))
        widths = self.generator_filters or self.base_filters
        channels = [max(16, widths * 8 // 2**stage) for stage in range(stages + 1)]
        norm = self.generator_norm == "batch"
        kernel = 16 if self.upsampling == "transpose" else 9
        # the label embedding, then Dense to 4x4 maps (a bias per unit without BatchNorm)
        generator = self.n_classes * emb + (self.latent_dim + emb) * 16 * channels[0]
        generator += 4 * channels[0] if norm else 16 * channels[0]
        for before, after in zip(channels, channels[1:], strict=False):
            generator += kernel * before * after + (4 * after if norm else after)
        generator += 9 * channels[-1] + 1
        spectral = 1 if self.spectral_norm else 0  # SpectralNormalization's u vector
        discriminator, before = 0, 1
        for stage in range(stages):
            after = min(512, self.base_filters * 2**stage)
            discriminator += 16 * before * after + after * (1 + spectral)
            before = after
        if self.minibatch_std:
            discriminator += 9 * (before + 1) * before + before * (1 + spectral)
        features = 16 * before if self.discriminator_head == "flatten" else before
        discriminator += features + 1 + spectral + self.n_classes * features
        return generator, discriminator

    def checkpoint_bytes(self) -> int:
        """About how many bytes one training checkpoint takes (float32): the generator, its
        moving average and the copy kept for keep_generator: latest_diverse, the discriminator,
        and Adam's two moments per weight of both, plus 1 MB for the counters, the file's headers
        and the history (an upper bound within a few percent for any sizeable GAN)."""
        generator, discriminator = self.parameter_counts()
        return 4 * (5 * generator + 3 * discriminator) + 1_000_000

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
