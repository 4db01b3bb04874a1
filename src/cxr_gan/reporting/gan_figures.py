"""Figures of the GAN: loss curves, sample grids over epochs, variants side by side, and the
GAN-quality figure (closest synthetic/training pairs, synthetic beside real)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from cxr_gan.metrics.image_sets import ImageSet, as_image_array, as_image_sets
from cxr_gan.reporting.figure_text import fit_titles
from cxr_gan.reporting.report_gan import feature_space


def plot_loss_curves(history: Sequence[Mapping[str, float]]) -> Figure:
    """Generator and discriminator losses, and the discriminator's accuracy, per epoch."""
    epochs = [record["epoch"] for record in history]
    figure = Figure(figsize=(10, 3.6))
    losses, scores = figure.subplots(1, 2)
    losses.plot(epochs, [r["d_loss"] for r in history], label="discriminator")
    losses.plot(epochs, [r["g_loss"] for r in history], label="generator")
    losses.set(xlabel="epoch", ylabel="loss", title="GAN losses")
    losses.legend()
    scores.plot(epochs, [r["d_acc_real"] for r in history], label="D accuracy on real")
    scores.plot(epochs, [r["d_acc_fake"] for r in history], label="D accuracy on fake")
    scores.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    scores.set(xlabel="epoch", ylabel="accuracy", ylim=(-0.02, 1.02), title="Discriminator")
    scores.legend()
    figure.tight_layout()
    return fit_titles(figure)


def pick_epochs(epochs: Sequence[int], count: int) -> list[int]:
    """Up to `count` epochs spread evenly, always with the first and the last."""
    epochs = sorted(epochs)
    if len(epochs) <= count:
        return epochs
    positions = np.linspace(0, len(epochs) - 1, count).round().astype(int)
    return [epochs[i] for i in sorted(set(positions))]


def plot_grids(grids: Mapping[str, np.ndarray], title: str) -> Figure:
    """Labelled sample grids stacked top to bottom (fixed latents: rows compare directly)."""
    names = list(grids)
    height, width = next(iter(grids.values())).shape
    # 40 px per inch, up to 14 inches wide; a wider grid is drawn smaller, and so is its height
    scale = min(1.0, (14 - 1.2) / (width / 40))
    figure = Figure(
        figsize=(1.2 + scale * width / 40, 0.4 + len(names) * (scale * height / 40 + 0.3)),
        layout="constrained",  # room for the suptitle however many lines fit_titles makes it
    )
    axes = figure.subplots(len(names), 1, squeeze=False)[:, 0]
    for axis, name in zip(axes, names, strict=True):
        axis.imshow(grids[name], cmap="gray", vmin=0, vmax=255)
        axis.set_title(name, loc="left", fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(title, fontsize=10)
    return fit_titles(figure)


def _show(axes: Any, image: np.ndarray, title: str) -> None:
    axes.imshow(image, cmap="gray", vmin=0, vmax=255)
    axes.set_title(title, fontsize=8)


def _figure_title(report: dict[str, Any]) -> str:
    """Verdict first, then KID (labelled by what it compares with) and memorization."""
    memo = report["memorization"]
    kid, kid_std = report.get("kid_x1000_mean"), report.get("kid_x1000_std")
    kid_text = "?" if kid is None else f"{kid:.1f} ± {kid_std or 0:.1f}"
    against = "evaluation split" if report.get("n_evaluation") else "training images"
    lines = [report["verdict"]] if report.get("verdict") else []
    lines.append(
        f"KID x1000 vs {against} {kid_text} ({feature_space(report)}); "
        f"{memo['count_above']} of {len(memo['nearest_ssim'])} synthetic at SSIM >= "
        f"{memo['threshold']} to a training image"
    )
    return "\n".join(lines)


def plot_gan_quality(
    report: dict[str, Any],
    synthetic: ImageSet,
    real: np.ndarray,
    n_pairs: int = 4,
    n_examples: int = 4,
) -> Figure:
    """Top row: the synthetic images closest to a real (training) one, each next to it with its
    SSIM (copies show here). Bottom row: a few synthetic images beside a few real ones. The
    title carries the verdict (diversity and coverage), KID and the memorization count."""
    sets = as_image_sets(synthetic)
    real = as_image_array(real, "real")
    memo = report["memorization"]
    nearest = np.array([-np.inf if v is None else v for v in memo["nearest_ssim"]])
    closest = np.argsort(-nearest, kind="stable")[:n_pairs]
    pooled = [images[i] for images in sets for i in range(len(images))]

    def name(k: int) -> str:  # set:index when there are several sets
        s, i = memo["set_index"][k], memo["index_in_set"][k]
        return f"synthetic {s}:{i}" if len(sets) > 1 else f"synthetic {i}"

    columns = max(2 * n_pairs, 2 * n_examples)
    # a bare Figure, not pyplot: no global figure registry to leak or to need a display
    figure = Figure(figsize=(1.6 * columns, 4.6), layout="constrained")
    grid = figure.subplots(2, columns, squeeze=False)
    for axes in grid.ravel():
        axes.axis("off")
    for slot, k in enumerate(closest):
        s, r = int(memo["set_index"][k]), int(memo["nearest_real_index"][k])
        ssim = memo["nearest_ssim"][k]
        label = "?" if ssim is None else f"{ssim:.3f}"
        _show(grid[0, 2 * slot], sets[s][memo["index_in_set"][k]], f"closest: {name(k)}")
        _show(grid[0, 2 * slot + 1], real[r], f"real {r}\nSSIM {label}")
    for slot in range(min(n_examples, len(pooled))):
        _show(grid[1, slot], pooled[slot], name(slot))
    for slot in range(min(n_examples, len(real))):
        _show(grid[1, n_examples + slot], real[slot], f"real {slot}")
    figure.suptitle(_figure_title(report), fontsize=9)
    return fit_titles(figure)
