"""The `distribution:` parameters and the checks that need no TensorFlow.

Parameter models (pipelines/*/params.py) import this module, and Kedro imports those for every
command, so it must not import TensorFlow; the strategies themselves are in
cxr_gan.models.distribution.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StrategyName = Literal["default", "mirrored", "multi_worker"]
STRATEGIES: tuple[str, ...] = StrategyName.__args__


class DistributionParams(BaseModel):
    """`distribution:` under gan_training and classification."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    strategy: StrategyName = "default"
    mixed_precision: bool = Field(
        False,
        description="Keras' mixed_float16 policy for the training node; GPU only, refused on a "
        "CPU (see cxr_gan.models.device)",
    )


class DistributionConfigError(ValueError):
    """The chosen strategy cannot run here; the message names the parameter and the fix."""


def refuse_multi_worker_fit(strategy_name: str, parameter: str) -> None:
    """Keras' own fit cannot run under MultiWorkerMirroredStrategy in Keras 3.15 (it fails
    averaging a distributed batch and the step's scalar logs across workers); the GAN works
    around it in its own train step, the classifier, which uses Keras' train step, cannot.

    Raises DistributionConfigError when `strategy_name` is "multi_worker"."""
    if strategy_name == "multi_worker":
        try:
            keras_version = version("keras")  # the installed one, without importing it
        except PackageNotFoundError:  # pragma: no cover - keras is a dependency
            keras_version = "3"
        raise DistributionConfigError(
            f"{parameter}: multi_worker is not available for the classifier (Keras "
            f"{keras_version} fit fails under MultiWorkerMirroredStrategy); use mirrored for "
            "several GPUs of one machine, or default (see docs/distributed.md)"
        )
