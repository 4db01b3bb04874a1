"""Shared plumbing of this project's versioned datasets on the local filesystem."""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Callable
from functools import wraps
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import AbstractVersionedDataset, DatasetError, Version

from cxr_gan.io_utils import explained_write_errors


class LoadsOwnSaveMixin:
    """A dataset whose run has saved its version loads that version back, not the latest.

    Kedro resolves an unpinned load to the newest version on disk. Two runs at once (two
    terminals, a scheduler) each save their own version, so without this a run's next node could
    read the other run's newer output and mix the two runs. Kedro gives every versioned dataset of
    a run the run's save version, and this project's datasets make that version's file appear
    only once its save has completed (reserved folder, atomic rename), so "the save version
    exists on disk" means "this run saved it". The check is on disk, not in memory, so it also
    holds under ParallelRunner, whose workers save through pickled copies of the catalog.
    Pinned loads (`--load-versions`) are unchanged; a dataset this run has not saved yet still
    loads the latest version.
    """

    def resolve_load_version(self) -> str | None:
        version = getattr(self, "_version", None)
        if version is not None and not version.load and version.save:
            path = str(self._get_versioned_path(version.save))  # type: ignore[attr-defined]
            if self._exists_function(path):  # type: ignore[attr-defined]
                return version.save  # type: ignore[no-any-return]
        return super().resolve_load_version()  # type: ignore[misc,no-any-return]


class LocalVersionedDataset(LoadsOwnSaveMixin, AbstractVersionedDataset):
    """Kedro versioning (<filepath>/<version>/<name>) for files on the local disk; subclasses
    implement load and save.

    Saving first creates the version folder with mkdir, which succeeds for exactly one process:
    two runs that picked the same version (Kedro's versions are millisecond timestamps) cannot
    overwrite each other; the second stops with a message instead. Kedro finds versions by
    globbing <filepath>/*/<name>, so an empty reserved folder is never loaded. Once its run has
    saved a version, loads read that version (LoadsOwnSaveMixin), not another run's newer one.
    """

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
        self._reserved: set[str] = set()

    def _get_save_path(self) -> PurePosixPath:
        path = super()._get_save_path()
        if self._version is not None:
            self._reserve(Path(path).parent)
        return path

    def _reserve(self, folder: Path) -> None:
        """Create this save's version folder; fail if another process already made it."""
        reserve_version_folder(folder, self._filepath.name, self._reserved)

    @classmethod
    def _save_wrapper(cls, save_func: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        """Kedro's save wrapper, plus: a failed save removes the version folder it reserved
        (if still empty), so failures leave no empty versions behind."""

        @wraps(save_func)
        def save(self: LocalVersionedDataset, data: Any) -> None:
            try:
                save_func(self, data)
            except BaseException:
                for folder in list(self._reserved):
                    release_version_folder(Path(folder), self._reserved)
                raise

        return super()._save_wrapper(save)

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).exists()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version}


def reserve_version_folder(folder: Path, name: str, held: set[str]) -> None:
    """Create a save's version folder with mkdir, which succeeds for exactly one process.

    Two runs that picked the same version (Kedro's versions are millisecond timestamps) thus
    cannot overwrite each other: the second stops with a message naming the folder. `held` is the
    caller's set of folders it already reserved, so a second call within the same save passes.
    Used by LocalVersionedDataset and by the atomic kedro-datasets subclasses (atomic.py).
    """
    if str(folder) in held:
        return
    with explained_write_errors(folder):
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()
        except FileExistsError:
            raise DatasetError(
                f"version folder {folder} already exists: another run is saving the same "
                f"version of {name} (two runs started in the same millisecond?). Nothing was "
                "overwritten; run again to get a new version"
            ) from None
    held.add(str(folder))


def release_version_folder(folder: Path, held: set[str]) -> None:
    """Undo reserve_version_folder after a failed save: forget the folder and remove it if it
    is still empty (a folder with anything in it is never touched)."""
    held.discard(str(folder))
    with contextlib.suppress(OSError):
        folder.rmdir()
