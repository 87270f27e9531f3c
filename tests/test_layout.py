"""The house rules of the package's layout: no import circle, no module past about 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "envspec"
MAX_LINES = 420


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The envspec modules a module imports, at any depth of its code (lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("envspec")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("envspec"):
            found.add(node.module)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        # importing a.b.c also runs a and a.b: count the parents of a target as imported by it only
        edges[name] = {target for target in imports_of(path) if target in modules and target != name}
    return edges


def test_no_import_circle() -> None:
    edges = graph()
    # a package's __init__ importing its own modules is its registry, not a circle through them
    edges = {
        name: {t for t in targets if not name or not t.startswith(name + ".")}
        for name, targets in edges.items()
    }
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                circle = [*path[path.index(target) :], target]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name)


def test_no_module_is_too_long() -> None:
    # envspec/emit/scripts/ holds standalone programs that bootstrap.sh carries inside itself and runs
    # in the environment being built (stdlib only, Python 3.8+): one file each (envspec fetch imports
    # fetch.py too, so that the store and the install fetch alike).
    scripts = PACKAGE / "emit" / "scripts"
    long = {
        str(p.relative_to(REPO)): n
        for p in [*PACKAGE.rglob("*.py"), *(REPO / "tools").rglob("*.py")]
        if scripts not in p.parents and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
