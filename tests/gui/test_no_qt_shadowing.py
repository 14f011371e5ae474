"""No console widget stores a field under the name of a Qt method: `self.event = ...` on
a QWidget hides `QWidget.event`, and Qt calling it before the first event segfaults (the
alert composer once did exactly this)."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]


def shadowing(module_name: str, source: str) -> list[tuple[str, str, str]]:
    """(class, attribute, Qt class) for each `self.<attr> = ...` naming a Qt member."""
    module = importlib.import_module(module_name)
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        cls = getattr(module, node.name, None)
        if not isinstance(cls, type):
            continue
        qt_bases = [b for b in cls.__mro__ if b.__module__.startswith(("PySide6", "shiboken6"))]
        for sub in ast.walk(node):
            targets = sub.targets if isinstance(sub, ast.Assign) else []
            if isinstance(sub, ast.AnnAssign):
                targets = [sub.target]
            for target in targets:
                for t in ast.walk(target):
                    if (
                        isinstance(t, ast.Attribute)
                        and isinstance(t.value, ast.Name)
                        and t.value.id == "self"
                    ):
                        owner = next((b for b in qt_bases if t.attr in vars(b)), None)
                        if owner is not None:
                            found.append((node.name, t.attr, owner.__name__))
    return found


def test_the_check_catches_a_shadowed_qt_method(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = (
        "from PySide6.QtWidgets import QLineEdit, QWidget\n"
        "class Leaky(QWidget):\n"
        "    def __init__(self) -> None:\n"
        "        super().__init__()\n"
        "        self.event = QLineEdit()\n"
        "        self.event_edit = QLineEdit()\n"
    )
    (tmp_path / "leaky_widget.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert shadowing("leaky_widget", source) == [("Leaky", "event", "QWidget")]
    finally:
        sys.modules.pop("leaky_widget", None)


def test_no_console_class_shadows_a_qt_member() -> None:
    found = []
    for path in sorted((ROOT / "console").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found += [(name, *hit) for hit in shadowing(name, path.read_text())]
    assert found == []
