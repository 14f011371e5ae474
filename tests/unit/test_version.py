"""One version string: pyproject's, shown by every command's --version."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from backend_client.version import lookout_version
from evidence.cli import main as evidence_main
from relay.cli import main as relay_main
from simulator.cli import main as sim_main

ROOT = Path(__file__).resolve().parents[2]


def pyproject_version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def test_the_installed_version_is_pyprojects() -> None:
    assert lookout_version() == pyproject_version()


@pytest.mark.parametrize(
    ("prog", "main"),
    [("lookout-relay", relay_main), ("lookout-sim", sim_main), ("lookout-evidence", evidence_main)],
)
def test_each_command_prints_the_version(
    prog: str, main: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"{prog} {pyproject_version()}\n"
