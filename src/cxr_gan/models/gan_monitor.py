"""What a person watching a GAN train sees: progress lines with an ETA, fixed-latent sample grids,
each class's diversity beside the real images', and checkpoints, from one Keras callback."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path

import click
import keras
import numpy as np

from cxr_gan.data.thumbnails import tile_grid
from cxr_gan.metrics.ssim import COMPARISON_SIZE, class_diversity
from cxr_gan.models import gan_checkpoints
from cxr_gan.models.gan_checkpoints import SAMPLES_FOLDER, GanRun
from cxr_gan.models.gan_config import GanConfig
from cxr_gan.progress import format_seconds

logger = logging.getLogger(__name__)
EPOCH_LOG_SECONDS = 10.0  # at most one GAN epoch line this often (first and last always)
DIVERSITY_SAMPLES = 16  # samples per class for the diversity line every sample_every epochs
COLLAPSE_MARGIN = 0.05  # as synthesis' collapse_margin: above real + this reads "collapsing"


def may_keep(epoch: int, epochs: int) -> bool:
    """Whether keep_generator: latest_diverse may fall back to this epoch's generator: only from
    the second half of the run. Early generators are "diverse" because they are still noise:
    on cxr-dev at 128 px (docs/benchmarks.md, 2026-12-07) a 1,000-epoch run that drifted into
    collapse would otherwise have fallen back to epoch 50's blurred blobs."""
    return 2 * epoch >= epochs


def to_uint8(images) -> np.ndarray:
    """Generator output in [-1, 1], shape (n, s, s, 1) -> uint8 (n, s, s). A non-finite value
    (a diverged generator's NaN) becomes 0, black, where a plain cast would be undefined."""
    values = np.nan_to_num(np.asarray(images)[..., 0], nan=-1.0, posinf=1.0, neginf=-1.0)
    return np.clip(np.round((values + 1.0) * 127.5), 0, 255).astype(np.uint8)


class NonFiniteLossError(click.ClickException, FloatingPointError):
    """A GAN loss became NaN or infinite: the weights have diverged. A ClickException, so
    `kedro run` prints its one line instead of a traceback."""


def refuse_non_finite(logs: Mapping[str, float], epoch: int, checkpoint_dir: Path | None) -> None:
    """Stop training when any value Keras logged for an epoch (d_loss, g_loss, accuracies: the
    epoch's means) is NaN or infinite, before that epoch's grid or checkpoint is written, so the
    last checkpoint on disk (if any) still holds finite weights. epoch: 1-based. Raises
    NonFiniteLossError naming the epoch, the values and the settings to change."""
    bad = {name: float(value) for name, value in logs.items() if not math.isfinite(float(value))}
    if not bad:
        return
    kept = (
        f"; the checkpoints in {checkpoint_dir} hold only earlier, finite epochs"
        if checkpoint_dir is not None
        else ""
    )
    raise NonFiniteLossError(
        f"GAN training stopped at epoch {epoch}: non-finite "
        f"{', '.join(f'{name} {value}' for name, value in bad.items())} (the weights "
        f"diverged){kept}. Lower gan_training.learning_rate (and d_learning_rate) or the "
        "regulariser weights (lecam_weight, r1_gamma, mode_seeking_weight, imle_weight), then "
        "run again"
    )


def fixed_sample_inputs(
    config: GanConfig, per_class: int, salt: int = 2024
) -> tuple[np.ndarray, np.ndarray]:
    """The same latents and labels every epoch, so grids are comparable across epochs."""
    rng = np.random.default_rng([config.seed, salt])
    labels = np.repeat(np.arange(config.n_classes), per_class).astype(np.int32)
    latent = rng.standard_normal((len(labels), config.latent_dim)).astype(np.float32)
    return latent, labels


def is_diverse(values: dict[int, float], real: dict[int, float]) -> bool:
    """Whether every class with a real reference is at most real + COLLAPSE_MARGIN (mean pairwise
    MS-SSIM, lower = more varied): the training line's "not collapsing". False without any
    reference (fewer than 2 real images per class)."""
    judged = [label for label in values if label in real]
    return bool(judged) and all(values[k] <= real[k] + COLLAPSE_MARGIN for k in judged)


def keep_latest_diverse(run: GanRun) -> None:
    """After training: when the last epoch's diversity line reads collapsing, put the weights of
    the latest diverse epoch of the run's second half (GanMonitor with keep_diverse; may_keep)
    back into the moving-average generator, and say so. A few-shot GAN can start varied and
    drift towards one image per class as its discriminator learns the 100-odd training images
    (measured at 128 px on cxr-dev: docs/benchmarks.md); the drifted generator is the worse one
    to synthesise from. Judged on training images only (the line's reference), never the GAN's
    evaluation split. Costs one more copy of the generator's weights in memory and in each
    checkpoint (4 MB for dcgan at 64-128 px, about 0.8 GB for the dense model at 446 px)."""
    last = next((r for r in reversed(run.history) if "ms_ssim_class_0" in r), None)
    if last is None or not run.real_diversity:
        return  # nothing was judged: keep the last generator
    values = {
        int(k.rsplit("_", 1)[1]): v for k, v in last.items() if k.startswith("ms_ssim_class_")
    }
    if is_diverse(values, run.real_diversity):
        return
    shown = ", ".join(
        f"label {k} {v:.2f} (real {run.real_diversity[k]:.2f})"
        for k, v in values.items()
        if k in run.real_diversity
    )
    if run.kept_weights is None:
        logger.warning(
            "GAN: diversity at epoch %d reads collapsing (%s) and no sampled epoch of the second "
            "half of training (from epoch %d) was within real + %.2f; keeping the last "
            "generator. Try a larger mode_seeking_weight, fewer epochs or 64 px "
            "(docs/configuration.md)",
            last["epoch"],
            shown,
            (run.gan.config.epochs + 1) // 2,
            COLLAPSE_MARGIN,
        )
        return
    run.gan.ema_generator.set_weights(run.kept_weights)
    logger.warning(
        "GAN: diversity at epoch %d reads collapsing (%s); keeping the moving-average generator "
        "of epoch %d of %d, the latest within real + %.2f (gan_training.keep_generator: "
        "latest_diverse; 'last' keeps the final one). Fewer epochs would have given the same "
        "generator sooner; a kept epoch early in training means the recipe collapses early",
        last["epoch"],
        shown,
        run.kept_epoch,
        run.gan.config.epochs,
        COLLAPSE_MARGIN,
    )


class GanMonitor(keras.callbacks.Callback):
    """What a person watching a GAN train needs, once per epoch: a progress line (first, last,
    then at most one every EPOCH_LOG_SECONDS, with an ETA), fixed-latent sample grids and each
    class's diversity every `sample_every` epochs, and checkpoints. Diversity is the synthesis
    report's measure (class_diversity: mean pairwise MS-SSIM at COMPARISON_SIZE px) of
    `DIVERSITY_SAMPLES` samples per class, logged beside the same measure on real training
    images at the GAN's size (`real_diversity`): a value rising above the real one means the
    generator is collapsing, and the line says so while there is still time to stop. With
    `keep_diverse`, each sampled epoch of the run's second half (may_keep) whose every class
    passes is_diverse keeps a copy of the moving-average generator's weights in
    run.kept_weights (see keep_latest_diverse)."""

    def __init__(
        self,
        run: GanRun,
        checkpoint_dir: Path | None,
        sample_every: int,
        checkpoint_every: int,
        samples_per_class: int,
        real_diversity: dict[int, float] | None = None,
        steps_per_epoch: int = 1,
        keep_diverse: bool = False,
    ) -> None:
        super().__init__()
        self.keep_diverse = keep_diverse
        self.steps_per_epoch = steps_per_epoch
        self.run, self.checkpoint_dir = run, checkpoint_dir
        self.real_diversity = real_diversity or {}
        self.sample_every, self.checkpoint_every = sample_every, checkpoint_every
        config = run.gan.config
        self.latent, self.sample_labels = fixed_sample_inputs(config, samples_per_class)
        self.diversity_latent, self.diversity_labels = fixed_sample_inputs(
            config, DIVERSITY_SAMPLES, salt=7
        )
        self.started = self.last_logged = self.epoch_started = 0.0
        self.epochs_done = 0

    def on_train_begin(self, logs=None) -> None:
        self.started = self.last_logged = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        config = self.run.gan.config
        epoch += 1  # Keras counts from 0, the history and file names from 1
        refuse_non_finite(logs or {}, epoch, self.checkpoint_dir)
        now = time.perf_counter()
        record = {
            "epoch": epoch,
            **{k: float(v) for k, v in (logs or {}).items()},
            "seconds": now - self.epoch_started,
        }
        self.epochs_done += 1
        if epoch % self.sample_every == 0 or epoch in {1, config.epochs}:
            record.update(self._sample(epoch))
        self.run.history.append(record)
        self._log(record, now)
        if self.checkpoint_dir is not None and (
            epoch % self.checkpoint_every == 0 or epoch == config.epochs
        ):
            gan_checkpoints.save_checkpoint(self.run, self.checkpoint_dir, epoch)

    def _sample(self, epoch: int) -> dict[str, float]:
        """The fixed-latent grid and each class's diversity, as history fields."""
        gan = self.run.gan
        grid = tile_grid(
            to_uint8(gan.sample(self.latent, self.sample_labels)), gan.config.n_classes
        )
        self.run.grids[epoch] = grid
        if self.checkpoint_dir is not None:
            gan_checkpoints.write_png(
                self.checkpoint_dir / SAMPLES_FOLDER / f"epoch_{epoch:05d}.png", grid
            )
        samples = to_uint8(gan.sample(self.diversity_latent, self.diversity_labels))
        values = {
            label: class_diversity(samples[self.diversity_labels == label])
            for label in range(gan.config.n_classes)
        }
        logger.info(
            "GAN diversity at epoch %d (mean pairwise MS-SSIM of %d samples per class at %d px; "
            "lower = more varied): %s",
            epoch,
            DIVERSITY_SAMPLES,
            COMPARISON_SIZE,
            ", ".join(self._diversity_text(label, value) for label, value in values.items()),
        )
        if (
            self.keep_diverse
            and may_keep(epoch, gan.config.epochs)
            and is_diverse(values, self.real_diversity)
        ):
            self.run.kept_epoch = epoch
            self.run.kept_weights = [np.array(w) for w in gan.ema_generator.get_weights()]
        return {f"ms_ssim_class_{label}": value for label, value in values.items()}

    def _diversity_text(self, label: int, value: float) -> str:
        real = self.real_diversity.get(label)
        if real is None:
            return f"label {label} {value:.2f}"
        state = "" if is_diverse({label: value}, self.real_diversity) else " COLLAPSING"
        return f"label {label} {value:.2f} (real {real:.2f}){state}"

    def _log(self, record: dict[str, float], now: float) -> None:
        config = self.run.gan.config
        epoch = record["epoch"]
        if self.epochs_done == 2:  # the first epoch includes tracing: expect from the second
            logger.info(
                "GAN training: about %s for the %d epochs left (%.2f s/step)",
                format_seconds(record["seconds"] * (config.epochs - epoch)),
                config.epochs - epoch,
                record["seconds"] / self.steps_per_epoch,
            )
        # short epochs would give hundreds of lines: log this process's first and the last
        # epoch, and otherwise at most one line every EPOCH_LOG_SECONDS
        if not (
            self.epochs_done == 1
            or epoch == config.epochs
            or now - self.last_logged >= EPOCH_LOG_SECONDS
        ):
            return
        self.last_logged = now
        logger.info(
            "GAN epoch %d/%d: d_loss %.3f g_loss %.3f | D accuracy real %.2f fake %.2f | "
            "%.1f s/epoch, ETA %s",
            epoch,
            config.epochs,
            record["d_loss"],
            record["g_loss"],
            record["d_acc_real"],
            record["d_acc_fake"],
            record["seconds"],
            # the first epoch includes tracing: its pace would overstate the time left
            "after the next epoch"
            if self.epochs_done == 1 and epoch < config.epochs
            else format_seconds((now - self.started) / self.epochs_done * (config.epochs - epoch)),
        )
