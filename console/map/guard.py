"""The map page's network guard: it records every request and lets out only what we allow.

Local content (the page, its assets, Qt's own scripts, tiles from a pack) is always
allowed. The only remote host ever allowed is the configured tile server, so with the
default settings nothing leaves the machine, and a test can prove it from `requests`.
"""

from __future__ import annotations

import re
from collections import deque

from PySide6.QtCore import QObject
from PySide6.QtWebEngineCore import QWebEngineUrlRequestInfo, QWebEngineUrlRequestInterceptor

from console.map.tiles import SCHEME

LOCAL_SCHEMES = frozenset({"file", "qrc", "data", "blob", SCHEME.decode()})


class RequestGuard(QWebEngineUrlRequestInterceptor):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        #: every URL the page asked for, newest last (bounded: tiles keep coming)
        self.requests: deque[str] = deque(maxlen=10_000)
        #: the URLs refused
        self.blocked: deque[str] = deque(maxlen=1_000)
        self._tile_host: re.Pattern[str] | None = None

    def allow_tile_host(self, pattern: str) -> None:
        """A regex for the one remote host allowed ("" allows none)."""
        self._tile_host = re.compile(pattern) if pattern else None

    def allowed(self, scheme: str, host: str) -> bool:
        if scheme in LOCAL_SCHEMES:
            return True
        return (
            scheme in ("http", "https")
            and self._tile_host is not None
            and self._tile_host.match(host.lower()) is not None
        )

    def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:  # noqa: N802 - Qt naming
        url = info.requestUrl()
        text = url.toString()
        self.requests.append(text)
        if not self.allowed(url.scheme().lower(), url.host()):
            self.blocked.append(text)
            info.block(True)
