"""What a raw-data catalog entry hands to the pipeline: a list of files, read one at a time.

A folder on disk and the phantom generator both produce a RawXrayCollection, so everything
downstream (hashing, decoding, the quality report) is the same code for real and demo data, and no
more than one raw file is ever held in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RawFile:
    relative_path: str  # POSIX path relative to the collection root, e.g. "covid/img01.png"
    read_bytes: Callable[[], bytes] = field(repr=False, compare=False)

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


def scan_folder(root: str | Path) -> RawXrayCollection:
    """List every file under root (hidden ones too, to report them) without reading any."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"raw X-ray folder {root} does not exist: create it with one sub-folder per class "
            "(for example normal/ and covid/), point the catalog entry raw_xrays elsewhere in "
            "conf/local/catalog.yml, or try `kedro run --env demo` for built-in phantom X-rays"
        )
    files = [
        RawFile(path.relative_to(root).as_posix(), path.read_bytes)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.parent != root
    ]
    folders = sorted(p.name for p in root.iterdir() if p.is_dir())
    csv_files = {
        path.name: path.read_bytes
        for path in sorted(root.iterdir())
        if path.is_file() and path.suffix.lower() == ".csv"
    }
    return RawXrayCollection(str(root), files, folders, csv_files)
