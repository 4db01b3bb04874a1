"""cxr_gan.io_utils.inside_folder: the one rule for names read from saved file lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxr_gan.io_utils import PathOutsideError, inside_folder


def test_names_inside_the_folder_pass_and_names_that_leave_it_are_refused(tmp_path: Path):
    folder = tmp_path / "sets" / "2026-01-01T00.00.00.000Z"
    (folder / "figures").mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(b"x")
    assert inside_folder(folder, "a.png", "manifest.csv") == folder / "a.png"
    assert inside_folder(folder, "figures/a.png", "manifest.csv") == folder / "figures/a.png"
    for name in ("../../secret.png", "figures/../../x.png", str(tmp_path / "secret.png"), "", "."):
        with pytest.raises(PathOutsideError, match="manifest.csv names") as caught:
            inside_folder(folder, name, "manifest.csv")
        assert repr(name) in str(caught.value) and "restore it" in str(caught.value)


def test_a_link_that_leads_out_of_the_folder_is_refused(tmp_path: Path):
    folder = tmp_path / "version"
    folder.mkdir()
    (tmp_path / "secret.png").write_bytes(b"x")
    (folder / "a.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(PathOutsideError, match="'a.png', which is not a file inside"):
        inside_folder(folder, "a.png", "manifest.csv")
