"""No import cycle inside `relay/`: the server composes the endpoints, never the reverse.

The graph is built from the source with `ast`, so it holds every import wherever it is
written: at the top, under `if TYPE_CHECKING:`, or deferred inside a function. A cycle
hidden behind TYPE_CHECKING or a late import is still two modules that each need the
other, which is what this check forbids.

The check is first pointed at small packages that do have a cycle, to prove it can fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the package at `root`, by dotted name (a package is its __init__)."""
    out: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom names (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base.pop()
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports."""
    modules = module_names(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    # `from relay import alerts` names a module; `from relay.x import f` does not
                    targets.append(sub if sub in modules else base)
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that ends where it starts, or None."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        path.append(start)
        on_path.add(start)
        while stack:
            node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
                continue
            nxt = todo.pop(0)
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done:
                stack.append((nxt, sorted(graph[nxt])))
                path.append(nxt)
                on_path.add(nxt)
    return None


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in {"__init__.py": "", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def test_the_check_finds_a_cycle_hidden_under_type_checking(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "server.py": "from pkg.endpoint import Endpoint\n",
            "endpoint.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from pkg.server import Relay\n"
            ),
        },
    )
    assert find_cycle(import_graph(root)) == ["pkg.endpoint", "pkg.server", "pkg.endpoint"]


def test_the_check_finds_a_three_module_cycle_of_relative_and_deferred_imports(
    tmp_path: Path,
) -> None:
    root = _package(
        tmp_path,
        {
            "a.py": "from . import b\n",
            "b.py": "from .sub import c\n",
            "sub/__init__.py": "",
            "sub/c.py": "def f():\n    from ..a import thing\n",
        },
    )
    cycle = find_cycle(import_graph(root))
    assert cycle is not None and set(cycle) == {"pkg.a", "pkg.b", "pkg.sub.c"}


def test_the_check_passes_a_package_without_a_cycle(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "server.py": "from pkg import context, endpoint\n",
            "endpoint.py": "from pkg.context import Context\n",
            "context.py": "import pkg.hub\n",
            "hub.py": "import websockets\n",
        },
    )
    graph = import_graph(root)
    assert graph["pkg.server"] == {"pkg.context", "pkg.endpoint"}
    assert graph["pkg.context"] == {"pkg.hub"}
    assert find_cycle(graph) is None


def test_relay_has_no_import_cycle() -> None:
    graph = import_graph(ROOT / "relay")
    assert {"relay.server", "relay.officer", "relay.context"} <= set(graph)  # scanned the tree
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in relay/: " + " -> ".join(cycle or [])


def test_no_endpoint_reaches_for_the_relay() -> None:
    """Endpoints get a RelayContext; only the composition root imports the server."""
    graph = import_graph(ROOT / "relay")
    importers = sorted(name for name, deps in graph.items() if "relay.server" in deps)
    assert importers == ["relay.cli"]
