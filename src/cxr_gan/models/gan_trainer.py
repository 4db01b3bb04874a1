"""Train a ConditionalGAN epoch by epoch: progress lines, sample grids, resumable checkpoints.

Resuming: the checkpoint folder's name is a hash of the GAN settings, the training images and this
package's version, so only a run with exactly the same inputs resumes; anything else starts
afresh in its own folder. A checkpoint is one .npz holding every variable (models, optimizers,
random state) and the history so far, written atomically, so a run killed at any moment resumes
from the last complete checkpoint. A finished run deletes its state (it can be GBs for the dense
model) and keeps its sample grids.

Distribution (`strategy`: a tf.distribute strategy or its name, see cxr_gan.models.distribution):
the GAN and its optimizers are built under the strategy's scope and config.batch_size is the
global batch, split across replicas by Keras' fit. On a multi-worker cluster every worker reads
the checkpoint folder (so all resume from the same epoch; put it on a shared filesystem), but
only the chief writes there: the others write their checkpoints and grids to a throwaway folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf

import cxr_gan
from cxr_gan.data.lazy_rows import read_in_chunks
from cxr_gan.data.tf_batches import gathered_batches
from cxr_gan.io_utils import atomic_path
from cxr_gan.metrics.ssim import COMPARISON_SIZE, class_diversity
from cxr_gan.models.distribution import chief_path, is_chief, resolve_strategy
from cxr_gan.models.gan import ConditionalGAN
from cxr_gan.models.gan_config import GanConfig
from cxr_gan.progress import format_seconds

logger = logging.getLogger(__name__)
STATE_FILE = "state.npz"
SAMPLES_FOLDER = "samples"
EPOCH_LOG_SECONDS = 10.0  # at most one GAN epoch line this often (first and last always)
DIVERSITY_SAMPLES = 16  # samples per class for the diversity line every sample_every epochs
DIVERSITY_REAL_IMAGES = 32  # real images per class for the line's reference
COLLAPSE_MARGIN = 0.05  # as synthesis' collapse_margin: above real + this reads "collapsing"


@dataclass
class GanRun:
    gan: ConditionalGAN
    history: list[dict] = field(default_factory=list)  # one dict per epoch
    grids: dict[int, np.ndarray] = field(default_factory=dict)  # epoch -> uint8 sample grid
    resumed_from_epoch: int = 0  # 0: started from scratch
    real_diversity: dict[int, float] = field(default_factory=dict)  # label -> MS-SSIM of real
    checkpoint_dir: Path | None = None


def to_gan_range(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 (n, h, w) -> float32 (n, size, size, 1) in [-1, 1], resized with area averaging."""
    resized = np.stack(
        [
            cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            if image.shape != (size, size)
            else image
            for image in images
        ]
    )
    return (resized.astype(np.float32)[..., None] / 127.5) - 1.0


def to_uint8(images) -> np.ndarray:
    """Generator output in [-1, 1], shape (n, s, s, 1) -> uint8 (n, s, s)."""
    values = np.asarray(images)[..., 0]
    return np.clip(np.round((values + 1.0) * 127.5), 0, 255).astype(np.uint8)


def run_key(config: GanConfig, images: np.ndarray, labels: np.ndarray) -> str:
    """Identity of a training run: settings, exact training data and code version.

    The images are hashed a chunk at a time (same digest as hashing them all at once), so a
    memory-mapped or lazily selected training set is never read into memory whole."""
    digest = hashlib.sha256()
    digest.update(config.model_dump_json().encode())
    for chunk in read_in_chunks(images):
        digest.update(np.ascontiguousarray(chunk).tobytes())
    digest.update(np.ascontiguousarray(labels).tobytes())
    digest.update(cxr_gan.__version__.encode())
    return f"{config.architecture}{config.gan_image_size}-{digest.hexdigest()[:16]}"


def resize_for_gan(images: np.ndarray, size: int, rows_per_chunk: int = 256) -> np.ndarray:
    """uint8 (n, h, w) -> uint8 (n, size, size), area-averaged, read a chunk at a time.

    Done once before training: resizing 446 px originals for every batch of every epoch was
    measured to double the GAN's step time. At 64 px, 200 images take 0.8 MB; 20,000 images at
    128 px take 330 MB (a memory-mapped source is still read a chunk at a time)."""
    out = np.empty((len(images), size, size), np.uint8)
    for start in range(0, len(images), rows_per_chunk):
        chunk = np.asarray(images[start : start + rows_per_chunk])
        out[start : start + len(chunk)] = [
            image
            if image.shape == (size, size)
            else cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            for image in chunk
        ]
    return out


def gan_input_pipeline(
    images: np.ndarray,
    labels: np.ndarray,
    size: int,
    batch_size: int,
    seed: int,
    epochs: range = range(1, 2),
) -> tf.data.Dataset:
    """Batches (images in [-1, 1] (b, size, size, 1) float32, int32 labels) for every epoch in
    `epochs`, each epoch's order a stateless shuffle keyed by (seed, epoch): a run resumed at
    epoch e sees exactly the batches an uninterrupted run saw from e on. An epoch ends with its
    own short batch, so there are ceil(n / batch_size) steps per epoch.

    `images` are uint8 (n, h, w): ideally already at `size` (resize_for_gan), else each batch
    is resized as it is read. Only row numbers live in the tf.data graph (gathered_batches)."""
    labels = np.asarray(labels, np.int32)
    count = len(labels)
    if len(images) != count:
        raise ValueError(f"{len(images)} images but {count} labels")

    def epoch_order(epoch: tf.Tensor) -> tf.data.Dataset:
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    def gather(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return to_gan_range(np.asarray(images[positions]), size), labels[positions]

    batches = tf.data.Dataset.range(epochs.start, epochs.stop).flat_map(epoch_order)
    return gathered_batches(batches, None, gather, (tf.float32, tf.int32), (None, size, size, 1))


def real_class_diversity(
    images: np.ndarray, labels: np.ndarray, n_classes: int, per_class: int = DIVERSITY_REAL_IMAGES
) -> dict[int, float]:
    """label -> class_diversity of up to `per_class` real images of that class, given at the
    GAN's size (uint8 (n, s, s)): the reference the training log compares samples with. Classes
    with fewer than 2 images are left out."""
    return {
        label: class_diversity(images[labels == label][:per_class])
        for label in range(n_classes)
        if int(np.sum(labels == label)) >= 2
    }


def fixed_sample_inputs(
    config: GanConfig, per_class: int, salt: int = 2024
) -> tuple[np.ndarray, np.ndarray]:
    """The same latents and labels every epoch, so grids are comparable across epochs."""
    rng = np.random.default_rng([config.seed, salt])
    labels = np.repeat(np.arange(config.n_classes), per_class).astype(np.int32)
    latent = rng.standard_normal((len(labels), config.latent_dim)).astype(np.float32)
    return latent, labels


def tile_grid(images: np.ndarray, rows: int, gap: int = 2) -> np.ndarray:
    """uint8 (n, s, s) -> one uint8 image with `rows` rows, separated by white lines."""
    count, size = images.shape[0], images.shape[1]
    columns = int(np.ceil(count / rows))
    grid = np.full((rows * (size + gap) - gap, columns * (size + gap) - gap), 255, np.uint8)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[
            row * (size + gap) : row * (size + gap) + size,
            column * (size + gap) : column * (size + gap) + size,
        ] = image
    return grid


def train_gan(
    images: np.ndarray,
    labels: np.ndarray,
    config: GanConfig,
    checkpoint_root: Path | str | None = None,
    sample_every: int = 10,
    checkpoint_every: int = 10,
    samples_per_class: int = 6,
    strategy: tf.distribute.Strategy | str | None = None,
) -> GanRun:
    """Train on uint8 images (n, h, w) with integer labels (n,); see the module docstring.

    The training images are resized to the GAN's size once (resize_for_gan), then one Keras
    `fit` runs every epoch; grids, per-class diversity, progress lines and checkpoints come
    from a callback (GanMonitor). images may be an np.memmap or a LazyRows selection."""
    keras.utils.set_random_seed(config.seed)  # weights and layer seeds: same seed, same run
    y = np.asarray(labels, np.int32)
    strategy = resolve_strategy(strategy, "gan_training.distribution.strategy")
    with strategy.scope():  # variables (models, optimizers, metrics, seeds) live on the replicas
        gan = ConditionalGAN(config)
        gan.compile()
        gan.build_optimizers()
    run = GanRun(gan)
    with contextlib.ExitStack() as cleanup:  # a non-chief worker's temp folder, even on errors
        checkpoint_dir = None
        if checkpoint_root is not None:
            checkpoint_dir = Path(checkpoint_root) / run_key(config, images, y)
            run.checkpoint_dir = checkpoint_dir
            _restore_or_start(run, checkpoint_dir, clean=is_chief(strategy))
            # the chief writes to checkpoint_dir; other workers to a temp folder, removed
            # when training ends or fails
            checkpoint_dir = cleanup.enter_context(chief_path(checkpoint_dir, strategy))
        if strategy.num_replicas_in_sync > 1:
            logger.info(
                "Distributed training (%s): global batch %d split over %d replicas",
                type(strategy).__name__,
                config.batch_size,
                strategy.num_replicas_in_sync,
            )
        steps = int(np.ceil(len(y) / config.batch_size))
        logger.info(
            "Training %s GAN at %d px on %d images (%s), %d epochs of %d steps, batch %d%s",
            config.architecture,
            config.gan_image_size,
            len(y),
            ", ".join(f"label {c}: {int(np.sum(y == c))}" for c in range(config.n_classes)),
            config.epochs,
            steps,
            config.batch_size,
            f"; checkpoints and sample grids in {checkpoint_dir}" if checkpoint_dir else "",
        )
        first_epoch = run.resumed_from_epoch + 1
        if first_epoch > config.epochs:
            return run
        cached = resize_for_gan(images, config.gan_image_size)
        dataset = gan_input_pipeline(
            cached,
            y,
            config.gan_image_size,
            config.batch_size,
            config.seed,
            range(first_epoch, config.epochs + 1),
        )
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            dataset = _shard_by_data(dataset)
        run.real_diversity = real_class_diversity(cached, y, config.n_classes)
        monitor = GanMonitor(
            run,
            checkpoint_dir,
            sample_every,
            checkpoint_every,
            samples_per_class,
            run.real_diversity,
            steps,
        )
        gan.fit(
            dataset,
            epochs=config.epochs,
            initial_epoch=run.resumed_from_epoch,
            steps_per_epoch=steps,
            callbacks=[monitor],
            verbose=0,
            shuffle=False,  # the dataset is shuffled per epoch, reproducibly
        )
        if checkpoint_dir is not None:
            (checkpoint_dir / STATE_FILE).unlink(missing_ok=True)
        return run


class GanMonitor(keras.callbacks.Callback):
    """What a person watching a GAN train needs, once per epoch: a progress line (first, last,
    then at most one every EPOCH_LOG_SECONDS, with an ETA), fixed-latent sample grids and each
    class's diversity every `sample_every` epochs, and checkpoints. Diversity is the synthesis
    report's measure (class_diversity: mean pairwise MS-SSIM at COMPARISON_SIZE px) of
    `DIVERSITY_SAMPLES` samples per class, logged beside the same measure on real training
    images at the GAN's size (`real_diversity`): a value rising above the real one means the
    generator is collapsing, and the line says so while there is still time to stop."""

    def __init__(
        self,
        run: GanRun,
        checkpoint_dir: Path | None,
        sample_every: int,
        checkpoint_every: int,
        samples_per_class: int,
        real_diversity: dict[int, float] | None = None,
        steps_per_epoch: int = 1,
    ) -> None:
        super().__init__()
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
            _save_checkpoint(self.run, self.checkpoint_dir, epoch)

    def _sample(self, epoch: int) -> dict[str, float]:
        """The fixed-latent grid and each class's diversity, as history fields."""
        gan = self.run.gan
        grid = tile_grid(
            to_uint8(gan.sample(self.latent, self.sample_labels)), gan.config.n_classes
        )
        self.run.grids[epoch] = grid
        if self.checkpoint_dir is not None:
            _write_png(self.checkpoint_dir / SAMPLES_FOLDER / f"epoch_{epoch:05d}.png", grid)
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
        return {f"ms_ssim_class_{label}": value for label, value in values.items()}

    def _diversity_text(self, label: int, value: float) -> str:
        real = self.real_diversity.get(label)
        if real is None:
            return f"label {label} {value:.2f}"
        state = " COLLAPSING" if value > real + COLLAPSE_MARGIN else ""
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


def _shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Workers take turns at the (identically seeded, so identically ordered) batches; the
    default policy would first look for input files to split, and warn when there are none."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temp:
        ok, encoded = cv2.imencode(".png", image)
        if not ok:
            raise OSError(f"could not encode {path} as PNG")
        temp.write_bytes(encoded.tobytes())


def _save_checkpoint(run: GanRun, checkpoint_dir: Path, epoch: int) -> None:
    arrays = {f"v{i}": np.asarray(v) for i, v in enumerate(run.gan.state_variables())}
    arrays["progress"] = np.array(json.dumps({"epoch": epoch, "history": run.history}))
    with atomic_path(checkpoint_dir / STATE_FILE) as temp, open(temp, "wb") as handle:
        np.savez(handle, **arrays)
    logger.info("Checkpoint after epoch %d written to %s", epoch, checkpoint_dir / STATE_FILE)


def _restore_or_start(run: GanRun, checkpoint_dir: Path, clean: bool = True) -> None:
    """Restore the last checkpoint, if any; `clean` (the chief) removes a finished run's grids."""
    state_path = checkpoint_dir / STATE_FILE
    if not state_path.exists():
        if clean and checkpoint_dir.exists():  # leftovers of a finished run with the same settings
            shutil.rmtree(checkpoint_dir / SAMPLES_FOLDER, ignore_errors=True)
        return
    variables = run.gan.state_variables()
    with np.load(state_path, allow_pickle=False) as state:
        if len(state.files) != len(variables) + 1:
            raise RuntimeError(
                f"checkpoint {state_path} does not match this model ({len(state.files) - 1} "
                f"variables, expected {len(variables)}); delete it to start afresh"
            )
        for index, variable in enumerate(variables):
            variable.assign(state[f"v{index}"])
        progress = json.loads(str(state["progress"]))
    run.resumed_from_epoch = progress["epoch"]
    run.history = progress["history"]
    for path in sorted((checkpoint_dir / SAMPLES_FOLDER).glob("epoch_*.png")):
        epoch = int(path.stem.split("_")[1])
        if epoch <= run.resumed_from_epoch:
            run.grids[epoch] = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    logger.info(
        "Resuming GAN training from the checkpoint after epoch %d in %s (same parameters and "
        "data as the interrupted run)",
        run.resumed_from_epoch,
        checkpoint_dir,
    )
