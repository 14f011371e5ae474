"""The live console's widgets, fed from a package instead of a relay: the narrowest seam.

The feed, map, report detail and chat widgets read `ConsoleSession`'s `reports`, `chats`
and `alerts` and subscribe to its signals; they fetch media through `fetch_media`. A
`PackageSession` is that session with its client never started (so nothing is sent: it
knows no relay) and its inputs replaced: `fill` emits the package's items through the same
signals live events take, `fetch_media` reads `media/<sha256>` from the package (checked
against its name, then through the same safe decoders as live media), and every action or
request is refused, because an evidence package is read-only. Each media file it serves
raises `media_viewed`, so the workspace can append the view to the sidecar's access log.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal

from backend_client import messages as m
from backend_client.client import ClientConfig, Credentials, RelayClient
from backend_client.outbox import Outbox, OutboxEntry
from console.common.ops import run_off_thread
from console.evidence.model import Package, read_media
from console.session import ConsoleSession

READ_ONLY = "This is an evidence package: it is read-only, and there is no relay to send to."
#: never contacted: the client of a package session is never started
_NO_RELAY = ClientConfig(url="wss://evidence.invalid:1")


class ReadOnlyPackage(Exception):
    pass


class PackageSession(ConsoleSession):
    #: a media file (its SHA-256) was read from the package and handed to a view
    media_viewed = Signal(str)

    media_loading_text = "Loading from the package…"
    video_load_tip = "Load the video from the package (the view is logged in your notes)"

    def __init__(self, path: Path, username: str = "analyst") -> None:
        # the widgets read the (empty) outbox of the client; it lives in a private
        # directory removed on close, never beside the package
        self._home = Path(tempfile.mkdtemp(prefix="lookout-evidence-"))
        client = RelayClient(
            _NO_RELAY, Credentials(username, "", lambda: None), Outbox(self._home / "o.sqlite")
        )
        super().__init__(client)
        self.path = path
        self.media_types: dict[str, str] = {}

    def fill(self, package: Package) -> None:
        """Show the package: each item through the signal a live event would raise."""
        for report in sorted(package.reports, key=lambda r: r.created_at):
            for info in report.media:
                self.media_types[info.sha256] = info.mime
            self._report(report, created=True)
        for msg in sorted(package.chat, key=lambda c: c.sent_at):
            self._chat(msg)
        for record in package.alerts:
            self.alerts[record.alert.alert_id] = record.alert
            self.alert_changed.emit(record.alert)

    async def start(self) -> None:  # there is no relay to connect to
        return None

    async def stop(self) -> None:
        self.client.outbox.close()
        shutil.rmtree(self._home, ignore_errors=True)

    def submit(self, action: Any) -> OutboxEntry:
        self.request_failed.emit(READ_ONLY)
        raise ReadOnlyPackage(READ_ONLY)

    def run(
        self,
        request: Any,
        on_reply: Callable[[m.Msg], None],
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        if isinstance(request, m.OfficerChatRead):
            return  # read receipts go to a live reporter; reading a transcript sends none
        (on_error or self.request_failed.emit)(READ_ONLY)

    def fetch_media(
        self,
        sha256: str,
        on_done: Callable[[str, bytes], None],
        on_error: Callable[[str], None],
    ) -> None:
        mime = self.media_types.get(sha256, "application/octet-stream")

        def served(data: bytes) -> None:
            self.media_viewed.emit(sha256)
            on_done(mime, data)

        run_off_thread(
            lambda: read_media(self.path, sha256),
            served,
            lambda exc: on_error(str(exc)),
            owner=self,
        )
