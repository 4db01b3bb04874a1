"""Training split -> conditional GAN generator, history, sample grids and figures."""

from cxr_gan.pipelines.gan_training.pipeline import create_pipeline

__all__ = ["create_pipeline"]
