"""The whole study through Kedro on tiny phantom data: every experiment, and the comparison."""

from __future__ import annotations

import pytest

from cxr_gan.data.phantom import write_sourced_phantom_folder
from cxr_gan.metrics.comparison import PREDICTION_COLUMNS
from cxr_gan.pipelines.classification.nodes import (
    prepare_external_data,
    score_external,
)
from cxr_gan.pipelines.classification.params import ClassificationParams
from cxr_gan.pipelines.data_processing.params import DataProcessingParams
from tests.kedro_helpers import TINY_STUDY, run_kedro, use_tiny_phantoms, write_conf

TINY = {
    **TINY_STUDY,
    "synthesis.n_images": 6,
    "synthesis.per_class_images": 8,
    "classification.epochs": 3,
    "classification.batchnorm_momentum": 0.9,
    "classification.seeds": [1, 2],
    "classification.n_bootstrap": 200,
    "classification.gradcam_images": 2,
}


def _tiny_phantoms(project):
    use_tiny_phantoms(project, count_per_class=15)


@pytest.mark.slow
def test_whole_study_runs_and_answers_the_question(project_copy, tmp_path):
    write_sourced_phantom_folder(  # 8 images, a manifest.csv naming each one's source
        tmp_path / "external", {"site_a": (3, 1, True), "site_b": (1, 3, False)}, 40, 99
    )
    write_conf(
        project_copy,
        "local/catalog.yml",
        {
            "raw_xrays": {
                "type": "cxr_gan.datasets.PhantomXrayDataset",
                "count_per_class": 15,
                "image_size": 32,
            },
            "external_xrays": {
                "type": "cxr_gan.datasets.XrayFolderDataset",
                "path": str(tmp_path / "external"),
            },
        },
    )
    catalog = run_kedro(project_copy, params=TINY)  # __default__: all four pipelines
    comparison = catalog.load("classification_comparison")
    names = [row["name"] for row in comparison["experiments"]]
    assert names == [
        "real",
        "real_plus_synthetic",
        "classical_augmentation",
        "synthetic_only",
        "synthetic_pretrain",
        "shortcut_probe",
    ]
    assert comparison["test_images"] == 6  # 20% of 30, the same real images for all
    by_name = {row["name"]: row for row in comparison["experiments"]}
    assert by_name["real_plus_synthetic"]["training_set"]["synthetic"] == 6
    assert by_name["synthetic_only"]["training_set"]["real"] == 0
    assert by_name["real"]["training_set"]["synthetic"] == 0
    auc = by_name["real"]["metrics"]["roc_auc"]
    assert auc["ci_low"] <= auc["value"] <= auc["ci_high"]
    assert by_name["real"]["across_seeds"]["roc_auc"]["values"].__len__() == 2
    effect = comparison["synthetic_effect"]
    assert effect["verdict"] in {"helped", "hurt", "no detectable difference"}
    assert len(comparison["synthetic_effect_per_seed"]) == 2
    assert comparison["shortcut_probe"]["mask_fraction"] == 0.7
    assert comparison["shortcut_probe"]["reading"] in catalog.load(
        "classification_comparison_table"
    )
    assert comparison["sources_confounded"] is False  # phantoms carry no source column
    assert by_name["shortcut_probe"]["training_set"] == by_name["real"]["training_set"]
    table = catalog.load("classification_comparison_table")
    assert effect["sentence"] in table and "| real_plus_synthetic |" in table
    assert catalog.load("synthetic_xrays")["images"].shape[1:] == (16, 16)  # the GAN's own size
    assert comparison["resolution"]["matched"] is True  # a 16 px GAN, a 32 px classifier
    assert "brought to the GAN's 16 px and back" in comparison["resolution"]["sentence"]
    assert comparison["resolution"]["sentence"] in table
    assert comparison["gan_quality"]["sentence"] in table  # the synthesis report's verdict

    evaluation = catalog.load("real.classification_evaluation")
    assert [run["seed"] for run in evaluation["per_seed"]] == [1, 2]
    assert len(evaluation["per_seed"][0]["probabilities"]) == 6
    history = catalog.load("real.classification_history")
    assert len(history[0]["history"]["loss"]) == 3 and "val_loss" in history[0]["history"]
    model = catalog.load("real.classifier")
    assert model.source_path.endswith("classifier.keras")
    external = catalog.load("real.external_evaluation")
    assert external["images"] == 8 and external["metrics"]["n_images"] == 8
    assert len(external["roc_auc_per_seed"]) == 2
    assert set(external["per_source"]["skipped"][0]) >= {"source", "images"}  # 4 < 10 images
    assert external["source_matched"]["computable"] is False
    predictions = catalog.load("real.external_predictions")
    assert list(predictions.columns) == [
        "experiment",
        "seed",
        "id",
        "label",
        "source",
        "probability",
    ]
    assert len(predictions) == 16 and sorted(set(predictions["seed"])) == [1, 2]
    assert set(predictions["source"]) == {"site_a", "site_b"}
    assert comparison["verdict"]["rests_on"] == "external"
    assert comparison["verdict"]["sentence"] in table
    assert set(comparison["synthetic_effect_by_set"]) == {"internal", "external"}
    assert by_name["synthetic_only"]["external"]["roc_auc"]["value"] is not None
    assert "## External validation" in table
    reports = project_copy / "data/08_reporting/classification"
    for experiment in names:
        for figure in ("training_curves", "roc_curve", "gradcam"):
            assert list((reports / experiment).glob(f"{figure}.png/*/{figure}.png")), (
                experiment,
                figure,
            )


def test_experiment_subset_and_bad_parameters_are_reported(project_copy):
    _tiny_phantoms(project_copy)
    write_conf(
        project_copy,
        "local/parameters_classification.yml",
        {"classification": {"experiments": ["real", "magic"]}},
    )
    with pytest.raises(ValueError, match=r"classification.experiments.1 = 'magic'"):
        run_kedro(project_copy, params=TINY, pipeline_names=["classification"])
    write_conf(
        project_copy, "local/parameters_classification.yml", {"classification": {"epochz": 3}}
    )
    with pytest.raises(Exception, match=r"classification.epochz: unknown key"):
        run_kedro(project_copy, params=TINY, pipeline_names=["classification"])


def test_missing_external_folder_is_skipped(caplog):
    caplog.set_level("INFO")
    assert prepare_external_data(None, DataProcessingParams().classes) == {}
    assert "No external validation folder" in caplog.text
    evaluation, predictions = score_external({"external": None}, ClassificationParams())
    assert evaluation == {"skipped": "no external validation folder"}
    assert predictions.empty and list(predictions.columns) == PREDICTION_COLUMNS


def test_the_external_folder_is_ingested_with_every_data_processing_ingest_option():
    from cxr_gan.data.classification_inputs import INGEST_OPTIONS

    assert set(INGEST_OPTIONS) == set(DataProcessingParams().ingest_options())
