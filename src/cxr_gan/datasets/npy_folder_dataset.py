"""A versioned folder of .npy files, one per array, loaded memory-mapped (never with pickle).

Why not one .npz: numpy cannot memory-map a member of a zip, so loading an .npz reads every image
into memory; 30,000 X-rays at 446 px are 6 GB. A plain .npy is a short header and raw bytes, so
`np.load(path, mmap_mode="r")` maps it and readers (tf.data input pipelines) pull in only the
rows of each batch; the kernel can drop those pages again whenever it needs the memory.

Layout: <filepath>/<version>/<name>.npy for each array, plus arrays.json (names, shapes, dtypes)
written last. A version is written into a hidden temporary folder and renamed into place, so a
killed run never leaves a partial version that the next run would load.

Writers that produce a big array incrementally (data_processing) fill a `scratch_npy` memmap
while they decode and return it; saving then moves that file into the version folder (a rename on
the same filesystem, an in-kernel copy otherwise) instead of writing the array a second time.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import weakref
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io.core import DatasetError, VersionNotFoundError

from cxr_gan.datasets._local import LocalVersionedDataset
from cxr_gan.io_utils import atomic_directory, explained_write_errors

INDEX = "arrays.json"
SCRATCH_PREFIX = "cxr-gan-scratch-"
_scratch_cleanups: dict[str, weakref.finalize] = {}  # scratch folder -> its pending removal


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
            path = folder / f"{name}.npy"
            mapped = len(_read_header(path)[0]) >= 2
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
                if not _adopt_npy_file(value, target):
                    np.save(target, np.asarray(value), allow_pickle=False)
                header = _read_header(target)
                index["arrays"][name] = {"shape": list(header[0]), "dtype": str(header[2])}
            (temp_dir / INDEX).write_text(json.dumps(index, indent=1))

    def _exists(self) -> bool:
        try:
            return self._index_path(for_save=False).exists()
        except DatasetError:
            return False


def _read_header(path: Path) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran_order, dtype, data offset) of a .npy file."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        return tuple(shape), fortran, dtype, handle.tell()


def _backing_file(value: Any) -> Path | None:
    """The .npy file that holds exactly `value` (a memmap of a whole file), else None."""
    if not isinstance(value, np.memmap) or not value.filename:
        return None
    path = Path(value.filename)
    if path.suffix != ".npy" or not path.is_file() or not value.flags.c_contiguous:
        return None
    shape, fortran, dtype, offset = _read_header(path)
    exact = (shape, dtype, offset) == (value.shape, value.dtype, value.offset) and not fortran
    return path if exact and path.stat().st_size == offset + value.nbytes else None


def _adopt_npy_file(value: Any, target: Path) -> bool:
    """Move (same filesystem) or copy the file behind a scratch memmap to target; False if
    value is not such a memmap. The memmap is made read-only: the saved version must not change."""
    source = _backing_file(value)
    if source is None:
        return False
    value.flush()
    value.flags.writeable = False
    if source.parent.name.startswith(SCRATCH_PREFIX):
        try:
            os.replace(source, target)
            return True
        except OSError:  # another filesystem: copy below (copy_file_range, no user memory)
            pass
    shutil.copyfile(source, target)
    return True


def _remove_when_unused(array: np.memmap, folder: Path) -> None:
    previous = _scratch_cleanups.pop(str(folder), None)
    if previous is not None:
        previous.detach()
    _scratch_cleanups[str(folder)] = weakref.finalize(
        array, shutil.rmtree, folder, ignore_errors=True
    )


def scratch_npy(shape: tuple[int, ...], dtype: Any, directory: str | Path | None = None):
    """A writable np.memmap backed by a new .npy file in a private temp folder (default: the
    system temp dir, $TMPDIR), removed when the memmap is garbage-collected unless a dataset
    adopted the file first. Put it on a disk, not a RAM-backed tmpfs, for big arrays."""
    where = Path(directory if directory is not None else tempfile.gettempdir()).resolve()
    with explained_write_errors(where, parameter="data_processing.scratch_dir"):
        where.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=where))
        array = np.lib.format.open_memmap(folder / "array.npy", mode="w+", dtype=dtype, shape=shape)
    _remove_when_unused(array, folder)
    return array


def shrink_npy_rows(array: np.memmap, rows: int) -> np.memmap:
    """Keep only the first `rows` rows of a scratch .npy memmap: rewrite its header, truncate the
    file, and map it again. No data is copied (the header has room for any row count)."""
    path = Path(array.filename)
    shape, fortran, dtype, offset = _read_header(path)
    if rows > shape[0] or fortran:
        raise ValueError(f"cannot shrink {path} of shape {shape} to {rows} rows")
    array.flush()
    new_shape = (rows, *shape[1:])
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
    with open(path, "r+b") as handle:
        version = np.lib.format.read_magic(handle)
        handle.seek(0)
        writer = {(1, 0): np.lib.format.write_array_header_1_0}.get(
            version, np.lib.format.write_array_header_2_0
        )
        writer(handle, {**header, "shape": new_shape})
        if handle.tell() != offset:
            raise ValueError(f"the header of {path} would change length; cannot shrink in place")
        handle.truncate(offset + int(np.prod(new_shape)) * dtype.itemsize)
    shrunk = np.lib.format.open_memmap(path, mode="r+")
    _remove_when_unused(shrunk, path.parent)
    return shrunk
