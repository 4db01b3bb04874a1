"""Same seed, same parameters, same machine: two whole studies in two tmp projects agree exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import copy_project
from tests.kedro_helpers import TINY_STUDY, run_kedro, use_tiny_phantoms, write_conf

TINY = {
    **TINY_STUDY,
    "classification.experiments": ["real", "real_plus_synthetic"],
    "classification.shortcut_probe": False,
    "classification.epochs": 2,
    "classification.batchnorm_momentum": 0.9,
    "classification.seeds": [3],
}


def _project(target: Path) -> Path:
    """A project copy with tiny phantoms; two are needed in one test."""
    copy_project(target)
    use_tiny_phantoms(target, count_per_class=15)
    write_conf(  # experiment names shape the pipeline and are read from files
        target,
        "local/parameters_classification.yml",
        {
            "classification": {
                "experiments": ["real", "real_plus_synthetic"],
                "shortcut_probe": False,
            }
        },
    )
    return target


def _outputs(project: Path) -> dict:
    catalog = run_kedro(project, params=TINY)  # __default__: all four pipelines
    arrays = catalog.load("xray_arrays")
    evaluations = {
        name: catalog.load(f"{name}.classification_evaluation")
        for name in ("real", "real_plus_synthetic")
    }
    return {
        "arrays": {key: np.asarray(arrays[key]) for key in ("images", "labels", "ids")},
        "split": catalog.load("xray_split"),
        "synthetic": catalog.load("synthetic_xrays")["images"],
        "balanced": catalog.load("synthetic_balanced_xrays")["images"],
        "metrics": {
            name: [run["metrics"] for run in e["per_seed"]] + [e["across_seeds"]]
            for name, e in evaluations.items()
        },
        "probabilities": {
            name: [run["probabilities"] for run in e["per_seed"]] for name, e in evaluations.items()
        },
        "effect": catalog.load("classification_comparison")["synthetic_effect"],
    }


@pytest.mark.slow
def test_two_runs_with_the_same_seed_give_identical_results(tmp_path):
    first = _outputs(_project(tmp_path / "first"))
    second = _outputs(_project(tmp_path / "second"))
    for key in ("images", "labels", "ids"):
        np.testing.assert_array_equal(first["arrays"][key], second["arrays"][key], err_msg=key)
    pd.testing.assert_frame_equal(first["split"], second["split"])
    np.testing.assert_array_equal(first["synthetic"], second["synthetic"])
    np.testing.assert_array_equal(first["balanced"], second["balanced"])
    assert first["probabilities"] == second["probabilities"]
    assert first["metrics"] == second["metrics"]  # values and bootstrap intervals
    assert first["effect"] == second["effect"]
    auc = first["metrics"]["real"][0]["roc_auc"]
    assert {"value", "ci_low", "ci_high"} <= set(auc)
