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
from cxr_gan.models.distribution import chief_path, is_chief, resolve_strategy
from cxr_gan.models.gan import ConditionalGAN
from cxr_gan.models.gan_config import GanConfig
from cxr_gan.progress import format_seconds

logger = logging.getLogger(__name__)
STATE_FILE = "state.npz"
SAMPLES_FOLDER = "samples"
EPOCH_LOG_SECONDS = 10.0  # at most one GAN epoch line this often (first and last always)


@dataclass
class GanRun:
    gan: ConditionalGAN
    history: list[dict] = field(default_factory=list)  # one dict per epoch
    grids: dict[int, np.ndarray] = field(default_factory=dict)  # epoch -> uint8 sample grid
    resumed_from_epoch: int = 0  # 0: started from scratch
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


def gan_input_pipeline(
    images: np.ndarray, labels: np.ndarray, size: int, batch_size: int, seed: int
) -> tf.data.Dataset:
    """Shuffled (images in [-1, 1] (b, size, size, 1), int32 labels) batches, read by index.

    Only row numbers live in the tf.data graph; each batch gathers its rows from `images` (an
    np.memmap, a LazyRows selection or an array) and converts just those, so memory holds a few
    batches, not the training set. The shuffle of row numbers with `seed` gives the same order as
    shuffling the images themselves did (from_tensor_slices(...).shuffle(n, seed)).
    """
    labels = np.asarray(labels, np.int32)
    count = len(labels)
    if len(images) != count:
        raise ValueError(f"{len(images)} images but {count} labels")

    def gather(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return to_gan_range(np.asarray(images[positions]), size), labels[positions]

    return gathered_batches(
        tf.data.Dataset.range(count).shuffle(count, seed=seed),
        batch_size,
        gather,
        (tf.float32, tf.int32),
        (None, size, size, 1),
    )


def fixed_sample_inputs(config: GanConfig, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The same latents and labels every epoch, so grids are comparable across epochs."""
    rng = np.random.default_rng([config.seed, 2024])
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
    """Train on uint8 images (n, h, w) with integer labels; see the module docstring.

    images may be an np.memmap or a LazyRows selection: batches are read from it as training
    goes (gan_input_pipeline), never the whole set at once."""
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
        latent, sample_labels = fixed_sample_inputs(config, samples_per_class)
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
        started = last_logged = time.perf_counter()
        for epoch in range(run.resumed_from_epoch + 1, config.epochs + 1):
            epoch_start = time.perf_counter()
            # per-epoch seed: a resumed run sees the same batches as an uninterrupted one
            dataset = gan_input_pipeline(
                images, y, config.gan_image_size, config.batch_size, config.seed + epoch
            )
            if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
                dataset = _shard_by_data(dataset)
            logs = gan.fit(dataset, epochs=1, verbose=0, shuffle=False).history
            seconds = time.perf_counter() - epoch_start
            record = {
                "epoch": epoch,
                **{k: float(v[-1]) for k, v in logs.items()},
                "seconds": seconds,
            }
            run.history.append(record)
            done = epoch - run.resumed_from_epoch
            now = time.perf_counter()
            # short epochs would give hundreds of lines: log this process's first and the last
            # epoch, and otherwise at most one line every EPOCH_LOG_SECONDS
            if done == 1 or epoch == config.epochs or now - last_logged >= EPOCH_LOG_SECONDS:
                last_logged = now
                logger.info(
                    "GAN epoch %d/%d: d_loss %.3f g_loss %.3f | D accuracy real %.2f fake %.2f | "
                    "%.1f s/epoch, ETA %s",
                    epoch,
                    config.epochs,
                    record["d_loss"],
                    record["g_loss"],
                    record["d_acc_real"],
                    record["d_acc_fake"],
                    seconds,
                    format_seconds((now - started) / done * (config.epochs - epoch)),
                )
            if epoch % sample_every == 0 or epoch in {1, config.epochs}:
                grid = tile_grid(to_uint8(gan.sample(latent, sample_labels)), config.n_classes)
                run.grids[epoch] = grid
                if checkpoint_dir is not None:
                    _write_png(checkpoint_dir / SAMPLES_FOLDER / f"epoch_{epoch:05d}.png", grid)
            if checkpoint_dir is not None and (
                epoch % checkpoint_every == 0 or epoch == config.epochs
            ):
                _save_checkpoint(run, checkpoint_dir, epoch)
        if checkpoint_dir is not None:
            (checkpoint_dir / STATE_FILE).unlink(missing_ok=True)
        return run


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
