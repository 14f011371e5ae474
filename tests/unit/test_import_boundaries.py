"""Only console/ may use Qt: nothing in backend_client, relay or simulator imports PySide6,
qasync or pyqtgraph (DESIGN.md, "The parts"). And the layers above: console/ never imports
relay, simulator or demo (only the demo package composes all three), and nothing below the
demo imports it (the source scan below; the console's modules import Qt, so the child's
import check does not apply to them).

Two independent checks, because each sees what the other cannot:

- a child interpreter blocks the three Qt packages with a meta-path finder and imports
  every module of the Qt-free packages; it sees imports made indirectly (through another
  library, ``importlib``, a helper module);
- a static AST scan of the same source; it sees imports hidden in functions or branches
  that merely importing the module never runs.

Each check is first pointed at a small package that does leak Qt, to prove it can fail.

This file is also the child's script (``python test_import_boundaries.py check ...``), so
its top level imports only the standard library: importing pytest could pull in plugins.
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import pkgutil
import subprocess
import sys
import traceback
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
QT_FREE_PACKAGES = ("backend_client", "relay", "simulator")
FORBIDDEN = frozenset({"PySide6", "qasync", "pyqtgraph"})


# --- the child: block Qt, import everything ---------------------------------------------


class BlockedQtImport(ImportError):
    """Raised by the blocker, so a failure can be told apart from any other ImportError."""


class QtBlocker(importlib.abc.MetaPathFinder):
    """Refuses the forbidden packages and remembers which of our modules asked for them."""

    def __init__(self, own_packages: Sequence[str]) -> None:
        self.own_packages = tuple(own_packages)
        self.attempts: list[dict[str, str]] = []

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in FORBIDDEN:
            return None
        importer = _importing_module()
        if importer.partition(".")[0] in self.own_packages:
            self.attempts.append({"module": importer, "imports": fullname})
        raise BlockedQtImport(f"{fullname} is blocked (imported by {importer})")


def _importing_module() -> str:
    """Name of the module whose code asked for the import (the first frame past importlib)."""
    frame: types.FrameType | None = sys._getframe(2)
    while frame is not None:
        name = str(frame.f_globals.get("__name__", "?"))
        if not (name.startswith("importlib") or frame.f_code.co_filename.startswith("<frozen")):
            return name
        frame = frame.f_back
    return "?"


def _is_alembic_env(name: str) -> bool:
    """Alembic executes a migrations env.py inside its own context; a plain import fails."""
    module_file = Path(sys.modules[name.rpartition(".")[0]].__file__ or "")
    return name.rpartition(".")[2] == "env" and (module_file.parent / "script.py.mako").exists()


def _import_under_alembic(name: str) -> None:
    """Import env.py the way alembic runs it, against an in-memory SQLite, no migrations."""
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option(
        "script_location", str(Path(sys.modules[name.rpartition(".")[0]].__file__ or "").parent)
    )
    config.set_main_option("sqlalchemy.url", "sqlite://")
    script = ScriptDirectory.from_config(config)
    with EnvironmentContext(config, script, fn=lambda _rev, _ctx: []):
        importlib.import_module(name)


def _module_names(package: str) -> Iterator[str]:
    yield package
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + ".", onerror=lambda _n: None):
        yield info.name


def check_packages(packages: Sequence[str]) -> dict[str, list[Any]]:
    """Import every module of ``packages`` with Qt blocked; report what happened."""
    preloaded = sorted(m for m in sys.modules if m.partition(".")[0] in FORBIDDEN)
    blocker = QtBlocker(packages)
    sys.meta_path.insert(0, blocker)
    imported: list[Any] = []
    failed: list[Any] = []
    for package in packages:
        try:
            names = list(_module_names(package))
        except BaseException:  # the package itself: report it like any module
            names = [package]
        for name in names:
            try:
                parent = name.rpartition(".")[0]
                if parent and _is_alembic_env(name):
                    _import_under_alembic(name)
                else:
                    importlib.import_module(name)
            except BaseException as exc:
                failed.append(
                    {
                        "module": name,
                        "blocked": isinstance(exc, BlockedQtImport)
                        or isinstance(exc.__cause__ or exc.__context__, BlockedQtImport),
                        "error": "".join(traceback.format_exception(exc)[-3:]),
                    }
                )
            else:
                imported.append(name)
    return {
        "preloaded": list(preloaded),
        "attempts": list(blocker.attempts),
        "failed": failed,
        "imported": imported,
    }


def self_check() -> dict[str, list[Any]]:
    """Does the blocker refuse each forbidden package, and let everything else through?"""
    sys.meta_path.insert(0, QtBlocker(()))
    blocked: list[Any] = []
    for name in sorted(FORBIDDEN):
        try:
            importlib.import_module(name)
        except BlockedQtImport:
            blocked.append(name)
    allowed = [name for name in ("json", "sqlite3") if importlib.import_module(name)]
    return {"blocked": blocked, "allowed": allowed}


def main(argv: Sequence[str]) -> int:
    mode, packages = argv[0], json.loads(argv[1]) if len(argv) > 1 else []
    report = self_check() if mode == "self-check" else check_packages(packages)
    print(json.dumps(report))
    return 0


# --- the parent: run the child, scan the source ----------------------------------------


def run_child(
    mode: str, packages: Sequence[str], extra_path: Path | None = None
) -> dict[str, list[Any]]:
    paths = [str(ROOT)] + ([str(extra_path)] if extra_path else [])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__)), mode, json.dumps(list(packages))],
        cwd=extra_path or ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, f"child failed:\n{proc.stdout}\n{proc.stderr}"
    report: dict[str, list[Any]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


def _forbidden_name(name: str | None, forbidden: frozenset[str] = FORBIDDEN) -> bool:
    return name is not None and name.partition(".")[0] in forbidden


def scan_source(
    directory: Path, forbidden: frozenset[str] = FORBIDDEN
) -> list[tuple[str, int, str]]:
    """Every import of a ``forbidden`` package in ``directory``'s Python files: (file, line,
    name). Relative imports stay inside their own package, so they never count."""
    found: list[tuple[str, int, str]] = []
    for path in sorted(directory.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str | None] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Call) and node.args:
                func = node.func
                callee = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                first = node.args[0]
                if callee in {"__import__", "import_module"} and isinstance(first, ast.Constant):
                    names = [str(first.value)]
            line = getattr(node, "lineno", 0)
            found += [(str(path), line, n) for n in names if n and _forbidden_name(n, forbidden)]
    return found


LEAKY_PACKAGE = {
    "__init__.py": "",
    "clean.py": "import json\n",
    "direct.py": "from PySide6 import QtCore\n",
    "sub/__init__.py": "",
    "sub/dynamic.py": "import importlib\nimportlib.import_module('qasync')\n",
    "sub/optional.py": "try:\n    import pyqtgraph\nexcept ImportError:\n    pyqtgraph = None\n",
    "via_helper.py": "from leaky_pkg import direct\n",
    "broken.py": "raise RuntimeError('unrelated breakage')\n",
    "lazy.py": "def show():\n    __import__('PySide6.QtWidgets')\n",
}


def make_leaky_package(tmp_path: Path) -> Path:
    for relative, text in LEAKY_PACKAGE.items():
        path = tmp_path / "leaky_pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path / "leaky_pkg"


def test_blocker_blocks_each_qt_package_and_nothing_else() -> None:
    report = run_child("self-check", [])
    assert report == {"blocked": sorted(FORBIDDEN), "allowed": ["json", "sqlite3"]}


def test_import_check_catches_a_leaking_package(tmp_path: Path) -> None:
    make_leaky_package(tmp_path)
    report = run_child("check", ["leaky_pkg"], extra_path=tmp_path)
    attempts = {(a["module"], a["imports"]) for a in report["attempts"]}
    assert attempts == {
        ("leaky_pkg.direct", "PySide6"),
        ("leaky_pkg.sub.dynamic", "qasync"),
        ("leaky_pkg.sub.optional", "pyqtgraph"),
    }
    failed = {f["module"]: f["blocked"] for f in report["failed"]}
    assert failed == {
        "leaky_pkg.broken": False,
        "leaky_pkg.direct": True,
        "leaky_pkg.sub.dynamic": True,
        "leaky_pkg.via_helper": True,
    }
    assert "leaky_pkg.clean" in report["imported"]
    assert "leaky_pkg.lazy" in report["imported"]  # only the AST scan can see this one


def test_ast_scan_catches_every_import_form(tmp_path: Path) -> None:
    package = make_leaky_package(tmp_path)
    found = {(Path(file).name, line, name) for file, line, name in scan_source(package)}
    assert found == {
        ("direct.py", 1, "PySide6"),
        ("dynamic.py", 2, "qasync"),
        ("optional.py", 2, "pyqtgraph"),
        ("lazy.py", 2, "PySide6.QtWidgets"),
    }


def test_qt_free_packages_import_with_qt_blocked() -> None:
    report = run_child("check", QT_FREE_PACKAGES)
    assert report["preloaded"] == [], "Qt was imported before the blocker was installed"
    assert report["attempts"] == [], f"modules that import Qt: {report['attempts']}"
    failures = "\n".join(f"{f['module']}:\n{f['error']}" for f in report["failed"])
    assert report["failed"] == [], f"modules that failed to import:\n{failures}"
    assert set(QT_FREE_PACKAGES) <= set(report["imported"])


def test_qt_free_packages_have_no_qt_import_in_source() -> None:
    for package in QT_FREE_PACKAGES:
        assert list((ROOT / package).rglob("*.py")), f"{package} has no source to scan"
        assert scan_source(ROOT / package) == []


# --- the layers above the contract: console below demo --------------------------------

ABOVE_THE_CONSOLE = frozenset({"relay", "simulator", "demo"})

LEAKY_CONSOLE = {
    "__init__.py": "",
    "clean.py": "from backend_client import messages\nfrom . import sibling\n",
    "sibling.py": "import relayed\nimport simulators.x\nimport demography\n",
    "direct.py": "import relay.server\n",
    "lazy.py": "def run():\n    from simulator.scenarios import load\n    return load\n",
    "dynamic.py": "import importlib\nimportlib.import_module('relay.accounts')\n",
    "entry.py": "from demo import cli\n",
}


def make_leaky_console(tmp_path: Path) -> Path:
    for relative, text in LEAKY_CONSOLE.items():
        path = tmp_path / "leaky_console" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path / "leaky_console"


def test_ast_scan_catches_a_console_reaching_up(tmp_path: Path) -> None:
    package = make_leaky_console(tmp_path)
    found = {
        (Path(file).name, line, name)
        for file, line, name in scan_source(package, ABOVE_THE_CONSOLE)
    }
    assert found == {
        ("direct.py", 1, "relay.server"),
        ("lazy.py", 2, "simulator.scenarios"),
        ("dynamic.py", 2, "relay.accounts"),
        ("entry.py", 1, "demo"),
    }  # and no look-alike names (relayed, simulators, demography) or relative imports


def test_console_imports_no_relay_simulator_or_demo() -> None:
    assert list((ROOT / "console").rglob("*.py")), "console has no source to scan"
    assert scan_source(ROOT / "console", ABOVE_THE_CONSOLE) == []


def test_nothing_below_the_demo_imports_it() -> None:
    assert list((ROOT / "demo").rglob("*.py")), "the demo package is missing"
    for package in QT_FREE_PACKAGES:
        assert scan_source(ROOT / package, frozenset({"demo"})) == []


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
