"""Generator -> versioned synthetic X-ray sets and a GAN-quality report."""

from cxr_gan.pipelines.synthesis.pipeline import create_pipeline

__all__ = ["create_pipeline"]
