"""data_processing in memory: its nodes on small inputs, then create_pipeline() run by
SequentialRunner on a DataCatalog of MemoryDatasets (tests/pipelines/slices.py). The session
tests in test_pipeline.py run the same pipeline through Kedro with versioned files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cxr_gan.data.sources import RawFile
from cxr_gan.datasets import PhantomXrayDataset
from cxr_gan.pipelines.data_processing import create_pipeline
from cxr_gan.pipelines.data_processing.nodes import split_train_test
from cxr_gan.pipelines.data_processing.params import DataProcessingParams
from tests.pipelines.conftest import PHANTOMS_PER_CLASS
from tests.pipelines.slices import TINY, class_counts, run_slice

N = 2 * PHANTOMS_PER_CLASS


def test_whole_pipeline_in_memory_normalises_splits_and_reports(processed):
    arrays = processed["xray_arrays"]
    assert arrays["images"].shape == (N, 32, 32) and arrays["images"].dtype == np.uint8
    assert class_counts(arrays["labels"]) == {0: PHANTOMS_PER_CLASS, 1: PHANTOMS_PER_CLASS}
    assert len(set(arrays["ids"])) == N
    assert 40 < float(np.mean(arrays["images"])) < 215  # a chest, not a blank or saturated frame

    manifest = processed["raw_manifest"]
    assert len(manifest) == N and (manifest["status"] == "ok").all()
    assert manifest["sha256"].nunique() == N  # every phantom is a different file

    split = processed["xray_split"]
    assert set(split["id"]) == set(arrays["ids"])
    # test_fraction 0.25 of 16 per class, one image per group: exactly 4 test images per class
    test = split[split["split"] == "test"]
    assert class_counts(test["label"]) == {0: 4, 1: 4}

    report = processed["data_quality_report"]
    assert report["totals"] == {
        "files_seen": N,
        "usable": N,
        "left_out": 0,
        "left_out_by_status": {},
        "warnings": 0,
        "train": N - 8,
        "test": 8,
    }
    assert report["classes"]["covid"]["label"] == 1 and report["classes"]["covid"]["test"] == 4
    assert report["settings"]["image_size"] == 32

    sheet = processed["contact_sheet"]
    assert isinstance(sheet, Figure)
    shown = [axis for axis in sheet.axes if axis.images]
    assert len(shown) == 2 * DataProcessingParams().contact_sheet_per_class  # 8 per class


def test_a_broken_file_is_left_out_and_reported_not_fatal(tmp_path):
    """ingest_raw_xrays -> split_train_test -> report_data_quality on an in-memory collection
    with one file that is not an image (the default on_bad_file: skip)."""
    phantoms = PhantomXrayDataset(count_per_class=6, image_size=48, seed=7).load()
    broken = RawFile("covid/broken.png", lambda: b"\x89PNG not really")
    raw = dataclasses.replace(phantoms, files=[*phantoms.files, broken])
    pipeline = create_pipeline().to_nodes("report_data_quality")
    assert "draw_contact_sheet" not in {node.name for node in pipeline.nodes}
    params = {"data_processing": {**TINY["data_processing"], "scratch_dir": str(tmp_path)}}
    catalog = run_slice(pipeline, params, raw_xrays=raw)

    manifest = catalog.load("raw_manifest").set_index("relative_path")
    assert manifest.loc["covid/broken.png", "status"] != "ok"
    assert "not an image" in manifest.loc["covid/broken.png", "reason"]
    assert (manifest.drop(index="covid/broken.png")["status"] == "ok").all()
    assert catalog.load("xray_arrays")["images"].shape == (12, 32, 32)
    report = catalog.load("data_quality_report")
    assert report["totals"]["files_seen"] == 13 and report["totals"]["usable"] == 12
    assert report["totals"]["left_out"] == 1
    assert [p["relative_path"] for p in report["problems"]] == ["covid/broken.png"]
    assert (
        report["classes"]["covid"]["files_seen"] == 7 and report["classes"]["covid"]["usable"] == 6
    )


def test_split_node_keeps_a_patients_images_on_one_side():
    """split_train_test alone, on a manifest where each patient has three images."""
    ids = [f"{label}/{index}.png" for label in ("normal", "covid") for index in range(12)]
    manifest = pd.DataFrame(
        {
            "id": ids,
            "label": [0] * 12 + [1] * 12,
            "status": "ok",
            "array_index": range(24),
            "patient_id": [f"p{index // 3}" for index in range(24)],  # 8 patients
            "near_duplicates": "",
        }
    )
    params = DataProcessingParams(test_fraction=0.25, split_seed=3)
    split = split_train_test(manifest, params)
    assert split["id"].tolist() == ids
    assert split.groupby("patient_id")["split"].nunique().max() == 1
    assert class_counts(split.loc[split["split"] == "test", "label"]) == {0: 3, 1: 3}
    assert split_train_test(manifest, params).equals(split)  # same seed, same split
