"""kedro-datasets writers made atomic: write a hidden temp file, rename it when complete.

pandas.CSVDataset, json.JSONDataset, text.TextDataset and matplotlib.MatplotlibDataset open the
final versioned path and write into it, so a run killed mid-write (or a full disk) would leave a
truncated file that Kedro loads as the latest version, and two runs that picked the same
millisecond version would overwrite each other. The subclasses here keep their parents' load,
preview() and metadata (kedro-viz previews work unchanged) and only change where save writes.
"""

from __future__ import annotations

import inspect
import os
import secrets
import shutil
from collections.abc import Callable
from functools import wraps
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import DatasetError, get_filepath_str
from kedro_datasets.json import JSONDataset as _JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset as _MatplotlibDataset
from kedro_datasets.pandas import CSVDataset as _CSVDataset
from kedro_datasets.text import TextDataset as _TextDataset

from cxr_gan.datasets._local import (
    LoadsOwnSaveMixin,
    release_version_folder,
    reserve_version_folder,
)
from cxr_gan.io_utils import explained_write_errors


class AtomicSaveMixin(LoadsOwnSaveMixin):
    """Make a kedro-datasets versioned dataset save atomically on the local disk.

    Hook points: these datasets compute their target with self._get_save_path() inside save, and
    Kedro wraps every save method with the class method _save_wrapper. During a save,
    _get_save_path reserves the version folder exactly like LocalVersionedDataset (an exclusive
    mkdir; a second run saving the same version stops with a DatasetError naming the folder) and
    returns a hidden `.<name>.<random>.partial` path in that folder, which Kedro's version glob
    `<filepath>/*/<name>` never matches. The wrapper renames it onto <name> only after the
    parent's save returned; on any failure it removes the temp and the folder it reserved.

    A MatplotlibDataset given a list or dict of figures writes a folder of PNGs; that folder is
    written and renamed the same way. Replacing an existing folder (unversioned) is refused, as
    it cannot be done atomically. Non-local protocols (s3://, ...) save as the parent does.
    """

    _protocol: str
    _filepath: PurePosixPath
    _version: Any
    _partial_path: PurePosixPath | None = None
    _folder_types: tuple[type, ...] = ()  # data saved as a folder of files, not one file

    @classmethod
    def _save_wrapper(cls, save_func: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        """Add the temp-then-rename step inside Kedro's own save wrapper (versions, logging).

        The parent's save arrives already wrapped by Kedro (its versioned wrapper is not marked
        as such), so unwrap it to the plain writer: wrapping twice would resolve two versions.
        """
        save_func = inspect.unwrap(save_func)

        @wraps(save_func)
        def save(self: AtomicSaveMixin, data: Any) -> None:
            if self._protocol != "file":
                save_func(self, data)
            else:
                self._save_atomically(save_func, data)

        return super()._save_wrapper(save)  # type: ignore[misc,no-any-return]

    def _final_path(self) -> Path:
        """Where this save's output ends up (Kedro has already fixed the save version)."""
        if self._version is None:
            return Path(self._filepath)
        return Path(self._get_versioned_path(self.resolve_save_version()))  # type: ignore[attr-defined]

    def _save_atomically(self, save_func: Callable[[Any, Any], None], data: Any) -> None:
        final = self._final_path()
        partial = final.parent / f".{final.name}.{secrets.token_hex(4)}.partial"
        if isinstance(data, self._folder_types) and final.exists():
            raise DatasetError(
                f"{final} already exists and a folder of figures cannot be replaced atomically; "
                "set `versioned: true` on this catalog entry or delete the folder"
            )
        self._partial_path = PurePosixPath(partial.as_posix())
        try:
            with explained_write_errors(final):
                save_func(self, data)  # writes to partial via _get_save_path
                os.replace(partial, final)
        except BaseException:
            if partial.is_dir():
                shutil.rmtree(partial, ignore_errors=True)
            partial.unlink(missing_ok=True)
            held = self._held_folders()
            if str(final.parent) in held:  # the version folder this save reserved, if empty
                release_version_folder(final.parent, held)
            raise
        finally:
            self._partial_path = None

    def _get_save_path(self) -> PurePosixPath:
        if self._version is not None and self._protocol == "file":  # before Kedro's own check,
            # so a second saver of a version always gets the message naming the folder
            folder = self._final_path().parent
            reserve_version_folder(folder, self._filepath.name, self._held_folders())
        path: PurePosixPath = super()._get_save_path()  # type: ignore[misc]
        return self._partial_path or path

    def _held_folders(self) -> set[str]:
        """Version folders this instance reserved (kept across calls within one save)."""
        return self.__dict__.setdefault("_reserved", set())


class CSVDataset(AtomicSaveMixin, _CSVDataset):
    """pandas.CSVDataset whose save never leaves a truncated CSV under the final name."""


class JSONDataset(AtomicSaveMixin, _JSONDataset):
    """json.JSONDataset whose save never leaves a truncated JSON under the final name."""


class TextDataset(AtomicSaveMixin, _TextDataset):
    """text.TextDataset whose save never leaves an empty or cut text under the final name."""


class MatplotlibDataset(AtomicSaveMixin, _MatplotlibDataset):
    """matplotlib.MatplotlibDataset whose save never leaves a truncated PNG under the final name,
    and whose load gives the saved image back (the parent cannot load at all).

    load() returns the PNG file's bytes (a figure cannot be rebuilt from its image), or, for a
    folder of figures (a list or dict was saved), {file name: PNG bytes} in name order; the
    study report embeds them. A missing version raises Kedro's DatasetError."""

    _folder_types = (list, dict)

    def load(self) -> bytes | dict[str, bytes]:  # type: ignore[override]
        path = get_filepath_str(self._get_load_path(), self._protocol)
        if self._fs.isdir(path):
            return {
                PurePosixPath(name).name: self._fs.cat_file(name)
                for name in sorted(self._fs.ls(path, detail=False))
                if not PurePosixPath(name).name.startswith(".")
            }
        return self._fs.cat_file(path)
