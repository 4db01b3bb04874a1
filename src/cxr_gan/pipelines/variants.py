"""GAN variants: extra namespaced copies of gan_training and synthesis, one per override set.

Kedro builds pipelines before a run's parameters are resolved, so the *names* of variants are
read here from the parameter files (conf/base, then the environment in KEDRO_ENV, else
conf/local). Their values are baked into the variant's nodes and validated like any parameter.
`--params` changes the base settings every variant starts from, but cannot add a variant.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from pydantic import ValidationError

from cxr_gan.pipelines.gan_training.params import GanTrainingParams

logger = logging.getLogger(__name__)


def configured_variants(conf_source: str | Path = "conf") -> dict[str, dict[str, Any]]:
    """{variant name: overrides} from gan_training.variants, or {} when there is no conf."""
    if not Path(conf_source).is_dir():
        return {}
    loader = OmegaConfigLoader(
        conf_source=str(conf_source),
        base_env="base",
        default_run_env="local",
        env=os.environ.get("KEDRO_ENV"),
    )
    try:
        parameters = loader["parameters"]
    except Exception as error:  # a broken parameter file must not hide every pipeline
        logger.warning("Could not read GAN variants from %s: %s", conf_source, error)
        return {}
    base = dict(parameters.get("gan_training") or {})
    variants = {
        name: dict(overrides or {}) for name, overrides in (base.get("variants") or {}).items()
    }
    for name, overrides in variants.items():
        if not name.isidentifier():
            raise ValueError(
                f"gan_training.variants: '{name}' is not a valid variant name; use letters, "
                "digits and underscores (it becomes a namespace in the catalog and kedro-viz)"
            )
        try:  # fail before any work, like every other parameter
            GanTrainingParams.model_validate(base).with_overrides(overrides)
        except ValidationError as error:
            raise ValueError(f"gan_training.variants.{name} is invalid: {error}") from None
    return variants
