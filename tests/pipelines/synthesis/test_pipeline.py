"""synthesis on its own: from the latest or an older generator version."""

from __future__ import annotations

import pytest

from tests.kedro_helpers import run_kedro
from tests.pipelines.gan_training.test_pipeline import PIPELINES, TINY, _tiny_phantoms


@pytest.mark.slow
def test_synthesis_from_an_older_generator_version(project_copy):
    _tiny_phantoms(project_copy)
    run_kedro(project_copy, params=TINY, pipeline_names=PIPELINES)
    run_kedro(
        project_copy,
        params={**TINY, "gan_training.seed": 5},
        pipeline_names=["gan_training"],
    )
    old, new = sorted(p.name for p in (project_copy / "data/06_models/generator.keras").iterdir())
    catalog = run_kedro(
        project_copy,
        params=TINY,
        pipeline_names=["synthesis"],
        load_versions={"generator": old},
    )
    manifest = catalog.load("synthetic_xrays")["manifest"]
    assert f"generator.keras/{old}/" in manifest["generator"].iloc[0]
    assert manifest["generator_size"].tolist() == manifest["size"].tolist() == [16] * 5
