"""The import-linter contracts in pyproject.toml hold on this tree, and each one can fail.

`make test` runs `lint-imports` on the real tree; this test points the same contracts at a
small synthetic tree with one planted leak at a time, to prove each contract notices it
(a contract with a typo in a module name would otherwise pass for ever).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

CONTRACT_MODULES = (
    "messages",
    "codec",
    "state",
    "limits",
    "errors",
    "rules",
    "protocol",
    "geometry",
    "scenarios",
    "pilots",
    "exports",
)
FEATURES = (
    "alerts",
    "chat",
    "dashboard",
    "detail",
    "evidence",
    "feed",
    "incidents",
    "login",
    "map",
    "pilots",
    "status",
    "team",
)


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return list(config["contracts"])


def _importlinter_text() -> str:
    """The [tool.importlinter] part of pyproject.toml, copied as it is written."""
    text = (ROOT / "pyproject.toml").read_text()
    start = text.index("[tool.importlinter]")
    rest = text[start:]
    # up to the next table that is not an import-linter one
    nxt = re.search(r"^\[(?!tool\.importlinter|\[tool\.importlinter)", rest[1:], re.M)
    return rest if nxt is None else rest[: nxt.start() + 1]


def _tree(root: Path, leaks: dict[str, str]) -> None:
    """Empty packages shaped like Lookout's, then the planted `module: import line` leaks."""
    modules = [f"backend_client.{m}" for m in CONTRACT_MODULES]
    modules += [f"console.{f}.widget" for f in FEATURES] + ["console.app"]
    modules += [
        "relay.server",
        "relay.hub",
        "simulator.device",
        "demo.cli",
        "pilot.cli",
        "evidence.verify",
    ]
    for name in modules:
        parts = name.split(".")
        for i in range(1, len(parts)):
            pkg = root.joinpath(*parts[:i])
            pkg.mkdir(exist_ok=True)
            (pkg / "__init__.py").touch()
        root.joinpath(*parts[:-1], parts[-1] + ".py").write_text(leaks.get(name, ""))
    (root / "pyproject.toml").write_text(_importlinter_text())


def _verdicts(root: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    verdicts = {}
    for contract in _contracts():
        name = str(contract["name"])
        found = re.search(re.escape(name) + r"\s*(KEPT|BROKEN)", out.stdout)
        assert found, f"no verdict for {name!r}:\n{out.stdout}\n{out.stderr}"
        verdicts[name] = found.group(1)
    return verdicts


def _name(fragment: str) -> str:
    names = [str(c["name"]) for c in _contracts() if fragment in str(c["name"])]
    assert len(names) == 1, f"{fragment!r} names {names}"
    return names[0]


def test_a_clean_tree_keeps_every_contract(tmp_path: Path) -> None:
    _tree(tmp_path, {})
    assert set(_verdicts(tmp_path).values()) == {"KEPT"}


LEAKS = [
    ("relay.server", "import PySide6\n", "Only the console imports Qt"),
    ("simulator.device", "from pyqtgraph import PlotWidget\n", "Only the console imports Qt"),
    ("backend_client.codec", "import shiboken6\n", "Only the console imports Qt"),
    ("console.app", "import relay.server\n", "never imports the relay"),
    ("console.app", "import simulator.device\n", "never imports the relay"),
    ("relay.server", "import simulator.device\n", "The demo composes"),
    ("backend_client.messages", "import console.app\n", "The demo composes"),
    ("console.feed.widget", "import console.map.widget\n", "feature folders"),
    ("backend_client.rules", "import asyncio\n", "are pure"),
    ("backend_client.protocol", "import websockets\n", "are pure"),
    ("backend_client.state", "from sqlalchemy import select\n", "are pure"),
    ("backend_client.pilots", "import asyncio\n", "are pure"),
    ("evidence.verify", "import relay.server\n", "verifier stands alone"),
    ("evidence.verify", "import backend_client.codec\n", "verifier stands alone"),
    ("evidence.verify", "import msgspec\n", "verifier stands alone"),
]


@pytest.mark.parametrize(("module", "line", "contract"), LEAKS)
def test_each_contract_catches_its_leak(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    _tree(tmp_path, {module: line})
    verdicts = _verdicts(tmp_path)
    assert verdicts[_name(contract)] == "BROKEN", verdicts


def test_a_cycle_inside_the_relay_is_caught(tmp_path: Path) -> None:
    _tree(tmp_path, {"relay.server": "import relay.hub\n", "relay.hub": "import relay.server\n"})
    assert _verdicts(tmp_path)[_name("No import cycle")] == "BROKEN"


def test_the_demo_may_compose_everything(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {"demo.cli": "import console.app\nimport relay.server\nimport simulator.device\n"},
    )
    assert set(_verdicts(tmp_path).values()) == {"KEPT"}
