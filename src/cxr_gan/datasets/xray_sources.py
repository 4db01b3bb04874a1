"""Read-only datasets for raw X-rays: a folder on disk, or deterministic phantoms for the demo.

Both load a RawXrayCollection: a list of files whose bytes are read (or drawn) only when the
pipeline asks, one at a time.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import cv2
from kedro.io import AbstractDataset, DatasetError

from cxr_gan.data.phantom import COVID, NORMAL, PhantomConfound, draw_phantom
from cxr_gan.data.sources import RawFile, RawXrayCollection, scan_folder


class _ReadOnlyDataset(AbstractDataset[None, RawXrayCollection]):
    def save(self, data: None) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only: raw X-rays are never overwritten")


class XrayFolderDataset(_ReadOnlyDataset):
    """A folder with one sub-folder per class; optional CSV files at its root (patient ids).

    Example catalog entry::

        raw_xrays:
          type: cxr_gan.datasets.XrayFolderDataset
          path: data/01_raw

    With `optional: true` a missing folder loads as None (for an external test set).
    """

    def __init__(
        self, *, path: str, optional: bool = False, metadata: dict[str, Any] | None = None
    ) -> None:
        self._path = path
        self._optional = optional
        self.metadata = metadata

    @property
    def path(self) -> Path:
        """The folder, as the catalog entry gives it."""
        return Path(self._path)

    @property
    def optional(self) -> bool:
        """Whether a missing folder loads as None (else it is an error)."""
        return self._optional

    def load(self) -> RawXrayCollection | None:
        """The folder's files; None for an optional folder that does not exist."""
        if self._optional and not Path(self._path).is_dir():
            return None
        return scan_folder(self._path)

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "optional": self._optional}


class PhantomXrayDataset(_ReadOnlyDataset):
    """Phantom chest X-rays drawn on demand as PNG bytes, in the same layout as a real folder.

    Example catalog entry (conf/demo/catalog.yml)::

        raw_xrays:
          type: cxr_gan.datasets.PhantomXrayDataset
          count_per_class: 60
          image_size: 128
          seed: 42
          confound: null        # or {kind: marker, label: 1}: a source artefact on one class
    """

    def __init__(
        self,
        *,
        count_per_class: int = 60,
        image_size: int = 128,
        seed: int = 42,
        confound: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._count = count_per_class
        self._size = image_size
        self._seed = seed
        self._confound = PhantomConfound(**confound) if confound else None
        self.metadata = metadata

    def load(self) -> RawXrayCollection:
        files = [
            RawFile(
                f"{folder}/phantom_{index:05d}.png",
                partial(self._png_bytes, label, index),
            )
            for label, folder in ((NORMAL, "normal"), (COVID, "covid"))
            for index in range(self._count)
        ]
        return RawXrayCollection(f"phantom(seed={self._seed})", files, ["covid", "normal"])

    def _png_bytes(self, label: int, index: int) -> bytes:
        pixels = draw_phantom(label, index, self._seed, self._size, self._confound)
        ok, encoded = cv2.imencode(".png", pixels)
        if not ok:
            raise DatasetError("OpenCV could not encode a phantom as PNG")
        return encoded.tobytes()

    def _describe(self) -> dict[str, Any]:
        return {
            "count_per_class": self._count,
            "image_size": self._size,
            "seed": self._seed,
            "confound": self._confound,
        }
