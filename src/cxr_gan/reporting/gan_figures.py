"""Figures of GAN training: loss curves, sample grids over epochs, variants side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure


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
    return figure


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
    figure = Figure(figsize=(min(14, 1.2 + width / 40), 0.4 + len(names) * (height / 40 + 0.3)))
    axes = figure.subplots(len(names), 1, squeeze=False)[:, 0]
    for axis, name in zip(axes, names, strict=True):
        axis.imshow(grids[name], cmap="gray", vmin=0, vmax=255)
        axis.set_title(name, loc="left", fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(title, fontsize=10)
    # keep the top 0.4 inch for the suptitle: tight_layout alone lets the first title overlap it
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.4 / figure.get_figheight()))
    return figure
