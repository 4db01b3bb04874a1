"""File writing that never leaves a half-written file under a name that readers trust."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to target; rename it onto target only if the block succeeds.

    The temporary name starts with a dot and ends in .partial, so version globs and loaders never
    pick it up, and a killed process leaves at worst a .partial file, never a truncated target.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".partial", dir=target.parent
    )
    os.close(handle)
    temp_path = Path(temp_name)
    try:
        yield temp_path
        os.replace(temp_path, target)
    finally:
        temp_path.unlink(missing_ok=True)
