"""The layer rule of docs/code-map.md, read from the source with `ast` (nothing is imported):
a module imports only from its own layer or the layers below it, one pipeline never imports
another pipeline's modules, and no modules import each other in a circle. Imports inside
functions count as much as those at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "cxr_gan"
# what each group may import from (besides itself); see docs/code-map.md
ALLOWED = {
    "base": set(),
    "data": {"base"},
    "metrics": {"base", "data", "models"},  # metrics and models form one layer
    "models": {"base", "data", "metrics"},
    "reporting": {"base", "data", "metrics", "models"},
    "datasets": {"base", "data"},
    "pipelines": {"base", "data", "metrics", "models", "reporting"},
    "wiring": {"base", "data", "metrics", "models", "reporting", "datasets", "pipelines"},
}
BASE = {
    "cxr_gan",
    "cxr_gan.deprecation",
    "cxr_gan.io_utils",
    "cxr_gan.progress",
    "cxr_gan.tf_startup",
}
LAYERED = {"data", "metrics", "models", "reporting", "datasets", "pipelines"}
PIPELINE_COMMON = {
    "cxr_gan.pipelines",
    "cxr_gan.pipelines.shape",
    "cxr_gan.pipelines.parameter_check",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(module: str, path: Path) -> set[str]:
    """The cxr_gan modules `module` imports (a `from package import submodule` counts as the
    submodule), anywhere in the file."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {name for name in found if name == PACKAGE or name.startswith(f"{PACKAGE}.")}


def _group(module: str) -> str:
    if module in BASE:
        return "base"
    part = module.split(".")[1]
    return part if part in LAYERED else "wiring"


def _pipeline(module: str) -> str | None:
    """The pipeline package a module belongs to (classification, ...), None for the others."""
    parts = module.split(".")
    if parts[1] != "pipelines" or module in PIPELINE_COMMON:
        return None
    return parts[2]


GRAPH = {module: _imports(module, path) & set(MODULES) for module, path in MODULES.items()}


def test_every_module_is_read_and_imports_resolve():
    assert "cxr_gan.pipelines.classification.nodes" in MODULES
    assert "cxr_gan.data.ingest" in GRAPH["cxr_gan.pipelines.data_processing.nodes"]
    unknown = {
        (module, name)
        for module, path in MODULES.items()
        for name in _imports(module, path)
        if name not in MODULES
    }
    assert not unknown


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_from_a_layer_above_its_own(module):
    group = _group(module)
    upward = sorted(name for name in GRAPH[module] if _group(name) not in ALLOWED[group] | {group})
    assert not upward, f"{module} ({group}) imports {upward}; see docs/code-map.md"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _group(m) == "pipelines"))
def test_no_pipeline_imports_another_pipelines_modules(module):
    own = _pipeline(module)
    others = sorted(
        name
        for name in GRAPH[module]
        if _pipeline(name) not in (None, own)
        # the shared pipeline modules read every pipeline's parameter models, nothing else
        and not (own is None and name.endswith(".params"))
    )
    assert not others, f"{module} imports {others}: share it through a lower layer instead"


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module (or a module that
    imports itself): each is an import circle."""
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for name in sorted(graph[module]):
            if name not in index:
                visit(name)
                low[module] = min(low[module], low[name])
            elif name in on_stack:
                low[module] = min(low[module], index[name])
        if low[module] == index[module]:
            component = []
            while True:
                name = stack.pop()
                on_stack.discard(name)
                component.append(name)
                if name == module:
                    break
            if len(component) > 1 or module in graph[module]:
                circles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return circles


def test_no_import_circles():
    assert not _circles(GRAPH)


def test_the_rule_catches_an_upward_import():
    """The checks above would fail on the imports they forbid."""
    assert _group("cxr_gan.datasets.npy_folder_dataset") not in ALLOWED["data"]
    assert _group("cxr_gan.pipelines.classification.nodes") not in ALLOWED["models"]
    assert _pipeline("cxr_gan.pipelines.data_processing.params") == "data_processing"
    assert _pipeline("cxr_gan.pipelines.shape") is None
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
