"""GanConfig.checkpoint_bytes, which preflight sizes gan_training.checkpoint_dir with, against
the real models it describes: the variables gan_networks builds and a real checkpoint's size."""

from __future__ import annotations

import numpy as np
import pytest

import cxr_gan.models.gan_trainer as trainer
from cxr_gan.models import gan_checkpoints
from cxr_gan.models.gan_config import GanConfig

CONFIGS = {
    "dcgan": {"gan_image_size": 16, "base_filters": 8},
    "dcgan_plain": {
        "gan_image_size": 32,
        "base_filters": 8,
        "generator_filters": 12,
        "generator_norm": "none",
        "upsampling": "transpose",
        "spectral_norm": True,
        "minibatch_std": False,
        "discriminator_head": "pool",
        "n_classes": 3,
    },
    "dense": {
        "architecture": "dense",
        "gan_image_size": 12,
        "generator_widths": (16, 24),
        "discriminator_widths": (20, 8),
    },
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_parameter_counts_are_the_built_models(name, tmp_path):
    config = GanConfig(**CONFIGS[name])
    gan = trainer.ConditionalGAN(config)
    gan.compile()
    gan.build_optimizers()
    built = (
        sum(int(np.prod(v.shape)) for v in gan.generator.variables),
        sum(int(np.prod(v.shape)) for v in gan.discriminator.variables),
    )
    assert config.parameter_counts() == built
    run = gan_checkpoints.GanRun(gan, kept_weights=gan.ema_generator.get_weights())
    gan_checkpoints.save_checkpoint(run, tmp_path, 1)
    arrays = sum(np.asarray(v).nbytes for v in [*gan.state_variables(), *run.kept_weights])
    estimate = config.checkpoint_bytes()
    assert arrays <= estimate <= 1.1 * arrays + 1_000_000  # Adam's moments skip BN statistics
    assert (tmp_path / gan_checkpoints.STATE_FILE).stat().st_size <= estimate
