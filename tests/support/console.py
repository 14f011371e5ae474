"""A real `ConsoleSession` for widget tests: the real client, never started (no relay).

Widgets are driven through `session.dispatch(event)`, the same path live events take, and
actions land in the client's real outbox, where the test can read them. The session is
built by `open_session`, as the app builds its own, only without a local cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend_client.client import ClientConfig, Credentials, RelayClient
from backend_client.outbox import Outbox
from console.compose import open_session
from console.session import ConsoleSession

#: nothing listens there, and an offline session's client is never started anyway
OFFLINE_RELAY = ClientConfig(url="wss://127.0.0.1:1")


def offline_credentials(username: str = "t") -> Credentials:
    return Credentials(username, "t", lambda: None)


def offline_session(tmp_path: Path, username: str = "t", cache: Any = None) -> ConsoleSession:
    """`cache` is a stand-in for the local cache's media shelf, read by the session only
    (the client's event sink stays empty: an offline client receives no events)."""
    opened = open_session(OFFLINE_RELAY, offline_credentials(username), tmp_path, local_cache=False)
    if cache is not None:
        opened.session.cache = cache
    return opened.session


def offline_client(tmp_path: Path, username: str = "t") -> RelayClient:
    """A bare client, for a test that wraps a session of its own around it."""
    return RelayClient(OFFLINE_RELAY, offline_credentials(username), Outbox(tmp_path / "o.sqlite"))


def shown_map(
    qtbot: Any, session: ConsoleSession, settings: Any, cache_dir: Path, size: tuple[int, int]
) -> Any:
    """The real map page, shown and loaded (the QtWebEngine part of a widget test)."""
    from console.map.widget import MapWidget

    w = MapWidget(session, settings, cache_dir=cache_dir)
    w.resize(*size)
    w.show()
    qtbot.waitUntil(lambda: w.ready and w.loaded, timeout=30_000)
    return w


def close_map(w: Any) -> None:
    """Delete it now, page before profile, not in whatever order the interpreter exits in."""
    from PySide6.QtCore import QCoreApplication, QEvent

    w.close()
    w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def js(qtbot: Any, w: Any, script: str) -> Any:
    """Run JavaScript in the map page and wait for its result."""
    box: list[Any] = []
    w.run_js(script, box.append)
    qtbot.waitUntil(lambda: bool(box), timeout=10_000)
    return box[0]
