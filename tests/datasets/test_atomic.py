"""The atomic kedro-datasets subclasses: a failed or concurrent save never leaves a file that
Kedro would load as the latest version, and a run reads back its own version, not another's.

Each failure case first runs the plain kedro-datasets parent as a control, so the test shows the
parent really leaves a truncated file that Kedro picks, and that ours does not.
"""

from __future__ import annotations

import errno
import io
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io.core import DatasetError, Version
from kedro_datasets.json import JSONDataset as PlainJSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset as PlainMatplotlibDataset
from kedro_datasets.pandas import CSVDataset as PlainCSVDataset
from kedro_datasets.text import TextDataset as PlainTextDataset
from matplotlib.figure import Figure

from cxr_gan.datasets import CSVDataset, JSONDataset, MatplotlibDataset, NpzDataset, TextDataset
from tests.conftest import PROJECT_ROOT

OLD = "2026-01-01T00.00.00.000Z"
NEW = "2026-01-02T00.00.00.000Z"


class _Boom:
    """A CSV cell whose text fails: pandas has written every row before it by then."""

    def __str__(self) -> str:
        raise ValueError("serialisation failed midway")


class _NotJson:
    """A JSON value json.dump meets after it has written the keys before it."""


def _frame(value: str) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"{value}{i}" for i in range(500)], "n": list(range(500))})


# class, its kedro-datasets parent, file name, good data, data whose save fails midway
WRITERS = {
    "csv": (
        CSVDataset,
        PlainCSVDataset,
        "table.csv",
        _frame("a"),
        pd.DataFrame({"id": ["row"] * 499 + [_Boom()]}),
    ),
    "json": (
        JSONDataset,
        PlainJSONDataset,
        "report.json",
        {"auc": 0.5, "ids": ["a", "b"]},
        {"long": "x" * 50_000, "bad": _NotJson()},
    ),
    "text": (TextDataset, PlainTextDataset, "table.md", "| a |\n", "| a |\udcff\n"),  # not UTF-8
}


def _figure(colour: str) -> Figure:
    figure = Figure(figsize=(1, 1), dpi=32)
    figure.add_subplot().plot([0, 1], [0, 1], color=colour)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer)
    return buffer.getvalue()


def _assert_equal(loaded: Any, expected: Any) -> None:
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(loaded, expected)
    else:
        assert loaded == expected


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_save_leaves_exactly_the_final_file_and_loads_back(tmp_path: Path, kind: str) -> None:
    cls, _, name, good, _ = WRITERS[kind]
    cls(filepath=str(tmp_path / name), version=Version(None, OLD)).save(good)
    assert _files(tmp_path) == [f"{name}/{OLD}/{name}"]
    _assert_equal(cls(filepath=str(tmp_path / name), version=Version(None, None)).load(), good)


def test_figure_save_leaves_the_same_png_as_the_parent(tmp_path: Path) -> None:
    figure = _figure("red")
    expected = _png(figure)
    dataset = MatplotlibDataset(filepath=str(tmp_path / "fig.png"), version=Version(None, OLD))
    dataset.save(figure)
    assert _files(tmp_path) == [f"fig.png/{OLD}/fig.png"]
    assert (tmp_path / "fig.png" / OLD / "fig.png").read_bytes() == expected
    latest = MatplotlibDataset(filepath=str(tmp_path / "fig.png"), version=Version(None, None))
    assert latest.preview().startswith("iVBOR")  # kedro-viz's base64 PNG preview still works


def test_a_list_of_figures_becomes_one_complete_folder(tmp_path: Path) -> None:
    figures = [_figure("red"), _figure("blue")]
    expected = [_png(figure) for figure in figures]
    path = tmp_path / "grids"
    MatplotlibDataset(filepath=str(path), version=Version(None, OLD)).save(figures)
    assert _files(tmp_path) == [f"grids/{OLD}/grids/0.png", f"grids/{OLD}/grids/1.png"]
    assert [(path / OLD / "grids" / f"{i}.png").read_bytes() for i in range(2)] == expected


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_a_save_failing_midway_leaves_nothing_kedro_would_load(tmp_path: Path, kind: str) -> None:
    cls, parent, name, good, bad = WRITERS[kind]
    # control: the parent leaves a truncated (or empty) file that Kedro takes as the latest
    control = tmp_path / "control" / name
    parent(filepath=str(control), version=Version(None, OLD)).save(good)
    with pytest.raises(DatasetError):
        parent(filepath=str(control), version=Version(None, NEW)).save(bad)
    assert parent(filepath=str(control), version=Version(None, None)).resolve_load_version() == NEW

    ours = tmp_path / "ours" / name
    cls(filepath=str(ours), version=Version(None, OLD)).save(good)
    with pytest.raises(DatasetError):
        cls(filepath=str(ours), version=Version(None, NEW)).save(bad)
    latest = cls(filepath=str(ours), version=Version(None, None))
    assert latest.list_versions(full_path=False) == [OLD]
    _assert_equal(latest.load(), good)
    assert _files(tmp_path / "ours") == [f"{name}/{OLD}/{name}"]  # no .partial, no new folder
    assert not (ours / NEW).exists()  # the reserved version folder was released


class _BrokenFigure:
    """A figure whose rendering fails after the figures before it in a list were written."""

    def savefig(self, buffer: io.BytesIO, **_: Any) -> None:
        buffer.write(b"\x89PNG\r\n")
        raise RuntimeError("rendering failed midway")


def test_a_list_of_figures_failing_midway_leaves_no_version(tmp_path: Path) -> None:
    figures = [_figure("red"), _BrokenFigure()]
    control = tmp_path / "control" / "grids"
    with pytest.raises(DatasetError):
        PlainMatplotlibDataset(filepath=str(control), version=Version(None, NEW)).save(figures)
    assert (control / NEW / "grids" / "0.png").exists()  # the parent's half-written folder

    ours = tmp_path / "ours" / "grids"
    MatplotlibDataset(filepath=str(ours), version=Version(None, OLD)).save([_figure("red")])
    with pytest.raises(DatasetError, match="rendering failed midway"):
        MatplotlibDataset(filepath=str(ours), version=Version(None, NEW)).save(figures)
    latest = MatplotlibDataset(filepath=str(ours), version=Version(None, None))
    assert latest.list_versions(full_path=False) == [OLD]
    assert _files(tmp_path / "ours") == [f"grids/{OLD}/grids/0.png"]


def test_a_disk_full_midway_through_a_png_gives_a_clear_error_and_no_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real writer's file gets half the PNG, then the disk is 'full' (ENOSPC)."""

    def half_then_full(self: PlainMatplotlibDataset, full_key_path: str, plot: Figure) -> None:
        data = _png(plot)
        with open(full_key_path, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    path = tmp_path / "fig.png"
    MatplotlibDataset(filepath=str(path), version=Version(None, OLD)).save(_figure("red"))
    old_bytes = (path / OLD / "fig.png").read_bytes()
    monkeypatch.setattr(PlainMatplotlibDataset, "_save_to_fs", half_then_full)
    with pytest.raises(DatasetError, match=f"cannot write {path / NEW / 'fig.png'}.*disk is full"):
        MatplotlibDataset(filepath=str(path), version=Version(None, NEW)).save(_figure("blue"))
    latest = MatplotlibDataset(filepath=str(path), version=Version(None, None))
    assert latest.resolve_load_version() == OLD
    assert _files(tmp_path) == [f"fig.png/{OLD}/fig.png"]
    assert (path / OLD / "fig.png").read_bytes() == old_bytes


SAME_VERSION = {
    "csv": (CSVDataset, "t.csv", _frame("first"), _frame("second")),
    "json": (JSONDataset, "r.json", {"run": 1}, {"run": 2}),
    "text": (TextDataset, "t.md", "first\n", "second\n"),
    "figure": (MatplotlibDataset, "f.png", _figure("red"), _figure("blue")),
}


@pytest.mark.parametrize("kind", sorted(SAME_VERSION))
def test_two_savers_of_the_same_version_never_overwrite_each_other(
    tmp_path: Path, kind: str
) -> None:
    cls, name, first_data, second_data = SAME_VERSION[kind]
    path = tmp_path / name
    folder = path / OLD
    first = cls(filepath=str(path), version=Version(None, OLD))
    second = cls(filepath=str(path), version=Version(None, OLD))
    first._get_save_path()  # the first run has reserved the version and is still writing
    message = f"version folder {folder} already exists: another run is saving the same version"
    with pytest.raises(DatasetError, match=message):
        second.save(second_data)
    assert not any(folder.iterdir())  # the second wrote nothing, not even a temp file
    first.save(first_data)
    written = (folder / name).read_bytes()
    with pytest.raises(DatasetError, match=message):  # also once the first has finished
        cls(filepath=str(path), version=Version(None, OLD)).save(second_data)
    assert (folder / name).read_bytes() == written
    assert _files(tmp_path) == [f"{name}/{OLD}/{name}"]
    if kind != "figure":
        _assert_equal(cls(filepath=str(path), version=Version(None, None)).load(), first_data)


def test_unversioned_saves_replace_the_file_whole(tmp_path: Path) -> None:
    dataset = TextDataset(filepath=str(tmp_path / "notes.md"))
    dataset.save("first\n")
    with pytest.raises(DatasetError):
        dataset.save("second\udcff")
    assert dataset.load() == "first\n"
    dataset.save("second\n")
    assert dataset.load() == "second\n"
    assert _files(tmp_path) == ["notes.md"]


def test_the_catalog_uses_only_atomic_writers() -> None:
    """Every file output in conf/base goes through cxr_gan's datasets (atomic, reserved)."""
    for env in ("base", "demo", "local"):
        catalog_file = PROJECT_ROOT / "conf" / env / "catalog.yml"
        if not catalog_file.exists():
            continue
        entries = yaml.safe_load(catalog_file.read_text()) or {}
        for name, entry in entries.items():
            if "filepath" in entry:
                assert entry["type"].startswith("cxr_gan.datasets."), (env, name, entry["type"])


def _run_pair(cls: type, path: Path, first_data: Any, second_data: Any) -> tuple[Any, Any]:
    """Two runs at once, as Kedro builds them: each has its own save version, loads unpinned."""
    first = cls(filepath=str(path), version=Version(None, OLD))
    second = cls(filepath=str(path), version=Version(None, NEW))
    second.save(second_data)  # the run that started later is the first to save
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Kedro's "did not match load version" would fail here
        first.save(first_data)  # Kedro then finds NEW as the latest and would load it
    return first, second


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_a_run_reads_back_its_own_version_while_another_run_saves_a_newer_one(
    tmp_path: Path, kind: str
) -> None:
    cls, _, name, first_data, _ = WRITERS[kind]
    second_data = {"csv": _frame("b"), "json": {"auc": 0.9}, "text": "| b |\n"}[kind]
    path = tmp_path / name
    first, second = _run_pair(cls, path, first_data, second_data)
    _assert_equal(first.load(), first_data)  # Kedro alone would give the newer version here
    _assert_equal(second.load(), second_data)
    # ParallelRunner saves through a pickled copy of the catalog: the original still reads it
    _assert_equal(pickle.loads(pickle.dumps(first)).load(), first_data)
    _assert_equal(cls(filepath=str(path), version=Version(None, OLD)).load(), first_data)
    # nothing saved yet under this run's version: the latest, as in Kedro
    _assert_equal(cls(filepath=str(path), version=Version(None, "2026-01-03")).load(), second_data)
    _assert_equal(cls(filepath=str(path), version=Version(None, None)).load(), second_data)
    # a pinned load (--load-versions) wins over the run's own version
    _assert_equal(cls(filepath=str(path), version=Version(NEW, OLD)).load(), second_data)


def test_a_failed_save_leaves_loads_on_the_latest_complete_version(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    CSVDataset(filepath=str(path), version=Version(None, OLD)).save(_frame("a"))
    failing = CSVDataset(filepath=str(path), version=Version(None, NEW))
    with pytest.raises(DatasetError):
        failing.save(WRITERS["csv"][4])
    _assert_equal(failing.load(), _frame("a"))


def test_a_folder_of_figures_and_arrays_read_back_their_own_version_too(tmp_path: Path) -> None:
    older = {"labels": np.array([0, 1], np.int8)}
    newer = {"labels": np.array([1, 1], np.int8)}
    first, second = _run_pair(NpzDataset, tmp_path / "arrays.npz", older, newer)
    np.testing.assert_array_equal(first.load()["labels"], [0, 1])
    np.testing.assert_array_equal(second.load()["labels"], [1, 1])
    figures = tmp_path / "grids"
    first, _ = _run_pair(
        MatplotlibDataset, figures, [_figure("red"), _figure("red")], [_figure("blue")]
    )
    assert first.resolve_load_version() == OLD
    assert len(list((figures / OLD / "grids").iterdir())) == 2
