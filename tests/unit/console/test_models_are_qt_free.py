"""Every console feature folder has one shape: a Qt-free `model.py` (pure logic, tested in
this folder without Qt) beside its widgets.

pytest-qt imports PySide6 into every pytest process, so "no Qt" is checked in a child
interpreter that refuses the Qt packages and imports each model; the check is first
pointed at a widget module, to prove it can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
QT_PACKAGES = ("PySide6", "shiboken6", "qasync", "pyqtgraph")
#: shared helpers, not a feature
NOT_A_FEATURE = {"common"}
#: the feed's Qt-free model is its store: its `model.py` is the QAbstractTableModel that
#: Qt's view needs, a thin adapter over the store
MODEL_MODULE = {"feed": "store"}
#: Qt-free modules besides the models
QT_FREE_HELPERS = (
    "console.alerts.area",
    "console.alerts.templates",
    "console.common.exercise",
    "console.feed.cells",
    "console.feed.triage",
    "console.pilots.plan_edit",
    "console.pilots.timeline_model",
)

_CHILD = """
import importlib, importlib.abc, json, sys

BLOCKED = set(sys.argv[1].split(","))

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] in BLOCKED:
            raise ImportError(f"{fullname} is refused: a Qt-free module asked for it")
        return None

sys.meta_path.insert(0, Refuse())
failed = {}
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
loaded = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
print(json.dumps({"failed": failed, "loaded": loaded}))
"""


def features() -> list[str]:
    console = ROOT / "console"
    return sorted(
        p.name
        for p in console.iterdir()
        if (p / "__init__.py").is_file() and p.name not in NOT_A_FEATURE
    )


def _model(feature: str) -> str:
    return MODEL_MODULE.get(feature, "model")


def import_with_qt_refused(modules: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """(module -> why it failed to import, Qt packages loaded anyway) from a child."""
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, ",".join(QT_PACKAGES), *modules],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return dict(report["failed"]), list(report["loaded"])


def test_every_feature_folder_has_a_model() -> None:
    found = features()
    assert {"alerts", "chat", "dashboard", "detail", "feed", "login", "map", "status"} <= set(found)
    missing = [f for f in found if not (ROOT / "console" / f / f"{_model(f)}.py").is_file()]
    assert missing == [], f"feature folders without a model.py: {missing}"


def test_the_check_catches_a_module_that_imports_qt() -> None:
    failed, _loaded = import_with_qt_refused(["console.status.bar"])
    assert list(failed) == ["console.status.bar"]
    assert "PySide6" in failed["console.status.bar"]
    assert "refused" in failed["console.status.bar"]


def test_models_import_with_qt_refused() -> None:
    modules = [f"console.{f}.{_model(f)}" for f in features()] + list(QT_FREE_HELPERS)
    failed, loaded = import_with_qt_refused(modules)
    assert failed == {}, f"modules that need Qt: {failed}"
    assert loaded == []
