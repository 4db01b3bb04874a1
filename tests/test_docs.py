"""The docs keep up with the code: every parameter is documented, README links exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from cxr_gan.metrics.gan_quality_settings import GanQualitySettings
from cxr_gan.models.classifier_config import ClassifierConfig
from cxr_gan.models.gan_config import GanConfig
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
    "classification": set(ClassificationParams.model_fields),  # ClassifierConfig's included
}


def _rows(section: str) -> dict[str, str]:
    """key -> its default column, from the section's table in docs/configuration.md."""
    part = CONFIGURATION.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `(\w+)` \| ([^|]*) \|", part, flags=re.MULTILINE))


def _documented(section: str) -> set[str]:
    return set(_rows(section))


def _as_yaml(value: object) -> str:
    """A default as the docs table writes it (YAML spelling: true, null, [a, b])."""
    if isinstance(value, bool) or value is None:
        return yaml.safe_dump(value).split("\n")[0]
    if isinstance(value, tuple | list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return str(value)


@pytest.mark.parametrize("section", sorted(MODELS))
def test_every_parameter_is_documented(section):
    assert MODELS[section] - _documented(section) == set()
    assert _documented(section) - MODELS[section] == set()


# the settings models that the model code and the pipelines share: their rows are checked
# against them, so a default changed in code and not in the docs fails here
SHARED_MODELS = {
    "classification": ClassifierConfig,
    "gan_training": GanConfig,
    "synthesis": GanQualitySettings,
}


@pytest.mark.parametrize("section", sorted(SHARED_MODELS))
def test_shared_settings_rows_give_the_models_defaults(section):
    rows = _rows(section)
    for name, field in SHARED_MODELS[section].model_fields.items():
        assert rows[name] == _as_yaml(field.default), name


@pytest.mark.parametrize("section", sorted(MODELS))
def test_base_parameter_files_only_use_known_keys(section):
    values = yaml.safe_load((PROJECT_ROOT / f"conf/base/parameters_{section}.yml").read_text())
    assert set(values[section]) <= MODELS[section]


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


def _scripts() -> dict[str, str]:
    import tomllib

    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]


@pytest.mark.parametrize("name", sorted(_scripts()))
def test_every_project_script_answers_help(name):
    """Each [project.scripts] entry imports and prints its usage, through its entry point and,
    when `uv sync` installed it, through the console script in the environment's bin folder."""
    module, _, function = _scripts()[name].partition(":")
    call = f"import sys; from {module} import {function} as f; sys.argv = [{name!r}, '--help']; f()"
    commands = [[sys.executable, "-c", call]]
    installed = Path(sys.executable).parent / name
    if installed.exists():
        commands.append([str(installed), "--help"])
    for command in commands:
        result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{command}: {result.stderr[-2000:]}"
        assert "usage" in result.stdout.lower(), result.stdout


def _split_outside_brackets(text: str) -> list[str]:
    """Split at commas that are not inside [...] or {...}: what a reader means by the string."""
    items, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    return [item.strip() for item in [*items, current] if item.strip()]


def _meant(text: str) -> dict:
    """The nested dict a reader expects from a --params string (values read as YAML)."""
    meant: dict = {}
    for item in _split_outside_brackets(text):
        key, _, value = item.partition("=")
        *parents, leaf = key.strip().split(".")
        node = meant
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = yaml.safe_load(value)  # OmegaConf reads values with YAML too
    return meant


# (string, shown as a mistake): an example followed by an "Error:" line shows a refused value
DOCUMENTED_PARAMS = sorted(
    {
        (match.group(1), page.read_text()[match.end() :].lstrip().startswith("Error:"))
        for page in [PROJECT_ROOT / "README.md", *(PROJECT_ROOT / "docs").glob("*.md")]
        for match in re.finditer(r'--params "([^"]+)"', page.read_text())
    }
)


def test_documented_params_strings_are_found():
    assert any("classification.seeds" in text for text, _ in DOCUMENTED_PARAMS)
    assert len(DOCUMENTED_PARAMS) >= 5


@pytest.mark.parametrize(("text", "shows_error"), DOCUMENTED_PARAMS)
def test_documented_params_strings_parse_as_shown(text, shows_error):
    """Every `--params "..."` string in the docs, through Kedro's own parser, gives the values a
    reader expects (Kedro 1.7 splits at every comma, brackets or not), with known keys."""
    import click
    from kedro.framework.cli.utils import _split_params

    context = click.Context(click.Command("run"))
    parsed = _split_params(context, click.Option(["--params"]), text)
    assert parsed == _meant(text)
    for section, values in parsed.items():
        if section in MODELS and not shows_error:
            assert set(values) <= MODELS[section], (text, set(values) - MODELS[section])


def test_documented_gan_training_blocks_are_valid_parameters():
    """Every ```yaml block under `gan_training:` in docs/ (e.g. the 128 px setting) validates
    on top of conf/base, so a user can paste it into conf/local as it stands."""
    from cxr_gan.pipelines.gan_training.params import GanTrainingParams

    base = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_gan_training.yml").read_text())
    blocks = [
        yaml.safe_load(block)
        for page in (PROJECT_ROOT / "docs").glob("*.md")
        for block in re.findall(r"```yaml\n(gan_training:\n.*?)```", page.read_text(), re.S)
    ]
    assert blocks, "no gan_training block found in docs/"
    for block in blocks:
        settings = GanTrainingParams(**{**base["gan_training"], **block["gan_training"]})
        assert settings.gan_image_size in (64, 128, 256, 446)


def test_the_documented_run_config_file_gives_lists(tmp_path):
    """The `kedro run --config run.yml` example in docs/configuration.md, read by Kedro's own
    callback for `--config`: known options only, and lists of any length in `params`."""
    import click
    from kedro.framework.cli.project import run
    from kedro.framework.cli.utils import _config_file_callback, _split_params

    page = (PROJECT_ROOT / "docs/configuration.md").read_text()
    (block,) = re.findall(r"```yaml\n( *# run\.yml.*?)\n *```", page, re.S)
    path = tmp_path / "run.yml"
    path.write_text(textwrap.dedent(block))  # the block is indented in a list item
    assert "uv run kedro run --config run.yml" in page
    context = click.Context(run, info_name="run")
    _config_file_callback(context, None, str(path))  # raises on a key `kedro run` lacks
    params = _split_params(context, None, context.default_map["params"])
    assert params["classification"]["seeds"] == [1, 2, 3]
    base = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_classification.yml").read_text())
    ClassificationParams.model_validate({**base["classification"], **params["classification"]})
