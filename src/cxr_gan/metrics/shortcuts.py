"""Evidence of shortcut learning: the border-only probe's warning and metrics per image source."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from cxr_gan.metrics.classification import classification_metrics

logger = logging.getLogger(__name__)


def shortcut_warning(probe_auc: dict[str, Any], lower_bound: float) -> str | None:
    """The plain warning when the probe's AUC interval lies above `lower_bound`, else None."""
    low = probe_auc.get("ci_low")
    if low is None or low <= lower_bound:
        return None
    return (
        "Warning: the classes can be told apart from the image borders alone "
        f"(AUC {probe_auc['value']:.2f} [{low:.2f}, {probe_auc['ci_high']:.2f}]); "
        "accuracy here likely reflects image source, not disease."
    )


def probe_reading(probe_auc: dict[str, Any], lower_bound: float, test_images: int) -> str:
    """What the probe's AUC says, in one sentence, including when the test set is too small to
    say much (absence of a warning is not evidence of absence)."""
    value, low, high = probe_auc.get("value"), probe_auc.get("ci_low"), probe_auc.get("ci_high")
    if value is None or low is None:
        return "The probe's AUC could not be computed on this test set."
    auc = f"AUC {value:.2f} [{low:.2f}, {high:.2f}] on {test_images} test images"
    warning = shortcut_warning(probe_auc, lower_bound)
    if warning:
        return warning
    if low > 0.5:
        return (
            f"Caution: the image borders alone score above chance ({auc}); the interval does "
            f"not lie above {lower_bound:.2f}, but does not rule out a strong shortcut either."
        )
    return (
        f"Borders alone are not distinguishable from chance here ({auc}); with few test images "
        "this is weak evidence that there is no shortcut."
    )


def sources_confounded(per_source: dict[str, Any] | None) -> bool:
    """True when every scored source group holds a single class: then source and disease cannot
    be told apart on this test set."""
    if not per_source or not per_source["groups"]:
        return False
    return all(
        min(group["counts"]["label_0"], group["counts"]["label_1"]) == 0
        for group in per_source["groups"].values()
    )


def per_source_metrics(
    labels: np.ndarray,
    probabilities: np.ndarray,
    sources: np.ndarray,
    min_images: int,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics (95% bootstrap intervals) per source group, with counts. Groups smaller than
    `min_images` are listed as skipped with one log line, not scored: their numbers would say
    nothing. AUC is None within a group that holds one class only."""
    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    sources = np.asarray(sources).astype(str)
    groups, skipped = {}, []
    for source in sorted(set(sources)):
        members = sources == source
        counts = {
            "images": int(members.sum()),
            "label_0": int((labels[members] == 0).sum()),
            "label_1": int((labels[members] == 1).sum()),
        }
        if counts["images"] < min_images:
            skipped.append({"source": source, **counts})
            continue
        metrics = classification_metrics(
            labels[members], probabilities[members], n_bootstrap=n_bootstrap, seed=seed
        )
        groups[source] = {"counts": counts, "metrics": metrics}
    if skipped:
        logger.info(
            "Per-source metrics skipped for %d source group(s) with fewer than %d test images: %s",
            len(skipped),
            min_images,
            ", ".join(f"{s['source']} ({s['images']})" for s in skipped),
        )
    return {"min_images": min_images, "groups": groups, "skipped": skipped}
