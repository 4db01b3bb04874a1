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


def test_the_quality_table_gives_kid_with_its_interval_and_older_reports_without():
    quality = {
        "kid_vs_evaluation": {"x1000_mean": 68.24, "x1000_ci95": [-520.1, 656.5], "n_real": 16}
    }
    blocks = gan_section("GAN", "", GanResults(history=None, quality=quality))
    (table,) = [b for b in blocks if isinstance(b, Table)]
    assert [
        "KID x1000 vs evaluation split",
        "68.2 (95% CI -520.1 to 656.5, 16 images)",
    ] in table.rows
    older = {"kid_vs_evaluation": {"x1000_mean": 68.24, "n_real": 16}}
    (table,) = [
        b
        for b in gan_section("GAN", "", GanResults(history=None, quality=older))
        if isinstance(b, Table)
    ]
    assert ["KID x1000 vs evaluation split", "68.2"] in table.rows
