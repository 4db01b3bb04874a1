"""Nodes of gan_training: select the training split, train, and draw the training figures."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cxr_gan.data.gan_split import GAN_EVAL, GAN_TRAIN, gan_evaluation_split, images_with_role
from cxr_gan.models import KerasModel
from cxr_gan.pipelines.gan_training.params import GanTrainingParams
from cxr_gan.reporting.gan_figures import pick_epochs, plot_grids, plot_loss_curves

logger = logging.getLogger(__name__)


def split_gan_evaluation(xray_split: pd.DataFrame, params: GanTrainingParams) -> pd.DataFrame:
    """The GAN's own split of the training images: "train" rows train it, "eval" rows judge it
    (see cxr_gan.data.gan_split)."""
    return gan_evaluation_split(xray_split, params.evaluation_fraction, params.seed)


def train_conditional_gan(
    xray_arrays: dict[str, np.ndarray], gan_split: pd.DataFrame, params: GanTrainingParams
) -> tuple[KerasModel, dict[str, Any], dict[str, Any]]:
    """Train on the GAN's training images; return the (moving-average) generator, history and
    grids. The final checkpoint stays on disk (history["checkpoint"]: its path, None without
    gan_training.checkpoint_dir) until all three are saved: cxr_gan.hooks.GanCheckpointHooks
    deletes it then, so a kill or a failed save in between loses no epoch.

    Logs the device, strategy and precision first (cxr_gan.models.device.start_training);
    raises DistributionConfigError when gan_training.distribution asks for mixed precision and
    TensorFlow sees no GPU, DamagedCheckpointError for a checkpoint that cannot be resumed
    from, NonFiniteLossError when a loss becomes NaN or infinite. The generator returned
    computes in float32 whatever the training precision."""
    from cxr_gan.models.device import (
        float32_copy,
        start_training,
        training_device,
        training_precision,
    )
    from cxr_gan.models.gan_checkpoints import STATE_FILE
    from cxr_gan.models.gan_trainer import train_gan  # TensorFlow: only when training

    strategy = start_training("gan_training", params.distribution, "gan_training.distribution")
    images, labels = images_with_role(xray_arrays, gan_split, GAN_TRAIN)
    config = params.gan_config()
    if config.n_classes <= int(labels.max()):
        raise ValueError(
            f"gan_training.n_classes={config.n_classes} but the data has labels up to "
            f"{int(labels.max())}: set n_classes to the number of class folders"
        )
    with training_precision(params.distribution):
        run = train_gan(
            images,
            labels,
            config,
            checkpoint_root=params.checkpoint_dir,
            sample_every=params.sample_every,
            checkpoint_every=params.checkpoint_every,
            samples_per_class=params.samples_per_class,
            strategy=strategy,
            keep_generator=params.keep_generator,
        )
    history = {
        "settings": config.model_dump(mode="json"),
        "training_images": int(len(images)),
        "evaluation_images": int((gan_split["role"] == GAN_EVAL).sum()),
        "resumed_from_epoch": run.resumed_from_epoch,
        # the diversity lines' reference: real training images at the GAN's size
        "real_ms_ssim_class": {str(k): v for k, v in run.real_diversity.items()},
        # the epoch whose moving-average generator is returned (keep_generator)
        "generator_epoch": run.generator_epoch,
        # the final checkpoint, deleted once these outputs are saved (hooks.GanCheckpointHooks)
        "checkpoint": str(run.checkpoint_dir / STATE_FILE) if run.checkpoint_dir else None,
        "device": training_device(strategy, params.distribution),  # shown in the study report
        "epochs": run.history,
    }
    epochs = sorted(run.grids)
    grids = {
        "images": [run.grids[epoch] for epoch in epochs],
        "manifest": pd.DataFrame(
            {"filename": [f"epoch_{epoch:05d}.png" for epoch in epochs], "epoch": epochs}
        ),
    }
    return float32_copy(run.gan.ema_generator), history, grids


def plot_training_curves(gan_history: dict[str, Any]) -> Figure:
    return plot_loss_curves(gan_history["epochs"])


def plot_grids_over_epochs(
    gan_sample_grids: dict[str, Any], gan_history: dict[str, Any], params: GanTrainingParams
) -> Figure:
    """The fixed-latent grid at a few epochs, like the study's figures of epochs 100 and 200,
    each titled with its per-class diversity beside the real images' (collapse shows as the
    synthetic value climbing above the real one). Rows within a grid are classes (label 0 on
    top)."""
    by_epoch = dict(
        zip(gan_sample_grids["manifest"]["epoch"], gan_sample_grids["images"], strict=True)
    )
    diversity = {
        record["epoch"]: record for record in gan_history["epochs"] if "ms_ssim_class_0" in record
    }
    real = gan_history.get("real_ms_ssim_class", {})
    shown = pick_epochs(list(by_epoch), params.grid_epochs_shown)
    return plot_grids(
        {_grid_title(epoch, diversity.get(epoch), real): by_epoch[epoch] for epoch in shown},
        "Samples from fixed latents over training (each grid: one row per class); diversity = "
        "mean pairwise MS-SSIM of 16 samples per class, lower = more varied",
    )


def _grid_title(epoch: int, record: dict[str, Any] | None, real: dict[str, float]) -> str:
    if record is None:
        return f"epoch {epoch}"
    parts = [
        f"label {key.rsplit('_', 1)[1]} {value:.2f}"
        + (f" (real {real[key.rsplit('_', 1)[1]]:.2f})" if key.rsplit("_", 1)[1] in real else "")
        for key, value in sorted(record.items())
        if key.startswith("ms_ssim_class_")
    ]
    return f"epoch {epoch} | diversity " + ", ".join(parts)


def compare_variant_grids(params: GanTrainingParams, **final_grids: dict[str, Any]) -> Figure:
    """The last sample grid of the main run and of every variant, one above the other."""
    grids = {}
    for name, grid_set in final_grids.items():
        label = name.removesuffix("_grids")
        overrides = params.variants.get(label, {})
        detail = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "base settings"
        epochs = list(grid_set["manifest"]["epoch"])
        grids[f"{label}\n({detail}; epoch {epochs[-1]})"] = grid_set["images"][-1]
    return plot_grids(grids, "GAN variants after training (same latents in every grid)")
