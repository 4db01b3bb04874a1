"""ModelCardDataset: the card's JSON and Markdown saved as one versioned folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.io.core import DatasetError, Version

from cxr_gan.datasets import ModelCardDataset

OLD, NEW = "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"
CARD = {"card": {"data_fingerprint": "ab" * 32, "epoch_kept": 3}, "markdown": "# Model card\n"}


def _dataset(folder: Path, load: str | None = None, save: str | None = None) -> ModelCardDataset:
    return ModelCardDataset(filepath=str(folder / "generator_card"), version=Version(load, save))


def test_the_card_is_one_versioned_folder_loaded_with_its_path_and_previewed(tmp_path: Path):
    _dataset(tmp_path, save=OLD).save(CARD)
    folder = tmp_path / "generator_card" / OLD
    assert sorted(p.name for p in folder.iterdir()) == ["model_card.json", "model_card.md"]
    newer = {**CARD, "card": {**CARD["card"], "epoch_kept": 4}}
    _dataset(tmp_path, save=NEW).save(newer)
    latest = _dataset(tmp_path)
    assert latest.load() == {**newer, "folder": str(tmp_path / "generator_card" / NEW)}
    assert latest.preview() == "# Model card\n"
    assert _dataset(tmp_path, load=OLD).load()["card"]["epoch_kept"] == 3  # never overwritten
    assert not list((tmp_path / "generator_card").glob(".*"))  # no temporary folder left


def test_a_card_that_is_not_a_dict_and_text_is_refused_and_leaves_nothing(tmp_path: Path):
    with pytest.raises(DatasetError, match="saves"):
        _dataset(tmp_path, save=OLD).save({"card": "text", "markdown": "# x"})
    assert not (tmp_path / "generator_card" / OLD).exists()


def test_a_damaged_card_names_its_folder_and_what_to_run(tmp_path: Path):
    _dataset(tmp_path, save=OLD).save(CARD)
    (tmp_path / "generator_card" / OLD / "model_card.json").write_text("{ not json")
    with pytest.raises(DatasetError, match=r"generator_card/.*kedro run --pipelines synthesis"):
        _dataset(tmp_path).load()
