"""What built a report: the project's version and git commit, and the versions of Python,
TensorFlow, Keras and Kedro, read without importing TensorFlow and without failing outside a git
checkout (the commit is then "unknown")."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

UNKNOWN = "unknown"
PACKAGES = (("TensorFlow", "tensorflow"), ("Keras", "keras"), ("Kedro", "kedro"))
GIT_TIMEOUT_S = 10


def git_commit(root: str | Path) -> str:
    """The commit checked out at `root` (40 hex digits), with " (uncommitted changes)" when
    tracked files differ from it; "unknown" when root is no git checkout, git is not installed
    or does not answer within 10 s."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=True,
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--verify", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    return f"{commit} (uncommitted changes)" if dirty else commit


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def software_versions(root: str | Path) -> dict[str, str]:
    """{"cxr-gan": the project's version, "git commit": git_commit(root), "Python", "TensorFlow",
    "Keras", "Kedro": their versions} (installed distributions' metadata; "not installed"
    for one that is missing)."""
    versions = {
        "cxr-gan": _version("cxr-gan"),
        "git commit": git_commit(root),
        "Python": platform.python_version(),
    }
    versions |= {name: _version(distribution) for name, distribution in PACKAGES}
    return versions
