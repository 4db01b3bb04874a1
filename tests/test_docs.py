"""The docs keep up with the code: every parameter is documented, README links exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from cxr_gan.models.classifier import ClassifierConfig
from cxr_gan.pipelines.classification.params import ClassificationParams
from cxr_gan.pipelines.data_processing.params import DataProcessingParams
from cxr_gan.pipelines.gan_training.params import GanTrainingParams
from cxr_gan.pipelines.synthesis.params import SynthesisParams
from tests.conftest import PROJECT_ROOT

CONFIGURATION = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
MODELS = {
    "data_processing": set(DataProcessingParams.model_fields),
    "gan_training": set(GanTrainingParams.model_fields),
    "synthesis": set(SynthesisParams.model_fields),
    "classification": set(ClassificationParams.model_fields)
    | set(ClassifierConfig.__dataclass_fields__) - {"validation_fraction"},
}


def _documented(section: str) -> set[str]:
    part = CONFIGURATION.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", part, flags=re.MULTILINE))


@pytest.mark.parametrize("section", sorted(MODELS))
def test_every_parameter_is_documented(section):
    assert MODELS[section] - _documented(section) == set()
    assert _documented(section) - MODELS[section] - {"validation_fraction"} == set()


@pytest.mark.parametrize("section", sorted(MODELS))
def test_base_parameter_files_only_use_known_keys(section):
    values = yaml.safe_load((PROJECT_ROOT / f"conf/base/parameters_{section}.yml").read_text())
    assert set(values[section]) <= MODELS[section] | {"validation_fraction"}


def test_readme_shows_the_two_commands_and_existing_docs():
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "uv run kedro run --env demo" in readme and "uv run pytest" in readme
    for link in re.findall(r"\]\(((?:docs|benchmarks|conf)/[^)]+)\)", readme):
        assert (PROJECT_ROOT / link).exists(), link


def test_benchmarks_readme_points_to_the_docs():
    pointer = (PROJECT_ROOT / "benchmarks" / "README.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", pointer)
    assert links and all((PROJECT_ROOT / "benchmarks" / link).resolve().exists() for link in links)


@pytest.mark.timeout(180)
def test_docs_site_builds_in_strict_mode(tmp_path):
    """mkdocs --strict fails on a broken link, a missing image or a page left out of the nav."""
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    index = (site / "index.html").read_text()
    assert "fonts.googleapis.com" not in index  # theme font off: the site works offline
    for page in ("getting-started", "data", "configuration", "outputs", "scaling", "benchmarks"):
        assert (site / page / "index.html").exists(), page
