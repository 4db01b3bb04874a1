"""The generator's model card (cxr_gan.reporting.model_card): counts, licences, use."""

from __future__ import annotations

import pandas as pd

from cxr_gan.reporting.data_quality import dataset_fingerprint
from cxr_gan.reporting.model_card import build_model_card, licence_column, model_card_markdown
from cxr_gan.reporting.report_blocks import Text
from cxr_gan.reporting.report_gan import GanResults, gan_section

CLASSES = {"normal": 0, "covid": 1}


def _manifest(licences: list[str] | None) -> pd.DataFrame:
    rows = {
        "id": [f"img{i}" for i in range(6)] + ["bad"],
        "relative_path": [f"{'covid' if i % 2 else 'normal'}/img{i}.png" for i in range(6)]
        + ["covid/bad.png"],
        "class_folder": ["covid" if i % 2 else "normal" for i in range(6)] + ["covid"],
        "label": [i % 2 for i in range(6)] + [1],
        "status": ["ok"] * 6 + ["skipped"],
        "reason": [""] * 7,
        "sha256": [f"{i:064x}" for i in range(7)],
    }
    if licences is not None:
        rows["csv_License"] = licences
    return pd.DataFrame(rows)


def _split() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"img{i}" for i in range(6)],
            "label": [i % 2 for i in range(6)],
            "role": ["train"] * 5 + ["eval"],
        }
    )


def _card(manifest: pd.DataFrame) -> dict:
    return build_model_card(
        generator_path="/p/data/06_models/generator.keras/2026-01-01T00.00.00.000Z/generator.keras",
        history={"settings": {"epochs": 3}, "generator_epoch": 2, "epochs": [{}, {}, {}]},
        gan_split=_split(),
        manifest=manifest,
        quality={"verdict": "not collapsed", "collapsed": False, "fid": 12.5},
        classes=CLASSES,
    )


def test_the_card_counts_training_images_per_class_and_licence():
    manifest = _manifest(["CC BY 4.0", "CC BY-NC", "CC BY 4.0", "", "CC BY 4.0", "x", "y"])
    assert licence_column(manifest) == "csv_License"
    card = _card(manifest)
    assert card["trained_on"] == {
        "classes": {"normal": 3, "covid": 2},
        "total": 5,
        "evaluation_images": 1,
    }
    # img5 is held out (eval): its licence is not counted; img3 states none
    assert card["licences"] == {"CC BY 4.0": 3, "CC BY-NC": 1, "not stated": 1}
    assert card["version"] == "2026-01-01T00.00.00.000Z" and card["epoch_kept"] == 2
    # the data-quality report's fingerprint: the usable rows' hashes, the skipped file left out
    assert card["data_fingerprint"] == dataset_fingerprint([f"{i:064x}" for i in range(6)])
    markdown = model_card_markdown(card)
    assert "| CC BY-NC | 1 |" in markdown and card["data_fingerprint"] in markdown
    assert "Not for diagnosis" in markdown and "not collapsed" in markdown


def test_without_a_licence_column_the_card_says_to_check_the_sources():
    card = _card(_manifest(None))
    assert card["licences"] is None
    assert "no licence column" in model_card_markdown(card)


def test_the_study_reports_gan_section_links_the_card():
    card = {"card": _card(_manifest(None)), "markdown": "", "folder": "/p/generator_card/v1"}
    texts = [b.text for b in gan_section("GAN", "", GanResults(card=card)) if isinstance(b, Text)]
    [line] = [t for t in texts if "model_card.md" in t]
    assert "/p/generator_card/v1/model_card.md" in line and "not for diagnosis" in line
    assert card["card"]["data_fingerprint"][:12] in line
    missing = [b.text for b in gan_section("GAN", "", GanResults()) if isinstance(b, Text)]
    assert any("model card: not run yet" in t for t in missing)
