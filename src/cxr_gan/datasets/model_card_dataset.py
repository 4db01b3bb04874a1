"""A model card saved as one versioned folder: model_card.json and model_card.md side by side."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import DatasetError
from kedro_datasets._typing import HTMLPreview

from cxr_gan.datasets._local import LocalVersionedDataset
from cxr_gan.io_utils import atomic_directory

CARD_JSON = "model_card.json"
CARD_MARKDOWN = "model_card.md"


class ModelCardDataset(LocalVersionedDataset):
    """Data: {"card": JSON-ready dict, "markdown": str}. Layout: <filepath>/<version>/
    model_card.json and model_card.md, written as one unit (a hidden folder renamed into place;
    the JSON file marks a complete version). load() adds "folder": the version folder's path.
    kedro-viz previews the Markdown.

    Example catalog entry::

        generator_card:
          type: cxr_gan.datasets.ModelCardDataset
          filepath: data/06_models/generator_card
          versioned: true
    """

    def _get_versioned_path(self, version: str) -> PurePosixPath:
        return super()._get_versioned_path(version).parent / CARD_JSON

    def _card_path(self, for_save: bool) -> Path:
        if self._version is None:
            return Path(self._filepath) / CARD_JSON
        return Path(self._get_save_path() if for_save else self._get_load_path())

    def load(self) -> dict[str, Any]:
        path = self._card_path(for_save=False)
        try:
            card = json.loads(path.read_text(encoding="utf-8"))
            markdown = (path.parent / CARD_MARKDOWN).read_text(encoding="utf-8")
        except (OSError, ValueError) as error:
            raise DatasetError(
                f"model card {path.parent} cannot be read ({error}); re-run "
                "`kedro run --pipelines synthesis` to write a new one"
            ) from error
        return {"card": card, "markdown": markdown, "folder": str(path.parent)}

    def save(self, data: dict[str, Any]) -> None:
        if not isinstance(data.get("card"), dict) or not isinstance(data.get("markdown"), str):
            raise DatasetError('ModelCardDataset saves {"card": dict, "markdown": str}')
        folder = self._card_path(for_save=True).parent
        with atomic_directory(folder) as temp_dir:
            (temp_dir / CARD_MARKDOWN).write_text(data["markdown"], encoding="utf-8")
            (temp_dir / CARD_JSON).write_text(
                json.dumps(data["card"], indent=1, default=str), encoding="utf-8"
            )

    def preview(self) -> HTMLPreview:
        """kedro-viz's preview: the card's Markdown (kedro-viz renders Markdown there)."""
        return HTMLPreview(self.load()["markdown"])

    def _exists(self) -> bool:
        try:
            return self._card_path(for_save=False).exists()
        except DatasetError:
            return False
