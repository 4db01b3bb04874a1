"""Lines of code in src/cxr_gan: blank lines, comments and docstrings excluded.

    uv run python benchmarks/code_lines.py [FOLDER] [--summary] [--long N]

A line counts when it holds a Python token other than a comment (read with `tokenize`) and is
not part of a docstring (the string a module, class or function body starts with, found with
`ast`). Prints the total, the module count (.py files other than __init__.py; the __init__ files
are counted in the total and listed apart), and the functions whose body, docstring excluded,
holds more than 60 such lines (nested functions count in their parent's body too). Nothing is
imported from the package, so any checkout can be counted: pass its src/cxr_gan folder.
Per-file figures come first, in path order (--summary leaves them out).
"""

from __future__ import annotations

import argparse
import ast
import io
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LONG_FUNCTION = 60  # lines of code in a body (docstring excluded) above which a function is long
NOT_CODE = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}
Scope = ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef


def _docstring_lines(tree: ast.Module) -> set[int]:
    """Line numbers (1-based) of every module, class and function docstring."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, Scope) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def code_lines(source: str) -> set[int]:
    """Line numbers (1-based) of `source` that hold code: a token other than a comment, outside
    any docstring. A token spanning lines (a multi-line string) marks each of its lines."""
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in NOT_CODE:
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines - _docstring_lines(ast.parse(source))


def long_functions(source: str, limit: int = LONG_FUNCTION) -> list[tuple[str, int, int]]:
    """(qualified name, first line, lines of code in its body) of each function whose body,
    docstring excluded, holds more than `limit` lines of code."""
    tree, code = ast.parse(source), code_lines(source)
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = f"{prefix}{getattr(child, 'name', '')}"
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                body_start = child.body[0].lineno
                size = len({n for n in code if body_start <= n <= child.end_lineno})
                if size > limit:
                    found.append((name, child.lineno, size))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def count(folder: Path, limit: int = LONG_FUNCTION) -> dict:
    """Lines of code per file (path relative to folder's parent), their total, the module count
    and the long functions of every .py file under `folder`."""
    per_file, long = {}, []
    for path in sorted(folder.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        name = path.relative_to(folder.parent).as_posix()
        per_file[name] = len(code_lines(source))
        long += [(name, *function) for function in long_functions(source, limit)]
    return {
        "total": sum(per_file.values()),
        "modules": sum(1 for name in per_file if not name.endswith("__init__.py")),
        "init_files": sum(1 for name in per_file if name.endswith("__init__.py")),
        "per_file": per_file,
        "long_functions": long,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT / "src" / "cxr_gan")
    parser.add_argument("--summary", action="store_true", help="leave out the per-file counts")
    parser.add_argument("--long", type=int, default=LONG_FUNCTION, help="long-function limit")
    args = parser.parse_args()
    result = count(args.folder.resolve(), args.long)
    if not args.summary:
        for name, lines in result["per_file"].items():
            print(f"{lines:6d}  {name}")
    for path, name, line, size in result["long_functions"]:
        print(f"long function: {path}:{line} {name}, {size} lines of code in its body")
    print(
        f"{result['total']} lines of code in {result['modules']} modules "
        f"(+ {result['init_files']} __init__.py); "
        f"{len(result['long_functions'])} functions over {args.long} lines"
    )


if __name__ == "__main__":
    main()
