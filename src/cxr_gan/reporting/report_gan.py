"""The study report's GAN part: one GAN's results (the main one or a variant), its plain
collapse / copy line, and its section (curves, grids, the quality report's numbers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cxr_gan.reporting.report_blocks import (
    Heading,
    Table,
    Text,
    figure_or_note,
    not_run,
    number,
    range_text,
)


@dataclass
class GanResults:
    """One GAN's outputs (the main one, or a variant of gan_training.variants).

    history: gan_history (JSON); loss_curves, grids_over_epochs, final_grid, quality_figure,
    synthetic_sheet: PNG bytes (final_grid: the grid of the saved generator's epoch;
    synthetic_sheet: thumbnails of the synthetic set); quality: gan_quality_report (JSON, with
    its "verdict"); card: the generator's model card as loaded ({"card", "markdown",
    "folder"}, cxr_gan.reporting.model_card)."""

    history: Mapping[str, Any] | None = None
    loss_curves: bytes | None = None
    grids_over_epochs: bytes | None = None
    final_grid: bytes | None = None
    quality: Mapping[str, Any] | None = None
    quality_figure: bytes | None = None
    synthetic_sheet: bytes | None = None
    card: Mapping[str, Any] | None = None


def gan_verdict_line(quality: Mapping[str, Any] | None) -> str:
    """One plain line on collapse and copying from a gan_quality_report: its verdict sentence,
    then how many synthetic images are near-copies of a GAN-training image.

    E.g. "The GAN has not collapsed: diverse: synthetic MS-SSIM 0.41 vs real 0.46 at 64 px.
    Copies: 0 of 50 synthetic images reach SSIM 0.90 with a GAN-training image (closest 0.62)."
    """
    if not quality:
        return "The GAN's quality was not assessed: run `kedro run --pipelines synthesis`."
    verdict = str(quality.get("verdict") or "no verdict in the quality report").rstrip(".")
    collapsed = quality.get("collapsed")
    state = {True: "The GAN has COLLAPSED", False: "The GAN has not collapsed"}.get(
        collapsed, "The GAN's collapse is unknown"
    )
    line = f"{state}: {verdict}."
    memorization = quality.get("memorization") or {}
    if memorization.get("count_above") is not None:
        total = len(memorization.get("nearest_ssim") or []) or quality.get("n_synthetic")
        line += (
            f" Copies: {memorization['count_above']} of {total} synthetic images reach SSIM "
            f"{memorization.get('threshold', 0):.2f} with a GAN-training image"
        )
        if memorization.get("max_ssim") is not None:
            line += f" (closest {memorization['max_ssim']:.2f})"
        line += "."
    return line


def gan_section(title: str, prefix: str, gan: GanResults, level: int = 2) -> list[Any]:
    name = f"{prefix}_" if prefix else ""
    blocks: list[Any] = [Heading(level, title)]
    history = gan.history or {}
    if history:
        settings = history.get("settings") or {}
        epochs = history.get("epochs") or []
        blocks.append(
            Text(
                f"{settings.get('architecture', '?')} GAN at {settings.get('gan_image_size', '?')}"
                f" px, {len(epochs)} epoch(s) run of {settings.get('epochs', '?')}; "
                f"{history.get('training_images', '?')} training and "
                f"{history.get('evaluation_images', '?')} held-out evaluation images."
                + _kept_sentence(history)
            )
        )
    else:
        blocks.append(not_run("The GAN's training history", "gan_training"))
    blocks += figure_or_note(
        f"{name}gan_loss_curves", gan.loss_curves, "Losses over epochs", "gan_training"
    )
    blocks += figure_or_note(
        f"{name}gan_grids_over_epochs",
        gan.grids_over_epochs,
        "Sample grids over epochs",
        "gan_training",
    )
    saved = history.get("generator_epoch")
    blocks += figure_or_note(
        f"{name}gan_final_grid",
        gan.final_grid,
        f"Samples from the saved generator (epoch {saved})"
        if saved
        else "Samples at the last epoch",
        "gan_training",
    )
    blocks.append(Heading(level + 1, "Quality of the synthetic images"))
    blocks.append(Text(gan_verdict_line(gan.quality), "answer"))
    if gan.quality:
        blocks.append(_quality_table(gan.quality))
        if gan.quality.get("compared_with"):
            blocks.append(Text(f"Compared with {gan.quality['compared_with']}.", "note"))
    blocks += figure_or_note(
        f"{name}gan_quality",
        gan.quality_figure,
        "Synthetic images beside real ones, with the quality numbers",
        "synthesis",
    )
    blocks += figure_or_note(
        f"{name}synthetic_xrays", gan.synthetic_sheet, "The synthetic set (thumbnails)", "synthesis"
    )
    blocks.append(card_line(gan.card))
    return blocks


def card_line(card: Mapping[str, Any] | None) -> Text:
    """The line that links the generator's model card (its folder's model_card.md) and says
    what the card says first: the data it learned from and that it is for research only."""
    if not card:
        return not_run("The generator's model card", "synthesis")
    facts = card.get("card") or {}
    folder = str(card.get("folder") or "")
    return Text(
        f"Model card: `{folder}/model_card.md` (and model_card.json): data fingerprint "
        f"`{str(facts.get('data_fingerprint') or 'n/a')[:12]}`, "
        f"{(facts.get('trained_on') or {}).get('total', '?')} training images; for research "
        "only, not for diagnosis.",
        "note",
    )


# how each feature extractor's distances may be read (gan_quality_report's feature_extractor)
FEATURE_SPACES = {
    "random_cnn": "random-CNN features; not comparable with published values",
    "inception_v3": "Inception-v3 features; comparable with published values only at the same "
    "image count and size",
}
# the KID x1000 counterpart of a 0.05 AUC difference: a KID interval holding both 0 (as close
# to the real images as other real images) and this cannot decide whether the GAN is close
KID_X1000_DIFFERENCE = 50.0


def feature_space(quality: Mapping[str, Any]) -> str:
    """The feature space a report's KID and FID are computed in, and whether they compare with
    published figures: "random-CNN features; not comparable with published values"."""
    name = quality.get("feature_extractor")
    if not name:
        return "feature space not recorded; not comparable with published values"
    return FEATURE_SPACES.get(name, f"{name} features; not comparable with published values")


def _quality_table(quality: Mapping[str, Any]) -> Table:
    evaluation = quality.get("kid_vs_evaluation") or {}
    training = quality.get("kid_vs_training") or {}
    coverage = quality.get("coverage") or {}
    auc = quality.get("real_vs_synthetic_auc") or {}
    diversity = quality.get("diversity") or {}
    memorization = quality.get("memorization") or {}
    space = feature_space(quality)
    rows = [
        [f"KID x1000 vs evaluation split ({space})", _with_interval(evaluation)],
        [
            f"KID x1000 vs GAN-training images ({space})",
            number(training.get("x1000_mean"), ".1f"),
        ],
        [f"FID ({space})", number(quality.get("fid"), ".1f")],
        ["coverage", number(coverage.get("coverage_mean"))],
        ["real-vs-synthetic AUC (0.5 = indistinguishable)", _realism_cell(quality, auc)],
        [
            "MS-SSIM synthetic / real (higher = less diverse)",
            f"{number(diversity.get('synthetic_ms_ssim'))} / "
            f"{number(diversity.get('real_ms_ssim'))}",
        ],
        ["near-copies of training images", number(memorization.get("count_above"), "d")],
    ]
    return Table(["measure", "value"], rows)


def _realism_cell(quality: Mapping[str, Any], auc: Mapping[str, Any]) -> str:
    """'0.94 (95% CI 0.90 to 0.97; real images 0.55, limit 0.80: told from real)', or the mean
    alone in reports older than the floor rule."""
    realism = quality.get("realism") or {}
    if realism.get("auc_ci95") is None or realism.get("floor_auc") is None:
        return number(auc.get("mean"))
    return (
        f"{number(realism['auc'])} (95% CI {range_text(realism['auc_ci95'], '.2f')}; real images "
        f"{number(realism['floor_auc'])}, limit {number(realism['limit'])}: {realism['status']})"
    )


def _with_interval(block: Mapping[str, Any]) -> str:
    """'68.2 (95% CI -520.1 to 656.5, 16 images)', or the mean alone in older reports; an
    interval holding both 0 and a KID x1000 of 50 (KID_X1000_DIFFERENCE, the counterpart of a
    0.05 AUC difference) is said in words: 'cannot decide with 16 images: 68.2 (95% CI ...)'."""
    from cxr_gan.metrics.classification import cannot_decide

    text = number(block.get("x1000_mean"), ".1f")
    bounds = block.get("x1000_ci95")
    if not bounds:
        return text
    text = f"{text} (95% CI {range_text(bounds)}, {block.get('n_real')} images)"
    if cannot_decide(bounds[0], bounds[1], KID_X1000_DIFFERENCE):
        return f"cannot decide with {block.get('n_real')} images: {text}"
    return text


def _kept_sentence(history: Mapping[str, Any]) -> str:
    """Names the saved epoch when keep_generator chose one before the last (the last diversity
    line read collapsing); empty otherwise."""
    saved, last = history.get("generator_epoch"), (history.get("settings") or {}).get("epochs")
    if not saved or not last or saved >= last:
        return ""
    return (
        f" The last diversity line read collapsing, so the generator saved is epoch {saved}'s, "
        "the latest within real + 0.05 (gan_training.keep_generator)."
    )
