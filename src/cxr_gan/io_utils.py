"""File writing that never leaves a half-written file under a name that readers trust."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to target; rename it onto target only if the block succeeds.

    The temporary name starts with a dot and ends in .partial, so version globs and loaders never
    pick it up, and a killed process leaves at worst a .partial file, never a truncated target.
    `suffix` is appended for writers that insist on an extension (Keras wants .keras).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".partial{suffix}", dir=target.parent
    )
    os.close(handle)
    temp_path = Path(temp_name)
    try:
        yield temp_path
        os.chmod(temp_path, 0o666 & ~_umask())  # mkstemp's 0600 would hide outputs from others
        os.replace(temp_path, target)
    finally:
        temp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder next to target; rename it to target if the block succeeds.

    Readers see either no folder or a complete one: a set of files appears all at once.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise FileExistsError(f"{target} already exists; versioned outputs are never overwritten")
    temp_dir = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    )
    try:
        yield temp_dir
        os.chmod(temp_dir, 0o777 & ~_umask())
        for child in temp_dir.iterdir():
            if child.is_file():
                os.chmod(child, 0o666 & ~_umask())
        os.rename(temp_dir, target)
    finally:
        if temp_dir.exists():
            shutil.rmtree(temp_dir)


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it; restored at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
