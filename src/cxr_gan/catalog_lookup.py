"""What the project's catalog and pipelines hold, looked up without running anything: shared by
the checks before a run (preflight), lineage and the run record."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Pipeline


def project_pipelines() -> dict[str, Pipeline]:
    """{pipeline name: its Pipeline} for the project's pipelines (the packages under
    <package>/pipelines with a create_pipeline). Built here from each package, because Kedro
    (>= 1.5) builds only the pipelines a run asks for."""
    import importlib
    import pkgutil

    from kedro.framework.project import PACKAGE_NAME

    # outside a configured project (a plain script, a unit test): this package's pipelines
    package = importlib.import_module(f"{PACKAGE_NAME or __name__.split('.')[0]}.pipelines")
    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, "create_pipeline"):
            found[info.name] = module.create_pipeline()
    return found


def pipeline_outputs() -> dict[str, set[str]]:
    """{pipeline name: every dataset its nodes output} for the project's pipelines."""
    return {name: set(p.all_outputs()) for name, p in project_pipelines().items()}


def catalog_dataset(catalog: Any, name: str) -> Any:
    """The catalog's dataset object called `name`, or None when the catalog cannot build it."""
    try:
        return catalog.get(name)
    except Exception:  # noqa: BLE001 - a dataset that cannot be built fails the run itself
        return None
