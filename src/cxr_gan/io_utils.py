"""File writing that never leaves a half-written file under a name that readers trust."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

# errno -> what a person can do about it; other OSErrors pass through unchanged
_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space, or point this catalog entry's filepath at "
    "another disk in conf/local/catalog.yml",
    errno.EDQUOT: "the disk quota is used up: free some space, or point this catalog entry's "
    "filepath at another disk in conf/local/catalog.yml",
    errno.EFBIG: "the file is larger than this system or process allows (ulimit -f): raise the "
    "limit, or point this catalog entry's filepath at another disk in conf/local/catalog.yml",
    errno.EROFS: "the folder is on a read-only file system: make it writable, or point this "
    "catalog entry's filepath at a writable folder in conf/local/catalog.yml",
    errno.EACCES: "this user may not write there: fix the folder's permissions (chmod/chown), or "
    "point this catalog entry's filepath at a writable folder in conf/local/catalog.yml",
    errno.EPERM: "this user may not write there: fix the folder's permissions (chmod/chown), or "
    "point this catalog entry's filepath at a writable folder in conf/local/catalog.yml",
}


class OutputWriteError(OSError):
    """Writing an output failed for a reason the user can fix; the message names path and fix."""


@contextlib.contextmanager
def explained_write_errors(target: str | Path, parameter: str | None = None) -> Iterator[None]:
    """Turn disk-full, read-only and permission errors into one message naming target and fix.

    Raw errors from deep inside numpy or Keras often name a temporary file or nothing at all.
    The fix names the catalog entry's filepath, or `parameter` (a dotted parameter key) when a
    parameter chose the folder.
    """
    try:
        yield
    except OutputWriteError:
        raise
    except OSError as error:
        explained = write_error_sentence(error, target, parameter)
        if explained is None:
            raise
        raise OutputWriteError(
            error.errno,
            f"{explained}. No partial file was left behind; inputs and earlier versions are "
            "untouched",
        ) from error


def write_error_sentence(
    error: OSError, target: str | Path, parameter: str | None = None
) -> str | None:
    """ "cannot write <target>: <reason>; <what to do>" for the errors a person can fix (disk
    full, read-only, permissions; None for others). The fix names the catalog entry's
    filepath, or `parameter` (a dotted parameter key) when a parameter chose the folder."""
    advice = _ADVICE.get(error.errno)
    if advice is None:
        return None
    if parameter is not None:
        advice = advice.replace("this catalog entry's filepath", parameter).replace(
            "conf/local/catalog.yml", "conf/local/parameters.yml"
        )
    return f"cannot write {target}: {os.strerror(error.errno)}; {advice}"


class PathOutsideError(ValueError):
    """A file list names a file outside the folder it belongs to; the message says which."""


def inside_folder(folder: str | Path, name: str, listed_in: str | Path) -> Path:
    """folder / name, checked to stay inside folder: the one rule for every name read from or
    written to a saved file list (a synthetic set's manifest, an arrays index, the Markdown
    report's figures), so a list edited by hand or copied from elsewhere never reaches files
    outside its version folder.

    name: a relative path (str; sub-folders allowed); listed_in: the list it came from, named
    in the error. Symbolic links are followed before the check. Returns the joined path (not
    resolved). Raises PathOutsideError for an absolute name, a name that climbs out with `..`
    or through a link, or an empty name."""
    text = str(name)
    joined = Path(folder) / text
    root = Path(folder).resolve()
    if text.strip() and not Path(text).is_absolute():
        resolved = joined.resolve()
        if resolved != root and root in resolved.parents:
            return joined
    raise PathOutsideError(
        f"{listed_in} names {text!r}, which is not a file inside {Path(folder)}: a saved file "
        "list may name only files in its own version folder. The list was edited or copied "
        "from elsewhere: restore it, or run the pipeline that writes it again"
    )


def unwritable(folder: str | Path, parameter: str | None = None) -> str | None:
    """None when a file can be made in `folder` (or, if it does not exist yet, in its nearest
    existing parent, where it would be created); else why not, as write_error_sentence says it.

    Tries for real (a temporary file, removed at once): permission bits alone miss read-only
    mounts, full disks and quotas."""
    probe = Path(folder).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        handle, name = tempfile.mkstemp(prefix=".cxr_gan_write_check.", dir=probe)
    except OSError as error:
        target = Path(folder).absolute()
        return write_error_sentence(error, target, parameter) or (
            f"cannot write {target}: {error.strerror or error} at {probe}"
        )
    os.close(handle)
    os.unlink(name)
    return None


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to target; rename it onto target only if the block succeeds.

    The temporary name starts with a dot and ends in .partial, so version globs and loaders never
    pick it up, and a killed process leaves at worst a .partial file, never a truncated target.
    `suffix` is appended for writers that insist on an extension (Keras wants .keras).
    """
    target = Path(target)
    with explained_write_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=f".partial{suffix}", dir=target.parent
        )
    os.close(handle)
    temp_path = Path(temp_name)
    try:
        with explained_write_errors(target):
            yield temp_path
            os.chmod(temp_path, 0o666 & ~_umask())  # mkstemp's 0600 would hide outputs
            os.replace(temp_path, target)
    finally:
        temp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder next to target; rename it to target if the block succeeds.

    Readers see either no folder or a complete one: a set of files appears all at once. target may
    already exist as an EMPTY folder (a versioned dataset reserves its version folder first, see
    cxr_gan.datasets._local); a folder with anything in it is never replaced.
    """
    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"{target} already exists; versioned outputs are never overwritten")
    with explained_write_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        temp_dir = Path(
            tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        )
    try:
        with explained_write_errors(target):
            yield temp_dir
            os.chmod(temp_dir, 0o777 & ~_umask())
            for child in temp_dir.iterdir():
                if child.is_file():
                    os.chmod(child, 0o666 & ~_umask())
            try:
                os.rename(temp_dir, target)  # replaces an empty folder only, atomically
            except OSError as error:
                if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise FileExistsError(
                        f"{target} was written by another run meanwhile; versioned outputs are "
                        "never overwritten (run again for a new version)"
                    ) from error
                raise
    except BaseException:
        with contextlib.suppress(OSError):
            target.rmdir()  # the version folder this save reserved, if still empty
        raise
    finally:
        if temp_dir.exists():
            shutil.rmtree(temp_dir, ignore_errors=True)


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it; restored at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
