"""A versioned folder of .npy files, one per array, loaded memory-mapped (never with pickle).

Why not one .npz: numpy cannot memory-map a member of a zip, so loading an .npz reads every image
into memory; 30,000 X-rays at 446 px are 6 GB. A plain .npy is a short header and raw bytes, so
`np.load(path, mmap_mode="r")` maps it and readers (tf.data input pipelines) pull in only the
rows of each batch; the kernel can drop those pages again whenever it needs the memory.

Layout: <filepath>/<version>/<name>.npy for each array, plus arrays.json (names, shapes, dtypes)
written last. A version is written into a hidden temporary folder and renamed into place, so a
killed run never leaves a partial version that the next run would load.

Writers that produce a big array incrementally (data_processing) fill a scratch memmap
(cxr_gan.data.npy_scratch) while they decode and return it; saving then adopts that file into the
version folder (a rename on the same filesystem, an in-kernel copy otherwise) instead of writing
the array a second time.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io.core import DatasetError, VersionNotFoundError

from cxr_gan.data.npy_scratch import adopt_npy_file, read_npy_header
from cxr_gan.datasets._local import LocalVersionedDataset
from cxr_gan.io_utils import atomic_directory, inside_folder

INDEX = "arrays.json"


class NpyFolderDataset(LocalVersionedDataset):
    """Save ``{name: array}`` as one .npy per array; load arrays of 2+ dimensions (images) as
    read-only np.memmap, and 0-D / 1-D ones (labels, ids, scalars) into memory.

    Example catalog entry::

        xray_arrays:
          type: cxr_gan.datasets.NpyFolderDataset
          filepath: data/05_model_input/xray_arrays
          versioned: true
    """

    def _get_versioned_path(self, version: str) -> PurePosixPath:
        # <filepath>/<version>/arrays.json: the index marks a complete version
        return super()._get_versioned_path(version).parent / INDEX

    def _index_path(self, for_save: bool) -> Path:
        if self._version is None:
            return Path(self._filepath) / INDEX
        if for_save:
            return Path(self._get_save_path())
        try:
            return Path(self._get_load_path())
        except VersionNotFoundError as error:
            old = Path(f"{self._filepath}.npz")
            if old.exists():
                raise DatasetError(
                    f"{old} holds arrays in the old .npz format, which cannot be memory-mapped; "
                    f"this version reads {self._filepath}/<version>/*.npy. Re-run "
                    "`kedro run --pipelines data_processing` to write them (the old versions can "
                    "then be deleted)"
                ) from error
            raise

    def load(self) -> dict[str, np.ndarray]:
        index_path = self._index_path(for_save=False)
        folder = index_path.parent
        if not index_path.exists():
            raise DatasetError(
                f"{folder} has no {INDEX}: it is not a complete array folder (written by an older "
                "version of cxr-gan, or by hand). Re-run `kedro run --pipelines data_processing`"
            )
        names = json.loads(index_path.read_text())["arrays"]
        arrays = {}
        for name in names:
            path = inside_folder(folder, f"{name}.npy", index_path)
            mapped = len(read_npy_header(path)[0]) >= 2
            try:
                arrays[name] = np.load(path, mmap_mode="r" if mapped else None, allow_pickle=False)
            except ValueError as error:  # numpy's "Object arrays cannot be loaded when ..."
                raise DatasetError(f"{path}: {error}; refusing to unpickle data") from error
        return arrays

    def save(self, data: dict[str, np.ndarray]) -> None:
        for name, value in data.items():
            dtype = value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype
            if np.dtype(dtype).hasobject:
                raise DatasetError(
                    f"array '{name}' has dtype object, which .npy can only store with pickle; "
                    "convert it to numbers or fixed-width strings (np.asarray(values, dtype=str))"
                )
            if not name.isidentifier():
                raise DatasetError(f"array name {name!r} must be a plain identifier")
        folder = self._index_path(for_save=True).parent
        index: dict[str, Any] = {"arrays": {}}
        with atomic_directory(folder) as temp_dir:
            for name, value in data.items():
                target = temp_dir / f"{name}.npy"
                if not adopt_npy_file(value, target):
                    np.save(target, np.asarray(value), allow_pickle=False)
                header = read_npy_header(target)
                index["arrays"][name] = {"shape": list(header[0]), "dtype": str(header[2])}
            (temp_dir / INDEX).write_text(json.dumps(index, indent=1))

    def _exists(self) -> bool:
        try:
            return self._index_path(for_save=False).exists()
        except DatasetError:
            return False
