"""The main window's first layout (no saved one) at the sizes dispatchers have: the map
keeps a third of the width, the chat shows a conversation, no pane becomes unusable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QSettings

from backend_client import messages as m
from console.main_window import MainWindow
from console.session import ConsoleSession
from console.settings import ConsoleSettings
from tests.support.console import offline_session
from tests.support.peer import wait_until
from tests.support.samples import T0, numbered_report
from tests.support.samples import chat_message as msg

pytestmark = pytest.mark.gui


@pytest.fixture
def session(qapp: object, tmp_path: Path) -> Iterator[ConsoleSession]:
    session = offline_session(tmp_path, "dana")
    yield session
    session.client.outbox.close()


async def _until(cond: Any) -> None:
    await wait_until(cond, 10.0, poll=0.01, tick=QCoreApplication.processEvents)


def _conversation(session: ConsoleSession, report_id: str, n: int) -> None:
    for i in range(n):
        mine = i % 2 == 1
        session.dispatch(
            m.ChatPosted(
                seq=100 + i,
                at=T0 + i,
                message=msg(
                    f"M-{i}",
                    f"message {i}: short line",
                    report=report_id,
                    sender="officer" if mine else "citizen",
                    author="dana" if mine else "citizen-1",
                    at=T0 + i,
                ),
            )
        )


@pytest.mark.parametrize("size", [(1280, 800), (1600, 1000)])
async def test_first_layout_keeps_a_third_for_the_map_and_a_readable_chat(
    qtbot: Any, session: ConsoleSession, tmp_path: Path, size: tuple[int, int]
) -> None:
    r = numbered_report(1)
    session.dispatch(m.ReportCreated(seq=1, at=r.created_at, report=r))
    _conversation(session, r.report_id, 14)
    settings = ConsoleSettings(
        "dana", QSettings(str(tmp_path / "c.ini"), QSettings.Format.IniFormat)
    )
    window = MainWindow(session, settings)
    window.resize(*size)
    window.show()
    try:
        qtbot.waitExposed(window)
        window._select(r.report_id)
        feed, report, chat = window._docks[0], window._docks[1], window._docks[2]
        # the default sizes are applied once the window is laid out (chat taller than report)
        qtbot.waitUntil(
            lambda: (
                abs(feed.width() - max(400, int(size[0] * 0.40))) < 40
                and chat.height() > report.height()
            )
        )
        width = window.width()
        assert window.map.width() >= width / 3, (window.map.width(), width)
        # every pane keeps a working width
        assert feed.width() >= 400 and report.width() >= 300 and chat.width() >= 300
        assert report.widget().width() >= 290
        # the chat shows a conversation: ten lines of messages at least, the list folded
        view = window.chat.stack
        line = view.fontMetrics().lineSpacing()
        assert view.height() >= 10 * line, (view.height(), line)
        assert not window.chat.list_box.isVisible()
        assert window.chat.list_toggle.isVisible()
        pane = window.chat.panes[r.report_id]
        bar = pane.verticalScrollBar()
        await _until(lambda: bar.value() == bar.maximum())  # the newest messages show
        # the report's facts are on screen without scrolling sideways
        assert window.detail.fields["report_id"].isVisible()
    finally:
        window.close()
        window.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


async def test_an_old_saved_layout_is_not_restored_and_reset_layout_brings_the_defaults_back(
    qtbot: Any, session: ConsoleSession, tmp_path: Path
) -> None:
    """A layout saved before issue 13's docks (state version 0) would hide the composer,
    incidents and team wrongly: it is dropped. View > Reset layout undoes a moved dock."""
    qsettings = QSettings(str(tmp_path / "c.ini"), QSettings.Format.IniFormat)
    settings = ConsoleSettings("dana", qsettings)
    window = MainWindow(session, settings)
    window.resize(1280, 800)
    window.show()
    try:
        qtbot.waitExposed(window)
        feed = window._docks[0]
        old = window.saveState(0)  # what a console before this change saved
        feed.setFloating(True)
        assert feed.isFloating()
        window.reset_layout()
        qtbot.waitUntil(lambda: not feed.isFloating() and feed.isVisible())
        assert window.map.width() >= window.width() / 3
    finally:
        window.close()  # saves its own layout (version 2); put the old one in its place
    settings.save_layout(window.saveGeometry(), old)
    again = MainWindow(session, ConsoleSettings("dana", qsettings))
    try:
        # version 0 is refused: the first-start defaults are pending instead
        assert again._default_sizes_pending
    finally:
        again.close()
