"""The analyst's workspace windows a GUI test opens, and closes again after it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QSettings

from console.settings import ConsoleSettings
from console.workspace_window import WorkspaceWindow
from tests.support.console import close_map


@contextlib.contextmanager
def workspaces(
    qtbot: Any, tmp_path: Path, analyst: str | None = None
) -> Iterator[Callable[..., WorkspaceWindow]]:
    """`go(path, fingerprint=None, **kw)` opens a package in a workspace (its settings and
    map cache in `tmp_path`), starts it and waits until it is verified and loaded; on the
    way out each window's map and outbox are closed (a map a test closed already, with
    its window, is left alone). `kw` goes to `WorkspaceWindow` (`analyst` overrides)."""
    windows: list[WorkspaceWindow] = []

    def go(path: Path, fingerprint: str | None = None, **kw: Any) -> WorkspaceWindow:
        settings = ConsoleSettings(
            "analyst", QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
        )
        kw.setdefault("analyst", analyst)
        w = WorkspaceWindow(
            path, settings, fingerprint=fingerprint, map_cache_dir=tmp_path / "cache", **kw
        )
        qtbot.addWidget(w)
        windows.append(w)
        w.show()
        w.start()
        qtbot.waitUntil(w.done.is_set, timeout=30_000)
        return w

    try:
        yield go
    finally:
        for w in windows:
            if shiboken6.isValid(w.map):
                close_map(w.map)
            w.session.client.outbox.close()
