"""Fixtures of the in-memory pipeline slices (tests/pipelines/slices.py)."""

from __future__ import annotations

from typing import Any

import pytest

from cxr_gan.datasets import PhantomXrayDataset
from cxr_gan.pipelines.data_processing import create_pipeline
from tests.pipelines.slices import TINY, run_slice

PHANTOMS_PER_CLASS = 16


@pytest.fixture(scope="session")
def processed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The whole data_processing pipeline, in memory, on 16 phantom X-rays per class (48 px PNGs,
    normalised to 32 px): every dataset it writes, loaded (xray_arrays, raw_manifest,
    xray_split, ...). The first slice of every pipeline test downstream, run once per test
    process."""
    pipeline = create_pipeline()
    params = {
        "data_processing": {
            **TINY["data_processing"],
            "scratch_dir": str(tmp_path_factory.mktemp("scratch")),
        }
    }
    raw = PhantomXrayDataset(count_per_class=PHANTOMS_PER_CLASS, image_size=48, seed=7)
    catalog = run_slice(pipeline, params, raw_xrays=raw)
    return {name: catalog.load(name) for name in pipeline.all_outputs()}
