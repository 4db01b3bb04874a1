"""The border-only probe flags phantoms with a source artefact on one class, and only those."""

from __future__ import annotations

import pandas as pd
import pytest

from cxr_gan.datasets import PhantomXrayDataset
from cxr_gan.metrics.shortcuts import shortcut_warning
from cxr_gan.pipelines.classification.nodes import prepare_classification_data, train_and_evaluate
from cxr_gan.pipelines.classification.params import ClassificationParams
from cxr_gan.pipelines.data_processing.nodes import ingest_raw_xrays, split_train_test
from cxr_gan.pipelines.data_processing.params import DataProcessingParams

DATA = DataProcessingParams(image_size=48, test_fraction=0.3, min_images_per_class=5)
PARAMS = ClassificationParams(
    backbone="small_cnn",
    weights=None,
    input_size=48,
    epochs=40,
    batchnorm_momentum=0.9,
    seeds=[3],
    n_bootstrap=500,
    validation_fraction=0.1,
)


def _probe_auc(confound):
    raw = PhantomXrayDataset(count_per_class=40, image_size=96, seed=11, confound=confound).load()
    arrays, manifest = ingest_raw_xrays(raw, DATA)
    split = split_train_test(manifest, DATA)
    data = prepare_classification_data(arrays, split, pd.DataFrame({"id": []}), PARAMS)
    _, _, evaluation = train_and_evaluate("shortcut_probe", data, {}, {}, PARAMS)
    return evaluation["per_seed"][0]["metrics"]["roc_auc"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("confound", "flagged"),
    [({"kind": "marker", "label": 1}, True), (None, False)],
    ids=["marker-on-covid", "no-confound"],
)
def test_probe_flags_a_source_artefact_and_nothing_else(confound, flagged):
    auc = _probe_auc(confound)
    warning = shortcut_warning(auc, PARAMS.probe_warning_lower_bound)
    assert (warning is not None) == flagged, auc
