"""The GAN part of the study report names the generator that was saved (keep_generator)."""

from __future__ import annotations

from cxr_gan.reporting.report_blocks import Figure, Table, Text
from cxr_gan.reporting.report_gan import GanResults, gan_section


def _section(generator_epoch: int | None) -> tuple[str, list[str]]:
    history = {"settings": {"architecture": "dcgan", "gan_image_size": 64, "epochs": 800}}
    history["epochs"] = [{"epoch": e} for e in range(1, 801)]
    if generator_epoch is not None:
        history["generator_epoch"] = generator_epoch
    blocks = gan_section("GAN", "", GanResults(history=history, final_grid=b"png"))
    text = " ".join(b.text for b in blocks if isinstance(b, Text))
    return text, [b.caption for b in blocks if isinstance(b, Figure)]


def test_an_earlier_saved_epoch_is_named_in_the_text_and_the_grid_caption():
    text, captions = _section(750)
    assert "generator saved is epoch 750's" in text
    assert "Samples from the saved generator (epoch 750)" in captions


def test_the_last_epoch_saved_reads_as_before():
    for saved in (800, None):
        text, captions = _section(saved)
        assert "saved is epoch" not in text
        expected = "Samples at the last epoch" if saved is None else "Samples from the saved"
        assert any(c.startswith(expected) for c in captions)


RANDOM = "random-CNN features; not comparable with published values"


def _quality_rows(quality: dict) -> dict[str, str]:
    (table,) = [
        b for b in gan_section("GAN", "", GanResults(quality=quality)) if isinstance(b, Table)
    ]
    return dict(table.rows)


def test_the_quality_table_gives_kid_with_its_interval_and_older_reports_without():
    decided = {
        "feature_extractor": "random_cnn",
        "kid_vs_evaluation": {"x1000_mean": 20.5, "x1000_ci95": [12.0, 29.0], "n_real": 400},
    }
    rows = _quality_rows(decided)
    assert (
        rows[f"KID x1000 vs evaluation split ({RANDOM})"]
        == "20.5 (95% CI 12.0 to 29.0, 400 images)"
    )
    older = {"kid_vs_evaluation": {"x1000_mean": 68.24, "n_real": 16}}
    rows = _quality_rows(older)
    label = "KID x1000 vs evaluation split (feature space not recorded; not comparable with "
    assert rows[label + "published values)"] == "68.2"


def test_every_distance_names_its_feature_space():
    rows = _quality_rows({"feature_extractor": "random_cnn", "fid": 63.3})
    assert rows[f"FID ({RANDOM})"] == "63.3"
    assert f"KID x1000 vs GAN-training images ({RANDOM})" in rows
    rows = _quality_rows({"feature_extractor": "inception_v3", "fid": 12.0})
    assert any(k.startswith("FID (Inception-v3 features") for k in rows)


def test_a_kid_interval_holding_0_and_50_cannot_decide():
    wide = {"kid_vs_evaluation": {"x1000_mean": 68.24, "x1000_ci95": [-772.0, 885.0], "n_real": 16}}
    (value,) = [
        v for k, v in _quality_rows(wide).items() if k.startswith("KID x1000 vs evaluation")
    ]
    assert value == "cannot decide with 16 images: 68.2 (95% CI -772.0 to 885.0, 16 images)"
    # holds 0 but no KID x1000 of 50 either way: close to real, decided
    near = {"kid_vs_evaluation": {"x1000_mean": 3.0, "x1000_ci95": [-20.0, 26.0], "n_real": 900}}
    (value,) = [
        v for k, v in _quality_rows(near).items() if k.startswith("KID x1000 vs evaluation")
    ]
    assert not value.startswith("cannot decide")
