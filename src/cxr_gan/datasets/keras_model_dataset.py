"""A versioned .keras model dataset: atomic save, load with Keras safe_mode (no code from data)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro.io.core import DatasetError, Version

from cxr_gan.datasets._local import LocalVersionedDataset
from cxr_gan.io_utils import atomic_path

if TYPE_CHECKING:  # TensorFlow takes seconds to import: only pipelines that use models pay it
    import keras


class KerasModelDataset(LocalVersionedDataset):
    """Save a Keras model as one .keras file; load it with safe_mode=True and without compiling.

    The loaded model carries `source_path` (the exact versioned file), so outputs made from it can
    record which generator or classifier they came from.

    Example catalog entry::

        generator:
          type: cxr_gan.datasets.KerasModelDataset
          filepath: data/06_models/generator.keras
          versioned: true
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not filepath.endswith(".keras"):
            raise DatasetError(f"KerasModelDataset filepath must end in .keras, got {filepath}")
        super().__init__(filepath=filepath, version=version, metadata=metadata)

    def load(self) -> keras.Model:
        import keras

        path = str(self._get_load_path())
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        model.source_path = path
        return model

    def save(self, data: keras.Model) -> None:
        with atomic_path(self._get_save_path(), suffix=".keras") as temp_path:
            data.save(temp_path)
