"""data_processing run for real through a KedroSession, on demo phantoms and on a real folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from tests.conftest import SHARED_XRAYS
from tests.kedro_helpers import run_kedro


def test_demo_run_writes_every_versioned_output(project_copy):
    catalog = run_kedro(
        project_copy,
        env="demo",
        params={"data_processing.image_size": 48},
        pipeline_names=["data_processing"],
    )
    arrays = catalog.load("xray_arrays")
    assert arrays["images"].shape == (120, 48, 48) and arrays["images"].dtype == np.uint8
    assert sorted(np.unique(arrays["labels"], return_counts=True)[1]) == [60, 60]
    split = catalog.load("xray_split")
    assert len(split) == 120 and set(split["id"]) == set(arrays["ids"])
    assert (split.groupby("label")["split"].apply(lambda s: (s == "test").sum()) == 12).all()
    manifest = catalog.load("raw_manifest")
    assert (manifest["status"] == "ok").all() and len(manifest) == 120
    report = catalog.load("data_quality_report")
    assert report["totals"] == {
        "files_seen": 120,
        "usable": 120,
        "left_out": 0,
        "left_out_by_status": {},
        "warnings": 0,
        "train": 96,
        "test": 24,
    }
    assert report["settings"]["image_size"] == 48
    saved = project_copy / "data/demo/05_model_input/xray_arrays"
    assert len(list(saved.glob("*/arrays.json"))) == 1
    # built in scratch_dir (the demo's data/demo/05_model_input), then renamed: no scratch folder
    # stays
    assert not list((project_copy / "data/demo/05_model_input").glob("cxr-gan-scratch-*"))
    for name in (
        "raw_manifest",
        "xray_split",
        "data_quality_report",
        "contact_sheet",
    ):
        versions = list((project_copy / "data/demo").rglob(f"{name}.*/*/{name}.*"))
        assert len(versions) == 1, name
    assert list((project_copy / "data/demo/08_reporting").rglob("contact_sheet.png/*/*.png"))


def test_second_run_adds_a_version_and_is_identical(project_copy):
    params = {"data_processing.image_size": 32}
    run_kedro(project_copy, env="demo", params=params, pipeline_names=["data_processing"])
    catalog = run_kedro(project_copy, env="demo", params=params, pipeline_names=["data_processing"])
    folders = sorted(
        path
        for path in (project_copy / "data/demo/05_model_input/xray_arrays").iterdir()
        if path.is_dir()
    )
    assert len(folders) == 2
    first = np.load(folders[0] / "images.npy", allow_pickle=False)
    np.testing.assert_array_equal(first, catalog.load("xray_arrays")["images"])


def test_own_folder_with_bad_files_and_patients(project_copy, raw_folder):
    (raw_folder / "covid" / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    patients = ["p0", "p0", "p1", "p1"] + [f"q{i}" for i in range(4, 12)]
    lines = ["filename,patient_id"] + [
        f"{folder}/img_{i:03d}.png,{folder}-{patient}"
        for folder in ("normal", "covid")
        for i, patient in enumerate(patients)
    ]
    (raw_folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    (project_copy / "conf/local/catalog.yml").write_text(
        yaml.safe_dump(
            {"raw_xrays": {"type": "cxr_gan.datasets.XrayFolderDataset", "path": str(raw_folder)}}
        )
    )
    catalog = run_kedro(
        project_copy,
        params={"data_processing.image_size": 32, "data_processing.test_fraction": 0.25},
        pipeline_names=["data_processing"],
    )
    report = catalog.load("data_quality_report")
    assert report["totals"]["usable"] == 24 and report["totals"]["left_out"] == 1
    assert report["problems"][0]["relative_path"] == "covid/broken.jpg"
    split = catalog.load("xray_split")
    per_patient = split[split["patient_id"] != ""].groupby("patient_id")["split"].nunique()
    assert (per_patient == 1).all()  # no patient on both sides
    assert split.loc[split["id"] == "normal/img_000.png", "patient_id"].item() == "normal-p0"


def test_invalid_parameter_stops_before_any_work(project_copy):
    with pytest.raises(Exception, match="test_fraction") as error:
        run_kedro(
            project_copy,
            env="demo",
            params={"data_processing.test_fraction": 1.5},
            pipeline_names=["data_processing"],
        )
    assert "less than 1" in str(error.value)
    assert not list((project_copy / "data").rglob("*.np[yz]"))


@pytest.mark.skipif(not SHARED_XRAYS.is_dir(), reason="../shared/cxr-dev is not on this machine")
def test_real_mixed_folder_comes_out_right(project_copy):
    (project_copy / "conf/local/catalog.yml").write_text(
        yaml.safe_dump(
            {"raw_xrays": {"type": "cxr_gan.datasets.XrayFolderDataset", "path": str(SHARED_XRAYS)}}
        )
    )
    catalog = run_kedro(
        project_copy, params={"data_processing.image_size": 64}, pipeline_names=["data_processing"]
    )
    report = catalog.load("data_quality_report")
    assert report["totals"]["usable"] == 200
    assert report["split_grouping"] == "patient_id and near duplicates"
    images = catalog.load("xray_arrays")["images"].astype(float)
    # not inverted: the air-filled lungs are darker than the mediastinum between them
    lungs = (
        images[:, 20:40, 12:24].mean(axis=(1, 2)) + images[:, 20:40, 40:52].mean(axis=(1, 2))
    ) / 2
    mediastinum = images[:, 20:40, 29:35].mean(axis=(1, 2))
    assert (lungs < mediastinum).mean() > 0.9  # 98% measured; an inverted set would give ~2%
    assert json.dumps(report)  # the report is plain JSON
