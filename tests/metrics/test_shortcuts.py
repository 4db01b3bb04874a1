import numpy as np

from cxr_gan.metrics.shortcuts import (
    per_source_metrics,
    probe_reading,
    shortcut_warning,
    sources_confounded,
)


def test_warning_only_when_the_whole_interval_is_above_the_bound():
    flagged = shortcut_warning({"value": 0.81, "ci_low": 0.78, "ci_high": 0.84}, 0.65)
    assert flagged.startswith("Warning: the classes can be told apart from the image borders alone")
    assert "AUC 0.81 [0.78, 0.84]" in flagged and "image source, not disease" in flagged
    assert shortcut_warning({"value": 0.7, "ci_low": 0.6, "ci_high": 0.8}, 0.65) is None
    assert shortcut_warning({"value": 0.66, "ci_low": 0.65, "ci_high": 0.7}, 0.65) is None
    assert shortcut_warning({"value": None, "ci_low": None, "ci_high": None}, 0.65) is None


def test_per_source_groups_have_counts_and_small_groups_are_skipped(caplog):
    caplog.set_level("INFO")
    rng = np.random.default_rng(0)
    sources = np.array(["nih"] * 20 + ["ieee"] * 20 + ["figure1"] * 4)
    labels = np.array([0] * 20 + [0] * 5 + [1] * 15 + [1] * 4)
    probabilities = np.clip(labels * 0.6 + rng.uniform(0, 0.4, len(labels)), 0, 1)
    result = per_source_metrics(labels, probabilities, sources, min_images=10, n_bootstrap=200)
    assert set(result["groups"]) == {"nih", "ieee"}
    assert result["groups"]["ieee"]["counts"] == {"images": 20, "label_0": 5, "label_1": 15}
    assert result["groups"]["ieee"]["metrics"]["roc_auc"]["value"] == 1.0
    assert result["groups"]["nih"]["metrics"]["roc_auc"]["value"] is None  # one class only
    assert result["groups"]["nih"]["metrics"]["accuracy"]["value"] == 1.0
    assert result["skipped"] == [{"source": "figure1", "images": 4, "label_0": 0, "label_1": 4}]
    assert "fewer than 10 test images: figure1 (4)" in caplog.text


def test_probe_reading_is_honest_about_small_test_sets():
    strong = probe_reading({"value": 0.81, "ci_low": 0.78, "ci_high": 0.84}, 0.65, 596)
    assert strong.startswith("Warning:")
    above_chance = probe_reading({"value": 0.70, "ci_low": 0.52, "ci_high": 0.85}, 0.65, 40)
    assert above_chance.startswith("Caution:") and "40 test images" in above_chance
    below = probe_reading({"value": 0.24, "ci_low": 0.08, "ci_high": 0.45}, 0.65, 40)
    assert "BELOW chance" in below and "not distinguishable from chance" not in below
    chance = probe_reading({"value": 0.52, "ci_low": 0.35, "ci_high": 0.7}, 0.65, 40)
    assert "not distinguishable from chance" in chance


def test_single_class_sources_are_flagged_as_confounded():
    def group(normal, covid):
        return {"counts": {"images": normal + covid, "label_0": normal, "label_1": covid}}

    assert sources_confounded({"groups": {"nih": group(20, 0), "ieee": group(0, 13)}})
    assert not sources_confounded({"groups": {"nih": group(20, 0), "ieee": group(3, 13)}})
    assert not sources_confounded({"groups": {}})
    assert not sources_confounded(None)
