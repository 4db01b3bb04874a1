"""Experiments and GAN variants are read from the run's environment, `--env` included."""

from __future__ import annotations

import os

from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from tests.kedro_helpers import write_conf


def _namespaces(project, env):
    """Namespaces of the registered pipelines as a session in `env` builds them."""
    bootstrap_project(project)
    cwd = os.getcwd()
    os.chdir(project)
    try:
        with KedroSession.create(project_path=project, env=env) as session:
            session.load_context()  # runs the hooks, as `kedro run --env` does before building
            return {node.namespace for node in pipelines["__default__"].nodes} - {None}
    finally:
        os.chdir(cwd)


def test_env_flag_chooses_the_files_experiments_and_variants_come_from(project_copy):
    write_conf(
        project_copy,
        "demo/parameters_classification.yml",
        {"classification": {"experiments": ["real"], "shortcut_probe": False}},
    )
    write_conf(
        project_copy,
        "demo/parameters_gan_training.yml",
        {"gan_training": {"variants": {"fast_lr": {"learning_rate": 0.01}}}},
    )
    demo = _namespaces(project_copy, "demo")
    assert {"real", "fast_lr"} <= demo
    assert not demo & {"synthetic_only", "shortcut_probe"}

    local = _namespaces(project_copy, None)  # conf/base + conf/local: every experiment
    assert {"real", "synthetic_only", "shortcut_probe"} <= local
    assert "fast_lr" not in local
