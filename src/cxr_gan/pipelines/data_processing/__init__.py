"""Raw X-ray folder (or phantoms) -> normalised arrays, manifest, split and data-quality report."""

from cxr_gan.pipelines.data_processing.pipeline import create_pipeline

__all__ = ["create_pipeline"]
