"""Real images go through the GAN's resolution like the synthetic ones, and the comparison says
so, beside the synthesis report's verdict on the GAN."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cxr_gan.data.phantom import write_phantom_folder
from cxr_gan.data.preprocessing import down_and_up
from cxr_gan.datasets import PhantomXrayDataset, XrayFolderDataset
from cxr_gan.metrics.classification import classification_metrics, summarize_seeds
from cxr_gan.pipelines.classification.nodes import (
    compare_experiments,
    prepare_classification_data,
    prepare_external_data,
)
from cxr_gan.pipelines.classification.params import ClassificationParams
from cxr_gan.pipelines.data_processing.nodes import ingest_raw_xrays, split_train_test
from cxr_gan.pipelines.data_processing.params import DataProcessingParams

DATA = DataProcessingParams(image_size=32, test_fraction=0.3, min_images_per_class=5)
GENERATOR_PX = 8  # below the classifier's 32 px input: synthetic images are blurrier


def _params(**overrides) -> ClassificationParams:
    return ClassificationParams(
        backbone="small_cnn", weights=None, input_size=32, seeds=[1], n_bootstrap=100, **overrides
    )


def _synthetic_set(generator_px: int = GENERATOR_PX) -> dict:
    manifest = pd.DataFrame(
        {"filename": ["covid_0000.png"], "label": [1], "generator_size": [generator_px]}
    )
    return {"images": np.zeros((1, generator_px, generator_px), np.uint8), "manifest": manifest}


@pytest.fixture(scope="module")
def real():
    raw = PhantomXrayDataset(count_per_class=8, image_size=64, seed=3).load()
    arrays, manifest = ingest_raw_xrays(raw, DATA)
    return arrays, split_train_test(manifest, DATA)


def _stored(arrays: dict, ids: np.ndarray) -> np.ndarray:
    """The stored uint8 images (n, 32, 32) of these ids, as data_processing wrote them."""
    row_of = {str(i): row for row, i in enumerate(arrays["ids"])}
    return np.asarray(arrays["images"])[[row_of[i] for i in ids]]


@pytest.mark.parametrize("match", [True, False], ids=["matched", "off"])
def test_real_images_go_through_the_gans_resolution_when_asked(real, match, tmp_path):
    arrays, split = real
    data = prepare_classification_data(
        arrays,
        split,
        pd.DataFrame({"id": []}),
        _params(match_synthetic_resolution=match),
        _synthetic_set(),
        _synthetic_set(),
    )
    assert data.resolution["matched"] is match
    for part in ("train", "validation", "test"):
        stored = _stored(arrays, getattr(data, part).ids)
        expected = down_and_up(stored, GENERATOR_PX) if match else stored
        assert not np.array_equal(down_and_up(stored, GENERATOR_PX), stored)  # detail to lose
        assert np.array_equal(getattr(data, part).images[:], expected), part

    write_phantom_folder(tmp_path / "external", count_per_class=2, size=40, seed=9)
    options = DATA.ingest_options()
    external = prepare_external_data(
        XrayFolderDataset(path=str(tmp_path / "external")).load(), DATA.classes, data, **options
    )
    sharp = prepare_external_data(
        XrayFolderDataset(path=str(tmp_path / "external")).load(), DATA.classes, **options
    )
    expected = down_and_up(np.asarray(sharp["images"]), GENERATOR_PX) if match else sharp["images"]
    assert np.array_equal(external["images"][:], expected)


def test_a_gan_at_the_classifier_size_leaves_real_images_alone(real):
    arrays, split = real
    data = prepare_classification_data(
        arrays, split, pd.DataFrame({"id": []}), _params(), _synthetic_set(32), None
    )
    assert data.resolution["matched"] is False
    assert np.array_equal(data.test.images[:], _stored(arrays, data.test.ids))


def _evaluation(labels: list[int], probabilities: list[float], synthetic: int) -> dict:
    metrics = classification_metrics(np.array(labels), np.array(probabilities), n_bootstrap=100)
    return {
        "test_labels": labels,
        "training_set": {"images": 10 + synthetic, "real": 10, "synthetic": synthetic},
        "per_seed": [{"seed": 1, "probabilities": probabilities, "metrics": metrics}],
        "across_seeds": summarize_seeds([metrics]),
    }


VERDICT = "collapsed: synthetic MS-SSIM 0.88 vs real 0.44 at 64 px"


@pytest.mark.parametrize(
    ("report", "line"),
    [
        (
            {"verdict": VERDICT, "collapsed": True},
            f"**GAN quality, from the synthesis report: {VERDICT}.**",
        ),
        ({"kid_x1000_mean": 27.8}, "The GAN's quality was not assessed"),
        (None, "The GAN's quality was not assessed"),
    ],
    ids=["verdict", "report-without-verdict", "no-report"],
)
def test_comparison_repeats_the_gan_verdict_beside_its_answer(report, line):
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    data = SimpleNamespace(
        test_sources=None,
        resolution={"matched": True, "sentence": "Real images were brought to the GAN's."},
    )
    comparison, markdown, _ = compare_experiments(
        _params(),
        data,
        report,
        {
            "real": _evaluation(labels, [0.2, 0.3, 0.6, 0.1, 0.7, 0.4, 0.8, 0.9], 0),
            "real_plus_synthetic": _evaluation(labels, [0.1, 0.4, 0.5, 0.2, 0.8, 0.6, 0.7, 0.9], 5),
        },
    )
    lines = markdown.splitlines()
    answer = lines.index(comparison["synthetic_effect"]["sentence"])
    assert lines[answer + 2].startswith(line)  # the next paragraph after the answer
    assert comparison["gan_quality"]["collapsed"] is (report or {}).get("collapsed")
    assert "Real images were brought to the GAN's." in lines
