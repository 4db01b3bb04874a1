"""Bad input end to end: a raw folder full of bad and odd files still gives the whole study, every
problem is reported with its reason, and loading never runs code that came with the data."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from kedro.io.core import AbstractDataset, DatasetError, Version
from PIL import Image
from pydicom.dataset import FileDataset

from cxr_gan.data.phantom import write_phantom_folder
from cxr_gan.datasets import KerasModelDataset
from tests.conftest import copy_project
from tests.dicom_helpers import file_meta
from tests.kedro_helpers import TINY_STUDY, run_kedro, write_conf

TINY = {
    **TINY_STUDY,
    "data_processing.max_pixels": 3_000_000,  # the 10000x200 image passes, the 2000^2 one not
    "gan_training.epochs": 1,
}
# pipeline-shaping keys: read from the run's env files when the pipelines are built
SHAPE = {"experiments": ["real", "real_plus_synthetic"], "shortcut_probe": False}
GOOD_PER_CLASS = 14


def _png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _dicom_without_pixels(path: Path) -> None:
    meta = file_meta(sop_class="1.2.840.10008.5.1.4.1.1.88.11")  # a basic text SR
    dataset = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    dataset.PatientName = "Report^Only"
    dataset.Modality = "SR"
    dataset.save_as(path, enforce_file_format=True)


def write_bad_and_odd_files(raw: Path) -> dict[str, str]:
    """Every bad-file kind the ingest knows, plus odd but decodable images.

    Returns {relative path: words its reason must contain} for files that must be left out;
    odd files that are kept are not in it.
    """
    covid, normal = raw / "covid", raw / "normal"
    good = (covid / "phantom_00000.png").read_bytes()
    rng = np.random.default_rng(0)
    files = {
        "covid/empty.png": b"",
        "covid/truncated.png": good[: len(good) // 3],
        "covid/notes.jpg": b"clinical notes, not an image",  # wrong extension, not an image
        "covid/random.png": rng.integers(0, 256, 4000, dtype=np.uint8).tobytes(),
        "covid/.DS_Store": b"\x00\x01",
        "covid/._phantom_00000.png": b"\x00\x05\x16\x07",
        "normal/Thumbs.db": b"\x00",
        "covid/zz_copy.png": good,  # duplicate within the class
        "normal/conflict.png": (covid / "phantom_00001.png").read_bytes(),  # in both classes
        "covid/one_pixel.png": _png_bytes(np.array([[128]], np.uint8)),
        "covid/all_black.png": _png_bytes(np.zeros((64, 64), np.uint8)),
        "normal/all_white.png": _png_bytes(np.full((64, 64), 255, np.uint8)),
        "normal/bomb.png": _png_bytes(np.zeros((2000, 2000), np.uint8)),
        "covid/broken.dcm": b"\0" * 128 + b"DICM" + b"\x02\x00garbage",
        "lateral/side_view.png": good,  # a folder that is not a class
    }
    for relative, data in files.items():
        (raw / relative).parent.mkdir(parents=True, exist_ok=True)
        (raw / relative).write_bytes(data)
    _dicom_without_pixels(normal / "report.dcm")
    # odd but valid: kept, and the very long one is listed as odd
    wide = np.tile(np.linspace(0, 255, 10000, dtype=np.uint8), (200, 1))
    Image.fromarray(wide).save(normal / "wide_10000x200.png")
    tiny_range = (1000 + rng.integers(0, 4, (64, 64))).astype(np.uint16)
    Image.fromarray(tiny_range).save(covid / "tiny_range_16bit.png")
    assert Image.open(covid / "tiny_range_16bit.png").mode.startswith("I")
    Image.open(normal / "phantom_00002.png").save(normal / "really_a_png.jpg", format="PNG")
    return {
        "covid/empty.png": "empty file",
        "covid/truncated.png": "truncated",
        "covid/notes.jpg": "not an image",
        "covid/random.png": "not an image",
        "covid/.DS_Store": "hidden",
        "covid/._phantom_00000.png": "hidden",
        "normal/Thumbs.db": "hidden",
        "covid/zz_copy.png": "exact duplicate of covid/phantom_00000.png",
        "normal/conflict.png": "same content in two classes",
        "covid/phantom_00001.png": "same content in two classes",
        "covid/one_pixel.png": "1x1 px",
        "covid/all_black.png": "blank image",
        "normal/all_white.png": "blank image",
        "normal/bomb.png": "decompression bomb",
        "covid/broken.dcm": "DICOM",
        "normal/report.dcm": "no pixel data",
        "lateral/side_view.png": "not in classes",
    }


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, object, dict[str, str]]:
    """The whole study (all four pipelines, demo env) on a raw folder full of bad files."""
    project = copy_project(tmp_path_factory.mktemp("bad_input") / "project")
    raw = project / "data" / "01_raw"
    write_phantom_folder(raw, count_per_class=GOOD_PER_CLASS, size=48, seed=7)
    expected = write_bad_and_odd_files(raw)
    # the demo env draws phantoms; here it reads the folder instead (tmp copy of conf/demo)
    write_conf(project, "demo/parameters_shape.yml", {"classification": SHAPE})
    write_conf(
        project,
        "demo/catalog.yml",
        {"raw_xrays": {"type": "cxr_gan.datasets.XrayFolderDataset", "path": str(raw)}},
    )
    # conf/demo keeps cross-class near duplicates (phantoms look alike to pHash); a real folder
    # runs with the default, on_label_conflict: exclude
    params = {**TINY, "data_processing.on_label_conflict": "exclude"}
    catalog = run_kedro(project, env="demo", params=params)  # __default__: all four pipelines
    return project, catalog, expected


@pytest.mark.slow
def test_every_bad_file_is_reported_with_its_reason(study):
    _, catalog, expected = study
    report = catalog.load("data_quality_report")
    problems = {row["relative_path"]: row for row in report["problems"]}
    for path, words in expected.items():
        assert path in problems, path
        assert words in problems[path]["reason"], (path, problems[path]["reason"])
    assert set(problems) == set(expected)  # nothing good was thrown away
    manifest = catalog.load("raw_manifest").set_index("relative_path")
    assert (manifest.loc[list(expected), "reason"] != "").all()
    kept = {"normal/wide_10000x200.png", "covid/tiny_range_16bit.png", "normal/really_a_png.jpg"}
    assert (manifest.loc[sorted(kept), "status"] == "ok").all()
    odd = [row["relative_path"] for row in report["odd_images"]]
    assert odd == ["normal/wide_10000x200.png"]


@pytest.mark.slow
def test_each_stage_says_how_many_images_it_used(study):
    _, catalog, expected = study
    totals = catalog.load("data_quality_report")["totals"]
    usable = 2 * GOOD_PER_CLASS - 1 + 3  # phantom_00001 is in a conflict; 3 odd files kept
    assert totals["files_seen"] == 2 * GOOD_PER_CLASS + len(expected) - 1 + 3
    assert totals["usable"] == usable and totals["left_out"] == len(expected)
    assert sum(totals["left_out_by_status"].values()) == len(expected)
    assert totals["left_out_by_status"]["label_conflict"] == 2
    assert totals["train"] + totals["test"] == usable
    assert len(catalog.load("xray_arrays")["labels"]) == usable
    history = catalog.load("gan_history")  # the GAN holds some training images out to judge it
    assert history["training_images"] + history["evaluation_images"] == totals["train"]
    assert len(catalog.load("synthetic_xrays")["manifest"]) == 4
    evaluation = catalog.load("real.classification_evaluation")
    assert evaluation["test_images"] == totals["test"]
    assert evaluation["training_set"]["real"] + evaluation["validation_images"] == totals["train"]
    plus = catalog.load("real_plus_synthetic.classification_evaluation")
    assert plus["training_set"]["synthetic"] == 4


class _Trap:
    """Unpickling this would create a file: the proof that data ran code."""

    marker: Path

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.slow
def test_arrays_never_unpickle(study, tmp_path):
    project, catalog, _ = study
    _Trap.marker = tmp_path / "code_ran"
    trap = np.array([_Trap(), 1], dtype=object)
    config = yaml.safe_load((project / "conf/base/catalog.yml").read_text())["xray_arrays"]
    # the study ran under --env demo: its outputs live under conf/demo's data_root
    data_root = yaml.safe_load((project / "conf/demo/globals.yml").read_text())["data_root"]
    arrays_root = project / config["filepath"].replace("${globals:data_root}", data_root)
    latest = sorted(p for p in arrays_root.iterdir() if not p.name.startswith("."))[-1]
    planted = arrays_root / "2999-01-01T00.00.00.000Z"  # newer than any real version
    shutil.copytree(latest, planted)
    files = [p for p in planted.rglob("*") if p.suffix in (".npy", ".npz")]
    assert files, f"no .npy/.npz files in {latest}"
    for path in files:
        with open(path, "wb") as handle:
            if path.suffix == ".npy":
                np.save(handle, trap, allow_pickle=True)
            else:
                np.savez(handle, images=trap, labels=trap, ids=trap)
    # a fresh dataset from the catalog's own entry: the run's one caches its load version
    config = {**config, "filepath": str(arrays_root)}
    dataset = AbstractDataset.from_config("xray_arrays", config)
    with pytest.raises((DatasetError, ValueError), match="(?i)pickle"):
        arrays = dataset.load()
        for value in arrays.values():  # a lazy (memory-mapped) store reads here
            np.asarray(value)
    assert not _Trap.marker.exists()
    shutil.rmtree(planted)


def test_models_load_only_in_keras_safe_mode(tmp_path):
    import keras

    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    path = tmp_path / "generator.keras" / "2026-01-01T00.00.00.000Z" / "generator.keras"
    path.parent.mkdir(parents=True)
    keras.Model(inputs, outputs).save(path)
    dataset = KerasModelDataset(
        filepath=str(tmp_path / "generator.keras"), version=Version(None, None)
    )
    with pytest.raises(DatasetError, match="safe_mode"):
        dataset.load()
