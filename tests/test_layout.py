"""The package's shape, checked rather than promised (docs/architecture.md, "Map").

- Only ``gitversions/git/`` imports dulwich: one place knows its API and turns
  its exceptions into ``GitVersionsError``.
- No import circles: no module imports (at import time or inside a function)
  one that imports it back, directly or through others.
- ``gitversions.model`` holds pure values: importing it loads no dulwich.

The import graph is read from the source with ``ast``; imports under
``if TYPE_CHECKING:`` are for the type checker only and are not counted.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gitversions"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute, TYPE_CHECKING blocks left out."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            # ``from . import x`` may name a submodule.
            found.update(f"{target}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text("utf-8"), str(path)))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {m for m in _imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }


def test_only_the_git_package_imports_dulwich() -> None:
    offenders = sorted(
        _module_name(path)
        for path in PACKAGE.rglob("*.py")
        if any(m == "dulwich" or m.startswith("dulwich.") for m in _imports(path))
        and not _module_name(path).startswith("gitversions.git")
    )
    assert offenders == []


def test_there_are_no_import_circles() -> None:
    graph = _graph()
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    assert circles == []


def test_a_package_module_imports_nothing_above_it_from_its_package() -> None:
    # A package's __init__ re-exports its modules; a module inside must not
    # import its own package's __init__ (that is a circle in disguise).
    graph = _graph()
    bad = [
        (name, dep)
        for name, deps in graph.items()
        for dep in deps
        if name.startswith(dep + ".") and dep != "gitversions"
    ]
    assert bad == []


@pytest.mark.parametrize("module", ["gitversions.model", "gitversions.errors"])
def test_pure_modules_load_no_dulwich(module: str) -> None:
    code = f"import sys, {module}; print('dulwich' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_the_layout_test_sees_circles_and_dulwich(tmp_path: Path) -> None:
    # The checks above would pass vacuously if the reader saw no imports.
    imports = _imports(PACKAGE / "store.py")
    assert any(m.startswith("gitversions.") for m in imports)
    assert any(
        m.startswith("dulwich") for p in PACKAGE.rglob("*.py") for m in _imports(p)
    )


# What each part may import (docs/architecture.md, "Map"): lower layers never
# import higher ones. git/remote.py is the one exception, named here.
ALLOWED = {
    "model": {"errors"},
    "fs": {"errors"},
    "merge": {"errors", "model", "snapshot"},
    "display": set(),
    "errors": set(),
    "snapshot": {"errors", "model", "fs"},
    "formats": {"errors", "model", "fs"},
    "git": {"errors", "model", "fs", "snapshot", "display"},
    "materialize": {"errors", "model", "fs", "formats", "snapshot"},
    "verify": {"errors", "model", "git", "snapshot"},
}
EXCEPTIONS = {"gitversions.git.remote": {"store", "materialize"}}


def test_lower_layers_never_import_higher_ones() -> None:
    def part(module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else parts[0]

    wrong = sorted(
        (name, dep)
        for name, deps in _graph().items()
        for dep in deps
        if part(name) in ALLOWED
        and part(dep) != part(name)
        and part(dep) not in ALLOWED[part(name)] | EXCEPTIONS.get(name, set())
    )
    assert wrong == []
