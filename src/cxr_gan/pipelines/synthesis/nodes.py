"""Nodes of synthesis: sample the generator into versioned sets and judge them against real data."""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cxr_gan.metrics.gan_quality import gan_quality_report, plot_gan_quality
from cxr_gan.models.synthesis import sample_generator
from cxr_gan.pipelines.data_processing.params import DataProcessingParams
from cxr_gan.pipelines.gan_training.nodes import training_images
from cxr_gan.pipelines.synthesis.params import SynthesisParams

logger = logging.getLogger(__name__)
# Real images the quality metrics compare against, at most: KID uses subsets of <= 1000 anyway,
# and nearest-real SSIM and the float copies grow with this number (a 30,000-image folder would
# need GBs and hours); above it a seeded sample of the class's training images is used.
QUALITY_MAX_REAL_IMAGES = 2000


def _label_of(folder: str, classes: dict[str, int]) -> int:
    if folder not in classes:
        raise ValueError(
            f"synthesis.label={folder!r} is not a class; choose one of {sorted(classes)} "
            "(data_processing.classes)"
        )
    return classes[folder]


def _image_set(
    generator: keras.Model,
    folders: list[str],
    count: int,
    params: SynthesisParams,
    data_params: DataProcessingParams,
) -> dict[str, Any]:
    output_size = params.output_size or data_params.image_size
    images, rows = [], []
    for offset, folder in enumerate(folders):
        seed = params.seed + offset
        label = _label_of(folder, data_params.classes)
        batch, indices = sample_generator(
            generator, label, count, seed, output_size, params.batch_size
        )
        images.append(batch)
        rows += [
            {
                "filename": f"{folder}_{index:04d}.png",
                "class_folder": folder,
                "label": label,
                "seed": seed,
                "latent_index": int(index),
                "generator": getattr(generator, "source_path", "in-memory"),
                "size": output_size,
            }
            for index in indices
        ]
    return {"images": np.concatenate(images), "manifest": pd.DataFrame(rows)}


def synthesize_xrays(
    generator: keras.Model, params: SynthesisParams, data_params: DataProcessingParams
) -> dict[str, Any]:
    """The study's set: n_images of one class (default 50 COVID-19), as one versioned set."""
    image_set = _image_set(generator, [params.label], params.n_images, params, data_params)
    logger.info(
        "Sampled %d synthetic '%s' X-rays at %d px from %s",
        params.n_images,
        params.label,
        image_set["images"].shape[1],
        image_set["manifest"]["generator"].iloc[0],
    )
    return image_set


def synthesize_balanced_xrays(
    generator: keras.Model, params: SynthesisParams, data_params: DataProcessingParams
) -> dict[str, Any]:
    """per_class_images of every class, for training on synthetic images alone."""
    return _image_set(
        generator, list(data_params.classes), params.per_class_images, params, data_params
    )


def assess_synthetic_quality(
    generator: keras.Model,
    synthetic_xrays: dict[str, Any],
    xray_arrays: dict[str, np.ndarray],
    xray_split: pd.DataFrame,
    params: SynthesisParams,
    data_params: DataProcessingParams,
) -> tuple[dict[str, Any], Figure]:
    """KID/FID, diversity and memorization against the real TRAINING images of the same class.

    Extra sample sets (new seeds, same generator) give KID's spread between draws.
    """
    label = _label_of(params.label, data_params.classes)
    images, labels = training_images(xray_arrays, xray_split)  # lazy rows: nothing read yet
    rows = np.flatnonzero(labels == label)
    available = len(rows)
    if available > QUALITY_MAX_REAL_IMAGES:
        rng = np.random.default_rng(params.seed)
        rows = np.sort(rng.choice(rows, QUALITY_MAX_REAL_IMAGES, replace=False))
        logger.info(
            "GAN quality compares with a seeded sample of %d of the %d real training images "
            "of class '%s'",
            len(rows),
            available,
            params.label,
        )
    real = np.asarray(images[rows])  # uint8, at most QUALITY_MAX_REAL_IMAGES rows
    sets = [synthetic_xrays["images"]]
    for extra in range(1, params.quality_sample_sets):
        batch, _ = sample_generator(
            generator,
            label,
            params.n_images,
            params.seed + 1000 * extra,
            real.shape[1],
            params.batch_size,
        )
        sets.append(batch)
    report = gan_quality_report(
        sets,
        real,
        params.feature_extractor,
        seed=params.seed,
        inception_weights=params.inception_weights,
        memorization_threshold=params.memorization_threshold,
        ssim_size=(side := min(params.quality_image_size, real.shape[1]), side),
    )
    report["compared_with"] = f"{len(real)} real training images of class '{params.label}'" + (
        f" (a seeded sample of {available})" if available > len(real) else ""
    )
    report["generator"] = getattr(generator, "source_path", "in-memory")
    memorized = report["memorization"]["count_above"]
    logger.info(
        "Synthetic '%s' quality (%s features): KID x1000 %s; %s memorized copies (SSIM > %.2f)",
        params.label,
        params.feature_extractor,
        f"{report['kid_x1000_mean']:.1f} +- {report['kid_x1000_std']:.1f}",
        memorized,
        params.memorization_threshold,
    )
    return report, plot_gan_quality(report, sets, real)
