"""Figures of the classification experiments: training curves, ROC, the comparison."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from cxr_gan.reporting.figure_text import fit_titles

METRICS = ("accuracy", "roc_auc", "sensitivity", "specificity", "precision", "f1")


def plot_training_curves(histories: Sequence[Mapping[str, Any]], experiment: str) -> Figure:
    """Accuracy and loss per epoch, training and validation, one line per seed (the study's
    Figures 10-13)."""
    figure = Figure(figsize=(10, 3.6))
    accuracy_axis, loss_axis = figure.subplots(1, 2)
    for run in histories:
        history, seed = run["history"], run["seed"]
        epochs = np.arange(1, len(history["loss"]) + 1)
        for key, axis in (("accuracy", accuracy_axis), ("loss", loss_axis)):
            axis.plot(epochs, history[key], label=f"train (seed {seed})")
            if f"val_{key}" in history:
                axis.plot(
                    epochs, history[f"val_{key}"], linestyle="--", label=f"validation (seed {seed})"
                )
    accuracy_axis.set(xlabel="epoch", ylabel="accuracy", title=f"{experiment}: accuracy")
    loss_axis.set(xlabel="epoch", ylabel="loss", title=f"{experiment}: loss")
    accuracy_axis.legend(fontsize=7)
    figure.tight_layout()
    return fit_titles(figure)


def plot_roc(evaluation: Mapping[str, Any]) -> Figure:
    figure = Figure(figsize=(4.2, 4))
    axis = figure.subplots()
    for run in evaluation["per_seed"]:
        roc = run["roc"]
        axis.plot(roc["fpr"], roc["tpr"], label=f"seed {run['seed']}: AUC {roc['roc_auc']:.3f}")
    axis.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle="--")
    axis.set(
        xlabel="1 - specificity", ylabel="sensitivity", title=f"ROC: {evaluation['experiment']}"
    )
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    return fit_titles(figure)


def plot_comparison(rows: Sequence[Mapping[str, Any]], title: str) -> Figure:
    """Every experiment's metrics as points with 95% bootstrap intervals, one panel per metric."""
    # constrained: room for the suptitle however many lines fit_titles makes it
    figure = Figure(figsize=(3 * len(METRICS), 0.9 + 0.45 * len(rows)), layout="constrained")
    axes = figure.subplots(1, len(METRICS), sharey=True)
    names = [row["name"] for row in rows]
    positions = np.arange(len(rows))[::-1]
    for axis, metric in zip(axes, METRICS, strict=True):
        for position, row in zip(positions, rows, strict=True):
            value = row["metrics"][metric]
            if value["value"] is None:
                continue
            low = value["ci_low"] if value["ci_low"] is not None else value["value"]
            high = value["ci_high"] if value["ci_high"] is not None else value["value"]
            axis.errorbar(
                value["value"],
                position,
                xerr=[[value["value"] - low], [high - value["value"]]],
                fmt="o",
                capsize=3,
            )
        axis.axvline(0.5, color="grey", linewidth=0.6, linestyle=":")
        axis.set(title=metric, xlim=(-0.02, 1.02))
    axes[0].set_yticks(positions, names)
    figure.suptitle(title, fontsize=10)
    return fit_titles(figure)
