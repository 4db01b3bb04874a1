"""DeLong's paired test of two AUCs (metrics.delong): a case worked by hand, DeLong's original
O(m n) formulas, its calibration under the null, and agreement with the paired bootstrap on the
same predictions; Holm's adjustment and the bootstrap's p-value (metrics.comparison,
metrics.classification)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cxr_gan.metrics.classification import bootstrap_p_value, compare_auc
from cxr_gan.metrics.comparison import holm_adjust
from cxr_gan.metrics.delong import delong_auc, delong_paired, midranks, placements


def _original_delong(labels, a, b):
    """DeLong et al. 1988 as written: the kernel psi(x, y) = 1 if x > y, 1/2 if equal, 0 below,
    over every positive-negative pair (O(m n)), V10 / V01 from it, and the 2 x 2 covariance
    S = S10 / m + S01 / n. Returns (difference b - a, variance)."""
    labels = np.asarray(labels)
    v10, v01 = [], []
    for scores in (np.asarray(a, float), np.asarray(b, float)):
        x, y = scores[labels == 1], scores[labels == 0]
        psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    s10, s01 = np.cov(np.array(v10)), np.cov(np.array(v01))
    s = s10 / len(v10[0]) + s01 / len(v01[0])
    return v10[1].mean() - v10[0].mean(), s[0, 0] + s[1, 1] - 2 * s[0, 1]


def test_a_case_worked_by_hand():
    """Three positives, three negatives, two models.

    Model a: positives 0.9, 0.6, 0.4; negatives 0.5, 0.2, 0.1. Placements of the positives
    (negatives below): 1, 1, 2/3 -> AUC 8/9; of the negatives (positives above): 2/3, 1, 1.
    Model b: positives 0.8, 0.3, 0.7; negatives 0.6, 0.4, 0.2 -> V10 1, 1/3, 1 (AUC 7/9),
    V01 2/3, 2/3, 1. Differences a - b: D10 = 0, 2/3, -1/3 (sample variance 7/27) and
    D01 = 0, 1/3, 0 (1/27), so Var = (7/27) / 3 + (1/27) / 3 = 8/81: se = sqrt(8) / 9, and for
    b - a = -1/9, z = -1/sqrt(8), p = erfc(1 / 4) (two-sided)."""
    labels = [1, 1, 1, 0, 0, 0]
    a = [0.9, 0.6, 0.4, 0.5, 0.2, 0.1]
    b = [0.8, 0.3, 0.7, 0.6, 0.4, 0.2]
    auc, v10, v01 = placements(labels, a)
    assert auc == pytest.approx(8 / 9)
    np.testing.assert_allclose(v10, [1, 1, 2 / 3])
    np.testing.assert_allclose(v01, [2 / 3, 1, 1])
    result = delong_paired(labels, a, b)
    assert result["auc_baseline"] == pytest.approx(float(Fraction(8, 9)))
    assert result["auc_candidate"] == pytest.approx(float(Fraction(7, 9)))
    assert result["difference"] == pytest.approx(-1 / 9)
    assert result["se"] == pytest.approx(math.sqrt(8) / 9)
    assert result["z"] == pytest.approx(-1 / math.sqrt(8))
    assert result["p_value"] == pytest.approx(math.erfc(0.25))  # 0.7237
    half = 1.959964 * math.sqrt(8) / 9
    assert result["ci_low"] == pytest.approx(-1 / 9 - half, abs=1e-6)
    assert result["ci_high"] == pytest.approx(-1 / 9 + half, abs=1e-6)
    assert (result["n_positive"], result["n_negative"]) == (3, 3)
    # swapping the models flips the sign and nothing else
    swapped = delong_paired(labels, b, a)
    assert swapped["difference"] == pytest.approx(1 / 9)
    assert swapped["p_value"] == pytest.approx(result["p_value"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_fast_algorithm_equals_delongs_original_formulas_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat([0, 1], [23, 17]))
    a = np.round(rng.normal(labels * 0.8), 1)  # rounded: many ties within and across classes
    b = np.round(0.6 * a + rng.normal(labels * 0.5, 0.8), 1)
    result = delong_paired(labels, a, b)
    difference, variance = _original_delong(labels, a, b)
    assert result["difference"] == pytest.approx(difference, abs=1e-12)
    assert result["se"] ** 2 == pytest.approx(variance, rel=1e-9)
    assert result["auc_baseline"] == pytest.approx(roc_auc_score(labels, a))
    assert result["auc_candidate"] == pytest.approx(roc_auc_score(labels, b))
    # each AUC's own standard error is the diagonal of the same covariance
    _, se_a = delong_auc(labels, a)
    _, self_variance = _original_delong(labels, np.zeros_like(a), a)  # a constant has AUC 1/2
    assert se_a**2 == pytest.approx(self_variance, rel=1e-9)


def test_midranks_share_tied_ranks():
    np.testing.assert_allclose(midranks([3.0, 1.0, 3.0, 2.0, 3.0]), [4, 1, 4, 2, 4])
    np.testing.assert_allclose(midranks([0.5, 0.5]), [1.5, 1.5])


def test_identical_models_differ_by_nothing_with_p_one():
    labels = np.repeat([0, 1], 10)
    scores = np.linspace(0, 1, 20)[::-1]
    result = delong_paired(labels, scores, scores)
    assert result["difference"] == 0 and result["se"] == 0
    assert result["p_value"] == 1.0 and result["z"] is None
    assert result["ci_low"] == result["ci_high"] == 0


def test_refuses_what_it_cannot_test():
    with pytest.raises(ValueError, match="at least 2 rows of each class"):
        delong_paired([0, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
    with pytest.raises(ValueError, match="3 scores for 4 labels"):
        delong_paired([0, 0, 1, 1], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="NaN"):
        delong_paired([0, 0, 1, 1], [0.1, np.nan, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="0 \\(negative\\) or 1"):
        delong_paired([0, 2, 1, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="confidence"):
        delong_paired([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], confidence=1)


def _correlated_models(rng, labels, shift_b=0.0):
    """Two models that share most of their noise (as two classifiers of the same images do)."""
    shared = rng.normal(size=len(labels))
    a = labels * 1.0 + shared + 0.5 * rng.normal(size=len(labels))
    b = labels * (1.0 + shift_b) + shared + 0.5 * rng.normal(size=len(labels))
    return a, b


def test_under_the_null_p_values_reject_about_five_percent():
    """Two equally good, correlated models: a calibrated test rejects about 5% of the time (a
    test whose variance ignored the pairing would almost never reject)."""
    labels = np.repeat([0, 1], [60, 40])
    draws = 400
    rejected = sum(
        delong_paired(labels, *_correlated_models(np.random.default_rng(k), labels))["p_value"]
        < 0.05
        for k in range(draws)
    )
    assert 0.025 <= rejected / draws <= 0.085


@pytest.mark.parametrize(("seed", "shift"), [(3, 0.0), (4, 0.4), (5, -0.3)])
def test_delong_agrees_with_the_paired_bootstrap_on_the_same_predictions(seed, shift):
    """The two answers to one question on the same predictions: intervals within 0.015 AUC at
    each end (their half-widths are about 0.04-0.06 here), p-values on the same side of 0.05
    unless one of them is near it."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat([0, 1], [180, 120]))
    a, b = _correlated_models(rng, labels, shift)
    a, b = 1 / (1 + np.exp(-a)), 1 / (1 + np.exp(-b))  # probabilities, as the classifiers give
    delong = delong_paired(labels, a, b)
    boot = compare_auc(labels, a, b, n_bootstrap=4000, seed=seed)
    assert delong["difference"] == pytest.approx(boot["difference"], abs=1e-12)
    assert delong["ci_low"] == pytest.approx(boot["ci_low"], abs=0.015)
    assert delong["ci_high"] == pytest.approx(boot["ci_high"], abs=0.015)
    boot_se = (boot["ci_high"] - boot["ci_low"]) / (2 * 1.96)
    assert delong["se"] == pytest.approx(boot_se, rel=0.15)
    if (
        min(delong["p_value"], boot["p_value"]) < 0.03
        or max(delong["p_value"], boot["p_value"]) > 0.08
    ):
        assert (delong["p_value"] < 0.05) == (boot["p_value"] < 0.05)


def test_bootstrap_p_value_is_twice_the_smaller_tail():
    assert bootstrap_p_value(np.array([0.1, 0.2, 0.3, -0.1])) == pytest.approx(0.5)
    assert bootstrap_p_value(np.array([0.1, 0.2, 0.3, 0.4])) == 0.0
    assert bootstrap_p_value(np.zeros(10)) == 1.0  # identical models
    assert bootstrap_p_value(np.array([np.nan, -1.0, 1.0, 2.0])) == pytest.approx(2 / 3)
    assert bootstrap_p_value(np.array([np.nan])) is None


def test_holm_adjustment_of_a_textbook_family():
    """p = 0.01, 0.04, 0.03, 0.005 (m = 4): sorted 0.005 x 4 = 0.02, 0.01 x 3 = 0.03,
    0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06 (never below an earlier step)."""
    adjusted = holm_adjust([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    assert holm_adjust([0.2]) == [0.2]  # one comparison: nothing to adjust
    assert holm_adjust([0.6, 0.7]) == [1.0, 1.0]  # capped at 1
    assert holm_adjust([None, 0.02, 0.04]) == [None, 0.04, 0.04]  # undefined: not counted
    assert holm_adjust([]) == []
