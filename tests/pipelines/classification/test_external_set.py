"""The external set: sources from its CSV, every seed's predictions per image, backbone features
computed once and shared, and a paired comparison that carries the verdict."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pandas as pd
import pytest

from cxr_gan.data.phantom import PhantomConfound, draw_phantom
from cxr_gan.data.sources import scan_folder
from cxr_gan.datasets import PhantomXrayDataset
from cxr_gan.metrics.comparison import PREDICTION_COLUMNS, synthetic_verdict
from cxr_gan.pipelines.classification.nodes import (
    compare_experiments,
    compute_backbone_features,
    prepare_classification_data,
    prepare_external_data,
    score_external,
    train_and_evaluate,
)
from cxr_gan.pipelines.classification.params import ClassificationParams
from cxr_gan.pipelines.data_processing.nodes import ingest_raw_xrays, split_train_test
from cxr_gan.pipelines.data_processing.params import DataProcessingParams

DATA = DataProcessingParams(image_size=32, test_fraction=0.3, min_images_per_class=5)


def _params(**overrides) -> ClassificationParams:
    settings = {
        "backbone": "resnet50",
        "weights": None,
        "input_size": 32,
        "epochs": 2,
        "batch_size": 8,
        "batchnorm_momentum": 0.9,
        "augmentation_draws": 2,
        "seeds": [1, 2],
        "n_bootstrap": 200,
        "experiments": ["real", "real_plus_synthetic"],
        "min_source_images": 3,
        **overrides,
    }
    return ClassificationParams(**settings)


def _external_folder(root):
    """Phantoms in two sources (a corner marker on every image of archive_a), both classes in
    each, with a manifest.csv naming each file's source."""
    rows = []
    marker = PhantomConfound("marker", label=0)
    for source, covid, normal in (("archive_a", 6, 3), ("archive_b", 3, 6)):
        for k in range(covid + normal):
            label = "covid" if k < covid else "normal"
            name = f"{label}/{source}_{k:02d}.png"
            (root / label).mkdir(parents=True, exist_ok=True)
            confound = marker if source == "archive_a" else None
            cv2.imwrite(str(root / name), draw_phantom(0, len(rows), 3, 48, confound))
            rows.append({"filename": name, "label": label, "source_repo": source})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return rows


def _synthetic(count: int, labels=(1,)) -> dict:
    images = [draw_phantom(label, 500 + i, 9, 32) for label in labels for i in range(count)]
    names = [f"synthetic_{label}_{i}.png" for label in labels for i in range(count)]
    label_column = [label for label in labels for _ in range(count)]
    return {
        "images": images,
        "manifest": pd.DataFrame({"filename": names, "label": label_column}),
    }


@pytest.mark.slow
def test_external_set_is_scored_by_every_seed_from_features_computed_once(tmp_path):
    params = _params()
    raw = PhantomXrayDataset(count_per_class=12, image_size=48, seed=4).load()
    arrays, manifest = ingest_raw_xrays(raw, DATA)
    split = split_train_test(manifest, DATA)
    # as in cxr-dev: every normal from one archive, every COVID-19 image from another
    manifest["source_repo"] = np.where(manifest["label"] == 1, "ieee8023", "nih")
    data = prepare_classification_data(arrays, split, manifest, params)
    rows = _external_folder(tmp_path / "external")
    external = prepare_external_data(
        scan_folder(tmp_path / "external"), DATA.classes, data, params, **DATA.ingest_options()
    )
    by_file = {row["filename"]: row["source_repo"] for row in rows}
    assert sorted(external["sources"]) == sorted(by_file.values())
    synthetic, balanced = _synthetic(4), _synthetic(3, labels=(0, 1))

    cache = compute_backbone_features(data, synthetic, balanced, external, params)
    n = {part: len(getattr(data, part)) for part in ("train", "validation", "test")}
    once = n["validation"] + n["test"] + len(external["labels"])  # draw 0, per view
    # real training images and synthetic ones in 2 augmented draws, everything else once, for
    # the full view (real, real_plus_synthetic) and the probe's borders-only view
    assert cache.computed_images == 2 * (2 * n["train"] + once) + 2 * 4
    evaluations, externals = {}, {}
    for experiment in ("real", "real_plus_synthetic", "shortcut_probe"):
        _, _, evaluation = train_and_evaluate(
            experiment, data, synthetic, balanced, params, external, cache
        )
        assert evaluation["features"] == "shared cache"
        assert [len(run["external_probabilities"]) for run in evaluation["per_seed"]] == [18, 18]
        externals[experiment], predictions = score_external(evaluation, params)
        assert list(predictions.columns) == PREDICTION_COLUMNS
        assert len(predictions) == 2 * 18 and set(predictions["seed"]) == {1, 2}
        assert set(predictions["source"]) == {"archive_a", "archive_b"}
        by_seed = [group["id"].tolist() for _, group in predictions.groupby("seed")]
        assert by_seed[0] == by_seed[1] == external["ids"].tolist()
        evaluations[experiment] = evaluation
    probe = externals["shortcut_probe"]
    assert probe["source_matched"]["computable"] and probe["images"] == 18
    assert set(probe["per_source"]["groups"]) == {"archive_a", "archive_b"}
    # the probe sees borders only, so its external predictions differ from `real`'s
    assert (
        evaluations["shortcut_probe"]["per_seed"][0]["external_probabilities"]
        != evaluations["real"]["per_seed"][0]["external_probabilities"]
    )

    comparison, markdown, _ = compare_experiments(params, data, None, evaluations, externals)
    assert comparison["verdict"]["rests_on"] == "external"
    assert comparison["synthetic_effect"]["n_images"] == 18
    assert set(comparison["synthetic_effect_by_set"]) == {"internal", "external"}
    assert comparison["verdict"]["sentence"].startswith("Answer, from the external set (18")
    assert "## Source-matched AUC on the external set" in markdown
    assert "## Source-matched AUC on the internal test set" in markdown
    assert "cannot be computed: no source holds at least 3 images of each class" in markdown
    assert comparison["sources_confounded"] is True


def test_a_trainable_backbone_gets_no_shared_features():
    params = _params(backbone="small_cnn")
    cache = compute_backbone_features({}, {}, {}, {}, params)
    assert len(cache) == 0 and "trains end to end" in cache.reason


def _evaluation(labels, per_seed_probabilities, external_labels, external_per_seed):
    return {
        "training_set": {"images": 10, "real": 10, "synthetic": 0},
        "test_labels": list(labels),
        "across_seeds": {},
        "per_seed": [
            {"seed": s, "probabilities": list(p), "external_probabilities": list(e)}
            for s, p, e in zip((1, 2), per_seed_probabilities, external_per_seed, strict=True)
        ],
        "external": {
            "root": "data/01_raw_external",
            "ids": [str(i) for i in range(len(external_labels))],
            "labels": list(external_labels),
            "sources": None,
        },
    }


def test_the_external_comparison_decides_and_says_when_the_internal_set_disagrees():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 20)
    ext_labels = np.repeat([0, 1], 300)
    noise = rng.uniform(0, 1, (2, 600))
    weak = [np.clip(0.1 * ext_labels + 0.9 * n, 0, 1) for n in noise]
    strong = [np.clip(0.5 * ext_labels + 0.5 * n, 0, 1) for n in noise]
    internal_good = [np.clip(0.6 * labels + rng.uniform(0, 0.4, 40), 0, 1) for _ in range(2)]
    internal_bad = [np.clip(0.2 * labels + rng.uniform(0, 0.8, 40), 0, 1) for _ in range(2)]
    params = _params(n_bootstrap=500)

    def compare(base, candidate):
        comparison, markdown, _ = compare_experiments(
            params,
            SimpleNamespace(test_sources=None, resolution=None),
            None,
            {
                "real": _evaluation(labels, *base),
                "real_plus_synthetic": _evaluation(labels, *candidate),
            },
        )
        return comparison, markdown

    # a planted improvement on the external set, while the internal set points the other way
    comparison, markdown = compare(
        (internal_good, ext_labels, weak), (internal_bad, ext_labels, strong)
    )
    verdict = comparison["verdict"]
    assert verdict["rests_on"] == "external" and verdict["verdict"] == "helped"
    assert comparison["synthetic_effect"]["ci_low"] > 0
    assert verdict["internal_disagrees"] and "points the other way" in verdict["sentence"]
    assert "600 images, data/01_raw_external" in verdict["sentence"]
    assert f"**{verdict['sentence']}**" in markdown.splitlines()
    assert len(comparison["synthetic_effect_per_seed_by_set"]["external"]) == 2
    # two identical models: no difference, and nothing to disagree with
    comparison, _ = compare((internal_good, ext_labels, weak), (internal_good, ext_labels, weak))
    assert comparison["verdict"]["verdict"] == "no detectable difference"
    assert comparison["synthetic_effect"]["difference"] == 0
    assert not comparison["verdict"]["internal_disagrees"]


def test_without_an_external_set_the_internal_set_answers():
    internal = {
        "verdict": "hurt",
        "difference": -0.1,
        "ci_low": -0.2,
        "ci_high": -0.01,
        "confidence": 0.95,
        "n_images": 40,
    }
    verdict = synthetic_verdict(internal, None)
    assert verdict["rests_on"] == "internal"
    assert verdict["sentence"].startswith("Answer, from the internal test set (40 images; no")
    assert "-0.100 (95% CI -0.200 to -0.010)" in verdict["sentence"]


def test_an_internal_set_without_any_difference_neither_agrees_nor_disagrees():
    flat = {
        "verdict": "no detectable difference",
        "difference": 0.0,
        "ci_low": 0.0,
        "ci_high": 0.0,
        "confidence": 0.95,
        "n_images": 40,
    }
    external = {**flat, "difference": -0.003, "ci_low": -0.015, "ci_high": 0.008, "n_images": 600}
    verdict = synthetic_verdict(flat, external, "data/01_raw_external")
    assert not verdict["internal_disagrees"]
    assert "agrees" not in verdict["sentence"] and "points the other way" not in verdict["sentence"]
    assert "On the internal test set (40 images): no detectable difference" in verdict["sentence"]


def _effect(difference: float, low: float, high: float, n_images: int) -> dict:
    verdict = "helped" if low > 0 else ("hurt" if high < 0 else "no detectable difference")
    return {
        "verdict": verdict,
        "difference": difference,
        "ci_low": low,
        "ci_high": high,
        "confidence": 0.95,
        "n_images": n_images,
    }


def test_an_interval_holding_0_and_a_005_difference_cannot_decide():
    verdict = synthetic_verdict(_effect(0.015, -0.03, 0.06, 24), None)
    assert "cannot decide with 24 images, AUC difference +0.015" in verdict["sentence"]
    assert verdict["verdict"] == "no detectable difference"  # the machine-readable value stays
    narrow = synthetic_verdict(_effect(0.005, -0.01, 0.02, 900), None)
    assert "no detectable difference, AUC difference" in narrow["sentence"]


def test_two_undecided_sets_never_point_the_other_way():
    external = _effect(0.02, -0.03, 0.07, 600)
    internal = _effect(-0.04, -0.12, 0.05, 40)  # the other sign, but its interval holds 0
    verdict = synthetic_verdict(internal, external, "data/01_raw_external")
    assert not verdict["internal_disagrees"]
    assert "points the other way" not in verdict["sentence"]
    assert (
        "On the internal test set (40 images): cannot decide with 40 images"
        in (verdict["sentence"])
    )


def test_an_interval_wholly_across_zero_from_the_other_set_points_the_other_way():
    external = _effect(0.02, -0.03, 0.07, 600)  # undecided, leaning up
    internal = _effect(-0.10, -0.18, -0.02, 40)  # wholly below 0
    verdict = synthetic_verdict(internal, external)
    assert verdict["internal_disagrees"] and "points the other way: hurt" in verdict["sentence"]
    # the same the other way round: the deciding set's interval lies below the internal point
    verdict = synthetic_verdict(_effect(0.03, -0.02, 0.08, 40), _effect(-0.05, -0.08, -0.02, 600))
    assert verdict["internal_disagrees"]


def test_the_external_folder_is_named_relative_to_the_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inside, outside = tmp_path / "data" / "ext", "/elsewhere/ext"
    effect = _effect(0.0, -0.01, 0.01, 600)
    assert "(600 images, data/ext)" in synthetic_verdict(effect, effect, str(inside))["sentence"]
    assert f"(600 images, {outside})" in synthetic_verdict(effect, effect, outside)["sentence"]
