"""synthetic_pretrain: the `real` recipe pre-trained on the balanced synthetic set, then
fine-tuned on the real training images, compared with `real` as a secondary question (DeLong and
the paired bootstrap, Holm-adjusted), through the classification pipeline in memory
(tests/pipelines/slices.py) and, with a frozen ResNet50, from the shared feature cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxr_gan.data.experiments import experiment_images
from cxr_gan.data.phantom import draw_phantom
from cxr_gan.datasets import PhantomXrayDataset
from cxr_gan.pipelines.classification import create_pipeline
from cxr_gan.pipelines.classification.nodes import (
    compute_backbone_features,
    prepare_classification_data,
    train_and_evaluate,
)
from cxr_gan.pipelines.classification.params import ClassificationParams
from cxr_gan.pipelines.data_processing.nodes import ingest_raw_xrays, split_train_test
from cxr_gan.pipelines.data_processing.params import DataProcessingParams
from cxr_gan.pipelines.synthesis import create_pipeline as synthesis_pipeline
from tests.kedro_helpers import captured_log
from tests.pipelines.slices import parameters, run_slice, shaped, tiny_generator

EXPERIMENTS = ["real", "real_plus_synthetic", "synthetic_pretrain"]


@pytest.fixture(scope="module")
def classified(processed, tmp_path_factory):
    params = parameters(
        data_processing={"scratch_dir": str(tmp_path_factory.mktemp("scratch"))},
        classification={"experiments": EXPERIMENTS, "shortcut_probe": False, "epochs": 2},
    )
    pipeline = shaped(create_pipeline, params, tmp_path_factory.mktemp("project"))
    sampling = synthesis_pipeline().only_nodes("synthesize_xrays", "synthesize_balanced_xrays")
    sections = ("data_processing", "synthesis", "classification")
    with captured_log("cxr_gan.models.classifier") as lines:
        return _ran(
            lines,
            sampling + pipeline,
            {section: params[section] for section in sections},
            generator=tiny_generator(size=16),
            xray_arrays=processed["xray_arrays"],
            xray_split=processed["xray_split"],
            raw_manifest=processed["raw_manifest"],
            gan_quality_report={"verdict": "diverse", "collapsed": False},
            external_xrays=PhantomXrayDataset(count_per_class=6, image_size=48, seed=11),
        )


PROGRESS: list[str] = []  # the classifier's progress lines while the module's slice ran


def _ran(lines: list[str], *args, **kwargs):
    catalog = run_slice(*args, **kwargs)
    PROGRESS[:] = lines
    return catalog


def test_both_phases_print_where_they_are_and_count_each_other_in_the_eta(classified):
    phases = [line for line in PROGRESS if line.startswith("Experiment synthetic_pretrain")]
    pre = [line for line in phases if ", pre-training:" in line]
    fine = [line for line in phases if ", fine-tuning:" in line]
    assert pre and fine and len(pre) + len(fine) == len(phases)
    assert all("seed 1/1" in line for line in phases)
    # while pre-training, the fine-tuning run after it is still to come
    assert any("(this run and 1 more)" in line for line in pre), pre


def test_it_pretrains_on_both_synthetic_classes_then_fine_tunes_on_real(classified):
    real = classified.load("real.classification_evaluation")
    pretrained = classified.load("synthetic_pretrain.classification_evaluation")
    assert pretrained["training_set"] == real["training_set"]  # fine-tuned on `real`'s images
    assert pretrained["pretraining"] == {
        "training_set": {  # synthesis.per_class_images: 4 of each class
            "images": 8,
            "real": 0,
            "synthetic": 8,
            "label_0": 4,
            "label_1": 4,
        },
        "trainable": "every layer, as the small_cnn backbone trains end to end",
        "epochs": 2,
    }
    assert real["pretraining"] is None
    [history] = classified.load("synthetic_pretrain.classification_history")
    assert len(history["pretraining_history"]["loss"]) == 2 and len(history["history"]["loss"]) == 2
    assert "val_loss" in history["pretraining_history"]  # the same real validation images
    assert "pretraining_history" not in classified.load("real.classification_history")[0]
    # the same seed, the same images to fine-tune on: only the starting weights differ
    assert pretrained["per_seed"][0]["probabilities"] != real["per_seed"][0]["probabilities"]


def test_the_comparison_adds_it_as_a_holm_adjusted_secondary_question(classified):
    comparison = classified.load("classification_comparison")
    assert [row["name"] for row in comparison["experiments"]] == EXPERIMENTS
    primary = comparison["synthetic_effect"]
    assert "holm" not in primary  # the primary answer is not adjusted
    assert {"p_value", "ci_low", "ci_high", "z", "se"} <= set(primary["delong"])
    secondary = comparison["secondary"]["synthetic_pretrain"]
    assert secondary["rests_on"] == "external" and set(secondary["by_set"]) == {
        "internal",
        "external",
    }
    effect = secondary["effect"]
    assert effect["candidate"] == "pre-trained on synthetic images, fine-tuned on real ones"
    # one secondary comparison: Holm leaves its p-values as they are
    assert secondary["holm"] == {
        "m": 1,
        "bootstrap_p": effect["p_value"],
        "delong_p": effect["delong"]["p_value"],
    }
    assert secondary["verdict"] in {"helped", "hurt", "no detectable difference"}
    assert "pre-trained on 8 synthetic images of both classes" in secondary["sentence"]
    assert "training every layer, as the small_cnn" in secondary["sentence"]
    table = classified.load("classification_comparison_table")
    assert secondary["sentence"] in table
    assert "| primary | real_plus_synthetic | external | 12 |" in table
    assert "| secondary | synthetic_pretrain | internal | 8 |" in table
    assert "DeLong p" in table and "(m = 1) |" in table
    row = next(line for line in table.splitlines() if line.startswith("| synthetic_pretrain"))
    assert "| 22 + 0 (after pre-training on 8) |" in row  # after its name (and any flag)


def _synthetic(per_class: dict[int, int]) -> dict:
    labels = [label for label, count in per_class.items() for _ in range(count)]
    return {
        "images": [draw_phantom(label, 700 + i, 9, 32) for i, label in enumerate(labels)],
        "manifest": pd.DataFrame(
            {"filename": [f"s{i}.png" for i in range(len(labels))], "label": labels}
        ),
    }


def test_with_a_frozen_resnet50_it_pretrains_the_head_from_the_shared_cache():
    data_params = DataProcessingParams(image_size=32, test_fraction=0.3, min_images_per_class=5)
    params = ClassificationParams(
        backbone="resnet50",
        weights=None,
        input_size=32,
        epochs=2,
        batch_size=8,
        batchnorm_momentum=0.9,
        augmentation=None,
        seeds=[1],
        n_bootstrap=100,
        experiments=["real", "synthetic_only", "synthetic_pretrain"],
        shortcut_probe=False,
    )
    raw = PhantomXrayDataset(count_per_class=10, image_size=48, seed=4).load()
    arrays, manifest = ingest_raw_xrays(raw, data_params)
    data = prepare_classification_data(
        arrays, split_train_test(manifest, data_params), manifest, params
    )
    covid, balanced = _synthetic({1: 4}), _synthetic({0: 3, 1: 3})
    cache = compute_backbone_features(data, covid, balanced, {}, params)
    seen = len(data.train) + len(data.validation) + len(data.test)
    assert cache.computed_images == seen + 6  # the balanced set once, shared with synthetic_only
    images = experiment_images("synthetic_pretrain", data, covid, balanced)
    assert [name for name, _ in images.pretraining] == ["synthetic_balanced"]
    _, histories, evaluation = train_and_evaluate(
        "synthetic_pretrain", data, covid, balanced, params, None, cache
    )
    assert evaluation["features"] == "shared cache"
    assert evaluation["pretraining"]["trainable"] == (
        "only the head, as the ResNet50 backbone is frozen"
    )
    assert evaluation["pretraining"]["training_set"]["images"] == 6
    assert len(histories[0]["pretraining_history"]["loss"]) == 2
    probabilities = np.array(evaluation["per_seed"][0]["probabilities"])
    assert probabilities.shape == (len(data.test),)
