"""A versioned set of PNG images with a manifest, saved and loaded as ONE unit.

Layout: <filepath>/<version>/*.png and <filepath>/<version>/manifest.csv. A set is written into a
hidden temporary folder and renamed into place, so a killed run never leaves a partial version
that the next run would load. (kedro's PartitionedDataset versions each file separately, which
is not what a "set of 50 synthetic X-rays" means.)
"""

from __future__ import annotations

import base64
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np
import pandas as pd
from kedro.io.core import DatasetError
from kedro_datasets._typing import ImagePreview

from cxr_gan.data.thumbnails import MAX_THUMBNAILS, thumbnail_sheet
from cxr_gan.datasets._local import LocalVersionedDataset
from cxr_gan.io_utils import atomic_directory, inside_folder

MANIFEST = "manifest.csv"


class ImageSetDataset(LocalVersionedDataset):
    """Data is {"images": uint8 array (n, h, w) or list of 2-D arrays, "manifest": DataFrame
    with a "filename" column naming each image's PNG, in the same order}.

    Example catalog entry::

        synthetic_xrays:
          type: cxr_gan.datasets.ImageSetDataset
          filepath: data/07_model_output/synthetic_xrays
          versioned: true
    """

    def _get_versioned_path(self, version: str) -> PurePosixPath:
        # <filepath>/<version>/manifest.csv: the manifest marks a complete version
        return super()._get_versioned_path(version).parent / MANIFEST

    def _manifest_path(self, for_save: bool) -> Path:
        if self._version is None:
            return Path(self._filepath) / MANIFEST
        return Path(self._get_save_path() if for_save else self._get_load_path())

    def load(self) -> dict[str, Any]:
        manifest_path = self._manifest_path(for_save=False)
        manifest = pd.read_csv(manifest_path, keep_default_na=False)
        images = _read_images(manifest_path, manifest["filename"])
        same_shape = len({image.shape for image in images}) <= 1
        return {
            "images": np.stack(images) if images and same_shape else images,
            "manifest": manifest,
            "folder": str(manifest_path.parent),
        }

    def save(self, data: dict[str, Any]) -> None:
        manifest: pd.DataFrame = data["manifest"]
        images = data["images"]
        if "filename" not in manifest.columns or len(manifest) != len(images):
            raise DatasetError(
                "ImageSetDataset needs a manifest with a 'filename' column and one row per image"
            )
        folder = self._manifest_path(for_save=True).parent
        with atomic_directory(folder) as temp_dir:
            for name, image in zip(manifest["filename"], images, strict=True):
                inside_folder(folder, name, "the manifest to save")
                ok, encoded = cv2.imencode(".png", np.asarray(image))
                if not ok:
                    raise DatasetError(f"could not encode {name} as PNG")
                (temp_dir / name).write_bytes(encoded.tobytes())
            manifest.to_csv(temp_dir / MANIFEST, index=False)

    def preview(self) -> ImagePreview:
        """kedro-viz's preview: a thumbnail sheet of the latest (or loaded) version's first
        images (cxr_gan.data.thumbnails), as a base64 PNG string."""
        manifest_path = self._manifest_path(for_save=False)
        names = pd.read_csv(manifest_path, keep_default_na=False)["filename"][:MAX_THUMBNAILS]
        sheet = thumbnail_sheet(_read_images(manifest_path, names))  # only the images shown
        return ImagePreview(base64.b64encode(sheet).decode("ascii"))

    def _exists(self) -> bool:
        try:
            return self._manifest_path(for_save=False).exists()
        except DatasetError:
            return False


def _read_images(manifest_path: Path, names: Any) -> list[np.ndarray]:
    """The images named (file names in the manifest's folder), as stored (IMREAD_UNCHANGED).

    Raises PathOutsideError (cxr_gan.io_utils.inside_folder) for a name outside that folder
    (`../`, an absolute path), DatasetError for a file that cannot be read."""
    images = []
    for name in names:
        path = inside_folder(manifest_path.parent, name, manifest_path)
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise DatasetError(
                f"{manifest_path.parent / name} listed in {manifest_path} cannot be read"
            )
        images.append(image)
    return images
