"""classification in memory: the sampling nodes of synthesis and the whole classification
pipeline, from their create_pipeline(), run by SequentialRunner on a DataCatalog of
MemoryDatasets (tests/pipelines/slices.py): two experiments of a tiny real CNN, one seed, one
epoch, scored on the real test split and on an external folder of phantoms. test_pipeline.py
runs the whole study through a KedroSession with versioned files."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from cxr_gan.datasets import PhantomXrayDataset
from cxr_gan.metrics.comparison import PREDICTION_COLUMNS
from cxr_gan.pipelines.classification import create_pipeline
from cxr_gan.pipelines.classification.nodes import score_external
from cxr_gan.pipelines.classification.params import ClassificationParams
from cxr_gan.pipelines.synthesis import create_pipeline as synthesis_pipeline
from tests.pipelines.slices import class_counts, parameters, run_slice, shaped, tiny_generator

EXPERIMENTS = ["real", "real_plus_synthetic"]
EXTERNAL_PER_CLASS = 6
GAN_VERDICT = "diverse: synthetic MS-SSIM 0.30 vs real 0.45 at 16 px"
PER_EXPERIMENT = {
    "train_and_evaluate",
    "plot_training_curves",
    "plot_roc_curve",
    "score_external",
    "explain_with_gradcam",
}


@pytest.fixture(scope="module")
def classified(processed, tmp_path_factory):
    params = parameters(
        data_processing={"scratch_dir": str(tmp_path_factory.mktemp("scratch"))},
        classification={"experiments": EXPERIMENTS, "shortcut_probe": False},
    )
    pipeline = shaped(create_pipeline, params, tmp_path_factory.mktemp("project"))
    assert {node.name for node in pipeline.nodes} == {
        "prepare_classification_data",
        "prepare_external_data",
        "compute_backbone_features",
        "compare_experiments",
        *(f"{e}.{name}" for e in EXPERIMENTS for name in PER_EXPERIMENT),
    }
    sampling = synthesis_pipeline().only_nodes("synthesize_xrays", "synthesize_balanced_xrays")
    sections = ("data_processing", "synthesis", "classification")
    return run_slice(
        sampling + pipeline,
        {section: params[section] for section in sections},
        generator=tiny_generator(size=16),
        xray_arrays=processed["xray_arrays"],
        xray_split=processed["xray_split"],
        raw_manifest=processed["raw_manifest"],
        gan_quality_report={"verdict": GAN_VERDICT, "collapsed": False},
        external_xrays=PhantomXrayDataset(
            count_per_class=EXTERNAL_PER_CLASS, image_size=48, seed=11
        ),
    )


def test_real_images_are_split_once_and_matched_to_the_gans_resolution(classified):
    data = classified.load("classification_data")
    assert len(data.test) == 8 and class_counts(data.test.labels) == {0: 4, 1: 4}
    assert len(data.train) + len(data.validation) == 24
    assert class_counts(data.validation.labels) == {0: 1, 1: 1}  # 0.1 of 12 per class
    assert not set(data.test.ids) & (set(data.train.ids) | set(data.validation.ids))
    # the 16 px generator works below the 32 px input: real images go to 16 px and back
    assert data.resolution["matched"] is True and data.resolution["generator_size"] == 16
    external = classified.load("external_data")
    assert external["images"].shape == (2 * EXTERNAL_PER_CLASS, 32, 32)
    assert class_counts(external["labels"]) == {0: EXTERNAL_PER_CLASS, 1: EXTERNAL_PER_CLASS}


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_each_experiment_trains_and_scores_test_and_external_images(classified, experiment):
    evaluation = classified.load(f"{experiment}.classification_evaluation")
    assert evaluation["experiment"] == experiment
    assert evaluation["test_images"] == 8 and len(evaluation["test_labels"]) == 8
    synthetic = 6 if experiment == "real_plus_synthetic" else 0  # synthesis.n_images covid
    assert evaluation["training_set"] == {
        "images": 22 + synthetic,
        "real": 22,
        "synthetic": synthetic,
        "label_0": 11,
        "label_1": 11 + synthetic,
    }
    [run] = evaluation["per_seed"]  # classification.seeds: [1]
    assert run["seed"] == 1
    for key, count in (("probabilities", 8), ("external_probabilities", 12)):
        assert len(run[key]) == count and all(0 <= p <= 1 for p in run[key])
    assert 0 <= run["metrics"]["accuracy"]["value"] <= 1

    history = classified.load(f"{experiment}.classification_history")
    assert [entry["seed"] for entry in history] == [1]
    assert classified.load(f"{experiment}.classifier").output_shape[-1] == 1

    external = classified.load(f"{experiment}.external_evaluation")
    assert external["images"] == 12 and external["seeds"] == [1]
    predictions = classified.load(f"{experiment}.external_predictions")
    assert len(predictions) == 12 and set(predictions["experiment"]) == {experiment}
    assert class_counts(predictions["label"]) == {0: 6, 1: 6}
    assert predictions["probability"].between(0, 1).all()
    for figure in ("training_curves", "roc_curve", "gradcam"):
        assert isinstance(classified.load(f"{experiment}.{figure}"), Figure)


def test_the_comparison_answers_from_the_external_set_beside_the_gan_verdict(classified):
    comparison = classified.load("classification_comparison")
    assert [row["name"] for row in comparison["experiments"]] == EXPERIMENTS
    assert comparison["test_images"] == 8 and comparison["seeds"] == [1]
    assert comparison["verdict"]["rests_on"] == "external"
    assert comparison["synthetic_effect"]["n_images"] == 12
    assert comparison["gan_quality"]["verdict"] == GAN_VERDICT
    assert "shortcut_probe" not in comparison  # turned off in these parameters
    for row in comparison["experiments"]:
        auc = row["metrics"]["roc_auc"]["value"]
        assert auc is None or 0 <= auc <= 1
    table = classified.load("classification_comparison_table")
    assert isinstance(table, str) and all(f"| {e} " in table for e in EXPERIMENTS)
    assert isinstance(classified.load("classification_comparison_plot"), Figure)


def test_without_an_external_folder_the_node_hands_on_nothing(tmp_path):
    """prepare_external_data alone: the optional folder missing (the catalog entry loads None)
    gives {} and every experiment skips external scoring."""
    params = parameters()
    pipeline = shaped(create_pipeline, params, tmp_path).only_nodes("prepare_external_data")
    catalog = run_slice(pipeline, params, external_xrays=None, classification_data=None)
    assert catalog.load("external_data") == {}


def test_without_an_external_folder_score_external_says_skipped_with_an_empty_table():
    """score_external alone, on an evaluation whose run had no external folder."""
    params = ClassificationParams(**parameters()["classification"])  # the node's own model
    result, predictions = score_external({"experiment": "real", "external": None}, params)
    assert result == {"skipped": "no external validation folder"}
    assert predictions.empty and list(predictions.columns) == PREDICTION_COLUMNS
