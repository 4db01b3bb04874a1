import json

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from cxr_gan.metrics.classification import (
    METRICS,
    classification_metrics,
    compare_auc,
    roc_curve_points,
    summarize_seeds,
    weighted_auc,
)


def scored(count: int = 120, seed: int = 0, signal: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities that carry some signal, rounded so that ties occur."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % 2)
    probabilities = np.clip(labels * signal + rng.random(count) * (1 - signal), 0, 1)
    return labels, np.round(probabilities, 2)


def test_point_metrics_match_sklearn():
    labels, probabilities = scored()
    result = classification_metrics(labels, probabilities, n_bootstrap=200)
    predicted = (probabilities >= 0.5).astype(int)
    expected = {
        "accuracy": accuracy_score(labels, predicted),
        "roc_auc": roc_auc_score(labels, probabilities),
        "sensitivity": recall_score(labels, predicted),
        "specificity": recall_score(labels, predicted, pos_label=0),
        "precision": precision_score(labels, predicted),
        "f1": f1_score(labels, predicted),
    }
    for name, value in expected.items():
        assert result[name]["value"] == pytest.approx(value), name
    assert result["confusion_matrix"]["matrix"] == confusion_matrix(labels, predicted).tolist()
    assert result["n_images"] == 120 and result["n_covid"] == 60
    json.dumps(result, allow_nan=False)  # plain JSON, no NaN


def test_weighted_auc_equals_sklearn_on_resampled_sets():
    labels, probabilities = scored(60, seed=1)
    rng = np.random.default_rng(2)
    counts = rng.multinomial(60, np.full(60, 1 / 60), size=5).astype(float)
    aucs = weighted_auc(counts, labels, probabilities)
    for row, auc in zip(counts, aucs, strict=True):
        drawn = np.repeat(np.arange(60), row.astype(int))
        assert auc == pytest.approx(roc_auc_score(labels[drawn], probabilities[drawn]))


def test_intervals_contain_the_estimate_and_are_seeded():
    labels, probabilities = scored(200, seed=3)
    first = classification_metrics(labels, probabilities, n_bootstrap=500, seed=1)
    for name in METRICS:
        entry = first[name]
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"], name
        assert entry["ci_high"] - entry["ci_low"] > 0.01, name
    assert classification_metrics(labels, probabilities, n_bootstrap=500, seed=1) == first
    other = classification_metrics(labels, probabilities, n_bootstrap=500, seed=2)
    assert other["roc_auc"]["ci_low"] != first["roc_auc"]["ci_low"]


def test_plain_resampling_skips_one_class_resamples_for_auc_only():
    labels = np.array([1, 0, 0, 0, 0])
    probabilities = np.array([0.9, 0.2, 0.6, 0.1, 0.3])
    result = classification_metrics(
        labels, probabilities, n_bootstrap=400, stratified=False, seed=0
    )
    assert 0 < result["roc_auc"]["n_resamples_used"] < 400  # ~1/3 draw no covid image
    assert result["accuracy"]["n_resamples_used"] == 400
    assert result["resampling"] == "plain"
    stratified = classification_metrics(labels, probabilities, n_bootstrap=400, seed=0)
    assert stratified["roc_auc"]["n_resamples_used"] == 400


def test_undefined_metrics_are_none_not_nan():
    labels = np.array([0, 1, 0, 1])
    result = classification_metrics(labels, np.full(4, 0.1), n_bootstrap=50)
    assert result["precision"]["value"] is None  # nothing called covid
    assert result["sensitivity"]["value"] == 0.0 and result["specificity"]["value"] == 1.0
    json.dumps(result, allow_nan=False)


def test_identical_models_show_no_detectable_difference():
    labels, probabilities = scored(100, seed=4)
    result = compare_auc(labels, probabilities, probabilities, n_bootstrap=300)
    assert result["difference"] == 0 and result["ci_low"] == 0 and result["ci_high"] == 0
    assert result["verdict"] == "no detectable difference"
    assert result["sentence"].startswith("No detectable difference")
    assert "+0.000" in result["sentence"]
    json.dumps(result, allow_nan=False)


def test_a_clearly_better_model_helped_and_a_worse_one_hurt():
    labels, good = scored(150, seed=5, signal=0.6)
    _, weak = scored(150, seed=6, signal=0.0)  # no signal: AUC about 0.5
    helped = compare_auc(labels, weak, good, n_bootstrap=500, seed=1)
    assert helped["verdict"] == "helped" and helped["ci_low"] > 0
    assert helped["difference"] == pytest.approx(
        roc_auc_score(labels, good) - roc_auc_score(labels, weak)
    )
    assert f"{helped['difference']:+.3f}" in helped["sentence"]
    assert helped["sentence"].startswith("real + synthetic helped")
    hurt = compare_auc(labels, good, weak, n_bootstrap=500, seed=1)
    assert hurt["verdict"] == "hurt" and hurt["ci_high"] < 0


def test_slightly_different_models_on_few_images_are_not_called():
    labels, probabilities = scored(30, seed=7)
    noisy = np.clip(probabilities + np.random.default_rng(8).normal(0, 0.05, 30), 0, 1)
    result = compare_auc(labels, probabilities, noisy, n_bootstrap=500)
    assert result["ci_low"] < 0 < result["ci_high"]
    assert result["verdict"] == "no detectable difference"


def test_roc_curve_points_are_plain_json():
    labels, probabilities = scored(50, seed=9)
    points = roc_curve_points(labels, probabilities)
    assert points["fpr"][0] == 0 and points["tpr"][0] == 0
    assert points["fpr"][-1] == 1 and points["tpr"][-1] == 1
    assert points["thresholds"][0] is None  # sklearn's inf
    assert points["roc_auc"] == pytest.approx(roc_auc_score(labels, probabilities))
    assert np.trapezoid(points["tpr"], points["fpr"]) == pytest.approx(points["roc_auc"])
    json.dumps(points, allow_nan=False)


def test_summary_across_seeds_is_mean_and_sample_std():
    runs = [classification_metrics(*scored(80, seed=s), n_bootstrap=50) for s in range(3)]
    summary = summarize_seeds(runs)
    aucs = [run["roc_auc"]["value"] for run in runs]
    assert summary["n_seeds"] == 3
    assert summary["roc_auc"]["mean"] == pytest.approx(np.mean(aucs))
    assert summary["roc_auc"]["std"] == pytest.approx(np.std(aucs, ddof=1))
    assert summary["roc_auc"]["values"] == aucs
    assert set(METRICS) <= set(summary) and "threshold" not in summary
    one = summarize_seeds(runs[:1])
    assert one["accuracy"]["std"] is None
    json.dumps(summary, allow_nan=False)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="probabilities for"):
        classification_metrics([0, 1], [0.5])
    with pytest.raises(ValueError, match="0 \\(normal\\) or 1"):
        classification_metrics([0, 2], [0.5, 0.5])
    with pytest.raises(ValueError, match="both classes"):
        compare_auc([1, 1], [0.2, 0.3], [0.3, 0.2])


def test_paired_comparison_detects_a_planted_difference_and_none_between_identical_models():
    from cxr_gan.metrics.classification import compare_auc

    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1], 300)
    weak = np.clip(0.15 * labels + rng.uniform(0, 0.85, 600), 0, 1)  # AUC ~0.67
    strong = np.clip(0.45 * labels + rng.uniform(0, 0.55, 600), 0, 1)  # AUC ~0.95
    planted = compare_auc(labels, weak, strong, images_name="external images", n_bootstrap=500)
    assert planted["verdict"] == "helped" and planted["ci_low"] > 0
    assert "paired bootstrap over 600 external images" in planted["sentence"]
    assert compare_auc(labels, strong, weak, n_bootstrap=500)["verdict"] == "hurt"
    same = compare_auc(labels, weak, weak.copy(), n_bootstrap=500)
    assert same["verdict"] == "no detectable difference"
    assert same["difference"] == 0 and same["ci_low"] == same["ci_high"] == 0


def test_cannot_decide_needs_both_0_and_a_005_difference_in_the_interval():
    from cxr_gan.metrics.classification import cannot_decide

    assert cannot_decide(-0.03, 0.06) and cannot_decide(-0.06, 0.01)
    assert not cannot_decide(-0.03, 0.04)  # too narrow to hold a difference worth having
    assert not cannot_decide(0.01, 0.09)  # decided: helped
    assert cannot_decide(None, None)
    assert cannot_decide(-100.0, 200.0, margin=50.0) and not cannot_decide(-10.0, 20.0, 50.0)


def test_few_images_and_a_wide_interval_say_cannot_decide():
    labels, probabilities = scored(30, seed=7)
    noisy = np.clip(probabilities + np.random.default_rng(8).normal(0, 0.2, 30), 0, 1)
    result = compare_auc(labels, probabilities, noisy, n_bootstrap=500)
    assert result["ci_low"] < 0 < result["ci_high"]
    assert max(-result["ci_low"], result["ci_high"]) >= 0.05
    assert result["sentence"].startswith("Cannot decide with 30 test images between")
