"""The parameters that shape the pipelines: GAN variants and classification experiments.

`classification.experiments`, `classification.shortcut_probe` and `gan_training.variants` decide
which namespaced copies of a pipeline exist, so they are needed when Kedro builds the pipelines,
and Kedro builds them (`register_pipelines()`, which takes no arguments) before it has a session
to read parameters from. They are read here from the same sources `kedro run` merges, in the same
way (settings.CONFIG_LOADER_ARGS):

- the `kedro` command being run (`kedro run`, `kedro viz run`, `kedro airflow create`...): its
  `--conf-source`, `--env` and `--params`, read from the command line (the click context);
- otherwise (a KedroSession made in Python, a notebook): conf/base + $KEDRO_ENV (else conf/local)
  under the working folder, without runtime parameters.

In the second case the session's own parameters (`env=`, `runtime_params=`) can disagree with
what the pipelines were built from; the run's hook (cxr_gan.hooks) compares the two with
`shape_differences` and stops such a run before anything is built or run, with a message that
says where to set the key. So a shaping key is never accepted and then ignored.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from kedro.config import OmegaConfigLoader
from kedro.framework.project import settings

from cxr_gan.pipelines.parameter_check import check_parameters

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineShape:
    """Which namespaced copies the pipelines hold.

    experiments: the classification experiments in order, the shortcut probe last when on.
    variants: {GAN variant name: its overrides of gan_training}, in file order.
    """

    experiments: tuple[str, ...]
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)


def pipeline_shape(parameters: Mapping[str, Any]) -> PipelineShape:
    """The shape the merged parameters ask for (missing sections: the models' defaults).

    Raises InvalidParametersError (one line per problem, as a run's parameter check) when the
    classification or gan_training section is invalid."""
    # imported when called: pipeline modules import this one, and importing a params module
    # imports its package's pipeline module
    from cxr_gan.pipelines.classification.params import SHORTCUT_PROBE, ClassificationParams
    from cxr_gan.pipelines.gan_training.params import GanTrainingParams

    sections = {
        key: parameters[key] for key in ("classification", "gan_training") if key in parameters
    }
    check_parameters(sections)
    classification = ClassificationParams.model_validate(sections.get("classification") or {})
    gan_training = GanTrainingParams.model_validate(sections.get("gan_training") or {})
    experiments = list(dict.fromkeys(classification.experiments))  # a repeat would clash
    if classification.shortcut_probe:
        experiments.append(SHORTCUT_PROBE)
    variants = {name: dict(overrides) for name, overrides in gan_training.variants.items()}
    return PipelineShape(tuple(experiments), variants)


def shape_differences(built: PipelineShape, wanted: PipelineShape) -> list[str]:
    """One line per shaping key whose value differs between two shapes; [] when they agree."""
    problems = []
    if built.experiments != wanted.experiments:
        problems.append(
            f"classification.experiments / shortcut_probe: this session's parameters ask for the "
            f"experiments {list(wanted.experiments)}, but the pipelines were built with "
            f"{list(built.experiments)}"
        )
    if built.variants != wanted.variants:
        problems.append(
            f"gan_training.variants: this session's parameters ask for {wanted.variants or 'none'}"
            f", but the pipelines were built with {built.variants or 'none'}"
        )
    return problems


def command_line_sources() -> dict[str, Any]:
    """conf_source, env and runtime_params of the `kedro` command being run ({} outside one)."""
    context = click.get_current_context(silent=True)
    options = context.params if context is not None else {}
    return {
        "conf_source": options.get("conf_source"),
        "env": options.get("env"),
        "runtime_params": options.get("params") or None,
    }


def run_parameters() -> dict[str, Any]:
    """The parameters as the command being run merges them ({} outside a project folder).

    Sources: the `kedro` command line's --conf-source, --env and --params when there is one,
    else conf/ under the working folder and $KEDRO_ENV; conf/local when no env is named."""
    sources = command_line_sources()
    conf_source = sources["conf_source"] or "conf"
    if not Path(conf_source).exists():
        return {}
    loader = OmegaConfigLoader(
        conf_source=str(conf_source),
        env=sources["env"] or os.environ.get("KEDRO_ENV"),
        runtime_params=sources["runtime_params"],
        **settings.CONFIG_LOADER_ARGS,  # the same layout and merge rules as `kedro run`
    )
    try:
        return dict(loader["parameters"])
    except Exception as error:  # a broken parameter file must not hide every pipeline
        logger.warning("Could not read parameters from %s: %s", conf_source, error)
        return {}


def configured_shape() -> PipelineShape:
    """The shape of the pipelines for the command being run (see the module's docstring)."""
    return pipeline_shape(run_parameters())
