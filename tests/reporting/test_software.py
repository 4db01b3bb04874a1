"""The report's software versions and git commit, inside and outside a git checkout."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cxr_gan.reporting.software import git_commit, software_versions


def test_outside_a_git_checkout_the_commit_is_unknown(tmp_path: Path):
    assert git_commit(tmp_path) == "unknown"
    assert git_commit(tmp_path / "missing") == "unknown"
    versions = software_versions(tmp_path)
    assert versions["git commit"] == "unknown"
    assert versions["Python"] == platform.python_version()
    assert re.fullmatch(r"\d+\.\d+.*", versions["TensorFlow"])
    assert re.fullmatch(r"\d+\.\d+.*", versions["Keras"])
    assert re.fullmatch(r"\d+\.\d+.*", versions["cxr-gan"])


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_in_a_git_checkout_the_commit_is_named_and_uncommitted_changes_said(tmp_path: Path):
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    (tmp_path / "a.txt").write_text("a")
    git("add", "a.txt")
    git("commit", "-q", "-m", "a")
    head = git("rev-parse", "HEAD")
    assert git_commit(tmp_path) == head
    (tmp_path / "a.txt").write_text("b")
    assert git_commit(tmp_path) == f"{head} (uncommitted changes)"
