"""Rules for the GUI suite that no single test can see, checked over its source.

One qasync run per process: qasync's `run_until_complete` ends with
`QApplication.exit()`, and in Qt 6 `exit()` emits `aboutToQuit`, on which QtWebEngine tears
down its context for the whole process. A second in-process qasync run after a map page
existed crashed the GUI run with SIGSEGV inside that handler (seen with the run panel's
test, which now uses pytest-asyncio's loop and ticks Qt itself). So the suite has exactly
one in-process qasync run, the dispatcher's shift in `test_app_live.py`; a child process
(that file's `_login_child`) has its own application and may run one too.
"""

from __future__ import annotations

import ast
from pathlib import Path

GUI = Path(__file__).resolve().parents[1] / "gui"
#: (file, function) allowed to build a qasync loop in the pytest process or in a child
ALLOWED = {
    ("test_app_live.py", "test_a_dispatchers_shift_end_to_end"),
    ("test_app_live.py", "_login_child"),  # runs in a child process
}


def qasync_loops(folder: Path) -> set[tuple[str, str]]:
    """(file, enclosing function) of every `qasync.QEventLoop(...)` call under `folder`."""
    found = set()
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "QEventLoop"
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "qasync"
                ):
                    found.add((path.name, func.name))
    return found


def test_the_check_finds_a_qasync_loop(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text(
        "import qasync\n\ndef test_y(qapp):\n    loop = qasync.QEventLoop(qapp)\n"
    )
    assert qasync_loops(tmp_path) == {("test_x.py", "test_y")}


def test_one_in_process_qasync_run_in_the_gui_suite() -> None:
    extra = qasync_loops(GUI) - ALLOWED
    assert not extra, (
        f"{sorted(extra)} run a qasync loop in the GUI test process: its QApplication.exit() "
        "tears QtWebEngine down for every later test (see this module's docstring); use "
        "pytest-asyncio's loop with wait_until(..., tick=QCoreApplication.processEvents)"
    )
