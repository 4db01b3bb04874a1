"""One weights module for both downloads: one Keras cache folder, Keras imported only to fetch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cxr_gan.models import weights


def test_the_cache_follows_keras_home_and_both_errors_name_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(weights, "RESNET50_WEIGHTS_ORIGIN", "http://127.0.0.1:9/")
    monkeypatch.setattr(weights, "INCEPTION_V3_NOTOP_URL", "http://127.0.0.1:9/inception.h5")
    assert weights.keras_cache_dir() == tmp_path and (tmp_path / "models").is_dir()
    with pytest.raises(weights.WeightsUnavailableError) as resnet:
        weights.resolve_resnet50_weights("imagenet")
    with pytest.raises(weights.FeatureExtractorUnavailable) as inception:
        weights.inception_weights_path()
    assert str(tmp_path / "models" / weights.RESNET50_WEIGHTS_FILE) in str(resnet.value)
    assert str(tmp_path / "models" / weights.INCEPTION_V3_NOTOP_FILE) in str(inception.value)


def test_a_home_that_cannot_be_written_falls_back_to_tmp_as_keras_does(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    # os.access rather than a read-only folder: root (CI containers) may write anywhere
    monkeypatch.setattr(weights.os, "access", lambda path, mode: False)
    assert weights.keras_cache_dir() == weights.FALLBACK_CACHE


def test_importing_the_weights_module_imports_no_keras():
    code = (
        "import sys, cxr_gan.models.weights; "
        "print(sorted({'keras', 'tensorflow'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
