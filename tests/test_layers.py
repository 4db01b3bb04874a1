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


# One import path per name (issue 26): no module-level __getattr__ forwarding old names, no
# DeprecationWarning for a moved name, and no name imported through a module that only imports
# it itself (a re-export). Package __init__ files are the packages' own interfaces and exempt.
REPO = SRC.parent
IMPORTING = [
    *sorted((SRC / PACKAGE).rglob("*.py")),
    *sorted((REPO / "tests").rglob("*.py")),
    *sorted((REPO / "benchmarks").rglob("*.py")),
]


def _bound_here(tree: ast.Module) -> set[str]:
    """Names a module binds at its top level other than by importing them: functions, classes,
    assignments, also inside top-level if / try / with / for blocks."""
    names: set[str] = set()

    def targets(node: ast.AST) -> None:
        for leaf in ast.walk(node):
            if isinstance(leaf, ast.Name):
                names.add(leaf.id)

    def visit(body: list[ast.stmt]) -> None:
        for statement in body:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(statement.name)
            elif isinstance(statement, ast.Assign):
                for target in statement.targets:
                    targets(target)
            elif isinstance(statement, ast.AnnAssign | ast.AugAssign | ast.For):
                targets(statement.target)
            elif isinstance(statement, ast.With):
                for item in statement.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
            for block in ("body", "orelse", "finalbody"):
                if not isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    visit(getattr(statement, block, []))
            for handler in getattr(statement, "handlers", []):
                visit(handler.body)

    visit(tree.body)
    return names


BOUND = {module: _bound_here(ast.parse(path.read_text())) for module, path in MODULES.items()}


def _through_another_module(path: Path, root: Path = REPO) -> list[str]:
    """`from cxr_gan.x import name` (anywhere in the file) where cxr_gan.x is a module, not a
    package, that does not itself define `name`, and `name` is no submodule."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
            continue
        home = MODULES.get(node.module)
        if home is None or home.name == "__init__.py":
            continue
        for alias in node.names:
            if (
                alias.name not in BOUND[node.module]
                and f"{node.module}.{alias.name}" not in MODULES
            ):
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.module}.{alias.name}")
    return found


def test_every_name_is_imported_from_the_module_that_defines_it():
    wrong = [line for path in IMPORTING for line in _through_another_module(path)]
    assert not wrong, "import these from the module that defines them:\n" + "\n".join(wrong)


def _aliases(tree: ast.Module) -> list[str]:
    """Module-level __getattr__ definitions or assignments, and DeprecationWarning uses."""
    found = [
        f"line {node.lineno}: module-level __getattr__"
        for node in tree.body
        if (isinstance(node, ast.FunctionDef) and node.name == "__getattr__")
        or (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__getattr__" for t in node.targets)
        )
    ]
    found += [
        f"line {node.lineno}: DeprecationWarning"
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id == "DeprecationWarning"
    ]
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_keeps_an_old_import_path_alive(module):
    found = _aliases(ast.parse(MODULES[module].read_text()))
    assert not found, f"{module}: {found}; one import path per name, no aliases (issue 26)"


def test_the_alias_checks_catch_an_alias_and_a_re_export(tmp_path):
    """The two checks above fail on what they forbid."""
    old = "from warnings import warn\ndef __getattr__(name):\n    warn(name, DeprecationWarning)\n"
    assert len(_aliases(ast.parse(old))) == 2
    assert _aliases(ast.parse("__getattr__ = lambda name: name\n"))
    assert not _aliases(ast.parse("class A:\n    def __getattr__(self, name): ...\n"))
    assert "decode_xray" in BOUND["cxr_gan.data.decoding"]
    caller = tmp_path / "caller.py"
    caller.write_text("from cxr_gan.data.decoding import np, decode_xray\n")
    wrong = _through_another_module(caller, tmp_path)
    assert wrong == ["caller.py:1 cxr_gan.data.decoding.np"]
