import numpy as np
import pytest
from kedro.io import DatasetError
from kedro.io.core import Version

from cxr_gan.datasets import NpzDataset


def _arrays():
    return {
        "images": np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4),
        "labels": np.array([0, 1], np.int8),
        "ids": np.array(["normal/a.png", "covid/b.png"]),
    }


def test_versioned_roundtrip_keeps_every_version(tmp_path):
    path = str(tmp_path / "arrays.npz")
    NpzDataset(filepath=path, version=Version(None, "2026-01-01T00.00.00.000Z")).save(_arrays())
    second = _arrays()
    second["labels"] = np.array([1, 1], np.int8)
    NpzDataset(filepath=path, version=Version(None, "2026-01-02T00.00.00.000Z")).save(second)
    latest = NpzDataset(filepath=path, version=Version(None, None)).load()
    np.testing.assert_array_equal(latest["labels"], [1, 1])
    older = NpzDataset(filepath=path, version=Version("2026-01-01T00.00.00.000Z", None)).load()
    np.testing.assert_array_equal(older["labels"], [0, 1])
    assert older["ids"].tolist() == ["normal/a.png", "covid/b.png"]
    assert not list(tmp_path.rglob("*.partial"))


def test_object_arrays_are_refused_so_loading_never_needs_pickle(tmp_path):
    dataset = NpzDataset(filepath=str(tmp_path / "a.npz"))
    with pytest.raises(DatasetError, match="dtype object"):
        dataset.save({"ids": np.array(["a", 1], dtype=object)})
    assert not (tmp_path / "a.npz").exists()


def test_pickled_file_is_not_loaded(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, payload=np.array([{"x": 1}], dtype=object))
    with pytest.raises(DatasetError, match="allow_pickle=False"):
        NpzDataset(filepath=str(path)).load()


def test_saved_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    path = tmp_path / "a.npz"
    NpzDataset(filepath=str(path)).save(_arrays())
    umask = os.umask(0)
    os.umask(umask)
    # what any other writer would create under this umask, not mkstemp's owner-only 0600
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask


def test_a_failed_save_leaves_no_empty_version_folder(tmp_path, monkeypatch):
    path = tmp_path / "arrays.npz"
    NpzDataset(filepath=str(path), version=Version(None, "2026-01-01T00.00.00.000Z")).save(
        _arrays()
    )

    def disk_full(handle, **arrays):
        handle.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    failing = NpzDataset(filepath=str(path), version=Version(None, "2026-01-02T00.00.00.000Z"))
    with pytest.raises(DatasetError, match="disk is full"):
        failing.save(_arrays())
    assert sorted(p.name for p in path.iterdir()) == ["2026-01-01T00.00.00.000Z"]
    assert NpzDataset(filepath=str(path), version=Version(None, None)).load()[
        "labels"
    ].tolist() == [
        0,
        1,
    ]
