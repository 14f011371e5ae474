"""The pilot runner's place in the layers (issue 12, deliverable 6): the demo may compose
it (`lookout --rehearse`), it may not import the demo or the console, and its own live
control stays pure. Each check is pointed at a planted leak, as in
tests/unit/test_architecture_contracts.py, whose tree and verdicts it reuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_architecture_contracts import _name, _tree, _verdicts

LEAKS = [
    ("pilot.cli", "import demo.cli\n", "The demo composes"),
    ("pilot.cli", "import console.app\n", "never imports the console"),
    ("backend_client.pilots", "import pilot.cli\n", "The demo composes"),
]


@pytest.mark.parametrize(("module", "line", "contract"), LEAKS)
def test_each_pilot_contract_catches_its_leak(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    _tree(tmp_path, {module: line})
    assert _verdicts(tmp_path)[_name(contract)] == "BROKEN"


def test_the_demo_may_compose_the_pilot_runner(tmp_path: Path) -> None:
    _tree(tmp_path, {"demo.cli": "import pilot.cli\nimport console.app\n"})
    assert set(_verdicts(tmp_path).values()) == {"KEPT"}
