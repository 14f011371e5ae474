"""A citizen's erasure in the whole console, on a real relay over TLS: the erased report
leaves the feed, the map, the open report pane and the chat; the report kept for an
incident stays, its reporter shown as erased.

On pytest-asyncio's loop, not qasync's (a second qasync loop in one process crashes in
`QApplication.exit`, so tests/gui/test_app_live.py keeps the only one): Qt's events, the
map page's included, are processed between looks by `wait_until(..., tick=...)`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from backend_client import messages as m
from backend_client.state import State
from console.common.erasure import ERASED_TEXT, TOMBSTONE_NOTE
from console.main_window import MainWindow
from console.session import ConsoleSession
from console.settings import ConsoleSettings
from tests.conftest import start_relay
from tests.support.clients import make_client
from tests.support.flows import device, officer, report
from tests.support.peer import next_id, wait_until

pytestmark = pytest.mark.gui


def _tick() -> None:
    QApplication.processEvents()


async def _until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    await wait_until(cond, timeout=timeout, tick=_tick)


async def _map_stats(window: MainWindow, gone: str) -> dict[str, Any]:
    """The page's own count of markers, and whether the erased one is still there."""
    box: list[str] = []
    script = f"JSON.stringify([LookoutMap.stats(), !!LookoutMap.markerFor({json.dumps(gone)})])"
    window.map.run_js(script, box.append)
    await _until(lambda: bool(box))
    stats, has = json.loads(box[0])
    return {**stats, "has_gone": has}


async def test_an_erased_report_disappears_from_feed_map_detail_and_chat(
    qapp: QApplication, tmp_path: Path
) -> None:
    relay = await start_relay(tmp_path / "relay")
    session = ConsoleSession(make_client(relay, tmp_path, "dana"))
    settings = ConsoleSettings(
        "dana", QSettings(str(tmp_path / "console.ini"), QSettings.Format.IniFormat)
    )
    window = MainWindow(session, settings)
    window.show()
    phone = sam = None
    try:
        await session.start()
        await _until(lambda: session.status.state is State.LIVE, timeout=20)
        phone, reg = await device(relay)
        gone = await report(phone, text="Erase me: the shed door was forced")
        kept = await report(phone, text="Keep me: a knife in the hedge")
        sam = await officer(relay, "sam", subscribe=None)
        inc = await sam.request(m.IncidentCreate(id=next_id(), idem=next_id(), title="Hedge"))
        assert isinstance(inc, m.IncidentCreated)
        linked = await sam.request(
            m.ReportLink(
                id=next_id(),
                idem=next_id(),
                report_id=kept.report_id,
                incident_ref=inc.incident_ref,
            )
        )
        assert isinstance(linked, m.Ack)
        said = await phone.request(
            m.CitizenChatSend(
                id=next_id(), report_id=gone.report_id, text="It was 2am", client_ref="c1"
            )
        )
        assert isinstance(said, m.ChatSent)
        await _until(
            lambda: window.feed.model.rowCount() == 2 and bool(session.chats.get(gone.report_id))
        )
        await _until(lambda: window.map.settled, timeout=30)
        before = await _map_stats(window, gone.report_id)
        assert before["markers"] == 2 and before["has_gone"]
        window._select(gone.report_id)  # shown in the report pane, its chat open
        assert window.detail.report is not None and window.chat.current == gone.report_id

        done = await phone.request(
            m.PrivacyErase(id=next_id(), device_id=reg.device_id, confirm=True)
        )
        assert isinstance(done, m.PrivacyErased) and done.reports_kept == 1

        feed = window.feed.model
        await _until(lambda: feed.row_of(gone.report_id) is None)
        assert feed.rowCount() == 1 and feed.row_of(kept.report_id) == 0
        assert window.detail.report is None
        assert window.detail.placeholder.text() == ERASED_TEXT
        assert window.detail.placeholder.isVisible()
        assert "Erase me" not in window.detail.text_view.toPlainText()
        assert not window.chat.model.has(gone.report_id) and window.chat.current is None
        assert window.chat.notice.text() == ERASED_TEXT
        assert all(rid != gone.report_id for rid, _, _ in window.chat.list_rows())
        assert gone.report_id not in session.reports and gone.report_id not in session.chats
        await _until(lambda: window.map.settled)
        after = await _map_stats(window, gone.report_id)
        assert after["markers"] == 1 and not after["has_gone"] and after["selected"] is None

        window._select(kept.report_id)  # kept for the incident: shown as a tombstone's
        assert TOMBSTONE_NOTE in window.detail.fields["reporter"].text()
        assert window.detail.fields["incident"].text() == inc.incident_ref
    finally:
        window.close()
        await session.stop()
        for peer in (phone, sam):
            if peer is not None:
                await peer.close()
        await relay.relay.stop()  # type: ignore[attr-defined]
