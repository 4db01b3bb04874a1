"""Run the project for real through a KedroSession, in a tmp copy, as `kedro run` does."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

# The smallest whole study (all four pipelines in seconds on 32-px phantoms); tests add what they
# need on top: {**TINY_STUDY, "classification.epochs": 3}
TINY_STUDY = {
    "data_processing.image_size": 32,
    "gan_training.gan_image_size": 16,
    "gan_training.base_filters": 8,
    "gan_training.epochs": 2,
    "synthesis.n_images": 4,
    "synthesis.per_class_images": 4,
    "synthesis.quality_sample_sets": 1,
    "classification.backbone": "small_cnn",
    "classification.weights": None,
    "classification.input_size": 32,
    "classification.epochs": 1,
    "classification.seeds": [1],
    "classification.n_bootstrap": 100,
    "classification.gradcam_images": 1,
}


# The demo study the session-wide `demo_study` fixture runs once (tests/conftest.py): every
# pipeline in seconds, with a sample grid every epoch for the grids-over-epochs figure
DEMO_STUDY = {
    **TINY_STUDY,
    "gan_training.sample_every": 1,
    "synthesis.n_images": 6,
    "synthesis.per_class_images": 6,
    "classification.epochs": 2,
}


@contextlib.contextmanager
def captured_log(name: str = "cxr_gan.run_record") -> Iterator[list[str]]:
    """The messages logged (INFO and up) on one logger while the block runs, as a list that
    fills in. A child logger of cxr_gan: Kedro's logging set-up never removes its handler."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger, handler = logging.getLogger(name), Collect(logging.INFO)
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


def nested(dotted: dict | None) -> dict:
    """{"a.b": 1} -> {"a": {"b": 1}}, as `kedro run --params "a.b=1"` does."""
    result: dict = {}
    for key, value in (dotted or {}).items():
        *parents, leaf = key.split(".")
        target = result
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return result


def run_kedro(project: Path, env: str | None = None, params: dict | None = None, **run_args):
    """Run in the tmp project copy, from its folder, as `kedro run --env <env>` would (KEDRO_ENV
    set to env meanwhile: the pipelines' shape is read from its files); return the session's
    catalog for loading outputs back. params take dotted keys like --params."""
    params = nested(params)
    bootstrap_project(project)
    cwd, kedro_env = os.getcwd(), os.environ.pop("KEDRO_ENV", None)
    os.chdir(project)
    if env:  # outside the command line, the pipelines' shape is read from KEDRO_ENV's files
        os.environ["KEDRO_ENV"] = env
    try:
        with KedroSession.create(project_path=project, env=env, runtime_params=params) as session:
            session.run(**run_args)
            return session.load_context().catalog
    finally:
        os.chdir(cwd)
        os.environ.pop("KEDRO_ENV", None)
        if kedro_env is not None:
            os.environ["KEDRO_ENV"] = kedro_env


def write_conf(project: Path, relative: str, content: dict) -> None:
    """Write a YAML file under the tmp project's conf/ (e.g. local/catalog.yml)."""
    path = project / "conf" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(content))


def use_tiny_phantoms(project: Path, count_per_class: int, env: str = "local") -> None:
    """Point the tmp project's raw_xrays at a few small phantoms in conf/<env>/catalog.yml.

    `--env demo` reads conf/base and conf/demo, never conf/local: pass env="demo" for it."""
    write_conf(
        project,
        f"{env}/catalog.yml",
        {
            "raw_xrays": {
                "type": "cxr_gan.datasets.PhantomXrayDataset",
                "count_per_class": count_per_class,
                "image_size": 32,
            }
        },
    )


def stop_process_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """Kill a process started with start_new_session=True together with its children (kedro-viz,
    chromium and TensorFlow workers leave some behind), then reap it."""
    with contextlib.suppress(ProcessLookupError):  # the group may be gone already
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=timeout)
