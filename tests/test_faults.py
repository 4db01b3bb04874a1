"""Faults with real processes: SIGKILL mid-run, a full disk, a read-only folder, two runs at once.

Every run here is a `python -m kedro run` subprocess in a tmp copy of the project, reading real
phantom PNGs from data/01_raw, so what is checked is what a user's shell would see.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError, Version

from cxr_gan.data.phantom import write_phantom_folder
from cxr_gan.datasets import ImageSetDataset, KerasModelDataset
from tests.conftest import copy_project
from tests.kedro_helpers import run_kedro

SMALL = {"data_processing.image_size": 32}
GAN = {
    **SMALL,
    "gan_training.gan_image_size": 16,
    "gan_training.base_filters": 8,
    "gan_training.sample_every": 100,
}
ENV = {
    **os.environ,
    "KEDRO_DISABLE_TELEMETRY": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "COLUMNS": "1000",  # rich would wrap error messages at 80 columns
}


def _copy_project(target: Path) -> Path:
    """copy_project plus 12 phantom PNGs per class as real raw files."""
    copy_project(target)
    write_phantom_folder(target / "data" / "01_raw", count_per_class=12, size=32, seed=3)
    return target


def _in_own_mount_namespace(project: Path, script: str) -> subprocess.CompletedProcess:
    """Run a shell script whose mounts only it sees (unshare -m): the test's tmpfs or read-only
    bind mount never touches the rest of the machine."""
    return subprocess.run(  # noqa: PLW1510 - callers check the exit code
        ["unshare", "-m", "sh", "-c", script],
        cwd=project,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=400,
    )


def _params(values: dict) -> str:
    return ",".join(f"{key}={value}" for key, value in values.items())


def _command(pipeline: str | None, params: dict, *extra: str) -> list[str]:
    command = [sys.executable, "-m", "kedro", "run", "--params", _params(params), *extra]
    return command + (["--pipeline", pipeline] if pipeline else [])


def _run(project: Path, pipeline: str | None, params: dict, *extra: str, prefix=()) -> tuple:
    """Run to the end; (exit code, stdout and stderr together)."""
    done = subprocess.run(  # noqa: PLW1510 - the exit code is checked
        [*prefix, *_command(pipeline, params, *extra)],
        cwd=project,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=400,
    )
    return done.returncode, done.stdout + done.stderr


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _kill_when(
    process: subprocess.Popen, ready, log: Path, timeout: float = 300, poll: float = 0.01
) -> None:
    """SIGKILL `process` as soon as ready() is true (checked every `poll` s); fail if it ends
    first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            pytest.fail(f"run ended (rc {process.returncode}) before the kill:\n{log.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"nothing to kill for after {timeout} s:\n{log.read_text()}")
        time.sleep(poll)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL


def _start(project: Path, pipeline: str, params: dict, *extra: str) -> tuple:
    log = project / "killed_run.log"
    handle = open(log, "w")  # noqa: SIM115 - the child writes into it until killed
    process = subprocess.Popen(
        _command(pipeline, params, *extra),
        cwd=project,
        env=ENV,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    return process, log, handle


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    """One project with real raw PNGs and one data_processing version, copied by each test."""
    project = _copy_project(tmp_path_factory.mktemp("faults") / "project")
    run_kedro(project, params=SMALL, pipeline_names=["data_processing"])
    return project


@pytest.fixture(scope="module")
def trained(processed: Path, tmp_path_factory) -> Path:
    """processed plus a finished one-epoch generator."""
    project = tmp_path_factory.mktemp("trained") / "project"
    shutil.copytree(processed, project)
    run_kedro(project, params={**GAN, "gan_training.epochs": 1}, pipeline_names=["gan_training"])
    return project


def _fresh(source: Path, tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(source, project)
    return project


def _has_unshare_mount() -> bool:
    probe = subprocess.run(  # noqa: PLW1510 - the exit code is checked
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"],
        capture_output=True,
    )
    return shutil.which("unshare") is not None and probe.returncode == 0


needs_mount = pytest.mark.skipif(
    not shutil.which("unshare") or not _has_unshare_mount(),
    reason="needs `unshare -m` and mount (root or CAP_SYS_ADMIN) for a real tiny or read-only "
    "file system",
)


@pytest.mark.slow
def test_gan_training_killed_after_a_checkpoint_resumes(processed, tmp_path):
    project = _fresh(processed, tmp_path)
    params = {**GAN, "gan_training.epochs": 8, "gan_training.checkpoint_every": 2}
    checkpoints = project / "data/06_models/gan_checkpoints"
    process, log, handle = _start(project, "gan_training", params)
    with handle:
        _kill_when(process, lambda: any(checkpoints.glob("*/state.npz")), log)
    (state_path,) = checkpoints.glob("*/state.npz")
    with np.load(state_path, allow_pickle=False) as state:
        killed_after = json.loads(str(state["progress"]))["epoch"]
    assert 2 <= killed_after < 8
    assert not list((project / "data/06_models").glob("generator.keras/*/generator.keras"))

    code, output = _run(project, "gan_training", params)
    assert code == 0, output
    log_text = (project / "info.log").read_text()
    assert f"Resuming GAN training from the checkpoint after epoch {killed_after}" in log_text
    assert f"GAN epoch {killed_after + 1}/8" in log_text.split("Resuming GAN training")[-1]
    history = json.loads(
        next(
            (project / "data/08_reporting").glob("gan_history.json/*/gan_history.json")
        ).read_text()
    )
    assert [row["epoch"] for row in history["epochs"]] == list(range(1, 9))
    generator = KerasModelDataset(
        filepath=str(project / "data/06_models/generator.keras"), version=Version(None, None)
    ).load()  # keras.saving.load_model(..., safe_mode=True)
    assert generator.source_path.endswith("generator.keras")
    assert not list(checkpoints.glob("*/state.npz"))  # a finished run cleans up its state


@pytest.mark.slow
def test_synthesis_killed_while_writing_leaves_no_valid_partial_set(trained, tmp_path):
    project = _fresh(trained, tmp_path)
    sets = project / "data/07_model_output/synthetic_xrays"
    only_set = ("--nodes", "synthesize_xrays")
    code, output = _run(project, "synthesis", {**SMALL, "synthesis.n_images": 5}, *only_set)
    assert code == 0, output
    (first,) = sets.iterdir()
    first_digest = _digest(first)

    def writing() -> bool:
        return any(len(list(p.glob("*.png"))) > 20 for p in sets.glob(".*.partial"))

    big = {**SMALL, "synthesis.n_images": 20000}
    process, log, handle = _start(project, "synthesis", big, *only_set)
    with handle:
        _kill_when(process, writing, log)
    (partial,) = sets.glob(".*.partial")  # the killed run's half-written set is still there
    dataset = ImageSetDataset(filepath=str(sets), version=Version(None, None))
    assert dataset.list_versions(full_path=False) == [first.name]
    assert len(dataset.load()["manifest"]) == 5  # the latest valid set is still the first

    code, output = _run(project, "synthesis", {**SMALL, "synthesis.n_images": 7}, *only_set)
    assert code == 0, output
    versions = sorted(p.parent for p in sets.glob("*/manifest.csv"))
    assert len(versions) == 2 and versions[0] == first
    # besides them only the killed run's leftovers, neither ever loaded: its partial folder and
    # the version folder it had reserved, still empty
    leftovers = set(sets.iterdir()) - set(versions)
    assert partial in leftovers and all(not any(p.iterdir()) for p in leftovers - {partial})
    assert _digest(first) == first_digest
    newest = ImageSetDataset(filepath=str(sets), version=Version(None, None)).load()
    assert newest["folder"] == str(versions[1])
    assert newest["images"].shape == (7, 16, 16)  # at the 16 px GAN's own size
    assert len(list(versions[1].glob("*.png"))) == 7


def test_a_leftover_partial_or_reserved_folder_is_never_loaded(tmp_path):
    root = tmp_path / "sets"
    manifest = "filename\na.png\n"
    good = root / "2026-01-01T00.00.00.000Z"
    dataset = ImageSetDataset(filepath=str(root), version=Version(None, "2026-01-01T00.00.00.000Z"))
    dataset.save(
        {
            "images": np.full((1, 8, 8), 9, np.uint8),
            "manifest": __import__("pandas").DataFrame({"filename": ["a.png"]}),
        }
    )
    # a later-named temp folder, complete-looking, and an empty reserved later version
    (root / ".2099-01-01T00.00.00.000Z.abc.partial").mkdir()
    (root / ".2099-01-01T00.00.00.000Z.abc.partial" / "manifest.csv").write_text(manifest)
    (root / "2098-01-01T00.00.00.000Z").mkdir()
    latest = ImageSetDataset(filepath=str(root), version=Version(None, None))
    assert latest.list_versions(full_path=False) == [good.name]
    assert latest.load()["folder"] == str(good)


def test_two_savers_of_the_same_version_never_overwrite_each_other(tmp_path):
    version = Version(None, "2026-01-01T00.00.00.000Z")
    data = {
        "images": np.full((2, 8, 8), 7, np.uint8),
        "manifest": pd.DataFrame({"filename": ["a.png", "b.png"]}),
    }
    first = ImageSetDataset(filepath=str(tmp_path / "sets"), version=version)
    second = ImageSetDataset(filepath=str(tmp_path / "sets"), version=version)
    first._get_save_path()  # the first run has reserved the version and is still writing
    with pytest.raises(DatasetError, match="another run is saving the same version"):
        second.save({**data, "images": np.full((2, 8, 8), 200, np.uint8)})
    first.save(data)
    loaded = ImageSetDataset(filepath=str(tmp_path / "sets"), version=Version(None, None)).load()
    assert (loaded["images"] == 7).all()


@pytest.mark.slow
def test_two_data_processing_runs_at_once_write_two_complete_versions(processed, tmp_path):
    project = _fresh(processed, tmp_path)
    raw_before = _digest(project / "data/01_raw")
    command = _command("data_processing", SMALL)
    logs = [open(tmp_path / f"run{i}.log", "w") for i in range(2)]  # noqa: SIM115
    runs = [
        subprocess.Popen(command, cwd=project, env=ENV, stdout=log, stderr=subprocess.STDOUT)
        for log in logs
    ]
    codes = [run.wait(timeout=400) for run in runs]
    for log in logs:
        log.close()
    outputs = [(tmp_path / f"run{i}.log").read_text() for i in range(2)]
    tails = "\n".join(
        f"--- run {i} exit {code}, log tail:\n{out[-4000:]}"
        for i, (code, out) in enumerate(zip(codes, outputs, strict=True))
    )
    assert codes == [0, 0] or (
        sorted(codes)[0] == 0 and "another run is saving the same version" in "".join(outputs)
    ), tails
    assert "did not match load version" not in "".join(outputs), tails
    manifests = project / "data/02_intermediate/raw_manifest.csv"
    versions = sorted(p.name for p in manifests.iterdir())
    assert len(versions) == 1 + codes.count(0)
    splits = set()
    for version in versions:
        (arrays,) = (project / "data/05_model_input").glob(f"xray_arrays*/{version}")
        assert len(list(arrays.iterdir())) >= 3  # every array of the version is there
        splits.add(
            (
                project / "data/05_model_input/xray_split.csv" / version / "xray_split.csv"
            ).read_text()
        )
    assert len(splits) == 1  # every concurrent version is complete and the same
    assert _digest(project / "data/01_raw") == raw_before


@pytest.mark.slow
@needs_mount
def test_a_full_disk_gives_a_clear_error_and_no_partial_version(trained, tmp_path):
    project = _fresh(trained, tmp_path)
    sets = project / "data/07_model_output/synthetic_xrays"
    sets.mkdir(parents=True, exist_ok=True)
    inputs_before = _digest(project / "data/05_model_input")
    kedro = " ".join(
        f"'{part}'"
        for part in _command(
            "synthesis", {**SMALL, "synthesis.n_images": 300}, "--nodes", "synthesize_xrays"
        )
    )
    script = (
        f"mount -t tmpfs -o size=64k tmpfs '{sets}' && {kedro}; echo KEDRO_EXIT=$?; "
        f"find '{sets}' -print"
    )
    done = _in_own_mount_namespace(project, script)
    output = done.stdout + done.stderr
    assert "KEDRO_EXIT=0" not in output and "KEDRO_EXIT=" in output, output
    assert (
        "cannot write " in output
        and "data/07_model_output/synthetic_xrays/" in output
        and "No space left on device" in output
    ), output
    assert "conf/local/catalog.yml" in output
    listing = done.stdout.split("KEDRO_EXIT=")[1].splitlines()[1:]  # find's output
    assert listing == [str(sets)], listing  # no file, no partial or empty version folder
    assert _digest(project / "data/05_model_input") == inputs_before


@pytest.mark.slow
@needs_mount
def test_a_read_only_output_folder_gives_a_clear_error(processed, tmp_path):
    project = _fresh(processed, tmp_path)
    target = project / "data/05_model_input"
    before = {name: _digest(project / "data" / name) for name in ("01_raw", "05_model_input")}
    kedro = " ".join(f"'{part}'" for part in _command("data_processing", SMALL))
    script = f"mount --bind '{target}' '{target}' && mount -o remount,ro,bind '{target}' && {kedro}"
    done = _in_own_mount_namespace(project, script)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    # the arrays are built in data_processing.scratch_dir (default: this same folder) first
    assert (
        f"cannot write {target}" in output.replace("\n", "")
        and "Read-only file system" in output
        and "data_processing.scratch_dir" in output
    ), output
    assert "conf/local/parameters.yml" in output
    after = {name: _digest(project / "data" / name) for name in ("01_raw", "05_model_input")}
    assert after == before  # inputs and the earlier version untouched, nothing new


# ---------------------------------------------------------------- the gap after GAN training

FINAL = {**GAN, "gan_training.epochs": 6, "gan_training.checkpoint_every": 3}


def _wait_for_line(process: subprocess.Popen, log: Path, text: str, timeout: float = 300) -> None:
    """Wait until the running process has logged `text`; fail if it ends or times out first."""
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.01)


def _final_state(project: Path) -> Path:
    """The one GAN checkpoint state in the project, asserted to be the last epoch's."""
    (state_path,) = (project / "data/06_models/gan_checkpoints").glob("*/state.npz")
    with np.load(state_path, allow_pickle=False) as state:
        assert json.loads(str(state["progress"]))["epoch"] == 6
    return state_path


def _resumes_from_the_final_state(project: Path) -> None:
    """Run gan_training again: it resumes after epoch 6, trains no epoch, saves every output
    with the whole history, and then deletes the state."""
    log_before = (project / "info.log").read_text() if (project / "info.log").exists() else ""
    code, output = _run(project, "gan_training", FINAL)
    assert code == 0, output
    rerun = (project / "info.log").read_text()[len(log_before) :]
    assert "Resuming GAN training from the checkpoint after epoch 6" in rerun, rerun
    assert "GAN epoch " not in rerun  # not one epoch trained again
    histories = sorted((project / "data/08_reporting").glob("gan_history.json/*/gan_history.json"))
    history = json.loads(histories[-1].read_text())  # the rerun's
    assert history["resumed_from_epoch"] == 6
    assert [row["epoch"] for row in history["epochs"]] == list(range(1, 7))
    assert list((project / "data/08_reporting").glob("gan_sample_grids/*/manifest.csv"))
    KerasModelDataset(
        filepath=str(project / "data/06_models/generator.keras"), version=Version(None, None)
    ).load()
    assert not list((project / "data/06_models/gan_checkpoints").glob("*/state.npz"))
    assert not list((project / "data/06_models/gan_checkpoints").rglob("*.partial"))


@pytest.mark.slow
def test_gan_training_killed_between_its_end_and_the_saves_resumes_from_the_final_state(
    processed, tmp_path
):
    project = _fresh(processed, tmp_path)
    generators = project / "data/06_models/generator.keras"
    process, log, handle = _start(project, "gan_training", FINAL)
    with handle:  # the first save (the generator's) has begun: training is over
        _wait_for_line(process, log, "GAN epoch 6/6")  # the last epoch: look closely now
        _kill_when(
            process, lambda: generators.is_dir() and any(generators.iterdir()), log, poll=0.001
        )
    _final_state(project)  # kept while the saves run (it used to be deleted before them)
    _resumes_from_the_final_state(project)


@pytest.fixture(scope="module")
def failed_save(processed, tmp_path_factory) -> Path:
    """A gan_training run whose last save fails: while it trains, a file is put where the
    gan_sample_grids folder goes (after the run's preflight, as a disk filling up would), so
    the generator and history are saved and the grids are not."""
    project = _fresh(processed, tmp_path_factory.mktemp("failed_save"))
    grids = project / "data/08_reporting/gan_sample_grids"
    process, log, handle = _start(project, "gan_training", FINAL)
    with handle:
        _wait_for_line(process, log, "Training dcgan GAN")
        grids.write_text("a file where the grids' version folders would go")
        assert process.wait(timeout=400) != 0
    grids.unlink()
    return project


@pytest.mark.slow
def test_a_save_that_fails_after_gan_training_then_a_rerun_resumes_from_the_final_state(
    failed_save, tmp_path
):
    project = _fresh(failed_save, tmp_path)
    _final_state(project)  # the failed save left the final state in place
    assert list((project / "data/08_reporting").glob("gan_history.json/*/gan_history.json"))
    _resumes_from_the_final_state(project)


def _one_error_line(output: str) -> str:
    """The run's single `Error: ...` line; the output holds no traceback."""
    assert "Traceback" not in output, output
    (line,) = [line for line in output.splitlines() if line.startswith("Error: ")]
    return line


@pytest.mark.slow
def test_a_truncated_checkpoint_stops_the_rerun_with_one_line(failed_save, tmp_path):
    project = _fresh(failed_save, tmp_path)
    state_path = _final_state(project)
    state_path.write_bytes(state_path.read_bytes()[:1000])  # cut, as by a full disk or a kill
    code, output = _run(project, "gan_training", FINAL)
    assert code == 1
    line = _one_error_line(output)
    assert line.startswith(f"Error: checkpoint {state_path.relative_to(project)} is damaged (")
    assert line.endswith("): delete it to start afresh")


@pytest.mark.slow
def test_a_checkpoint_with_a_nan_weight_stops_the_rerun_with_one_line(failed_save, tmp_path):
    from cxr_gan.models.gan_checkpoints import CHECKSUM, state_checksum

    project = _fresh(failed_save, tmp_path)
    state_path = _final_state(project)
    with np.load(state_path, allow_pickle=False) as state:
        arrays = {name: state[name] for name in state.files}
    arrays["v0"] = np.full_like(arrays["v0"], np.nan)
    arrays[CHECKSUM] = np.array(state_checksum(arrays))  # whole and consistent, but NaN
    np.savez(state_path, **arrays)
    code, output = _run(project, "gan_training", FINAL)
    assert code == 1
    line = _one_error_line(output)
    assert "is damaged (array v0 holds NaN or infinite values): delete it to start afresh" in line
    histories = (project / "data/08_reporting").glob("gan_history.json/*/gan_history.json")
    assert len(list(histories)) == 1  # only the failed run's: the refused rerun saved nothing
