"""synthesis in memory: the GAN split node of gan_training and the whole synthesis pipeline,
from their create_pipeline(), run by SequentialRunner on a DataCatalog of MemoryDatasets
(tests/pipelines/slices.py), with a tiny real Keras generator instead of a trained one.
test_pipeline.py runs synthesis through a KedroSession on saved generator versions."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from cxr_gan.data.classification_inputs import INGEST_OPTIONS
from cxr_gan.pipelines.data_processing.params import DataProcessingParams
from cxr_gan.pipelines.gan_training import create_pipeline as gan_training_pipeline
from cxr_gan.pipelines.synthesis import create_pipeline
from cxr_gan.pipelines.synthesis.nodes import synthesize_xrays
from cxr_gan.pipelines.synthesis.params import SynthesisParams
from tests.pipelines.slices import class_counts, parameters, run_slice, shaped, tiny_generator

SECTIONS = ("data_processing", "gan_training", "synthesis")
# what gan_training's history holds, as far as the model card reads it
HISTORY = {
    "settings": {"gan_image_size": 16, "epochs": 2, "architecture": "dense"},
    "generator_epoch": 2,
    "epochs": [{"epoch": 1}, {"epoch": 2}],
}


@pytest.fixture(scope="module")
def synthesized(processed, tmp_path_factory):
    params = parameters()
    project = tmp_path_factory.mktemp("project")
    gan_split = shaped(gan_training_pipeline, params, project).only_nodes("split_gan_evaluation")
    pipeline = gan_split + shaped(create_pipeline, params, project)
    assert pipeline.inputs() == {
        "generator",
        "xray_arrays",
        "xray_split",
        "gan_history",  # the model card: settings and the epoch kept
        "raw_manifest",  # the model card: the data fingerprint and licences
        "params:gan_training",
        "params:synthesis",
        "params:data_processing.classes",  # folder -> label, to name and label the images
        "external_xrays",  # optional: realism also judged against an external folder
        *(f"params:data_processing.{option}" for option in INGEST_OPTIONS),  # ... ingested so
    }
    return run_slice(
        pipeline,
        {section: params[section] for section in SECTIONS},
        generator=tiny_generator(size=16),
        xray_arrays=processed["xray_arrays"],
        xray_split=processed["xray_split"],
        raw_manifest=processed["raw_manifest"],
        gan_history=HISTORY,
        external_xrays=None,  # no external folder: the report's "external" is None
    )


def test_whole_pipeline_in_memory_writes_both_sets_and_judges_them(synthesized):
    synthetic = synthesized.load("synthetic_xrays")
    assert synthetic["images"].shape == (6, 16, 16) and synthetic["images"].dtype == np.uint8
    manifest = synthetic["manifest"]
    assert manifest["filename"].tolist() == [f"covid_{i:04d}.png" for i in range(6)]
    assert set(manifest["class_folder"]) == {"covid"} and set(manifest["label"]) == {1}
    assert set(manifest["generator_size"]) == {16} and set(manifest["interpolation"]) == {"none"}
    assert len({image.tobytes() for image in synthetic["images"]}) == 6  # six latents, six images

    balanced = synthesized.load("synthetic_balanced_xrays")
    assert balanced["images"].shape == (8, 16, 16)
    assert class_counts(balanced["manifest"]["label"]) == {0: 4, 1: 4}
    assert set(balanced["manifest"]["class_folder"]) == {"normal", "covid"}

    report = synthesized.load("gan_quality_report")
    # judged against the covid images of the GAN split: 2 held out, 10 it trained on
    assert (report["n_evaluation"], report["n_training"]) == (2, 10)
    assert report["n_synthetic"] == 6 and report["gan_image_size"] == 16
    assert report["generator"] == "in-memory"
    assert isinstance(report["verdict"], str) and report["verdict"]
    assert isinstance(report["collapsed"], bool)
    assert 0 <= report["real_vs_synthetic_auc"]["mean"] <= 1
    assert 0 <= report["memorization"]["count_above"] <= 6
    assert np.isfinite(report["fid"]) and report["fid"] >= 0
    assert report["verdict"] in synthesized.load("gan_quality_figure").get_suptitle()
    assert isinstance(synthesized.load("gan_quality_figure"), Figure)


def test_the_model_card_names_the_data_its_licences_absent_and_its_use(synthesized, processed):
    saved = synthesized.load("generator_card")
    card = saved["card"]
    assert card["data_fingerprint"] == processed["data_quality_report"]["fingerprint"]
    assert len(card["data_fingerprint"]) == 64
    gan_split = synthesized.load("gan_split")
    trained = gan_split[gan_split["role"] == "train"]
    assert (
        card["trained_on"]["total"] == len(trained) == sum(card["trained_on"]["classes"].values())
    )
    assert set(card["trained_on"]["classes"]) == {"normal", "covid"}
    assert card["licences"] is None  # the phantoms' manifest has no licence column
    assert card["epoch_kept"] == 2 and card["parameters"]["gan_image_size"] == 16
    report = synthesized.load("gan_quality_report")
    assert card["quality"]["verdict"] == report["verdict"]
    assert card["quality"]["near_copies"] == report["memorization"]["count_above"]
    assert "not for diagnosis" in card["intended_use"].lower()
    markdown = saved["markdown"]
    assert card["data_fingerprint"] in markdown and "Not for diagnosis" in markdown
    assert "no licence column" in markdown


def test_the_same_generator_and_seed_give_the_same_images(synthesized, tmp_path):
    """Sampling is reproducible: a second slice of synthesize_xrays alone, same seed, draws the
    same PNG pixels; another seed draws others."""
    first = synthesized.load("synthetic_xrays")["images"]
    generator = synthesized.load("generator")
    params = parameters()
    again = shaped(create_pipeline, params, tmp_path).only_nodes("synthesize_xrays")
    sections = {section: params[section] for section in ("data_processing", "synthesis")}
    catalog = run_slice(again, sections, generator=generator)
    np.testing.assert_array_equal(catalog.load("synthetic_xrays")["images"], first)

    sections["synthesis"] = {**sections["synthesis"], "seed": 99}
    other = run_slice(again, sections, generator=generator).load("synthetic_xrays")["images"]
    assert not np.array_equal(other, first)


def test_a_label_that_is_no_class_folder_is_refused_with_the_choices(synthesized):
    """synthesize_xrays alone: synthesis.label must name a data_processing class folder."""
    params = SynthesisParams(**{**parameters()["synthesis"], "label": "pneumonia"})
    classes = DataProcessingParams().classes
    with pytest.raises(ValueError, match=r"synthesis.label='pneumonia'.*\['covid', 'normal'\]"):
        synthesize_xrays(synthesized.load("generator"), params, classes)
