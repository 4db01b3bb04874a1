"""ImageSetDataset reads only files inside its own version folder: a manifest (a saved file list)
that names `../` or an absolute path is refused on load, in kedro-viz's preview and on save."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError, Version

from cxr_gan.datasets import ImageSetDataset

VERSION = "2026-01-01T00.00.00.000Z"


def _saved_set(root: Path) -> Path:
    """A real two-image set saved at VERSION; returns its manifest's path."""
    images = np.stack([np.full((8, 8), value, np.uint8) for value in (10, 200)])
    manifest = pd.DataFrame({"filename": ["covid_0000.png", "covid_0001.png"]})
    ImageSetDataset(filepath=str(root), version=Version(None, VERSION)).save(
        {"images": images, "manifest": manifest}
    )
    return root / VERSION / "manifest.csv"


@pytest.mark.parametrize("outside", ["../../secret.png", "absolute"])
def test_a_manifest_naming_a_file_outside_its_version_is_refused(tmp_path: Path, outside: str):
    root = tmp_path / "synthetic_xrays"
    manifest_path = _saved_set(root)
    secret = tmp_path / "secret.png"
    cv2.imwrite(str(secret), np.full((8, 8), 77, np.uint8))  # readable: only the rule stops it
    name = str(secret) if outside == "absolute" else outside
    manifest = pd.read_csv(manifest_path)
    manifest.loc[1, "filename"] = name
    manifest.to_csv(manifest_path, index=False)

    latest = ImageSetDataset(filepath=str(root), version=Version(None, None))
    with pytest.raises(DatasetError, match=f"manifest.csv names '{name}', which is not a file"):
        latest.load()
    with pytest.raises(ValueError, match="which is not a file inside"):
        latest.preview()


def test_a_set_whose_names_would_leave_its_folder_is_not_saved(tmp_path: Path):
    root = tmp_path / "synthetic_xrays"
    dataset = ImageSetDataset(filepath=str(root), version=Version(None, VERSION))
    with pytest.raises(DatasetError, match="'../escaped.png', which is not a file inside"):
        dataset.save(
            {
                "images": np.zeros((1, 8, 8), np.uint8) + 5,
                "manifest": pd.DataFrame({"filename": ["../escaped.png"]}),
            }
        )
    assert not (root / "escaped.png").exists() and not (tmp_path / "escaped.png").exists()
    assert not (root / VERSION).exists()  # the reserved version folder is removed again
