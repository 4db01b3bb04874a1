"""Test-set metrics for the COVID-19 classifier, with bootstrap confidence intervals.

With ~40 test images a single accuracy number hides an uncertainty of +/- 10 points or more, so
every metric comes with a 95% percentile bootstrap interval over test images, and two models are
compared with a PAIRED bootstrap (the same resampled images for both), which cancels the
difficulty of the particular test images and is far tighter than comparing two separate CIs.

Resampling is vectorised: each resample is a vector of counts (how often each test image was
drawn), and every metric, AUC included, is computed from weighted sums, so 2000 resamples of a few
thousand images take well under a second. Stratified resampling (default) keeps the number of
positives and negatives fixed, as the stratified test split did; plain resampling can draw
one-class resamples, for which AUC is undefined: those are skipped (and counted).
Everything returned is plain JSON (floats, ints, strings, lists, None for an undefined value).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

METRICS = ("accuracy", "roc_auc", "sensitivity", "specificity", "precision", "f1")
CHUNK = 250  # resamples per vectorised block: bounds memory at CHUNK x n floats
# the smallest AUC difference worth having: an interval holding both 0 and this (either way)
# cannot decide between "no difference" and a difference that matters (cannot_decide)
SMALLEST_AUC_DIFFERENCE = 0.05
# the classification threshold on p(covid) of accuracy, sensitivity, ... (classification_metrics)
THRESHOLD = 0.5
# a classifier with at least this share of images on one side of THRESHOLD calls (nearly)
# every image one class: its AUC still ranks, its accuracy says nothing (one_sided)
ONE_SIDED_SHARE = 0.95


def _check(labels: np.ndarray, *probabilities: np.ndarray) -> tuple[np.ndarray, ...]:
    labels = np.asarray(labels).astype(int).ravel()
    if not set(np.unique(labels)) <= {0, 1}:
        raise ValueError("labels must be 0 (normal) or 1 (covid)")
    out = [labels]
    for given in probabilities:
        probs = np.asarray(given, np.float64).ravel()
        if probs.shape != labels.shape:
            raise ValueError(f"{len(probs)} probabilities for {len(labels)} labels")
        if not np.isfinite(probs).all():
            raise ValueError("probabilities contain NaN or infinite values")
        out.append(probs)
    return tuple(out)


def _resample_counts(
    labels: np.ndarray, count: int, rng: np.random.Generator, stratified: bool
) -> np.ndarray:
    """(count, n) how many times each image appears in each bootstrap resample; stratified
    resampling keeps the size of every stratum (each distinct value of `labels`: the classes, or
    (source, class) codes for the source-matched AUC) fixed."""
    n = len(labels)
    if not stratified:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=count).astype(np.float64)
    weights = np.zeros((count, n))
    for value in np.unique(labels):  # 0 then 1 for classes, as before strata were allowed
        members = np.flatnonzero(labels == value)
        if len(members):
            draws = rng.multinomial(len(members), np.full(len(members), 1.0 / len(members)), count)
            weights[:, members] = draws
    return weights


def _threshold_metrics(
    weights: np.ndarray, labels: np.ndarray, predicted: np.ndarray
) -> dict[str, np.ndarray]:
    """Counts and threshold metrics per row of weights (NaN where a metric is undefined)."""
    positive, called = labels == 1, predicted == 1
    tp = weights @ (positive & called)
    fn = weights @ (positive & ~called)
    fp = weights @ (~positive & called)
    tn = weights @ (~positive & ~called)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "accuracy": (tp + tn) / (tp + tn + fp + fn),
            "sensitivity": tp / (tp + fn),
            "specificity": tn / (tn + fp),
            "precision": tp / (tp + fp),
            "f1": 2 * tp / (2 * tp + fp + fn),
            "tn": tn,
            "fp": fp,
            "fn": fn,
            "tp": tp,
        }


def weighted_auc(weights: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC per row of weights (image multiplicities), ties counted as 1/2 (Mann-Whitney).

    Equals sklearn's roc_auc_score on the resampled set; NaN when a row has only one class.
    """
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    sorted_weights = weights[:, order]
    positive = labels[order] == 1
    pos = np.add.reduceat(sorted_weights * positive, starts, axis=1)  # per distinct score
    neg = np.add.reduceat(sorted_weights * ~positive, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    numerator = np.sum(pos * (below + 0.5 * neg), axis=1)
    denominator = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def _value(number: float) -> float | None:
    return None if number is None or not math.isfinite(number) else float(number)


def _interval(samples: np.ndarray, confidence: float) -> dict[str, Any]:
    usable = samples[np.isfinite(samples)]
    if not len(usable):
        return {"ci_low": None, "ci_high": None, "n_resamples_used": 0}
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(usable, [tail, 100 - tail])
    return {"ci_low": float(low), "ci_high": float(high), "n_resamples_used": int(len(usable))}


def _bootstrap(
    labels: np.ndarray,
    statistic,
    n_bootstrap: int,
    seed: int,
    stratified: bool,
) -> dict[str, np.ndarray]:
    """statistic(weights) -> {name: (rows,)} evaluated on n_bootstrap resamples, in chunks."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, n_bootstrap, CHUNK):
        weights = _resample_counts(labels, min(CHUNK, n_bootstrap - start), rng, stratified)
        for name, values in statistic(weights).items():
            parts.setdefault(name, []).append(values)
    return {name: np.concatenate(values) for name, values in parts.items()}


def classification_metrics(
    labels: np.ndarray,
    probabilities: np.ndarray,
    *,
    threshold: float = 0.5,
    n_bootstrap: int = 2000,
    seed: int = 0,
    stratified: bool = True,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Accuracy, ROC AUC, sensitivity, specificity, precision, F1 (p >= threshold is covid),
    each {"value", "ci_low", "ci_high", "n_resamples_used"}, plus the confusion matrix."""
    labels, probabilities = _check(labels, probabilities)
    predicted = (probabilities >= threshold).astype(int)

    def statistic(weights: np.ndarray) -> dict[str, np.ndarray]:
        values = _threshold_metrics(weights, labels, predicted)
        values["roc_auc"] = weighted_auc(weights, labels, probabilities)
        return values

    point = statistic(np.ones((1, len(labels))))
    samples = _bootstrap(labels, statistic, n_bootstrap, seed, stratified)
    result: dict[str, Any] = {
        "n_images": len(labels),
        "n_covid": int(labels.sum()),
        "n_normal": int(len(labels) - labels.sum()),
        "threshold": float(threshold),
        "n_bootstrap": int(n_bootstrap),
        "resampling": "stratified" if stratified else "plain",
        "confidence": float(confidence),
        "seed": int(seed),
    }
    for name in METRICS:
        result[name] = {"value": _value(point[name][0]), **_interval(samples[name], confidence)}
    tn, fp, fn, tp = (int(point[key][0]) for key in ("tn", "fp", "fn", "tp"))
    result["confusion_matrix"] = {
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "tp": tp,
        "matrix": [[tn, fp], [fn, tp]],  # rows: true normal, covid; columns: predicted
    }
    return result


def roc_curve_points(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """False and true positive rates for plotting; the first threshold (sklearn's inf, "call
    nothing covid") is given as None so the dict stays valid JSON."""
    labels, probabilities = _check(labels, probabilities)
    from sklearn.metrics import roc_curve  # scikit-learn takes seconds to import

    fpr, tpr, thresholds = roc_curve(labels, probabilities)
    auc = weighted_auc(np.ones((1, len(labels))), labels, probabilities)[0]
    return {
        "fpr": fpr.tolist(),
        "tpr": tpr.tolist(),
        "thresholds": [_value(value) for value in thresholds],
        "roc_auc": _value(auc),
    }


def compare_auc(
    labels: np.ndarray,
    baseline_probabilities: np.ndarray,
    candidate_probabilities: np.ndarray,
    *,
    baseline_name: str = "real only",
    candidate_name: str = "real + synthetic",
    images_name: str = "test images",
    n_bootstrap: int = 2000,
    seed: int = 0,
    stratified: bool = True,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Paired bootstrap of AUC(candidate) - AUC(baseline) on the same test images.

    labels: (n,) 0/1; both probability arrays (n,) floats in [0, 1], one per image in the same
    order. Each resample draws images (stratified by class) and scores both models on the same
    draw, so image difficulty cancels (the paired design of DeLong et al. 1988, by percentile
    bootstrap instead of DeLong's variance). verdict: "helped" when the whole CI is above 0,
    "hurt" when below, else "no detectable difference"; sentence says the same with the numbers
    and names the images it rests on (`images_name`, e.g. "external images"). p_value: the
    bootstrap's two-sided p-value for "no difference" (bootstrap_p_value; None when no resample
    was usable). Raises ValueError when the labels hold one class only or the arrays differ in
    length.
    """
    labels, baseline, candidate = _check(labels, baseline_probabilities, candidate_probabilities)

    def statistic(weights: np.ndarray) -> dict[str, np.ndarray]:
        diff = weighted_auc(weights, labels, candidate) - weighted_auc(weights, labels, baseline)
        return {"difference": diff}

    ones = np.ones((1, len(labels)))
    auc_base = float(weighted_auc(ones, labels, baseline)[0])
    auc_cand = float(weighted_auc(ones, labels, candidate)[0])
    if not (math.isfinite(auc_base) and math.isfinite(auc_cand)):
        raise ValueError("AUC needs both classes among the test labels")
    difference = auc_cand - auc_base
    samples = _bootstrap(labels, statistic, n_bootstrap, seed, stratified)["difference"]
    interval = _interval(samples, confidence)
    low, high = interval["ci_low"], interval["ci_high"]
    if low is not None and low > 0:
        verdict = "helped"
    elif high is not None and high < 0:
        verdict = "hurt"
    else:
        verdict = "no detectable difference"
    numbers = (
        f"AUC {auc_cand:.3f} vs {auc_base:.3f}, difference {difference:+.3f} "
        f"({confidence:.0%} CI {_signed(low)} to {_signed(high)}; paired bootstrap over "
        f"{len(labels)} {images_name}, {interval['n_resamples_used']} resamples)"
    )
    if cannot_decide(low, high):
        sentence = (
            f"Cannot decide with {len(labels)} {images_name} between {candidate_name} and "
            f"{baseline_name} (the interval holds both no difference and one of "
            f"{SMALLEST_AUC_DIFFERENCE:.2f} AUC): "
        )
    elif verdict == "no detectable difference":
        sentence = f"No detectable difference between {candidate_name} and {baseline_name}: "
    else:
        sentence = f"{candidate_name} {verdict} compared with {baseline_name}: "
    return {
        "baseline": baseline_name,
        "candidate": candidate_name,
        "auc_baseline": auc_base,
        "auc_candidate": auc_cand,
        "difference": difference,
        **interval,
        "p_value": bootstrap_p_value(samples),
        "n_images": int(len(labels)),
        "n_bootstrap": int(n_bootstrap),
        "confidence": float(confidence),
        "verdict": verdict,
        "sentence": sentence + numbers + ".",
    }


def cannot_decide(
    low: float | None, high: float | None, margin: float = SMALLEST_AUC_DIFFERENCE
) -> bool:
    """True when an interval [low, high] of a difference holds both 0 and a difference of
    `margin` either way (low <= 0 <= high and (low <= -margin or high >= margin)): the data
    cannot tell "no difference" from a difference worth having, so "no detectable difference"
    would overstate what they show. An undefined interval (None) cannot decide either.
    margin: AUC units for an AUC difference (SMALLEST_AUC_DIFFERENCE, 0.05), the same units
    as the interval for anything else (e.g. KID x1000)."""
    if low is None or high is None:
        return True
    return low <= 0 <= high and (low <= -margin or high >= margin)


def calls(
    probabilities: np.ndarray, threshold: float = THRESHOLD, share: float = ONE_SIDED_SHARE
) -> dict[str, Any]:
    """How a classifier splits its images at `threshold`: {"images", "called_covid" (p >=
    threshold), "called_normal", "one_sided": "covid" | "normal" | None}. one_sided names the
    class that at least `share` (0.95) of the images are called: such a classifier's accuracy,
    sensitivity and specificity only restate the class balance (24 of 24 called COVID-19 on a
    balanced set: accuracy 0.5, specificity 0), while its AUC, which ranks, still means what it
    says. probabilities: float (n,) p(covid) in 0..1, n >= 1. Raises ValueError when empty."""
    probabilities = np.asarray(probabilities, np.float64).ravel()
    if not len(probabilities):
        raise ValueError("no probabilities to count")
    covid = int(np.sum(probabilities >= threshold))
    normal = len(probabilities) - covid
    side = None
    if covid >= share * len(probabilities):
        side = "covid"
    elif normal >= share * len(probabilities):
        side = "normal"
    return {
        "images": int(len(probabilities)),
        "called_covid": covid,
        "called_normal": normal,
        "threshold": float(threshold),
        "one_sided": side,
    }


def bootstrap_p_value(samples: np.ndarray) -> float | None:
    """Two-sided percentile-bootstrap p-value for "the difference is 0": twice the smaller
    share of resampled differences at or below 0 and at or above 0, at most 1 (the level
    1 - confidence at which the percentile interval would just reach 0; Efron & Tibshirani
    1993, ch. 16). samples: float (k,) resampled differences, non-finite ones left out.
    Returns a float in [0, 1] (resolution 1 / k), None when no sample is finite."""
    usable = np.asarray(samples, np.float64)
    usable = usable[np.isfinite(usable)]
    if not len(usable):
        return None
    share = min(float(np.mean(usable <= 0)), float(np.mean(usable >= 0)))
    return min(1.0, 2.0 * share)


def _signed(value: float | None) -> str:
    return "undefined" if value is None else f"{value:+.3f}"


def summarize_seeds(per_seed: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and sample std (ddof=1; None for one seed) of each metric across seeds.

    Metrics are the entries with a "value" (as classification_metrics returns) and plain float
    entries (e.g. compare_auc's difference); undefined (None) values are left out and counted.
    """
    if not per_seed:
        raise ValueError("no per-seed metrics to summarise")
    skip = {"threshold", "confidence"}
    names: list[str] = []
    for name, entry in per_seed[0].items():
        numeric = isinstance(entry, float) or (isinstance(entry, Mapping) and "value" in entry)
        if name not in skip and numeric:
            names.append(name)
    summary: dict[str, Any] = {"n_seeds": len(per_seed)}
    for name in names:
        raw = [m.get(name) for m in per_seed]
        values = [v.get("value") if isinstance(v, Mapping) else v for v in raw]
        defined = [float(v) for v in values if v is not None and math.isfinite(v)]
        summary[name] = {
            "mean": float(np.mean(defined)) if defined else None,
            "std": float(np.std(defined, ddof=1)) if len(defined) > 1 else None,
            "values": [_value(v) if v is not None else None for v in values],
            "n_undefined": len(values) - len(defined),
        }
    return summary
