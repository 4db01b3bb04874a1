"""The source-matched AUC: only COVID-19 / normal pairs from the same source count."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cxr_gan.data.phantom import PhantomConfound, draw_phantom
from cxr_gan.metrics.classification import classification_metrics
from cxr_gan.metrics.shortcuts import (
    mixed_sources,
    source_gap_sentence,
    source_matched_auc,
)
from cxr_gan.models.classifier import train_classifier
from cxr_gan.models.classifier_config import ClassifierConfig
from cxr_gan.models.classifier_predict import predict

SIZE = 32


def _marked_external_set():
    """Two sources, both classes in each, no disease signal at all (every image is drawn as a
    normal phantom), a bright corner marker on every image of archive_a, and archive_a mostly
    COVID-19, archive_b mostly normal: only the source tells the classes apart."""
    marker = PhantomConfound("marker", label=0)
    images, labels, sources = [], [], []
    for source, covid, normal in (("archive_a", 90, 5), ("archive_b", 5, 90)):
        for k in range(covid + normal):
            confound = marker if source == "archive_a" else None
            images.append(draw_phantom(0, 1000 + len(images), 11, SIZE, confound))
            labels.append(int(k < covid))
            sources.append(source)
    return np.stack(images), np.array(labels), np.array(sources)


def test_a_model_that_reads_the_source_marker_is_at_chance_within_a_source():
    # trained where the marker sits on every COVID-19 image (the archive confound of cxr-dev)
    marked = PhantomConfound("marker", label=1)
    train = np.stack([draw_phantom(c, i, 7, SIZE, marked) for c in (0, 1) for i in range(40)])
    config = ClassifierConfig(
        backbone="small_cnn",
        weights=None,
        input_size=SIZE,
        epochs=15,
        batch_size=16,
        batchnorm_momentum=0.9,
        augmentation=None,
        validation_fraction=0.0,
    )
    model, _ = train_classifier(train, np.repeat([0, 1], 40), config, seed=1)
    images, labels, sources = _marked_external_set()
    probabilities = predict(model, images)
    overall = classification_metrics(labels, probabilities, n_bootstrap=500)["roc_auc"]
    matched = source_matched_auc(labels, probabilities, sources, 5, n_bootstrap=500)
    assert overall["value"] >= 0.9, overall
    assert matched["computable"] and matched["ci_low"] <= 0.5 <= matched["ci_high"], matched
    assert set(matched["sources"]) == {"archive_a", "archive_b"}
    sentence = source_gap_sentence(overall["value"], matched)
    assert "cannot be told from chance" in sentence and "not disease" in sentence


def test_a_disease_signal_survives_within_sources():
    rng = np.random.default_rng(0)
    _, labels, sources = _marked_external_set()
    probabilities = np.clip(0.35 * labels + rng.uniform(0, 0.65, len(labels)), 0, 1)
    matched = source_matched_auc(labels, probabilities, sources, 5, n_bootstrap=500)
    assert matched["ci_low"] > 0.6, matched
    sentence = source_gap_sentence(roc_auc_score(labels, probabilities), matched)
    assert "cannot be told from chance" not in sentence
    assert "within a source" in sentence and "archives apart" in sentence


def test_pooled_value_weights_sources_by_their_pairs_and_skips_thin_sources():
    rng = np.random.default_rng(1)
    sources = np.array(["a"] * 30 + ["b"] * 40 + ["thin"] * 12)
    labels = np.array([0] * 10 + [1] * 20 + [0] * 25 + [1] * 15 + [0] * 2 + [1] * 10)
    scores = rng.uniform(size=len(labels)) + 0.3 * labels
    matched = source_matched_auc(labels, scores, sources, min_images=5, n_bootstrap=300)
    assert set(matched["sources"]) == {"a", "b"}  # "thin" has 2 normals only
    a, b = sources == "a", sources == "b"
    auc_a, auc_b = roc_auc_score(labels[a], scores[a]), roc_auc_score(labels[b], scores[b])
    expected = (auc_a * 10 * 20 + auc_b * 25 * 15) / (10 * 20 + 25 * 15)
    assert matched["value"] == pytest.approx(expected)
    assert matched["sources"]["a"]["roc_auc"] == pytest.approx(auc_a)
    assert matched["n_pairs"] == 10 * 20 + 25 * 15
    assert matched["ci_low"] <= matched["value"] <= matched["ci_high"]


def test_cxr_dev_like_sources_cannot_give_a_source_matched_auc():
    sources = np.array(["nih"] * 20 + ["ieee8023"] * 17 + ["figure1"] * 3)
    labels = np.array([0] * 20 + [1] * 20)
    assert mixed_sources(labels, sources, 10) == {}
    matched = source_matched_auc(labels, np.linspace(0, 1, 40), sources, 10, n_bootstrap=100)
    assert matched["computable"] is False
    assert "cannot be computed" in matched["reason"]
    assert "normal images come from nih" in matched["reason"]
    assert "COVID-19 images come from figure1, ieee8023" in matched["reason"]
    assert source_gap_sentence(1.0, matched) == matched["reason"]
    with pytest.raises(ValueError, match="40 labels, 39 probabilities"):
        source_matched_auc(labels, np.zeros(39), sources, 10)


def test_a_model_at_chance_everywhere_is_not_said_to_read_the_archive():
    labels = np.tile(np.repeat([0, 1], 100), 2)
    sources = np.repeat(["archive_a", "archive_b"], 200)
    guesses = np.random.default_rng(5).uniform(size=len(labels))
    matched = source_matched_auc(labels, guesses, sources, 5, n_bootstrap=300)
    sentence = source_gap_sentence(roc_auc_score(labels, guesses), matched)
    assert "learned little of either disease or archive" in sentence
    below = source_gap_sentence(0.9, {**matched, "value": 0.3, "ci_low": 0.2, "ci_high": 0.4})
    assert "worse than chance" in below and "detect disease" not in below
