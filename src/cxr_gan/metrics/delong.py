"""DeLong's test of ROC AUCs: one AUC's standard error, and the paired difference of two AUCs
scored on the same images.

DeLong, DeLong & Clarke-Pearson (1988), "Comparing the areas under two or more correlated
receiver operating characteristic curves: a nonparametric approach", Biometrics 44:837-845: the
AUC is a Mann-Whitney U statistic; each image's placement value (for a positive, the share of
negatives it outranks; for a negative, the share of positives that outrank it; ties count 1/2)
gives the covariance of the AUCs of several models on the same images,
S = S10 / m + S01 / n (m positives, n negatives), and
z = (AUC_b - AUC_a) / sqrt(S_aa + S_bb - 2 S_ab) is compared with a standard normal.

The placement values are computed with the fast algorithm of Sun & Xu (2014), "Fast
implementation of DeLong's algorithm for comparing the areas under correlated receiver
operating characteristic curves", IEEE Signal Processing Letters 21:1389-1393: midranks of the
positives, the negatives and all images together, O(n log n) instead of O(m n) comparisons.

Plain numpy and the standard library (no scipy); everything returned is plain JSON.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np


def midranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of values (n,), tied values sharing the mean of their ranks; float64 (n,)."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(ordered)]  # exclusive
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def _checked(labels: Any, *scores: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    labels = np.asarray(labels).astype(int).ravel()
    if not set(np.unique(labels)) <= {0, 1}:
        raise ValueError("labels must be 0 (negative) or 1 (positive)")
    arrays = []
    for given in scores:
        array = np.asarray(given, np.float64).ravel()
        if array.shape != labels.shape:
            raise ValueError(f"{len(array)} scores for {len(labels)} labels")
        if not np.isfinite(array).all():
            raise ValueError("scores contain NaN or infinite values")
        arrays.append(array)
    positives, negatives = int((labels == 1).sum()), int((labels == 0).sum())
    if min(positives, negatives) < 2:
        raise ValueError(
            f"DeLong needs at least 2 rows of each class, got {positives} positive, "
            f"{negatives} negative"
        )
    return labels, arrays


def placements(labels: Any, scores: Any) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and placement values of one model (Sun & Xu 2014, Algorithm 1).

    labels int (n,) in {0, 1}; scores float (n,), higher = more likely 1. Returns (auc in [0, 1],
    v10 float64 (m,): per positive, the share of negatives it outranks, v01 float64 (n0,): per
    negative, the share of positives that outrank it), ties counting 1/2; auc = mean(v10) =
    mean(v01). Raises ValueError when labels are not 0/1, lengths differ, scores are not finite
    or a class has fewer than 2 rows."""
    labels, (scores,) = _checked(labels, scores)
    positive, negative = scores[labels == 1], scores[labels == 0]
    m, n = len(positive), len(negative)
    combined = midranks(np.concatenate([positive, negative]))
    v10 = (combined[:m] - midranks(positive)) / n
    v01 = 1.0 - (combined[m:] - midranks(negative)) / m
    return float(v10.mean()), v10, v01


def delong_auc(labels: Any, scores: Any) -> tuple[float, float]:
    """ROC AUC and its standard error (DeLong et al. 1988, by Sun & Xu's fast algorithm).

    labels int (n,) in {0, 1}, scores float (n,) (higher = more likely 1); ties count 1/2.
    Var = S10 / m + S01 / n0 with S10, S01 the sample variances (ddof=1) of the placement
    values. Returns (auc in [0, 1], se >= 0). Raises ValueError unless labels are 0/1, scores
    are finite and one per label, and each class has at least 2 rows."""
    auc, v10, v01 = placements(labels, scores)
    variance = np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01)
    return auc, float(math.sqrt(max(float(variance), 0.0)))


def delong_paired(
    labels: Any, baseline: Any, candidate: Any, confidence: float = 0.95
) -> dict[str, Any]:
    """DeLong's test of AUC(candidate) - AUC(baseline), both models scored on the same images.

    labels int (n,) in {0, 1}; baseline, candidate float (n,) scores (e.g. p(covid) in 0..1),
    one per label in the same order. The difference's variance is
    Var(D10) / m + Var(D01) / n0 with D10, D01 the differences of the two models' placement
    values (equal to S_aa + S_bb - 2 S_ab of DeLong et al. 1988). Returns {"auc_baseline",
    "auc_candidate", "difference", "se", "ci_low", "ci_high" (difference -+ z * se, the
    normal-theory interval at `confidence`), "z" (None when se is 0), "p_value" (two-sided, in
    0..1; 1.0 when se is 0 and the difference is 0, 0.0 when se is 0 and it is not),
    "correlation" (of the two AUC estimates, None when either variance is 0), "n_positive",
    "n_negative", "confidence", "method"}. Raises ValueError when labels are not 0/1, lengths
    differ, scores are not finite, a class has fewer than 2 images, or confidence is not in
    (0, 1)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), not {confidence}")
    labels, (baseline, candidate) = _checked(labels, baseline, candidate)
    auc_a, v10_a, v01_a = placements(labels, baseline)
    auc_b, v10_b, v01_b = placements(labels, candidate)
    m, n = len(v10_a), len(v01_a)
    s10 = np.cov(np.vstack([v10_a, v10_b]), ddof=1)  # 2 x 2
    s01 = np.cov(np.vstack([v01_a, v01_b]), ddof=1)
    covariance = s10 / m + s01 / n
    variance = float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    se = math.sqrt(max(variance, 0.0))
    difference = auc_b - auc_a
    if se > 0:
        z: float | None = difference / se
        p_value = math.erfc(abs(z) / math.sqrt(2))
    else:  # identical placements: no spread, the difference is exact
        z = None
        p_value = 1.0 if difference == 0 else 0.0
    half = NormalDist().inv_cdf(0.5 + confidence / 2) * se
    spread = covariance[0, 0] * covariance[1, 1]
    return {
        "auc_baseline": auc_a,
        "auc_candidate": auc_b,
        "difference": difference,
        "se": se,
        "ci_low": difference - half,
        "ci_high": difference + half,
        "z": z,
        "p_value": float(min(max(p_value, 0.0), 1.0)),
        "correlation": float(covariance[0, 1] / math.sqrt(spread)) if spread > 0 else None,
        "n_positive": m,
        "n_negative": n,
        "confidence": float(confidence),
        "method": "DeLong et al. 1988 (Sun & Xu 2014 fast algorithm)",
    }
