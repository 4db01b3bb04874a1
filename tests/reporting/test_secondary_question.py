"""The secondary question (synthetic_pretrain vs real) from compare() to the comparison's
Markdown and the study report: DeLong beside the bootstrap, Holm over the secondary family,
and what pre-training trained, on planted predictions (no training)."""

from __future__ import annotations

import numpy as np

from cxr_gan.metrics.comparison import ComparisonSettings, compare
from cxr_gan.reporting.comparison import comparison_markdown
from cxr_gan.reporting.study_report import StudyResults, build_study_report

SETTINGS = ComparisonSettings(
    seeds=[1, 2],
    n_bootstrap=1000,
    min_source_images=3,
    mask_fraction=0.7,
    probe_warning_lower_bound=0.65,
)
TRAINABLE = "only the head, as the ResNet50 backbone is frozen"


def _evaluation(name, labels, strength, seed, pretraining=None):
    rng = np.random.default_rng(seed)
    runs = [
        {
            "seed": s,
            "probabilities": np.clip(strength * labels + rng.uniform(0, 1, len(labels)), 0, 1)
            .round(6)
            .tolist(),
        }
        for s in SETTINGS.seeds
    ]
    return {
        "experiment": name,
        "training_set": {"images": 40, "real": 40, "synthetic": 0},
        "pretraining": pretraining,
        "test_labels": labels.tolist(),
        "across_seeds": {},
        "per_seed": runs,
        "external": None,
    }


def _comparison():
    labels = np.repeat([0, 1], 150)
    pretraining = {
        "training_set": {"images": 100, "real": 0, "synthetic": 100},
        "trainable": TRAINABLE,
        "epochs": 100,
    }
    evaluations = {
        "real": _evaluation("real", labels, 0.2, 0),
        "real_plus_synthetic": _evaluation("real_plus_synthetic", labels, 0.2, 1),
        "synthetic_pretrain": _evaluation("synthetic_pretrain", labels, 0.6, 2, pretraining),
    }
    quality = {"verdict": None, "collapsed": None, "sentence": "GAN quality: n/a."}
    return compare(evaluations, {}, None, quality, None, SETTINGS)


def test_a_planted_gain_is_found_by_both_tests_and_reported_with_holm():
    comparison = _comparison()
    secondary = comparison["secondary"]["synthetic_pretrain"]
    effect = secondary["effect"]
    assert secondary["rests_on"] == "internal" and effect["n_images"] == 300
    assert effect["ci_low"] > 0 and effect["delong"]["ci_low"] > 0  # planted: 0.6 vs 0.2
    assert effect["p_value"] < 0.01 and effect["delong"]["p_value"] < 0.01
    assert secondary["verdict"] == "helped"
    assert secondary["holm"]["m"] == 1
    # the primary answer, two equally weak models, is unadjusted and carries DeLong too
    primary = comparison["synthetic_effect"]
    assert "holm" not in primary and primary["delong"]["p_value"] > 0.01
    sentence = secondary["sentence"]
    assert sentence.startswith("Secondary question, synthetic_pretrain (pre-trained on 100")
    assert f"training {TRAINABLE}" in sentence and "Holm-adjusted over 1 secondary" in sentence
    assert "DeLong 95% CI" in sentence and "p < 0.001" in sentence

    markdown = comparison_markdown(comparison)
    assert sentence in markdown
    assert "| primary | real_plus_synthetic | internal | 300 |" in markdown
    assert "| secondary | synthetic_pretrain | internal | 300 |" in markdown
    assert "not adjusted |" in markdown and "(m = 1) |" in markdown
    assert "| synthetic_pretrain | 40 + 0 (after pre-training on 100) |" in markdown


def test_holm_counts_every_secondary_comparison_that_ran(monkeypatch):
    """With a second secondary experiment in the family, each adjusted p-value is at least its
    raw one and m is 2 (the family grows; the primary stays out of it)."""
    from cxr_gan.metrics import comparison as module

    labels = np.repeat([0, 1], 60)
    evaluations = {
        "real": _evaluation("real", labels, 0.2, 0),
        "synthetic_pretrain": _evaluation("synthetic_pretrain", labels, 0.35, 2),
        "synthetic_only": _evaluation("synthetic_only", labels, 0.3, 3),
    }
    monkeypatch.setitem(module.SECONDARY, "synthetic_only", "trained on synthetic images only")
    results = module.secondary_effects(evaluations, SETTINGS)
    assert list(results) == ["synthetic_pretrain", "synthetic_only"]
    raw = sorted((r["effect"]["delong"]["p_value"], name) for name, r in results.items())
    (small, first), (large, second) = raw
    assert results[first]["holm"]["delong_p"] == min(1.0, 2 * small)
    assert results[second]["holm"]["delong_p"] == max(min(1.0, 2 * small), large)
    assert all(r["holm"]["m"] == 2 for r in results.values())


def test_the_study_report_gives_the_secondary_answer_and_what_pretraining_trained():
    comparison = _comparison()
    rows = {row["name"]: row for row in comparison["experiments"]}
    assert rows["synthetic_pretrain"]["pretraining"]["trainable"] == TRAINABLE
    report = build_study_report(
        StudyResults(comparison=comparison, comparison_markdown=comparison_markdown(comparison))
    )
    summary = report.markdown.split("## Data quality")[0]
    sentence = comparison["secondary"]["synthetic_pretrain"]["sentence"]
    assert sentence.split(" vs real,")[0] in summary  # the rest holds "<", escaped there
    assert (
        f"Pre-trained on 100 synthetic images of both classes (training {TRAINABLE}), then "
        "fine-tuned on 40 real + 0 synthetic images" in report.markdown
    )
    assert "DeLong p" in report.html and "Holm-adjusted p" in report.html


def test_without_real_there_is_no_secondary_question():
    labels = np.repeat([0, 1], 20)
    evaluations = {"synthetic_pretrain": _evaluation("synthetic_pretrain", labels, 0.3, 2)}
    quality = {"verdict": None, "collapsed": None, "sentence": "n/a"}
    comparison = compare(evaluations, {}, None, quality, None, SETTINGS)
    assert "secondary" not in comparison and "synthetic_effect" not in comparison
    assert "DeLong" not in comparison_markdown(comparison)


def test_an_undecided_secondary_question_says_it_cannot_decide():
    labels = np.repeat([0, 1], 10)  # 20 test images: far too few to bound a 0.05 AUC difference
    pretraining = {"training_set": {"images": 100}, "trainable": TRAINABLE, "epochs": 100}
    evaluations = {
        "real": _evaluation("real", labels, 0.3, 0),
        "real_plus_synthetic": _evaluation("real_plus_synthetic", labels, 0.3, 1),
        "synthetic_pretrain": _evaluation("synthetic_pretrain", labels, 0.3, 2, pretraining),
    }
    quality = {"verdict": None, "collapsed": None, "sentence": "GAN quality: n/a."}
    secondary = compare(evaluations, {}, None, quality, None, SETTINGS)["secondary"]
    result = secondary["synthetic_pretrain"]
    effect = result["effect"]
    assert effect["ci_low"] <= 0 <= effect["ci_high"]  # the data hold no difference ...
    assert effect["ci_high"] - effect["ci_low"] > 0.1  # ... and no bound on one either
    assert result["verdict"] == "no detectable difference"  # the JSON keeps the verdict
    assert "cannot decide with 20 images" in result["sentence"]
    assert "no detectable difference" not in result["sentence"]
