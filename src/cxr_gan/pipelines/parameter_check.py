"""One readable line per problem in a run's parameters, from the pipelines' pydantic models.

Kedro 1.7 validates type-hinted node parameters too, but only while it builds the catalog, and a
bad value reaches the user as a long traceback ending in pydantic's multi-line report, with the
key split from its section. check_parameters stops with one line per problem instead: the dotted
key, the value and what is allowed. The run's hook (cxr_gan.hooks) calls it before any pipeline
is built or node runs; pipeline building (cxr_gan.pipelines.shape) calls it on the sections that
shape the pipelines, so `kedro viz` and `kedro airflow create` report the same lines.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import click
from pydantic import BaseModel, ValidationError


class InvalidParametersError(click.ClickException, ValueError):
    """Parameters that would fail a run. A ClickException, so `kedro run` prints the message
    alone (exit code 1) instead of a traceback; a ValueError for everyone else."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "Invalid parameters; nothing was run. Fix them in conf/ or --params:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )


def parameter_models() -> dict[str, type[BaseModel]]:
    """Top-level parameter key -> the pydantic model its pipeline's nodes are typed with (none
    of them imports TensorFlow: every Kedro command builds them).

    Imported when called: the pipelines' modules import this one while they are built, and a
    params module imports its package, whose __init__ imports its pipeline."""
    from cxr_gan.pipelines.classification.params import ClassificationParams
    from cxr_gan.pipelines.data_processing.params import DataProcessingParams
    from cxr_gan.pipelines.gan_training.params import GanTrainingParams
    from cxr_gan.pipelines.synthesis.params import SynthesisParams

    return {
        "data_processing": DataProcessingParams,
        "gan_training": GanTrainingParams,
        "synthesis": SynthesisParams,
        "classification": ClassificationParams,
    }


def parameter_problems(params: Mapping[str, Any]) -> list[str]:
    """One readable line per problem in the run's merged parameters; [] when all is well."""
    models = parameter_models()
    problems: list[str] = []
    for key in params:
        if key not in models:
            close = difflib.get_close_matches(key, models, n=1, cutoff=0.8)
            if close:  # other top-level keys may be the user's own; near misses are typos
                problems.append(
                    f"{key}: unknown parameter section, did you mean '{close[0]}'? "
                    f"Sections: {', '.join(models)}"
                )
    for section, model in models.items():
        if section not in params:
            continue
        section_problems = _model_problems(section, model, params[section])
        problems += section_problems
        if section == "gan_training" and not section_problems:
            problems += _variant_problems(model, params[section])
    return problems


def check_parameters(params: Mapping[str, Any]) -> None:
    """Raise InvalidParametersError listing every problem, or return quietly."""
    problems = parameter_problems(params)
    if problems:
        raise InvalidParametersError(problems)


def _model_problems(prefix: str, model: type[BaseModel], raw: Any) -> list[str]:
    try:
        model.model_validate(raw)
    except ValidationError as error:
        return [_describe(prefix, model, item) for item in error.errors()]
    return []


def _variant_problems(model: type[BaseModel], raw: Mapping[str, Any]) -> list[str]:
    """gan_training.variants.<name>: each variant's overrides, checked like the base settings."""
    variants = raw.get("variants") or {}
    problems = []
    for name, overrides in variants.items():
        prefix = f"gan_training.variants.{name}"
        if not str(name).isidentifier():
            problems.append(
                f"{prefix}: not a valid variant name; use letters, digits and underscores "
                "(it becomes a namespace in the catalog and kedro-viz)"
            )
            continue
        if not isinstance(overrides, Mapping):
            problems.append(f"{prefix} = {overrides!r}: should be a mapping of overrides")
            continue
        if "variants" in overrides:
            problems.append(f"{prefix}.variants: variants cannot be nested")
            continue
        merged = {**raw, **overrides, "variants": {}}
        problems += _model_problems(prefix, model, merged)
    return problems


def _describe(prefix: str, model: type[BaseModel], item: Any) -> str:
    """`section.key = value: what is wrong and what is allowed`, from one pydantic error."""
    loc = [str(part) for part in item["loc"]]
    key = ".".join([prefix, *loc])
    message = str(item["msg"]).removeprefix("Value error, ")
    if item["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        close = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"{key}: unknown key; {hint}allowed keys: {', '.join(allowed)}"
    if not loc:  # a check across keys (gan_image_size vs architecture): its message names them
        return f"{prefix}: {message}"
    if item["type"] == "missing":
        return f"{key}: required key is missing"
    return f"{key} = {item['input']!r}: {message}"


def _allowed_keys(model: type[BaseModel], parents: list[str]) -> list[str]:
    """The field names at a nested location (a sub-model's), else the model's own."""
    for part in parents:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return sorted(model.model_fields)
