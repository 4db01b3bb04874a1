"""Every entry under the raw folder is accounted for (issue 23, item 3): links followed with a
loop guard, links out of the folder flagged and hashed only once they decode, unreadable,
vanished and non-regular entries skipped with their reason, empty files reported as empty, any
file name, and a refused class-folder layout that says how to map it. Built in tmp_path."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from cxr_gan.data.ingest import DataProcessingError, ingest_collection
from cxr_gan.data.sources import scan_folder, suggest_classes
from cxr_gan.datasets import CSVDataset
from cxr_gan.datasets.xray_sources import XrayFolderDataset
from cxr_gan.pipelines.data_processing import create_pipeline
from cxr_gan.preflight import preflight_problems
from tests.conftest import PROJECT_ROOT

CLASSES = {"normal": 0, "covid": 1}


def _chest(seed: int, size: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    return np.clip(50 + x * 3 + y + rng.normal(0, 10, (size, size)), 0, 255).astype(np.uint8)


def _png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", _chest(seed))
    assert ok
    path.write_bytes(data.tobytes())


def _folder(root: Path, per_class: int = 2) -> Path:
    for label, name in enumerate(CLASSES):
        for index in range(per_class):
            _png(root / name / f"img_{index}.png", 100 * label + index)
    return root


def _ingest(root: Path, collection=None, **options) -> pd.DataFrame:
    result = ingest_collection(
        collection or scan_folder(root),
        CLASSES,
        image_size=16,
        resize_mode="stretch",
        max_pixels=10**8,
        on_bad_file=options.pop("on_bad_file", "skip"),
        scratch_dir=str(root.parent),
        **options,
    )
    return result.manifest.set_index("relative_path")


# ------------------------------------------------------------------------------ links


def test_a_class_folder_and_a_sub_folder_that_are_links_are_followed(tmp_path):
    root = _folder(tmp_path / "raw")
    store = tmp_path / "other_disk"
    for index in range(3):
        _png(store / "covid_archive" / f"c{index}.png", 10 + index)
        _png(store / "site_b" / f"n{index}.png", 20 + index)
    (root / "covid").rename(tmp_path / "old_covid")
    (root / "covid").symlink_to(store / "covid_archive", target_is_directory=True)
    (root / "normal" / "siteB").symlink_to(store / "site_b", target_is_directory=True)
    manifest = _ingest(root)
    for path in ["covid/c0.png", "covid/c2.png", "normal/siteB/n1.png", "normal/img_0.png"]:
        assert manifest.loc[path, "status"] == "ok", (path, manifest.loc[path, "reason"])
    row = manifest.loc["covid/c0.png"]
    target = os.path.realpath(store / "covid_archive" / "c0.png")
    assert f"read through a link to {target}, outside the raw folder" in row["reason"]
    assert len(row["sha256"]) == 64
    assert manifest.loc["normal/img_0.png", "reason"] == ""


def test_a_link_loop_gets_one_row_and_is_not_followed(tmp_path):
    root = _folder(tmp_path / "raw")
    (root / "covid" / "again").symlink_to(root / "covid", target_is_directory=True)
    (root / "normal" / "up").symlink_to(root, target_is_directory=True)
    (root / "normal" / "self").symlink_to(root / "normal" / "self")
    manifest = _ingest(root, on_bad_file="fail")  # never fatal
    for path in ("covid/again", "normal/up", "normal/self"):
        assert manifest.loc[path, "status"] == "skipped"
        assert manifest.loc[path, "reason"].startswith("link loop"), manifest.loc[path, "reason"]
    assert len(manifest) == 4 + 3


def test_a_link_out_of_the_folder_to_a_non_image_is_never_hashed(tmp_path):
    root = _folder(tmp_path / "raw")
    secret = tmp_path / "elsewhere" / "passwd"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "covid" / "notes.png").symlink_to(secret)
    _png(tmp_path / "elsewhere" / "film.png", 7)
    (root / "covid" / "film.png").symlink_to(tmp_path / "elsewhere" / "film.png")
    (root / "covid" / "gone.png").symlink_to(tmp_path / "elsewhere" / "missing.png")
    manifest = _ingest(root)
    row = manifest.loc["covid/notes.png"]
    assert row["status"] == "skipped" and row["sha256"] == ""
    assert (
        f"a link to {os.path.realpath(secret)}, outside the raw folder: not hashed" in row["reason"]
    )
    assert "root:x" not in manifest.to_csv()
    film = manifest.loc["covid/film.png"]
    assert film["status"] == "ok" and len(film["sha256"]) == 64
    assert "outside the raw folder" in film["reason"]
    gone = manifest.loc["covid/gone.png"]
    assert gone["status"] == "skipped" and gone["reason"].startswith("broken link")


# ------------------------------------------------------------------------------ unreadable


def test_a_fifo_is_skipped_as_not_a_regular_file_and_never_opened(tmp_path):
    root = _folder(tmp_path / "raw")
    os.mkfifo(root / "covid" / "pipe.png")  # opening it for reading would block forever
    manifest = _ingest(root)
    row = manifest.loc["covid/pipe.png"]
    assert row["status"] == "skipped"
    assert row["reason"] == "not a regular file: a FIFO (named pipe), never read"


def _refuse_open(monkeypatch, path: Path, error: OSError) -> None:
    """os.open, the call the reader makes, fails for one path as the kernel would."""
    real_open = os.open

    def failing_open(name, flags, *args, **kwargs):
        if os.fspath(name) == os.fspath(path):
            raise error
        return real_open(name, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", failing_open)


def test_an_unreadable_file_is_skipped_with_permission_denied(tmp_path, monkeypatch):
    root = _folder(tmp_path / "raw")
    locked = root / "covid" / "locked.png"
    _png(locked, 5)
    _refuse_open(monkeypatch, locked, PermissionError(errno.EACCES, "Permission denied"))
    manifest = _ingest(root)
    assert manifest.loc["covid/locked.png", "status"] == "skipped"
    assert manifest.loc["covid/locked.png", "reason"].startswith("cannot read: permission denied")
    with pytest.raises(DataProcessingError, match=r"locked.png: cannot read: permission denied"):
        _ingest(root, on_bad_file="fail")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod-000 file: simulated above")
def test_a_chmod_000_file_is_skipped_with_permission_denied(tmp_path):
    root = _folder(tmp_path / "raw")
    locked = root / "covid" / "locked.png"
    _png(locked, 5)
    locked.chmod(0)
    reason = _ingest(root).loc["covid/locked.png", "reason"]
    assert reason.startswith("cannot read: permission denied")


def test_an_unreadable_sub_folder_gets_a_row(tmp_path, monkeypatch):
    root = _folder(tmp_path / "raw")
    locked = root / "covid" / "locked"
    _png(locked / "a.png", 6)
    real_scandir = os.scandir

    def failing_scandir(path="."):
        if isinstance(path, str | os.PathLike) and os.fspath(path) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", str(locked))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", failing_scandir)
    row = _ingest(root).loc["covid/locked"]
    assert row["status"] == "skipped"
    assert row["reason"].startswith("cannot read: permission denied")
    assert "a folder" in row["reason"]


def test_a_file_that_vanishes_during_the_run_is_skipped(tmp_path):
    root = _folder(tmp_path / "raw")
    _png(root / "covid" / "moved.png", 9)
    collection = scan_folder(root)
    (root / "covid" / "moved.png").unlink()
    row = _ingest(root, collection).loc["covid/moved.png"]
    assert row["status"] == "skipped" and row["reason"].startswith("disappeared during the run")


def test_empty_files_are_empty_not_duplicates_or_conflicts(tmp_path):
    root = _folder(tmp_path / "raw")
    for path in ("covid/a.png", "covid/b.png", "normal/c.png"):
        (root / path).write_bytes(b"")
    manifest = _ingest(root)
    for path in ("covid/a.png", "covid/b.png", "normal/c.png"):
        assert tuple(manifest.loc[path, ["status", "reason"]]) == (
            "skipped",
            "empty file (0 bytes)",
        )


# ------------------------------------------------------------------------------ names


def test_any_file_name_keeps_the_manifests_rows(tmp_path):
    root = _folder(tmp_path / "raw")
    covid = os.fsencode(root / "covid")
    _png(root / "covid" / "tmp.png", 11)
    os.rename(os.fsencode(root / "covid" / "tmp.png"), covid + b"/caf\xe9 scan.png")  # latin-1
    _png(root / "covid" / "tmp.png", 12)
    os.rename(os.fsencode(root / "covid" / "tmp.png"), covid + b"/two\nlines\r.png")
    (root / "covid" / "Icon\r").write_bytes(b"")
    _png(root / "normal" / 'Ro\u0308ntgen, "quoted".png', 13)  # NFD, a comma and quotes
    manifest = _ingest(root)
    expected = {
        "covid/caf\\xe9 scan.png": "ok",
        "covid/two\\nlines\\r.png": "ok",
        "covid/Icon\\r": "skipped",
        'normal/Ro\u0308ntgen, "quoted".png': "ok",
    }
    for path, status in expected.items():
        assert manifest.loc[path, "status"] == status, path
    assert "hidden or system file" in manifest.loc["covid/Icon\\r", "reason"]
    # the manifest as the catalog saves and loads it: one row per entry, names intact
    catalog = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "catalog.yml").read_text())
    load_args = catalog["raw_manifest"]["load_args"]
    dataset = CSVDataset(filepath=str(tmp_path / "manifest.csv"), load_args=load_args)
    dataset.save(manifest.reset_index())
    loaded = dataset.load()
    assert len(loaded) == len(manifest) == 4 + 4
    assert set(loaded["relative_path"]) == set(manifest.index)


# ------------------------------------------------------------------------------ layouts


def test_a_refused_layout_prints_the_classes_that_would_accept_it(tmp_path):
    root = tmp_path / "raw"
    for folder in ("COVID-19", "NORMAL", "Viral Pneumonia", "__MACOSX"):
        _png(root / folder / "images" / "x.png", 1)
    with pytest.raises(DataProcessingError) as refused:
        _ingest(root)
    message = str(refused.value)
    assert "found: COVID-19, NORMAL, Viral Pneumonia" in message
    assert "data_processing:\n  classes:\n    NORMAL: 0\n    COVID-19: 1" in message
    catalog = {"raw_xrays": XrayFolderDataset(path=str(root))}
    problems = preflight_problems(
        create_pipeline(), _Catalog(catalog), {"data_processing": {"classes": CLASSES}}
    )
    layout = next(p for p in problems if p.startswith("raw_xrays"))
    assert "found ['COVID-19', 'NORMAL', 'Viral Pneumonia']" in layout
    assert (
        "      data_processing:\n        classes:\n          NORMAL: 0\n          COVID-19: 1"
        in layout
    )


def test_no_mapping_is_guessed_when_a_class_matches_no_folder_or_two():
    assert suggest_classes(["Pneumonia", "Normal"], CLASSES) == ""
    assert suggest_classes(["covid_a", "covid_b", "normal"], CLASSES) == ""
    assert suggest_classes(["Covid", "COVID-19", "normal"], CLASSES).endswith("Covid: 1")
    assert '"Viral Pneumonia": 1' in suggest_classes(
        ["Viral Pneumonia", "Normal"], {"normal": 0, "viral": 1}
    )


class _Catalog:
    """The part of a DataCatalog the preflight reads: datasets by name."""

    def __init__(self, datasets: dict) -> None:
        self._datasets = datasets

    def get(self, name: str):
        return self._datasets.get(name)
