"""What a raw-data catalog entry hands to the pipeline: a list of files, read one at a time.

A folder on disk and the phantom generator both produce a RawXrayCollection, so everything
downstream (hashing, decoding, the quality report) is the same code for real and demo data, and no
more than one raw file is ever held in memory.

Every entry under a folder is accounted for (scan_folder): a regular file becomes a RawFile;
an entry that cannot be read as one (an unreadable or vanished folder, a FIFO, socket or device,
a broken link, a link loop) becomes a RawFile with a `problem`, which the ingest reports as a
skipped row instead of failing or leaving it out. Symbolic links to folders are followed (a class
folder that links to a dataset on another disk reads like any other), with a guard against loops;
a file reached through a link whose target lies outside the scanned folder carries that target
(`outside_target`), so the ingest can flag it and hash it only once it decoded as an image.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

logger = logging.getLogger(__name__)

_CONTROL_ESCAPES = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


class NotRegularFileError(OSError):
    """An entry that is not a regular file (FIFO, socket, device): never opened for reading."""


@dataclass(frozen=True)
class RawFile:
    relative_path: str  # POSIX path relative to the collection root, e.g. "covid/img01.png"
    read_bytes: Callable[[], bytes] = field(repr=False, compare=False)
    # why this entry cannot be read as a file ("not a regular file (FIFO)", ...); "" when it can
    problem: str = ""
    # the file's real path when a link took the scan outside the collection's folder, else ""
    outside_target: str = ""
    # where the file is on disk, to read part of it (a header); "" for generated files
    path: str = field(default="", compare=False)

    @property
    def folder(self) -> str:
        """The first path component: the class folder (empty for files at the root)."""
        parts = self.relative_path.split("/")
        return parts[0] if len(parts) > 1 else ""


@dataclass(frozen=True)
class RawXrayCollection:
    root: str  # where the files came from, for messages ("data/01_raw", "phantom(seed=42)")
    files: list[RawFile]
    folders: list[str]  # class-level sub-folders that exist, empty or not
    # CSV files at the root, by name: their bytes, read only when a patient table is wanted
    csv_files: dict[str, Callable[[], bytes]] = field(default_factory=dict)

    def in_folder(self, folder: str) -> list[RawFile]:
        return [f for f in self.files if f.folder == folder]


def text_name(name: str) -> str:
    """A file name as text that a CSV row, a JSON report and a log line keep intact: control
    characters (macOS's `Icon\\r`) and bytes that are not UTF-8 (kept by Python as surrogates)
    are written as backslash escapes (`Icon\\r`, `\\xe9`); every other name is returned as is."""
    if name.isprintable():
        return name
    out = []
    for char in name:
        category = unicodedata.category(char)
        if category == "Cs":  # an undecodable byte (os.fsdecode's surrogateescape)
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        elif category == "Cc":
            out.append(_CONTROL_ESCAPES.get(char, f"\\x{ord(char):02x}"))
        else:
            out.append(char)
    return "".join(out)


def read_problem(error: OSError) -> str:
    """The reason a file could not be read, as the manifest states it."""
    if isinstance(error, NotRegularFileError):
        return str(error)
    if isinstance(error, FileNotFoundError):
        return "disappeared during the run: it was listed, then moved or deleted before it was read"
    if isinstance(error, PermissionError):
        return "cannot read: permission denied (give the user running Kedro read access)"
    if isinstance(error, IsADirectoryError):
        return "not a regular file (a folder)"
    return f"cannot read: {error.strerror or error}"


def read_regular_file(path: str) -> bytes:
    """The bytes of the regular file at `path` (links followed). Raises NotRegularFileError for
    a FIFO, socket or device (opened without blocking and never read), FileNotFoundError when it
    is gone, PermissionError when it may not be read."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        kind = _entry_kind(os.fstat(descriptor).st_mode)
        if kind:
            raise NotRegularFileError(f"not a regular file: {kind}, never read")
        with os.fdopen(descriptor, "rb", closefd=True) as handle:
            descriptor = -1
            return handle.read()
    finally:
        if descriptor >= 0:
            os.close(descriptor)


def scan_folder(root: str | Path) -> RawXrayCollection:
    """List every entry under root without reading any file (hidden ones too, to report them).

    Returns a RawXrayCollection whose files are the regular files below root (links followed),
    plus one entry with a `problem` for each entry that cannot be read as a file, sorted by path;
    folders: the root's sub-folders (links to folders included); csv_files: the root's CSVs.
    Raises FileNotFoundError (with what to do) when root is not a folder."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"raw X-ray folder {root} does not exist: create it with one sub-folder per class "
            "(for example normal/ and covid/), point the catalog entry raw_xrays elsewhere in "
            "conf/local/catalog.yml, or try `kedro run --env demo` for built-in phantom X-rays"
        )
    walk = _Walk(root)
    walk.folder(str(root), "", walk.real_root, {_identity(root)})
    files = sorted(walk.files, key=lambda f: f.relative_path.split("/"))
    return RawXrayCollection(str(root), files, sorted(walk.folders), walk.csv_files)


class _Walk:
    """One scan: os.scandir from the root, following links to folders with a loop guard."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.files: list[RawFile] = []
        self.folders: list[str] = []
        self.csv_files: dict[str, Callable[[], bytes]] = {}

    def problem(self, relative: str, reason: str) -> None:
        self.files.append(RawFile(relative, _refuse, problem=reason))

    def folder(self, path: str, relative: str, real: str, ancestors: set[tuple[int, int]]) -> None:
        try:
            with os.scandir(path) as listing:
                entries = list(listing)
        except OSError as error:
            reason = read_problem(error)
            self.problem(relative, f"{reason} (a folder: nothing in it could be listed)")
            return
        if not entries and relative:
            logger.info("Folder %s/%s is empty: nothing to read there", self.root, relative)
        for entry in entries:
            name = text_name(entry.name)
            child = f"{relative}/{name}" if relative else name
            is_link = entry.is_symlink()
            try:
                info = os.stat(entry.path)  # follows links
            except FileNotFoundError:
                if is_link:
                    target = os.readlink(entry.path)
                    self.problem(child, f"broken link: its target {target} does not exist")
                else:
                    self.problem(child, read_problem(FileNotFoundError()))
                continue
            except OSError as error:  # ELOOP (a link to itself), EACCES on the way
                reason = "link loop" if error.errno == errno.ELOOP else read_problem(error)
                self.problem(child, f"{reason}: not followed")
                continue
            child_real = os.path.realpath(entry.path) if is_link else os.path.join(real, entry.name)
            if stat.S_ISDIR(info.st_mode):
                self._subfolder(entry.path, child, child_real, info, ancestors)
            elif stat.S_ISREG(info.st_mode):
                if not relative and entry.name.lower().endswith(".csv"):
                    self.csv_files[name] = partial(read_regular_file, entry.path)
                    continue  # a table (patients, views), read by whoever wants one
                outside = "" if _within(child_real, self.real_root) else child_real
                reader = partial(read_regular_file, entry.path)
                self.files.append(RawFile(child, reader, outside_target=outside, path=entry.path))
            else:
                self.problem(child, f"not a regular file: {_entry_kind(info.st_mode)}, never read")

    def _subfolder(
        self,
        path: str,
        relative: str,
        real: str,
        info: os.stat_result,
        ancestors: set[tuple[int, int]],
    ) -> None:
        identity = (info.st_dev, info.st_ino)
        if identity in ancestors or _within(self.real_root, real):
            self.problem(
                relative,
                f"link loop: leads back to {real}, a folder that holds this one: not followed",
            )
            return
        if "/" not in relative:
            self.folders.append(relative)
        self.folder(path, relative, real, ancestors | {identity})


def _refuse() -> bytes:
    raise NotRegularFileError("this entry cannot be read as a file (see its problem)")


def _identity(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _entry_kind(mode: int) -> str:
    """'' for a regular file, else what the entry is, in words."""
    if stat.S_ISREG(mode):
        return ""
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return kind
    return "an entry of unknown kind"


def suggest_classes(found: Iterable[str], classes: Mapping[str, int]) -> str:
    """A `data_processing.classes` mapping that accepts the folders found, when each class has
    exactly one folder whose name matches it ignoring case, spaces, hyphens, underscores and a
    suffix (`COVID` and `COVID-19` for covid, `Normal` for normal); '' when there is none."""

    def key(name: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFKC", name).casefold() if c.isalnum())

    mapping = {}
    for wanted, label in classes.items():
        matches = [f for f in found if key(f) and key(f).startswith(key(wanted))]
        exact = [f for f in matches if key(f) == key(wanted)]
        if len(exact) == 1:
            matches = exact
        if len(matches) != 1:
            return ""
        mapping[matches[0]] = label
    if len(mapping) != len(classes):
        return ""
    body = "".join(f"\n    {_yaml_key(folder)}: {label}" for folder, label in mapping.items())
    return f"data_processing:\n  classes:{body}"


def _yaml_key(name: str) -> str:
    plain = name and all(c.isalnum() or c in "_-." for c in name) and not name[0].isdigit()
    return name if plain else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
