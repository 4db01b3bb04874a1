"""A versioned .npz dataset: a dict of numpy arrays, saved atomically, loaded without pickle.

Legacy: xray_arrays used it before the memory-mapped NpyFolderDataset; kept for catalogs of
one's own that still name it (a .npz is read whole into memory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from kedro.io.core import DatasetError, Version

from cxr_gan.datasets._local import LocalVersionedDataset
from cxr_gan.io_utils import atomic_path


class NpzDataset(LocalVersionedDataset):
    """Save and load ``{name: array}`` as one uncompressed or compressed .npz file.

    Arrays of strings are stored as fixed-width unicode, never as objects, so loading runs with
    ``allow_pickle=False``: a data file cannot execute code.

    Example catalog entry::

        xray_arrays:
          type: cxr_gan.datasets.NpzDataset
          filepath: data/05_model_input/xray_arrays.npz
          versioned: true
    """

    def __init__(
        self,
        *,
        filepath: str,
        compress: bool = False,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath=filepath, version=version, metadata=metadata)
        self._compress = compress

    def load(self) -> dict[str, np.ndarray]:
        path = Path(self._get_load_path())
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}

    def save(self, data: dict[str, np.ndarray]) -> None:
        arrays = {name: np.asarray(value) for name, value in data.items()}
        for name, value in arrays.items():
            if value.dtype == object:
                raise DatasetError(
                    f"array '{name}' has dtype object, which .npz can only store with pickle; "
                    "convert it to numbers or fixed-width strings (np.asarray(values, dtype=str))"
                )
        save_path = Path(self._get_save_path())
        with atomic_path(save_path) as temp_path, open(temp_path, "wb") as handle:
            (np.savez_compressed if self._compress else np.savez)(handle, **arrays)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "compress": self._compress, "version": self._version}
