"""Shared plumbing of this project's versioned datasets on the local filesystem."""

from __future__ import annotations

import glob
import os
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version


class LocalVersionedDataset(AbstractVersionedDataset):
    """Kedro versioning (<filepath>/<version>/<name>) for files on the local disk; subclasses
    implement load and save."""

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            filepath=PurePosixPath(Path(filepath).as_posix()),
            version=version,
            exists_function=os.path.exists,
            glob_function=glob.glob,
        )
        self.metadata = metadata

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).exists()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version}
