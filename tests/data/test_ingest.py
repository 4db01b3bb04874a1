"""The streaming ingest on real files: bad files, duplicates, missing folders, class counts."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cxr_gan.data.annotations import annotate_near_duplicates
from cxr_gan.data.ingest import (
    DataProcessingError,
    check_class_counts,
    ingest_collection,
)
from cxr_gan.data.patients import find_patient_table
from cxr_gan.data.sources import scan_folder

CLASSES = {"normal": 0, "covid": 1}


def _ingest(root, on_bad_file="skip", size=32):
    return ingest_collection(
        scan_folder(root),
        CLASSES,
        image_size=size,
        resize_mode="stretch",
        max_pixels=10**8,
        on_bad_file=on_bad_file,
    )


def _status(manifest: pd.DataFrame, relative_path: str) -> tuple[str, str]:
    row = manifest.set_index("relative_path").loc[relative_path]
    return row["status"], row["reason"]


def test_good_folder_gives_arrays_and_manifest(raw_folder):
    result = _ingest(raw_folder)
    assert result.images.shape == (24, 32, 32) and result.images.dtype == np.uint8
    manifest = result.manifest
    assert (manifest["status"] == "ok").all()
    assert sorted(manifest["array_index"]) == list(range(24))
    assert set(manifest["label"]) == {0, 1}
    assert manifest["sha256"].str.len().eq(64).all()
    # rows of the array are the files the manifest says, in its order
    first = manifest[manifest["array_index"] == 0].iloc[0]
    pixels = np.asarray(Image.open(raw_folder / first["relative_path"]).resize((32, 32)))
    assert np.abs(result.images[0].astype(int) - pixels).mean() < 20


def test_every_bad_file_kind_is_skipped_and_reported(raw_folder):
    covid = raw_folder / "covid"
    (covid / "empty.png").write_bytes(b"")
    data = (covid / "img_000.png").read_bytes()
    (covid / "truncated.png").write_bytes(data[: len(data) // 3])
    (covid / "notes.jpg").write_text("not an image")
    (covid / ".DS_Store").write_bytes(b"\x00\x01")
    (covid / "._img_000.png").write_bytes(b"\x00\x05\x16\x07")
    (raw_folder / "normal" / "Thumbs.db").write_bytes(b"\x00")
    result = _ingest(raw_folder)
    manifest = result.manifest
    assert result.images.shape[0] == 24
    expectations = {
        "covid/empty.png": "empty file",
        "covid/truncated.png": "damaged or truncated",
        "covid/notes.jpg": "not an image",
        "covid/.DS_Store": "hidden",
        "covid/._img_000.png": "hidden",
        "normal/Thumbs.db": "hidden",
    }
    for path, reason in expectations.items():
        status, actual = _status(manifest, path)
        assert status == "skipped" and reason in actual, (path, actual)


def test_decompression_bomb_is_refused(raw_folder):
    Image.fromarray(np.zeros((300, 300), np.uint8)).save(raw_folder / "covid" / "bomb.png")
    result = ingest_collection(
        scan_folder(raw_folder),
        CLASSES,
        image_size=32,
        resize_mode="stretch",
        max_pixels=200 * 200,
        on_bad_file="skip",
    )
    status, reason = _status(result.manifest, "covid/bomb.png")
    assert status == "skipped" and "decompression bomb" in reason


def test_on_bad_file_fail_names_the_file(raw_folder):
    (raw_folder / "covid" / "broken.png").write_bytes(b"garbage")
    with pytest.raises(DataProcessingError, match=r"covid/broken.png.*on_bad_file"):
        _ingest(raw_folder, on_bad_file="fail")


def test_exact_duplicates_are_dropped_and_cross_class_copies_are_conflicts(raw_folder):
    shutil.copy(raw_folder / "covid" / "img_001.png", raw_folder / "covid" / "zz_copy.png")
    shutil.copy(raw_folder / "covid" / "img_002.png", raw_folder / "normal" / "zz_moved.png")
    result = _ingest(raw_folder)
    manifest = result.manifest
    assert _status(manifest, "covid/zz_copy.png") == (
        "duplicate",
        "exact duplicate of covid/img_001.png",
    )
    assert _status(manifest, "covid/img_002.png")[0] == "label_conflict"
    assert _status(manifest, "normal/zz_moved.png")[0] == "label_conflict"
    usable = manifest[manifest["status"] == "ok"]
    assert len(usable) == 23 and result.images.shape[0] == 23
    assert sorted(usable["array_index"]) == list(range(23))
    # the compacted array still lines up with the manifest after the conflict was removed
    for _, row in usable.iterrows():
        pixels = np.asarray(Image.open(raw_folder / row["relative_path"]).resize((32, 32)))
        assert np.abs(result.images[row["array_index"]].astype(int) - pixels).mean() < 20


def test_near_duplicates_are_found_across_formats(raw_folder):
    source = raw_folder / "normal" / "img_003.png"
    Image.open(source).convert("RGB").save(raw_folder / "covid" / "reencoded.jpg", quality=80)
    manifest = annotate_near_duplicates(_ingest(raw_folder, size=64).manifest, 4)
    row = manifest.set_index("relative_path").loc["covid/reencoded.jpg"]
    assert row["near_duplicates"] == "normal/img_003.png"
    assert (manifest["near_duplicates"] != "").sum() == 2


def test_missing_and_empty_class_folders_say_what_to_do(raw_folder):
    shutil.rmtree(raw_folder / "covid")
    with pytest.raises(DataProcessingError, match=r"'covid' is missing.*kedro run --env demo"):
        _ingest(raw_folder)
    (raw_folder / "covid").mkdir()
    (raw_folder / "covid" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(DataProcessingError, match=r"covid is empty.*kedro run --env demo"):
        _ingest(raw_folder)
    with pytest.raises(FileNotFoundError, match=r"does not exist.*kedro run --env demo"):
        scan_folder(raw_folder / "nowhere")


def test_too_few_usable_images_stops_the_run(raw_folder):
    manifest = _ingest(raw_folder).manifest
    check_class_counts(manifest, CLASSES, 12, str(raw_folder))
    with pytest.raises(
        DataProcessingError, match=r"normal has 12 usable images.*min_images_per_class=13"
    ):
        check_class_counts(manifest, CLASSES, 13, str(raw_folder))


def test_unknown_folders_are_ignored_but_listed(raw_folder):
    (raw_folder / "lateral").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(raw_folder / "lateral" / "x.png")
    manifest = _ingest(raw_folder).manifest
    assert _status(manifest, "lateral/x.png")[0] == "ignored"


def test_patient_table_auto_detection(raw_folder):
    table = pd.DataFrame({"filename": ["covid/img_000.png"], "patient_id": ["p1"]})
    table.to_csv(raw_folder / "patients.csv", index=False)
    collection = scan_folder(raw_folder)
    paths = [f.relative_path for f in collection.files]
    found, rows = find_patient_table(collection.csv_files, "auto", str(raw_folder), paths)
    assert found.name == "patients.csv"
    assert [found.patient_ids[r] for r in rows if r >= 0] == ["p1"]
    assert find_patient_table(collection.csv_files, None, str(raw_folder), paths) is None
    with pytest.raises(DataProcessingError, match="missing.csv, which does not exist"):
        find_patient_table(collection.csv_files, "missing.csv", str(raw_folder), paths)
