"""Evidence of shortcut learning: the border-only probe's warning and metrics per image source."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from cxr_gan.metrics.classification import (
    _bootstrap,
    _interval,
    _value,
    classification_metrics,
    weighted_auc,
)

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
    say much (absence of a warning is not evidence of absence). An interval wholly below 0.5 is
    signal too (the borders predict the class, inverted), never "chance"."""
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
    if high < 0.5:
        return (
            f"Caution: the image borders alone score BELOW chance ({auc}): they carry class "
            "information that the probe learned the wrong way round on this split, which is not "
            "evidence against a shortcut; with few test images the direction is unstable."
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


def mixed_sources(
    labels: np.ndarray, sources: np.ndarray, min_images: int
) -> dict[str, dict[str, int]]:
    """The sources holding both classes, at least `min_images` images of each: {source:
    {"label_0": n, "label_1": n}}, sorted by name; {} when there is none."""
    labels, sources = np.asarray(labels).astype(int), np.asarray(sources).astype(str)
    found = {}
    for source in sorted(set(sources.tolist())):
        members = sources == source
        counts = {f"label_{c}": int((labels[members] == c).sum()) for c in (0, 1)}
        if min(counts.values()) >= min_images:
            found[source] = counts
    return found


def source_matched_auc(
    labels: np.ndarray,
    probabilities: np.ndarray,
    sources: np.ndarray,
    min_images: int,
    *,
    n_bootstrap: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """ROC AUC counting only COVID-19 / normal pairs from the same source: the one comparison in
    which the archive an image came from cannot tell the classes apart.

    labels: (n,) 0/1; probabilities: (n,) floats; sources: (n,) source names (str). Only sources
    with at least `min_images` images of EACH class take part (mixed_sources). With one such
    source this is the AUC within it; with several, the AUC pooled over them: every within-source
    (positive, negative) pair counts once, i.e. the per-source AUCs weighted by n_pos * n_neg
    (the stratified AUC of e.g. Janes & Pepe 2008). Its 95% interval is a percentile bootstrap
    that resamples images within each (source, class) stratum.

    Returns {"computable": True, "value", "ci_low", "ci_high", "n_resamples_used", "sources":
    {name: {"label_0", "label_1", "roc_auc"}}, "n_pairs", "min_images"} or, when no source holds
    both classes, {"computable": False, "reason": sentence, "sources": {}, "min_images"}.
    Raises ValueError when the three arrays differ in length.
    """
    labels = np.asarray(labels).astype(int).ravel()
    scores = np.asarray(probabilities, np.float64).ravel()
    sources = np.asarray(sources).astype(str).ravel()
    if not len(labels) == len(scores) == len(sources):
        raise ValueError(
            f"{len(labels)} labels, {len(scores)} probabilities, {len(sources)} sources"
        )
    eligible = mixed_sources(labels, sources, min_images)
    if not eligible:
        return {
            "computable": False,
            "reason": no_mixed_source_reason(labels, sources, min_images),
            "sources": {},
            "min_images": min_images,
        }
    names = list(eligible)
    keep = np.isin(sources, names)
    labels, scores, sources = labels[keep], scores[keep], sources[keep]
    code = np.searchsorted(names, sources)  # names are sorted
    strata = code * 2 + labels
    members = [np.flatnonzero(code == k) for k in range(len(names))]

    def statistic(weights: np.ndarray) -> dict[str, np.ndarray]:
        numerator = np.zeros(len(weights))
        denominator = np.zeros(len(weights))
        for rows in members:
            w = weights[:, rows]
            pairs = (w @ (labels[rows] == 1)) * (w @ (labels[rows] == 0))
            numerator += np.nan_to_num(weighted_auc(w, labels[rows], scores[rows])) * pairs
            denominator += pairs
        with np.errstate(divide="ignore", invalid="ignore"):
            return {"auc": np.where(denominator > 0, numerator / denominator, np.nan)}

    point = statistic(np.ones((1, len(labels))))["auc"][0]
    samples = _bootstrap(strata, statistic, n_bootstrap, seed, stratified=True)["auc"]
    per_source = {
        name: {
            **eligible[name],
            "roc_auc": _value(weighted_auc(np.ones((1, len(rows))), labels[rows], scores[rows])[0]),
        }
        for name, rows in zip(names, members, strict=True)
    }
    return {
        "computable": True,
        "value": _value(point),
        **_interval(samples, confidence),
        "n_bootstrap": int(n_bootstrap),
        "confidence": float(confidence),
        "sources": per_source,
        "n_pairs": int(sum(c["label_0"] * c["label_1"] for c in eligible.values())),
        "min_images": min_images,
    }


def no_mixed_source_reason(labels: np.ndarray, sources: np.ndarray, min_images: int) -> str:
    """Why the source-matched AUC cannot be computed, naming where each class comes from."""
    labels, sources = np.asarray(labels).astype(int), np.asarray(sources).astype(str)
    where = []
    for label, name in ((0, "normal"), (1, "COVID-19")):
        found = sorted(set(sources[labels == label].tolist()))
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        where.append(f"its {name} images come from {shown or 'nowhere'}")
    return (
        "The source-matched AUC cannot be computed: no source holds at least "
        f"{min_images} images of each class ({'; '.join(where)}), so there is no pair of a "
        "COVID-19 and a normal image from the same archive, and no metric here can separate "
        "disease from source."
    )


def source_gap_sentence(overall_auc: float | None, matched: dict[str, Any]) -> str:
    """One sentence on what the gap between the overall and the source-matched AUC means
    (matched: a source_matched_auc result; the reason itself when it is not computable): the
    numbers, then source_gap_reading's reading."""
    if not matched.get("computable"):
        return matched.get("reason", "The source-matched AUC cannot be computed.")
    value, low, high = matched["value"], matched["ci_low"], matched["ci_high"]
    reading = source_gap_reading(overall_auc, matched)
    if reading is None:
        return "The source-matched AUC could not be computed (too few pairs)."
    where = ", ".join(matched["sources"])
    numbers = (
        f"AUC {overall_auc:.3f} overall vs {value:.3f} [{low:.3f}, {high:.3f}] within a "
        f"source ({where})"
    )
    return f"{numbers}: {reading}."


def source_gap_reading(overall_auc: float | None, matched: dict[str, Any]) -> str | None:
    """What the gap between the overall AUC and the source-matched one (a source_matched_auc
    result with its 95% interval) means, without the numbers, so that experiments with the same
    reading can be named together; None when either AUC or the interval is missing."""
    value, low, high = matched.get("value"), matched.get("ci_low"), matched.get("ci_high")
    if not matched.get("computable") or value is None or low is None or overall_auc is None:
        return None
    gap = overall_auc - value
    if low <= 0.5 <= high and gap <= 0.05:
        return (
            "within a source the model cannot be told from chance, and its overall score is "
            "hardly higher: it has learned little of either disease or archive"
        )
    if low <= 0.5 <= high:
        return (
            "within a source the model cannot be told from chance, so its overall score "
            "measures which archive an image came from, not disease"
        )
    if high < 0.5:
        return (
            "within a source the model ranks COVID-19 below normal, worse than chance, so "
            "whatever its overall score holds comes from the archive, not disease"
        )
    if high < overall_auc - 0.02 or gap > 0.05:
        return (
            "the model does detect disease within a source, but part of its overall score "
            "(the gap) comes from telling the archives apart"
        )
    return "the score holds within a source, so it does not rest on telling the archives apart"
