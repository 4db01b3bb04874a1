"""Every precondition knowable at the start stops the run before any node runs, one line each."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.uid import JPEGLosslessSV1

from cxr_gan.data.phantom import write_phantom_folder
from cxr_gan.models import weights
from cxr_gan.preflight import PreflightError
from tests.dicom_helpers import header_only
from tests.kedro_helpers import TINY_STUDY, run_kedro, use_tiny_phantoms, write_conf

CLOSED_PORT = "http://127.0.0.1:9/"  # nothing listens: "cannot be reached", online or not


def _files(project: Path) -> set[Path]:
    return {path for path in project.rglob("*") if path.is_file()}


@pytest.fixture
def tiny_project(project_copy: Path, monkeypatch) -> Path:
    use_tiny_phantoms(project_copy, count_per_class=12)
    monkeypatch.setenv("KERAS_HOME", str(project_copy.parent / "empty_keras_home"))
    monkeypatch.setattr(weights, "RESNET50_WEIGHTS_ORIGIN", CLOSED_PORT)
    monkeypatch.setattr(weights, "INCEPTION_V3_NOTOP_URL", CLOSED_PORT + "inception.h5")
    return project_copy


def _refused(project: Path, params: dict, **run_args) -> list[str]:
    """Run the study (or run_args' slice); assert it stopped before writing anything; return
    the problems it listed."""
    before = _files(project)
    with pytest.raises(PreflightError) as caught:
        run_kedro(project, params={**TINY_STUDY, **params}, **run_args)
    assert _files(project) - before <= {project / "info.log"}, "a node ran"
    assert str(caught.value).count("\n  - ") == len(caught.value.problems)  # a line each
    return caught.value.problems


def test_imagenet_weights_offline_stop_the_study_before_the_gan(tiny_project):
    imagenet = {"classification.backbone": "resnet50", "classification.weights": "imagenet"}
    (problem,) = _refused(tiny_project, imagenet)
    assert problem.startswith("classification.weights = 'imagenet': ResNet50's ImageNet")
    assert weights.RESNET50_WEIGHTS_FILE in problem and "weights: null" in problem
    assert "127.0.0.1 cannot be reached" in problem


def test_a_missing_weights_file_and_inception_offline_are_both_listed(tiny_project):
    (weights_line, inception_line) = _refused(
        tiny_project,
        {
            "classification.backbone": "resnet50",
            "classification.weights": "/nowhere/resnet.h5",
            "synthesis.feature_extractor": "inception_v3",
        },
    )
    assert weights_line.startswith("classification.weights = '/nowhere/resnet.h5': no such file")
    assert inception_line.startswith("synthesis.feature_extractor = 'inception_v3': Inception")


def test_cached_weights_pass(tiny_project):
    """The same run with the file in the Keras cache passes the check (it fails later, in
    training, on the fake file: proof that nodes ran)."""
    cached = Path(os.environ["KERAS_HOME"]) / "models" / weights.RESNET50_WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not really weights")
    imagenet = {"classification.backbone": "resnet50", "classification.weights": "imagenet"}
    with pytest.raises(Exception) as caught:  # noqa: PT011 - anything but the preflight
        run_kedro(
            tiny_project, params={**TINY_STUDY, **imagenet}, pipeline_names=["classification"]
        )
    if isinstance(caught.value, PreflightError):  # this fresh project has no saved inputs
        problems = caught.value.problems
        assert all("no saved version yet" in problem for problem in problems), problems


def test_an_external_folder_asked_for_must_exist(tiny_project):
    missing = tiny_project / "data/01_raw_external"
    write_conf(
        tiny_project,
        "local/catalog.yml",
        {
            "raw_xrays": {
                "type": "cxr_gan.datasets.PhantomXrayDataset",
                "count_per_class": 12,
                "image_size": 32,
            },
            "external_xrays": {"type": "cxr_gan.datasets.XrayFolderDataset", "path": str(missing)},
        },
    )
    (problem,) = _refused(tiny_project, {})
    assert problem.startswith(f"external_xrays: the folder {missing} does not exist")


def test_a_raw_folder_without_a_class_folder(tiny_project):
    raw = tiny_project / "data/01_raw"
    write_phantom_folder(raw, count_per_class=12, size=32, seed=1)
    shutil.rmtree(raw / "covid")
    write_conf(
        tiny_project,
        "local/catalog.yml",
        {"raw_xrays": {"type": "cxr_gan.datasets.XrayFolderDataset", "path": str(raw)}},
    )
    (problem,) = _refused(tiny_project, {}, pipeline_names=["data_processing"])
    assert problem.startswith(f"raw_xrays: the folder {raw} has no sub-folder covid")


def test_an_output_folder_that_cannot_be_written(tiny_project):
    reporting = tiny_project / "data/08_reporting"
    shutil.rmtree(reporting)
    reporting.write_text("a file where the reports folder should be")
    problems = _refused(tiny_project, {}, pipeline_names=["data_processing"])
    assert problems == [
        f"contact_sheet: cannot write {reporting}/contact_sheet.png: Not a directory at "
        f"{reporting}",
        f"data_quality_report: cannot write {reporting}/data_quality_report.json: Not a "
        f"directory at {reporting}",
    ]


def test_no_room_for_the_arrays(tiny_project):
    free = shutil.disk_usage(tiny_project).free
    per_class = math.ceil(free / (2 * 4096 * 4096)) + 1  # phantoms are drawn only when read
    use_tiny_phantoms(tiny_project, count_per_class=per_class)
    problems = _refused(
        tiny_project, {"data_processing.image_size": 4096}, pipeline_names=["data_processing"]
    )
    assert len(problems) == 1, problems
    assert problems[0].startswith(
        f"data_processing.image_size = 4096: the arrays of {2 * per_class} images need"
    )
    assert "MB are free there" in problems[0]


def _jpeg_lossless_dicom(path: Path) -> None:
    """A DICOM file whose header says JPEG Lossless (the check reads headers only)."""
    header_only(JPEGLosslessSV1).save_as(path, enforce_file_format=True)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_compressed_dicom_without_the_dicom_extra(project_copy):
    """`kedro run` in a process where pylibjpeg cannot be imported (as without the extra)."""
    raw = project_copy / "data/01_raw"
    write_phantom_folder(raw, count_per_class=12, size=32, seed=1)
    _jpeg_lossless_dicom(raw / "covid" / "scan.dcm")
    before = _files(project_copy)
    blocked = "import sys; sys.modules.update(pylibjpeg=None, libjpeg=None); "
    main = "from kedro.framework.cli import main; main()"
    process = subprocess.run(  # noqa: PLW1510 - the exit code is checked
        [
            sys.executable,
            "-c",
            blocked + main,
            "run",
            "--pipelines",
            "data_processing",
            "--params",
            json.dumps("data_processing.image_size=32")[1:-1],
        ],
        cwd=project_copy,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "1000"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = process.stdout + process.stderr
    assert process.returncode == 1, output
    assert "raw_xrays: 1 DICOM file(s) (e.g. covid/scan.dcm)" in output
    assert "uv sync --extra dicom" in output
    assert _files(project_copy) - before <= {project_copy / "info.log"}


def test_mixed_precision_on_a_cpu_stops_the_study_before_the_gan(tiny_project):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible: mixed precision is allowed here")
    (problem,) = _refused(tiny_project, {"classification.distribution.mixed_precision": True})
    assert problem.startswith("classification.distribution.mixed_precision: true needs a GPU")


def test_a_slice_reading_outputs_never_saved_names_them_and_the_pipeline_to_run(tiny_project):
    problems = _refused(tiny_project, {}, pipeline_names=["classification"])
    named = {problem.split(":", 1)[0] for problem in problems}
    assert "xray_arrays" in named  # made by data_processing, never run in this fresh project
    arrays = next(p for p in problems if p.startswith("xray_arrays:"))
    assert "no saved version yet" in arrays
    assert "`kedro run --pipelines data_processing --params " in arrays  # the run's --params kept


def test_a_checkpoint_dir_that_cannot_be_written_is_named(tiny_project):
    blocker = tiny_project / "not_a_folder"
    blocker.write_text("a file where the checkpoint folder would go")
    (problem,) = _refused(tiny_project, {"gan_training.checkpoint_dir": str(blocker / "ckpt")})
    assert problem.startswith(f"gan_training.checkpoint_dir = '{blocker / 'ckpt'}': cannot write")
    assert "conf/local/parameters.yml" in problem


def test_a_checkpoint_dir_without_room_for_two_checkpoints_is_named(tiny_project):
    huge = {  # a dense GAN whose last hidden layer alone holds 16 * 2**38 weights: TBs a state
        "gan_training.architecture": "dense",
        "gan_training.generator_widths": [16, 16, 16, 2**38],
    }
    (problem,) = _refused(tiny_project, huge)
    assert problem.startswith("gan_training.checkpoint_dir = 'data/06_models/gan_checkpoints': ")
    assert "room for two" in problem and "MB are free at" in problem
    assert "conf/local/parameters.yml" in problem
