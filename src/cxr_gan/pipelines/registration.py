"""Parameters that shape the pipelines themselves: GAN variants and classification experiments.

Kedro builds pipelines before a run's parameters are resolved, so the *names* of variants and
experiments are read here from the parameter files (conf/base, then the run's environment:
`--env`, which hooks.py passes on through `use_environment`, else KEDRO_ENV, else conf/local).
A variant's overrides are baked into its nodes and validated like any parameter. `--params`
changes the settings every copy uses, but cannot add or remove one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.framework.project import settings

logger = logging.getLogger(__name__)

# The environment of the session being run. `kedro run --env demo` does not set KEDRO_ENV, and
# Kedro builds pipelines after the context is created, so a hook records the context's env here.
_run_environment: dict[str, str | None] = {}


def use_environment(env: str | None) -> None:
    """Read registration parameters from this environment (the session's `--env`)."""
    _run_environment["env"] = env


def registration_parameters(conf_source: str | Path = "conf") -> dict[str, Any]:
    """The parameters as files define them ({} when run outside a project folder)."""
    if not Path(conf_source).is_dir():
        return {}
    loader = OmegaConfigLoader(
        conf_source=str(conf_source),
        env=_run_environment.get("env") or os.environ.get("KEDRO_ENV"),
        **settings.CONFIG_LOADER_ARGS,  # the same layout and merge rules as `kedro run`
    )
    try:
        return dict(loader["parameters"])
    except Exception as error:  # a broken parameter file must not hide every pipeline
        logger.warning("Could not read parameters from %s: %s", conf_source, error)
        return {}


def configured_experiments(default: tuple[str, ...], probe: str) -> list[str]:
    """classification.experiments (each a namespaced copy of the experiment pipeline), plus the
    shortcut probe unless classification.shortcut_probe is false."""
    section = registration_parameters().get("classification") or {}
    experiments = list(section.get("experiments") or default)
    unknown = sorted(set(experiments) - set(default))
    if unknown:
        raise ValueError(
            f"classification.experiments: unknown experiment(s) {unknown}; "
            f"choose from {list(default)}"
        )
    if section.get("shortcut_probe", True):
        experiments.append(probe)
    return experiments


def configured_variants() -> dict[str, dict[str, Any]]:
    """{variant name: overrides} from gan_training.variants, or {} when there is none.

    The section, variants included, is checked as the run's parameter check does (hooks.py), so
    a bad variant fails before any work with the same one-line messages, even where pipelines
    are built without a run (kedro viz, kedro airflow create)."""
    from cxr_gan.hooks import check_parameters  # imports the params models, TensorFlow with them

    base = dict(registration_parameters().get("gan_training") or {})
    check_parameters({"gan_training": base})
    return {name: dict(overrides or {}) for name, overrides in (base.get("variants") or {}).items()}
