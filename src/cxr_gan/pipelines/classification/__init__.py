"""Classifier experiments on real, real + synthetic, augmented and synthetic-only training sets."""

from cxr_gan.pipelines.classification.pipeline import create_pipeline

__all__ = ["create_pipeline"]
