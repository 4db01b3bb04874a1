"""GAN checkpoints for real (the 16 px DCGAN, two epochs): the final state waits for the caller,
a damaged one (truncated, altered, NaN weights) stops with one line naming it, a non-finite
loss stops training before its checkpoint, and `.partial` leftovers are removed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import cxr_gan.models.gan_trainer as trainer
from cxr_gan.data.phantom import draw_phantom
from cxr_gan.models import gan_checkpoints
from cxr_gan.models.gan_checkpoints import STATE_FILE, DamagedCheckpointError
from cxr_gan.models.gan_config import GanConfig
from cxr_gan.models.gan_monitor import NonFiniteLossError

TINY = {"gan_image_size": 16, "base_filters": 8, "batch_size": 8, "epochs": 2}
SETTINGS = {"sample_every": 1, "checkpoint_every": 1}


@pytest.fixture(scope="module")
def phantoms():
    images = np.stack([draw_phantom(label, i, 3, 32) for label in (0, 1) for i in range(8)])
    return images, np.repeat([0, 1], 8)


@pytest.fixture(scope="module")
def finished(phantoms, tmp_path_factory) -> Path:
    """A checkpoint folder after a whole two-epoch run: its final state left for the caller."""
    root = tmp_path_factory.mktemp("checkpoints")
    run = trainer.train_gan(*phantoms, GanConfig(**TINY), root, **SETTINGS)
    assert run.checkpoint_dir is not None and run.checkpoint_dir.parent == root
    return run.checkpoint_dir


def _copy(folder: Path, tmp_path: Path) -> Path:
    """The finished run's checkpoint folder under a fresh root, keyed as the run keys it."""
    import shutil

    target = tmp_path / "root" / folder.name
    shutil.copytree(folder, target)
    return target


def _epoch(state_path: Path) -> int:
    with np.load(state_path, allow_pickle=False) as state:
        return json.loads(str(state["progress"]))["epoch"]


def test_the_final_state_waits_for_the_caller_and_a_rerun_trains_no_epoch(
    finished, phantoms, tmp_path, caplog
):
    folder = _copy(finished, tmp_path)
    assert _epoch(folder / STATE_FILE) == 2  # the last epoch's state is still there
    with caplog.at_level("INFO", logger="cxr_gan.models"):
        again = trainer.train_gan(*phantoms, GanConfig(**TINY), folder.parent, **SETTINGS)
    assert again.resumed_from_epoch == 2 and [r["epoch"] for r in again.history] == [1, 2]
    assert "GAN epoch" not in caplog.text  # nothing was trained again
    gan_checkpoints.discard_checkpoint(folder)
    assert not (folder / STATE_FILE).exists() and sorted((folder / "samples").iterdir())


def test_a_truncated_checkpoint_is_one_line_naming_it(finished, phantoms, tmp_path):
    folder = _copy(finished, tmp_path)
    state_path = folder / STATE_FILE
    state_path.write_bytes(state_path.read_bytes()[: state_path.stat().st_size // 2])
    with pytest.raises(DamagedCheckpointError) as caught:
        trainer.train_gan(*phantoms, GanConfig(**TINY), folder.parent)  # the same run key
    message = caught.value.format_message()
    assert message.startswith(f"checkpoint {state_path} is damaged (BadZipFile")
    assert message.endswith("): delete it to start afresh") and "\n" not in message


def test_a_checkpoint_with_a_nan_weight_is_refused_before_training(finished, phantoms, tmp_path):
    folder = _copy(finished, tmp_path)
    config = GanConfig(**TINY)  # the same settings, so the same run key and folder
    gan = trainer.ConditionalGAN(config)
    gan.compile()
    gan.build_optimizers()
    run = gan_checkpoints.GanRun(gan)
    gan_checkpoints.restore_or_start(run, folder)
    weights = gan.generator.trainable_weights[0]
    weights.assign(np.full(weights.shape, np.nan, np.float32))
    gan_checkpoints.save_checkpoint(run, folder, 2)  # a valid checksum over a NaN weight
    with pytest.raises(DamagedCheckpointError) as caught:
        trainer.train_gan(*phantoms, config, folder.parent)
    message = caught.value.format_message()
    assert message.startswith(f"checkpoint {folder / STATE_FILE} is damaged (array v")
    assert "holds NaN or infinite values): delete it to start afresh" in message
    assert "\n" not in message


def test_a_checkpoint_whose_contents_do_not_match_its_checksum_is_refused(finished, tmp_path):
    folder = _copy(finished, tmp_path)
    state_path = folder / STATE_FILE
    with np.load(state_path, allow_pickle=False) as state:
        arrays = {name: state[name] for name in state.files}
    arrays["v0"] = arrays["v0"] + 1.0  # edited, but the old checksum kept
    np.savez(state_path, **arrays)
    with pytest.raises(DamagedCheckpointError, match="do not match its checksum"):
        list(gan_checkpoints.checked_arrays(state_path))
    del arrays[gan_checkpoints.CHECKSUM]  # a checkpoint without one (not a whole checkpoint)
    np.savez(state_path, **arrays)
    with pytest.raises(DamagedCheckpointError, match="no checksum"):
        list(gan_checkpoints.checked_arrays(state_path))


def test_a_non_finite_loss_stops_training_before_its_checkpoint(phantoms, tmp_path):
    # lecam_weight=inf, built past the parameter check (which refuses it) as before that check
    config = GanConfig.model_construct(**{**GanConfig(**TINY).model_dump(), "lecam_weight": np.inf})
    with pytest.raises(NonFiniteLossError) as caught:
        trainer.train_gan(*phantoms, config, tmp_path, **SETTINGS)
    message = caught.value.format_message()
    assert message.startswith("GAN training stopped at epoch 1: non-finite ")
    assert "d_loss" in message.split("(the weights diverged)")[0]
    assert "gan_training.learning_rate" in message and "lecam_weight" in message
    assert not list(tmp_path.rglob(STATE_FILE))  # no checkpoint of diverged weights


def test_partial_leftovers_of_a_killed_write_are_removed(finished, phantoms, tmp_path):
    folder = _copy(finished, tmp_path)
    leftovers = [
        folder / ".state.npz.abc123.partial",
        folder / "samples/.epoch_00003.png.x.partial",
    ]
    for leftover in leftovers:
        leftover.write_bytes(b"half a file")
    trainer.train_gan(*phantoms, GanConfig(**TINY), folder.parent, **SETTINGS)  # the next start
    assert not any(leftover.exists() for leftover in leftovers)
    leftovers[0].write_bytes(b"half a file")
    gan_checkpoints.discard_checkpoint(folder)  # and once the results are saved
    assert not leftovers[0].exists() and not (folder / STATE_FILE).exists()
