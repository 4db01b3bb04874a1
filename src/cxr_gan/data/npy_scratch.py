"""Scratch .npy files: a big array filled row by row on disk, then handed to whoever saves it.

A writer that builds a big array incrementally (data.ingest) fills a `scratch_npy` memmap, may
drop rows at the end (`shrink_npy_rows`), and returns the memmap. Saving it is cheap because the
memmap is a whole, ordinary .npy file: `adopt_npy_file` moves that file to its destination (a
rename on the same filesystem, an in-kernel copy otherwise) instead of writing the array a second
time; NpyFolderDataset does so for every array it saves. A scratch file nobody adopted is removed
when its memmap is garbage-collected.

Plain numpy and the standard library; below the datasets, which use it (see docs/code-map.md).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from cxr_gan.io_utils import explained_write_errors

SCRATCH_PREFIX = "cxr-gan-scratch-"
_scratch_cleanups: dict[str, weakref.finalize] = {}  # scratch folder -> its pending removal


def read_npy_header(path: Path) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran_order, dtype, data offset) of a .npy file."""
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        return tuple(shape), fortran, dtype, handle.tell()


def backing_npy_file(value: Any) -> Path | None:
    """The .npy file that holds exactly `value` (a memmap of a whole file), else None."""
    if not isinstance(value, np.memmap) or not value.filename:
        return None
    path = Path(value.filename)
    if path.suffix != ".npy" or not path.is_file() or not value.flags.c_contiguous:
        return None
    shape, fortran, dtype, offset = read_npy_header(path)
    exact = (shape, dtype, offset) == (value.shape, value.dtype, value.offset) and not fortran
    return path if exact and path.stat().st_size == offset + value.nbytes else None


def adopt_npy_file(value: Any, target: Path) -> bool:
    """Move (same filesystem) or copy the file behind a scratch memmap to target; False if
    value is not such a memmap. The memmap is made read-only: the saved version must not change."""
    source = backing_npy_file(value)
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
    shape, fortran, dtype, offset = read_npy_header(path)
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
