"""Train a ConditionalGAN epoch by epoch: progress lines, sample grids, resumable checkpoints.

Resuming: the checkpoint folder's name is a hash of the GAN settings, the training images and this
package's version, so only a run with exactly the same inputs resumes; anything else starts
afresh in its own folder. A checkpoint is one .npz holding every variable (models, optimizers,
random state) and the history so far, written atomically, so a run killed at any moment resumes
from the last complete checkpoint. The final state stays on disk when train_gan returns: its
caller deletes it (gan_checkpoints.discard_checkpoint; it can be GBs for the dense model) once
what training returned is saved, so a kill or a failed save in between resumes from the final
epoch instead of epoch 1 (a Kedro run: cxr_gan.hooks.GanCheckpointHooks). Sample grids stay.

Distribution (`strategy`: a tf.distribute strategy or its name, see cxr_gan.models.distribution):
the GAN and its optimizers are built under the strategy's scope and config.batch_size is the
global batch, split across replicas by Keras' fit. On a multi-worker cluster every worker reads
the checkpoint folder (so all resume from the same epoch; put it on a shared filesystem), but
only the chief writes there: the others write their checkpoints and grids to a throwaway folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf

import cxr_gan
from cxr_gan.data.lazy_rows import read_in_chunks
from cxr_gan.data.tf_batches import gathered_batches
from cxr_gan.metrics.ssim import class_diversity
from cxr_gan.models.distribution import chief_path, is_chief, resolve_strategy
from cxr_gan.models.gan import ConditionalGAN
from cxr_gan.models.gan_checkpoints import GanRun, restore_or_start
from cxr_gan.models.gan_config import GanConfig
from cxr_gan.models.gan_monitor import GanMonitor, keep_latest_diverse

logger = logging.getLogger(__name__)
DIVERSITY_REAL_IMAGES = 32  # real images per class for the line's reference


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


def train_gan(
    images: np.ndarray,
    labels: np.ndarray,
    config: GanConfig,
    checkpoint_root: Path | str | None = None,
    sample_every: int = 10,
    checkpoint_every: int = 10,
    samples_per_class: int = 6,
    strategy: tf.distribute.Strategy | str | None = None,
    keep_generator: str = "latest_diverse",
) -> GanRun:
    """Train on uint8 images (n, h, w) with integer labels (n,); see the module docstring.

    The training images are resized to the GAN's size once (resize_for_gan), then one Keras
    `fit` runs every epoch; grids, per-class diversity, progress lines and checkpoints come
    from a callback (GanMonitor). images may be an np.memmap or a LazyRows selection.

    keep_generator: "latest_diverse" (a generator whose last diversity line reads collapsing
    is replaced by the latest sampled epoch's that did not: keep_latest_diverse; run.kept_epoch
    says which) or "last". With checkpoint_root, the final checkpoint is left in
    run.checkpoint_dir for the caller to discard once the results are saved (see the module
    docstring). Raises ValueError for another keep_generator, DamagedCheckpointError for a
    checkpoint that cannot be resumed from, NonFiniteLossError when a loss becomes NaN or
    infinite (training stops before that epoch's checkpoint)."""
    if keep_generator not in ("latest_diverse", "last"):
        raise ValueError(
            f"gan_training.keep_generator={keep_generator!r}: use latest_diverse or last"
        )
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
            restore_or_start(run, checkpoint_dir, clean=is_chief(strategy))
            # the state this process leaves for its caller to discard (the chief's only)
            run.checkpoint_dir = checkpoint_dir if is_chief(strategy) else None
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
        cached = resize_for_gan(images, config.gan_image_size)
        run.real_diversity = real_class_diversity(cached, y, config.n_classes)
        if first_epoch <= config.epochs:  # else: resumed from the final epoch's checkpoint
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
            monitor = GanMonitor(
                run,
                checkpoint_dir,
                sample_every,
                checkpoint_every,
                samples_per_class,
                run.real_diversity,
                steps,
                keep_diverse=keep_generator == "latest_diverse",
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
        if keep_generator == "latest_diverse":
            keep_latest_diverse(run)
        else:
            run.kept_epoch = run.kept_weights = None  # e.g. left in a resumed checkpoint
        return run


def _shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Workers take turns at the (identically seeded, so identically ordered) batches; the
    default policy would first look for input files to split, and warn when there are none."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
