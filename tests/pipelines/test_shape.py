"""Experiments and GAN variants (the pipelines' shape) come from the sources `kedro run` merges:
files, `--env` and `--params`; a session whose own parameters would be ignored is refused."""

from __future__ import annotations

import os

import pytest
from kedro.framework.cli.project import run as kedro_run_command
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from cxr_gan.pipeline_registry import register_pipelines
from cxr_gan.pipelines.parameter_check import InvalidParametersError
from cxr_gan.pipelines.shape import PipelineShape, configured_shape, pipeline_shape
from tests.kedro_helpers import write_conf

DEMO_SHAPE = {
    "classification": {"experiments": ["real"], "shortcut_probe": False},
    "gan_training": {"variants": {"fast_lr": {"learning_rate": 0.01}}},
}


def _namespaces(registered) -> set[str]:
    return {node.namespace for node in registered["__default__"].nodes} - {None}


@pytest.fixture
def demo_shaped(project_copy, monkeypatch):
    """A project copy whose conf/demo names one experiment and one variant; cwd inside it."""
    write_conf(project_copy, "demo/parameters_shape.yml", DEMO_SHAPE)
    monkeypatch.chdir(project_copy)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    bootstrap_project(project_copy)
    return project_copy


def test_shape_of_parameters():
    assert pipeline_shape({}).experiments == (
        "real",
        "real_plus_synthetic",
        "classical_augmentation",
        "synthetic_only",
        "synthetic_pretrain",
        "shortcut_probe",
    )
    assert pipeline_shape(DEMO_SHAPE) == PipelineShape(
        ("real",), {"fast_lr": {"learning_rate": 0.01}}
    )
    with pytest.raises(InvalidParametersError, match=r"classification.experiments.1 = 'magic'"):
        pipeline_shape({"classification": {"experiments": ["real", "magic"]}})


def test_kedro_run_options_env_and_params_both_reach_the_shape(demo_shaped):
    """Kedro's own `run` command parses the options; the pipelines are built inside it."""
    with kedro_run_command.make_context("run", ["--env", "demo"]):  # it consumes its list
        assert configured_shape() == pipeline_shape(DEMO_SHAPE)
        assert _namespaces(register_pipelines()) >= {"real", "fast_lr"}
    params = "classification.experiments=[synthetic_only],classification.shortcut_probe=true"
    with kedro_run_command.make_context("run", ["--env", "demo", "--params", params]):
        registered = register_pipelines()
    assert {"synthetic_only", "shortcut_probe", "fast_lr"} <= _namespaces(registered)
    assert "real" not in _namespaces(registered)
    with kedro_run_command.make_context("run", []):  # conf/base + conf/local: every experiment
        local = _namespaces(register_pipelines())
    assert {"real", "synthetic_only", "shortcut_probe"} <= local
    assert "fast_lr" not in local


def _session_namespaces(project, env, runtime_params=None) -> set[str]:
    with KedroSession.create(project_path=project, env=env, runtime_params=runtime_params) as s:
        s.load_context()  # runs the hooks, as session.run does before building the pipelines
        return _namespaces(pipelines)


def test_a_python_session_follows_kedro_env(demo_shaped, monkeypatch):
    monkeypatch.setenv("KEDRO_ENV", "demo")
    assert {"real", "fast_lr"} <= _session_namespaces(demo_shaped, "demo")


def test_a_python_session_whose_shape_would_be_ignored_is_refused(demo_shaped):
    """env= and runtime_params= of a session made in Python cannot reach the pipelines (Kedro
    builds them first): the run stops, naming the key and where to set it."""
    with pytest.raises(InvalidParametersError) as caught:
        _session_namespaces(demo_shaped, "demo")  # KEDRO_ENV unset: built from conf/local
    message = str(caught.value)
    assert "classification.experiments" in message and "gan_training.variants" in message
    assert "KEDRO_ENV" in message
    runtime = {"classification": {"shortcut_probe": False}}
    with pytest.raises(InvalidParametersError, match="shortcut_probe"):
        _session_namespaces(demo_shaped, None, runtime)
    assert os.environ.get("KEDRO_ENV") is None
