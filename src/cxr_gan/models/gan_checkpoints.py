"""A GAN run's state on disk: one atomic .npz checkpoint of every variable and the history, and
the sample grids beside it, so a killed run resumes from its last complete checkpoint
(cxr_gan.models.gan_trainer decides where and when).

A checkpoint carries a SHA-256 checksum of its arrays and is read back only when the checksum
matches and every value is finite: a truncated, edited or NaN-weight file stops the run with one
line (DamagedCheckpointError) instead of a zip traceback or a training on NaN. The state is
deleted by discard_checkpoint, which the caller runs only once what the training returned is
saved (in a Kedro run: cxr_gan.hooks.GanCheckpointHooks, after the node's outputs are saved),
so a kill or a failed save after training resumes from the final state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click
import cv2
import numpy as np

from cxr_gan.data.thumbnails import png_bytes
from cxr_gan.io_utils import atomic_path
from cxr_gan.models.gan import ConditionalGAN

logger = logging.getLogger(__name__)
STATE_FILE = "state.npz"
SAMPLES_FOLDER = "samples"
CHECKSUM = "checksum"  # the .npz member holding state_checksum() of the others


class DamagedCheckpointError(click.ClickException, RuntimeError):
    """A checkpoint that cannot be resumed from (truncated, altered, non-finite values). A
    ClickException, so `kedro run` prints its one line instead of a traceback."""


@dataclass
class GanRun:
    gan: ConditionalGAN
    history: list[dict] = field(default_factory=list)  # one dict per epoch
    grids: dict[int, np.ndarray] = field(default_factory=dict)  # epoch -> uint8 sample grid
    resumed_from_epoch: int = 0  # 0: started from scratch
    real_diversity: dict[int, float] = field(default_factory=dict)  # label -> MS-SSIM of real
    # where the final state waits until what training returned is saved (discard_checkpoint)
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


def _digest_update(digest: hashlib._Hash, name: str, value: np.ndarray) -> None:
    value = np.ascontiguousarray(value)
    digest.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
    digest.update(value.tobytes())


def state_checksum(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 (hex) of named arrays: each name, dtype, shape and bytes, in name order. The
    member CHECKSUM itself is left out, so a checkpoint's arrays can be checked against it."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name != CHECKSUM:
            _digest_update(digest, name, arrays[name])
    return digest.hexdigest()


def save_checkpoint(run: GanRun, checkpoint_dir: Path, epoch: int) -> None:
    """Write checkpoint_dir/state.npz atomically: every variable of the GAN (its three models,
    both optimisers, the random-number state, the EMA step count and LeCam averages, in
    state_variables() order) as v0..vN with its own shape and dtype, plus "progress", a JSON
    string of the completed epoch (1-based) and the per-epoch history, and CHECKSUM, the
    state_checksum of all of them. Replacing a whole file at once means a killed run resumes
    from its last complete checkpoint; while it is written, the previous state and the new one
    are both on disk (room for two states). The folder is created. Raises OSError when the file
    cannot be written (OutputWriteError, naming the fix, for a full disk, a read-only folder or
    missing permission). The generator weights kept for keep_generator: latest_diverse
    (run.kept_weights) go in as k0..kN, their epoch in progress."""
    arrays = {f"v{i}": np.asarray(v) for i, v in enumerate(run.gan.state_variables())}
    arrays.update({f"k{i}": weights for i, weights in enumerate(run.kept_weights or [])})
    progress = {"epoch": epoch, "history": run.history, "kept_epoch": run.kept_epoch}
    arrays["progress"] = np.array(json.dumps(progress))
    arrays[CHECKSUM] = np.array(state_checksum(arrays))
    with atomic_path(checkpoint_dir / STATE_FILE) as temp, open(temp, "wb") as handle:
        np.savez(handle, **arrays)
    logger.info("Checkpoint after epoch %d written to %s", epoch, checkpoint_dir / STATE_FILE)


def _damaged(state_path: Path, why: str) -> DamagedCheckpointError:
    return DamagedCheckpointError(
        f"checkpoint {state_path} is damaged ({why}): delete it to start afresh"
    )


# what numpy and zipfile raise for a truncated, cut or foreign file
_READ_ERRORS = (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError)


def checkpoint_members(state_path: Path) -> list[str]:
    """The array names in a checkpoint, sorted. Raises DamagedCheckpointError for a file that
    is truncated or not an .npz, or that lacks a checksum or a progress record."""
    try:
        with np.load(state_path, allow_pickle=False) as state:
            names = sorted(state.files)
    except _READ_ERRORS as error:
        raise _damaged(state_path, f"{type(error).__name__}: {error}") from error
    if CHECKSUM not in names or "progress" not in names:
        raise _damaged(state_path, "no checksum or progress record: not a whole checkpoint")
    return names


def checked_arrays(state_path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(name, array) for every member of a checkpoint but its checksum, in name order, read one
    at a time without pickle (a dense model's state is GBs: it is never all in memory at once).
    Raises DamagedCheckpointError, one line naming the file and the fix, for a file that is
    truncated or not an .npz, an array holding NaN or infinite values (as soon as it is read),
    and, after the last array, for contents that do not match the stored checksum: use what it
    yielded only once it is exhausted."""
    checkpoint_members(state_path)
    digest = hashlib.sha256()
    try:
        with np.load(state_path, allow_pickle=False) as state:
            expected = str(state[CHECKSUM])
            for name in sorted(state.files):
                if name == CHECKSUM:
                    continue
                value = state[name]
                _digest_update(digest, name, value)
                if value.dtype.kind in "fc" and not np.isfinite(value).all():
                    raise _damaged(state_path, f"array {name} holds NaN or infinite values")
                yield name, value
    except _READ_ERRORS as error:
        raise _damaged(state_path, f"{type(error).__name__}: {error}") from error
    if digest.hexdigest() != expected:
        raise _damaged(state_path, "its contents do not match its checksum")


def remove_partials(checkpoint_dir: Path) -> None:
    """Delete the hidden `.*.partial` files a killed checkpoint or grid write left in
    checkpoint_dir and its samples folder (one run trains in a checkpoint folder at a time)."""
    for folder in (checkpoint_dir, checkpoint_dir / SAMPLES_FOLDER):
        for leftover in folder.glob(".*.partial*"):
            leftover.unlink(missing_ok=True)


def discard_checkpoint(checkpoint_dir: Path) -> None:
    """Delete checkpoint_dir's state (it can be GBs for the dense model) and any `.partial`
    leftovers, keeping the sample grids. Call it only once everything the training returned is
    saved: until then a kill or a failed save resumes from this final state. A missing state is
    fine (nothing to do)."""
    state_path = checkpoint_dir / STATE_FILE
    if state_path.exists():
        state_path.unlink()
        logger.info("GAN checkpoint %s deleted: what it trained is saved", state_path)
    if checkpoint_dir.is_dir():
        remove_partials(checkpoint_dir)


def restore_or_start(run: GanRun, checkpoint_dir: Path, clean: bool = True) -> None:
    """Restore the last checkpoint into `run`, if checkpoint_dir holds one; else start afresh.

    Restoring reads it with checked_arrays (finite values and checksum checked), assigns every
    saved variable (save_checkpoint's v0..vN) to the GAN in order, sets run.resumed_from_epoch
    and run.history, and reloads the sample grids (uint8 (h, w) PNGs) of epochs up to that one
    into run.grids. `clean` (the chief worker only) removes `.partial` leftovers of a killed
    write and, without a checkpoint, the sample grids a finished run with the same settings left
    behind. Raises DamagedCheckpointError for a damaged file (checked_arrays), RuntimeError
    when the checkpoint holds a different number of variables than this model (other settings
    or code: delete it to start afresh); a variable of the right count but another shape fails
    in Keras' assign (ValueError)."""
    state_path = checkpoint_dir / STATE_FILE
    if clean and checkpoint_dir.is_dir():
        remove_partials(checkpoint_dir)
    if not state_path.exists():
        if clean and checkpoint_dir.exists():  # leftovers of a finished run with the same settings
            shutil.rmtree(checkpoint_dir / SAMPLES_FOLDER, ignore_errors=True)
        return
    variables = run.gan.state_variables()
    saved = sum(name.startswith("v") for name in checkpoint_members(state_path))
    if saved != len(variables):
        raise RuntimeError(
            f"checkpoint {state_path} does not match this model ({saved} "
            f"variables, expected {len(variables)}); delete it to start afresh"
        )
    kept: dict[int, np.ndarray] = {}
    progress: dict = {}
    for name, value in checked_arrays(state_path):
        if name.startswith("v"):
            variables[int(name[1:])].assign(value)
        elif name.startswith("k"):
            kept[int(name[1:])] = value
        elif name == "progress":
            progress = json.loads(str(value))
    run.kept_weights = [kept[index] for index in sorted(kept)] or None
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
