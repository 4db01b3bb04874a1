"""Figure titles lie within their figure: a long verdict or caption is wrapped, not clipped."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from cxr_gan.reporting.classification_figures import plot_comparison
from cxr_gan.reporting.figure_text import fit_titles, overflowing
from cxr_gan.reporting.gan_figures import plot_grids

# the demo's grids-over-epochs title, whose end ("lower = more varied") was cut off
GRID_TITLE = (
    "Samples from fixed latents over training (each grid: one row per class); diversity = "
    "mean pairwise MS-SSIM of 16 samples per class, lower = more varied"
)
VERDICT = (
    "Answer, from the external set (600 images, data/01_raw_external), which decides: cannot "
    "decide with 600 images, AUC difference +0.011 (95% CI -0.031 to +0.057). The internal test "
    "set (40 images) agrees in direction: cannot decide with 40 images, AUC difference +0.020 "
    "(95% CI -0.100 to +0.140).\nGAN quality, from the synthesis report: diverse: synthetic "
    "MS-SSIM 0.34 vs real 0.48 at 32 px; coverage 1.00 of real's 1.00; told from real X-rays: "
    "AUC 0.99 [0.95, 1.00], limit 0.83 (real images at 32 px: 0.73)."
)


def _metric(value: float) -> dict:
    return {"value": value, "ci_low": value - 0.1, "ci_high": min(1.0, value + 0.1)}


def test_a_title_wider_than_its_figure_is_found_and_wrapped_to_fit():
    figure = Figure(figsize=(4, 3), layout="constrained")
    figure.subplots().set_title("a centred axes title " * 6)
    figure.suptitle(VERDICT, fontsize=10)
    assert len(overflowing(figure)) == 2  # the check sees clipped titles
    fit_titles(figure)
    assert overflowing(figure) == []
    assert "lower = more varied" not in figure._suptitle.get_text()  # nothing else was added
    assert " ".join(figure._suptitle.get_text().split()) == " ".join(VERDICT.split())


def test_the_grids_over_epochs_title_fits_at_the_demos_size():
    grids = {f"epoch {e} | diversity label 0 0.34 (real 0.48)": np.zeros((64, 96)) for e in (1, 50)}
    figure = plot_grids(grids, GRID_TITLE)
    assert overflowing(figure) == []
    assert "lower = more varied" in " ".join(figure._suptitle.get_text().split())


def test_grids_wider_than_the_figure_leave_no_band_of_empty_space():
    """Six 128 px samples a row (768 px) exceed the figure's 14 inches: the figure's height
    follows the width's scale, so the images fill most of it (they filled 64% before)."""
    grids = {
        f"epoch {e} | diversity label 0 0.34 (real 0.48)": np.zeros((256, 768)) for e in range(6)
    }
    figure = plot_grids(grids, GRID_TITLE)
    figure.canvas.draw()
    drawn = sum(axis.get_window_extent().height for axis in figure.axes)
    assert drawn / figure.bbox.height > 0.8
    assert overflowing(figure) == []


def test_the_comparison_plots_long_verdict_fits():
    names = ["real", "real_plus_synthetic", "classical_augmentation", "synthetic_only"]
    metrics = ("accuracy", "roc_auc", "sensitivity", "specificity", "precision", "f1")
    rows = [{"name": n, "metrics": {m: _metric(0.6) for m in metrics}} for n in names]
    figure = plot_comparison(rows, VERDICT)
    assert overflowing(figure) == []
