"""Bad parameters stop a real `kedro run` before any node runs, with one line naming the key,
the value and what is allowed (cxr_gan.hooks.ParameterCheckHooks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from kedro.config import OmegaConfigLoader
from kedro.framework.cli.cli import KedroCLI
from kedro.framework.project import settings
from kedro.framework.startup import bootstrap_project
from pydantic import BaseModel

from cxr_gan.models.classifier_config import ClassifierConfig
from cxr_gan.pipelines.classification.params import ClassificationParams
from cxr_gan.pipelines.parameter_check import (
    InvalidParametersError,
    parameter_models,
    parameter_problems,
)
from tests.kedro_helpers import nested, run_kedro, use_tiny_phantoms, write_conf

# (case id, --params as dotted keys, conf/local/parameters.yml, words the message must contain)
CASES = [
    (
        "typo_in_key",
        {"gan_training.epoch": 5},
        None,
        ["gan_training.epoch: unknown key", "did you mean 'epochs'", "allowed keys:"],
    ),
    (
        "typo_in_nested_key",
        {"gan_training.distribution.strategi": "mirrored"},
        None,
        [
            "gan_training.distribution.strategi: unknown key",
            "'strategy'",
            "allowed keys: mixed_precision, strategy",
        ],
    ),
    (
        "unknown_classifier_key",
        {"classification.dense_unit": 64},
        None,
        ["classification.dense_unit: unknown key", "'dense_units'"],
    ),
    (
        "wrong_type",
        {"gan_training.epochs": "many"},
        None,
        ["gan_training.epochs = 'many'", "valid integer"],
    ),
    (
        "wrong_type_classifier",
        {"classification.feature_cache": "perhaps"},
        None,
        ["classification.feature_cache = 'perhaps'", "valid boolean"],
    ),
    (
        "negative_learning_rate",
        {"gan_training.learning_rate": -0.001},
        None,
        ["gan_training.learning_rate = -0.001", "greater than 0"],
    ),
    (
        "negative_classifier_learning_rate",
        {"classification.learning_rate": -1},
        None,
        ["classification.learning_rate = -1", "greater than 0"],
    ),
    (
        "gan_image_size_dcgan_cannot_make",
        {"gan_training.gan_image_size": 48},
        None,
        ["gan_training: gan_image_size=48", "power of two", "architecture: dense"],
    ),
    (
        "no_synthetic_images",
        {"synthesis.n_images": 0},
        None,
        ["synthesis.n_images = 0", "greater than or equal to 2"],
    ),
    (
        "one_synthetic_image",
        {"synthesis.n_images": 1},
        None,
        ["synthesis.n_images = 1", "greater than or equal to 2"],
    ),
    (
        "infinite_lecam_weight",
        {"gan_training.lecam_weight": float("inf")},
        None,
        ["gan_training.lecam_weight = inf", "finite number"],
    ),
    (
        "nan_r1_gamma",
        {"gan_training.r1_gamma": float("nan")},
        None,
        ["gan_training.r1_gamma = nan", "finite number"],
    ),
    (
        "infinite_mode_seeking_weight",
        {"gan_training.mode_seeking_weight": float("inf")},
        None,
        ["gan_training.mode_seeking_weight = inf", "finite number"],
    ),
    (
        "infinite_imle_weight",
        {"gan_training.imle_weight": float("inf")},
        None,
        ["gan_training.imle_weight = inf", "finite number"],
    ),
    (
        "nan_discriminator_learning_rate",
        {"gan_training.d_learning_rate": float("nan")},
        None,
        ["gan_training.d_learning_rate = nan", "finite number"],
    ),
    (
        "nan_classifier_learning_rate",
        {"classification.learning_rate": float("nan")},
        None,
        ["classification.learning_rate = nan", "finite number"],
    ),
    (
        "negative_gan_seed",
        {"gan_training.seed": -1},
        None,
        ["gan_training.seed = -1", "greater than or equal to 0"],
    ),
    (
        "negative_synthesis_seed",
        {"synthesis.seed": -5},
        None,
        ["synthesis.seed = -5", "greater than or equal to 0"],
    ),
    (
        "negative_split_seed",
        {"data_processing.split_seed": -1},
        None,
        ["data_processing.split_seed = -1", "greater than or equal to 0"],
    ),
    (
        "negative_classifier_seed",
        None,
        {"classification": {"seeds": [3, -1]}},
        ["classification.seeds.1 = -1", "greater than or equal to 0"],
    ),
    (
        "test_fraction_one",
        {"data_processing.test_fraction": 1.0},
        None,
        ["data_processing.test_fraction = 1.0", "less than 1"],
    ),
    (
        "test_fraction_zero",
        {"data_processing.test_fraction": 0},
        None,
        ["data_processing.test_fraction = 0", "greater than 0"],
    ),
    (
        "unknown_experiment",
        None,
        {"classification": {"experiments": ["real", "real_plus_gan"]}},
        ["classification.experiments.1 = 'real_plus_gan'", "'real_plus_synthetic'"],
    ),
    (
        "unknown_variant_override_key",
        None,
        {"gan_training": {"variants": {"fast_lr": {"learnin_rate": 0.01}}}},
        ["gan_training.variants.fast_lr.learnin_rate: unknown key", "'learning_rate'"],
    ),
    (
        "bad_variant_override_value",
        None,
        {"gan_training": {"variants": {"big": {"gan_image_size": 100}}}},
        ["gan_training.variants.big: gan_image_size=100", "power of two"],
    ),
    (
        "typo_in_section",
        {"gan_trainin.epochs": 3},
        None,
        ["gan_trainin: unknown parameter section", "did you mean 'gan_training'"],
    ),
]


def _files(project: Path) -> set[Path]:
    return {path for path in project.rglob("*") if path.is_file()}


@pytest.fixture
def tiny_project(project_copy: Path) -> Path:
    use_tiny_phantoms(project_copy, count_per_class=6)
    return project_copy


@pytest.mark.parametrize(
    ("params", "local_params", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_parameter_stops_the_run_before_any_node(tiny_project, params, local_params, expected):
    env = "demo"
    if local_params:  # conf/local, where pipeline registration reads experiments and variants
        write_conf(tiny_project, "local/parameters.yml", local_params)
        env = None
    before = _files(tiny_project)
    with pytest.raises(InvalidParametersError) as caught:
        run_kedro(tiny_project, env=env, params=params)
    message = str(caught.value)
    for words in expected:
        assert words in message
    assert len(caught.value.problems) == 1, message  # one problem, one line
    assert _files(tiny_project) - before <= {tiny_project / "info.log"}  # no node ran


@pytest.mark.parametrize("env", ["demo", None])
def test_shipped_parameters_have_no_problems(tiny_project, env):
    bootstrap_project(tiny_project)  # settings.CONFIG_LOADER_ARGS: the layout `kedro run` uses
    loader = OmegaConfigLoader(
        conf_source=str(tiny_project / "conf"), env=env, **settings.CONFIG_LOADER_ARGS
    )
    params = loader["parameters"]
    assert set(params) >= {"data_processing", "gan_training", "synthesis", "classification"}
    assert parameter_problems(params) == []


def test_kedro_run_prints_every_problem_as_one_line_without_a_traceback(tiny_project, monkeypatch):
    monkeypatch.chdir(tiny_project)
    bootstrap_project(tiny_project)
    result = CliRunner().invoke(
        KedroCLI(project_path=tiny_project),
        [
            "run",
            "--env",
            "demo",
            "--params",
            "gan_training.learning_rate=-1,synthesis.n_images=0,classification.epoch=3",
        ],
    )
    assert result.exit_code == 1
    output = result.output
    assert "Traceback" not in output and "ValidationError" not in output
    problem_lines = [line for line in output.splitlines() if line.startswith("  - ")]
    assert problem_lines[:2] == [
        "  - gan_training.learning_rate = -1: Input should be greater than 0",
        "  - synthesis.n_images = 0: Input should be greater than or equal to 2",
    ]
    assert problem_lines[2].startswith("  - classification.epoch: unknown key; did you mean")
    assert len(problem_lines) == 3
    assert not [path for path in (tiny_project / "data").rglob("*") if path.is_file()]


def test_classification_params_are_the_classifier_config_plus_experiment_keys():
    """One model per setting: ClassificationParams extends ClassifierConfig, so every classifier
    key has ClassifierConfig's type, range and default, and the model code gets that model."""
    assert issubclass(ClassificationParams, ClassifierConfig)
    defaults, config = ClassificationParams(), ClassifierConfig()
    for name in ClassifierConfig.model_fields:
        assert getattr(defaults, name) == getattr(config, name), name
    built = defaults.classifier_config(epochs=3)
    assert type(built) is ClassifierConfig and built.epochs == 3
    assert built.validation_fraction == 0  # validation images are chosen by the pipeline


def test_an_infinite_lecam_weight_is_refused_before_any_node_runs(tiny_project, monkeypatch):
    """The issue's case as a user types it: `--params gan_training.lecam_weight=inf` used to
    train on NaN losses to exit 0."""
    monkeypatch.chdir(tiny_project)
    bootstrap_project(tiny_project)
    before = _files(tiny_project)
    result = CliRunner().invoke(
        KedroCLI(project_path=tiny_project),
        ["run", "--env", "demo", "--params", "gan_training.lecam_weight=inf"],
    )
    assert result.exit_code == 1, result.output
    problems = [line for line in result.output.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1 and problems[0].startswith("  - gan_training.lecam_weight = ")
    assert "finite number" in problems[0] and "Traceback" not in result.output
    assert _files(tiny_project) - before <= {tiny_project / "info.log"}  # no node ran


def _float_fields(model, prefix=""):
    """(dotted key, field) for every float-typed field of a parameter model, nested ones too."""
    for name, field in model.model_fields.items():
        annotation = str(field.annotation)
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from _float_fields(field.annotation, f"{prefix}{name}.")
        elif "float" in annotation:
            yield f"{prefix}{name}", field


def test_every_weight_and_rate_of_every_section_must_be_finite():
    """One rule in the settings objects, so a float field added later is covered too."""
    checked = 0
    for section, model in parameter_models().items():
        for key, _field in _float_fields(model):
            for value in (float("inf"), float("-inf"), float("nan")):
                problems = parameter_problems({section: nested({key: value})})
                assert any(p.startswith(f"{section}.{key} = ") for p in problems), (key, value)
                assert any("finite number" in p for p in problems), problems
            checked += 1
    assert checked >= 20  # the GAN's weights and rates, the classifier's, the quality margins
