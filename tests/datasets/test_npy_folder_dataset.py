"""Big folders: xray_arrays on disk as memory-mapped .npy, and input pipelines that read it
batch by batch instead of copying it into memory."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from kedro.io import DatasetError
from kedro.io.core import Version

from cxr_gan.data.experiments import as_seen_by, split_real_images, training_set
from cxr_gan.data.lazy_rows import LazyRows, select_rows
from cxr_gan.data.masking import mask_center
from cxr_gan.data.npy_scratch import scratch_npy, shrink_npy_rows
from cxr_gan.datasets import NpyFolderDataset
from cxr_gan.models.classifier_input import indexed_batches
from cxr_gan.models.gan_config import GanConfig
from cxr_gan.models.gan_trainer import gan_input_pipeline, to_gan_range, train_gan
from tests.kedro_helpers import run_kedro, use_tiny_phantoms


class RowReadLog:
    """An array-like over a real memmap that records every row read and refuses whole-array
    conversion: proof that a pipeline gathers batches by index."""

    def __init__(self, source: np.ndarray) -> None:
        self.source, self.rows_read = source, []
        self.shape, self.dtype = source.shape, source.dtype

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key):
        rows = np.arange(len(self.source))[key]
        self.rows_read.append(np.atleast_1d(rows).tolist())
        return self.source[key]

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole image array was read into memory")


def _arrays(count: int = 6) -> dict[str, np.ndarray]:
    return {
        "images": np.arange(count * 4 * 4, dtype=np.uint8).reshape(count, 4, 4),
        "labels": (np.arange(count) % 2).astype(np.int8),
        "ids": np.array([f"normal/{i}.png" for i in range(count)]),
        "scale": np.float32(1 / 255),
    }


def _saved_memmap(tmp_path, count: int = 40, size: int = 8) -> np.memmap:
    images = np.random.default_rng(0).integers(0, 256, (count, size, size), dtype=np.uint8)
    NpyFolderDataset(filepath=str(tmp_path / "xa")).save({"images": images})
    return NpyFolderDataset(filepath=str(tmp_path / "xa")).load()["images"]


def test_versions_load_images_memory_mapped_and_never_unpickle(tmp_path):
    path = str(tmp_path / "xray_arrays")
    NpyFolderDataset(filepath=path, version=Version(None, "2026-01-01T00.00.00.000Z")).save(
        _arrays()
    )
    second = {**_arrays(), "labels": np.ones(6, np.int8)}
    NpyFolderDataset(filepath=path, version=Version(None, "2026-01-02T00.00.00.000Z")).save(second)
    latest = NpyFolderDataset(filepath=path, version=Version(None, None)).load()
    assert isinstance(latest["images"], np.memmap) and not latest["images"].flags.writeable
    assert type(latest["labels"]) is np.ndarray and latest["labels"].tolist() == [1] * 6
    older = NpyFolderDataset(filepath=path, version=Version("2026-01-01T00.00.00.000Z", None))
    loaded = older.load()
    np.testing.assert_array_equal(loaded["images"], _arrays()["images"])
    assert loaded["ids"][1] == "normal/1.png" and loaded["scale"].dtype == np.float32
    index = json.loads((tmp_path / "xray_arrays/2026-01-01T00.00.00.000Z/arrays.json").read_text())
    assert index["arrays"]["images"] == {"shape": [6, 4, 4], "dtype": "uint8"}
    assert not list(tmp_path.rglob("*.partial"))

    with pytest.raises(DatasetError, match="dtype object"):
        NpyFolderDataset(filepath=str(tmp_path / "obj")).save({"x": np.array([{}], dtype=object)})
    evil = tmp_path / "evil"
    NpyFolderDataset(filepath=str(evil)).save({"payload": np.zeros(2)})
    np.save(evil / "payload.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match="pickle"):
        NpyFolderDataset(filepath=str(evil)).load()


def test_an_index_naming_an_array_outside_its_version_is_refused(tmp_path):
    root = tmp_path / "xray_arrays"
    version = "2026-01-01T00.00.00.000Z"
    NpyFolderDataset(filepath=str(root), version=Version(None, version)).save(_arrays())
    np.save(tmp_path / "stolen.npy", np.arange(3))  # a real array a tampered index could reach
    index_path = root / version / "arrays.json"
    index = json.loads(index_path.read_text())
    index["arrays"]["../../stolen"] = {"shape": [3], "dtype": "int64"}
    index_path.write_text(json.dumps(index))
    with pytest.raises(DatasetError, match="arrays.json names '../../stolen.npy', which is not"):
        NpyFolderDataset(filepath=str(root), version=Version(None, None)).load()


def test_old_npz_versions_get_a_clear_error(tmp_path):
    old = tmp_path / "xray_arrays.npz" / "2025-01-01T00.00.00.000Z"
    old.mkdir(parents=True)
    np.savez(old / "xray_arrays.npz", **_arrays())
    dataset = NpyFolderDataset(filepath=str(tmp_path / "xray_arrays"), version=Version(None, None))
    with pytest.raises(DatasetError, match="re-run.*data_processing|Re-run.*data_processing"):
        dataset.load()


def test_scratch_file_is_shrunk_and_moved_not_rewritten(tmp_path):
    images = scratch_npy((10, 4, 4), np.uint8, tmp_path)
    images[:] = np.arange(10)[:, None, None]
    scratch_folder = os.path.dirname(images.filename)
    images = shrink_npy_rows(images, 7)  # e.g. three files turned out to be broken
    inode = os.stat(images.filename).st_ino
    NpyFolderDataset(filepath=str(tmp_path / "out")).save({"images": images})
    saved = tmp_path / "out" / "images.npy"
    assert os.stat(saved).st_ino == inode  # renamed into place: the pixels were written once
    assert not images.flags.writeable  # the saved version cannot be changed through it
    del images
    assert not os.path.exists(scratch_folder)
    loaded = np.load(saved, mmap_mode="r", allow_pickle=False)
    assert loaded.shape == (7, 4, 4) and loaded[:, 0, 0].tolist() == list(range(7))


def test_lazy_rows_read_only_what_is_indexed(tmp_path):
    log = RowReadLog(_saved_memmap(tmp_path))
    train = select_rows(log, [3, 1, 30, 7])
    assert train.shape == (4, 8, 8) and not log.rows_read
    np.testing.assert_array_equal(train[1:3], log.source[[1, 30]])
    assert sorted(sum(log.rows_read, [])) == [1, 30]
    both = LazyRows.concatenate(train, np.full((2, 8, 8), 7, np.uint8))
    assert both.shape == (6, 8, 8) and (both[[5]] == 7).all()
    np.testing.assert_array_equal(both[[0, 4]], np.stack([log.source[3], np.full((8, 8), 7)]))
    doubled = both.with_transform(lambda batch: batch // 2)
    np.testing.assert_array_equal(doubled[[4]], np.full((1, 8, 8), 3))


def test_gan_input_pipeline_streams_batches_from_a_memmap(tmp_path):
    images = _saved_memmap(tmp_path)
    assert isinstance(images, np.memmap)
    labels = np.arange(40) % 2
    log = RowReadLog(images)
    dataset = gan_input_pipeline(log, labels, 16, 8, seed=3)
    # the graph holds row numbers only: no constant anywhere near the size of the images
    graph = tf.compat.v1.GraphDef.FromString(dataset._as_serialized_graph().numpy())  # noqa: SLF001
    largest = max(len(node.attr["value"].tensor.tensor_content) for node in graph.node)
    assert largest < images.nbytes // 10
    first_x, first_y = next(iter(dataset))
    assert first_x.shape == (8, 16, 16, 1) and first_x.dtype == tf.float32
    # read a batch of rows at a time (a few ahead, prefetched), never the whole array
    assert log.rows_read and all(len(rows) == 8 for rows in log.rows_read)
    # every epoch: each image exactly once, in that epoch's own order, ending with its own
    # short batch (40 = 8 + 8 + 8 + 8 + 8; with 6 per batch: 6 x 6 + 4)
    converted = to_gan_range(np.asarray(images), 16)
    epochs = list(gan_input_pipeline(images, labels, 16, 6, seed=3, epochs=range(1, 3)))
    assert [len(y) for _, y in epochs] == [6] * 6 + [4] + [6] * 6 + [4]
    orders = []
    for first, last in ((0, 7), (7, 14)):
        x = np.concatenate([batch.numpy() for batch, _ in epochs[first:last]])
        order = [int(np.flatnonzero((converted == image).all(axis=(1, 2, 3)))[0]) for image in x]
        assert sorted(order) == list(range(40))
        orders.append(order)
    assert orders[0] != orders[1]  # reshuffled each epoch
    # a run resumed at epoch 2 sees exactly the batches an uninterrupted run saw there
    resumed = list(gan_input_pipeline(images, labels, 16, 6, seed=3, epochs=range(2, 3)))
    for (x, y), (old_x, old_y) in zip(resumed, epochs[7:], strict=True):
        np.testing.assert_array_equal(x.numpy(), old_x.numpy())
        np.testing.assert_array_equal(y.numpy(), old_y.numpy())


def test_classifier_batches_stream_from_a_memmap(tmp_path):
    images = _saved_memmap(tmp_path)
    labels = (np.arange(40) % 2).astype(np.float32)
    rows = np.arange(0, 40, 2)
    log = RowReadLog(images)
    batches = list(indexed_batches(log, labels, rows, 6, shuffle_seed=1))
    assert [len(x) for x, _ in batches] == [6, 6, 6, 2] and batches[0][0].shape[1:] == (8, 8, 1)
    seen = np.concatenate([x.numpy()[..., 0] for x, _ in batches])
    former = tf.data.Dataset.from_tensor_slices(images[rows]).shuffle(20, seed=1)
    np.testing.assert_array_equal(seen, np.stack([x.numpy() for x in former]))
    assert max(len(r) for r in log.rows_read) == 6


def test_data_processing_writes_a_memmap_that_gan_training_streams(project_copy):
    use_tiny_phantoms(project_copy, 10)
    catalog = run_kedro(
        project_copy,
        params={"data_processing.image_size": 32, "data_processing.min_images_per_class": 5},
        pipeline_names=["data_processing"],
    )
    arrays = catalog.load("xray_arrays")
    assert isinstance(arrays["images"], np.memmap) and arrays["images"].shape == (20, 32, 32)
    assert list((project_copy / "data/05_model_input/xray_arrays").glob("*/images.npy"))
    assert not list(project_copy.rglob("*.partial"))
    log = RowReadLog(arrays["images"])
    config = GanConfig(gan_image_size=16, base_filters=8, batch_size=8, epochs=1)
    run = train_gan(log, arrays["labels"], config, checkpoint_root=None)
    assert np.isfinite(run.history[0]["g_loss"])
    assert max(len(rows) for rows in log.rows_read) <= 256  # batches and hash chunks only


def test_experiment_subsets_select_rows_of_the_memmap_without_copying(tmp_path):
    images = _saved_memmap(tmp_path)
    ids = np.array([f"{'covid' if i % 2 else 'normal'}/{i:02d}.png" for i in range(40)])
    labels = (np.arange(40) % 2).astype(np.int8)
    split = pd.DataFrame(
        {
            "id": ids,
            "label": labels,
            "patient_id": "",
            "split": ["test" if i >= 32 else "train" for i in range(40)],
        }
    )
    arrays = {"images": RowReadLog(images), "labels": labels, "ids": ids}
    data = split_real_images(arrays, split, validation_fraction=0.25, seed=0)
    assert isinstance(data.train.images, LazyRows) and not arrays["images"].rows_read
    probe = as_seen_by("shortcut_probe", data.test, 0.5)
    np.testing.assert_array_equal(probe.images[[0, 7]], mask_center(images[[32, 39]], 0.5))
    synthetic = {
        "images": np.full((3, 8, 8), 9, np.uint8),
        "manifest": pd.DataFrame({"filename": ["a.png", "b.png", "c.png"], "label": [1, 1, 1]}),
    }
    mixed, _ = training_set("real_plus_synthetic", data, synthetic, synthetic)
    assert isinstance(mixed.images, LazyRows) and len(mixed.images) == len(data.train) + 3
    assert (mixed.images[[-1]] == 9).all()
    assert max(len(rows) for rows in arrays["images"].rows_read) <= 2  # only what was indexed
