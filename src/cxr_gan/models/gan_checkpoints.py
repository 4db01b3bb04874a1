"""A GAN run's state on disk: one atomic .npz checkpoint of every variable and the history, and
the sample grids beside it, so a killed run resumes from its last complete checkpoint
(cxr_gan.models.gan_trainer decides where and when)."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from cxr_gan.data.thumbnails import png_bytes
from cxr_gan.io_utils import atomic_path
from cxr_gan.models.gan import ConditionalGAN

logger = logging.getLogger(__name__)
STATE_FILE = "state.npz"
SAMPLES_FOLDER = "samples"


@dataclass
class GanRun:
    gan: ConditionalGAN
    history: list[dict] = field(default_factory=list)  # one dict per epoch
    grids: dict[int, np.ndarray] = field(default_factory=dict)  # epoch -> uint8 sample grid
    resumed_from_epoch: int = 0  # 0: started from scratch
    real_diversity: dict[int, float] = field(default_factory=dict)  # label -> MS-SSIM of real
    checkpoint_dir: Path | None = None
    # the latest sampled epoch whose every class was as varied as real images (within the
    # margin), and the moving-average generator's weights then (keep_generator: latest_diverse)
    kept_epoch: int | None = None
    kept_weights: list[np.ndarray] | None = None

    @property
    def generator_epoch(self) -> int:
        """The epoch whose moving-average generator the run ends with: the kept one, else the
        last (train_gan clears the kept epoch under keep_generator: last)."""
        return self.kept_epoch if self.kept_epoch is not None else self.gan.config.epochs


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an image as a PNG (OpenCV's cv2.imencode), creating the folder; atomically (a
    temporary file renamed into place), so a run killed mid-write leaves no half-written grid.
    image: uint8 (h, w) grayscale 0..255 (the sample grids) or (h, w, 3) BGR; OpenCV converts
    other dtypes to 8 bits with a warning. Raises cv2.error for a shape OpenCV cannot encode
    (e.g. 5 channels), ValueError when encoding returns no data, OSError when the file cannot be
    written
    (OutputWriteError, naming the fix, for a full disk or missing permission)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temp:
        temp.write_bytes(png_bytes(image))


def save_checkpoint(run: GanRun, checkpoint_dir: Path, epoch: int) -> None:
    """Write checkpoint_dir/state.npz atomically: every variable of the GAN (its three models,
    both optimisers, the random-number state, the EMA step count and LeCam averages, in
    state_variables() order) as v0..vN with its own shape and dtype, plus "progress", a JSON
    string of the completed epoch (1-based) and the per-epoch history. Replacing a whole file at
    once means a killed run resumes from its last complete checkpoint; the folder is created.
    Raises OSError when the file cannot be written (OutputWriteError, naming the fix, for a full
    disk, a read-only folder or missing permission). The generator weights kept for
    keep_generator: latest_diverse (run.kept_weights) go in as k0..kN, their epoch in progress."""
    arrays = {f"v{i}": np.asarray(v) for i, v in enumerate(run.gan.state_variables())}
    arrays.update({f"k{i}": weights for i, weights in enumerate(run.kept_weights or [])})
    progress = {"epoch": epoch, "history": run.history, "kept_epoch": run.kept_epoch}
    arrays["progress"] = np.array(json.dumps(progress))
    with atomic_path(checkpoint_dir / STATE_FILE) as temp, open(temp, "wb") as handle:
        np.savez(handle, **arrays)
    logger.info("Checkpoint after epoch %d written to %s", epoch, checkpoint_dir / STATE_FILE)


def restore_or_start(run: GanRun, checkpoint_dir: Path, clean: bool = True) -> None:
    """Restore the last checkpoint into `run`, if checkpoint_dir holds one; else start afresh.

    Restoring assigns every saved variable (save_checkpoint's v0..vN) to the GAN in order, sets
    run.resumed_from_epoch and run.history, and reloads the sample grids (uint8 (h, w) PNGs) of
    epochs up to that one into run.grids. Without a checkpoint, `clean` (the chief worker only)
    removes the sample grids a finished run with the same settings left behind. Raises
    RuntimeError when the checkpoint holds a different number of variables than this model (other
    settings or code: delete it to start afresh); a variable of the right count but another shape
    fails in Keras' assign (ValueError)."""
    state_path = checkpoint_dir / STATE_FILE
    if not state_path.exists():
        if clean and checkpoint_dir.exists():  # leftovers of a finished run with the same settings
            shutil.rmtree(checkpoint_dir / SAMPLES_FOLDER, ignore_errors=True)
        return
    variables = run.gan.state_variables()
    with np.load(state_path, allow_pickle=False) as state:
        saved = sum(name.startswith("v") for name in state.files)
        if saved != len(variables):
            raise RuntimeError(
                f"checkpoint {state_path} does not match this model ({saved} "
                f"variables, expected {len(variables)}); delete it to start afresh"
            )
        for index, variable in enumerate(variables):
            variable.assign(state[f"v{index}"])
        progress = json.loads(str(state["progress"]))
        kept = sorted((n for n in state.files if n.startswith("k")), key=lambda n: int(n[1:]))
        run.kept_weights = [state[name] for name in kept] or None
    run.resumed_from_epoch = progress["epoch"]
    run.history = progress["history"]
    run.kept_epoch = progress.get("kept_epoch")
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
