"""Issue 13's attention, consistency and menus, in the main window an officer uses.

The HIGH banner opens its report in the feed; an approval notice goes to its alert; the
link-lost bar sits across the window; the View menu mutes the chime; Help shows the guide,
the shortcuts (read from the window's own actions) and About with the licences. And a
report this officer opened stays read at the next sign-in while one that arrived while
they were away is unread, whichever way it came in.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QSettings
from PySide6.QtGui import QAction, QKeySequence

from backend_client import messages as m
from backend_client.cache import LocalCache
from backend_client.state import ConnectionStatus, State
from console.feed.widget import FeedWidget
from console.main_window import MainWindow
from console.session import ConsoleSession
from console.settings import ConsoleSettings
from tests.support.console import offline_client, offline_session
from tests.support.samples import elm_road_alert, numbered_report

pytestmark = pytest.mark.gui

_seq = itertools.count(1)
KEY = bytes(range(32))


def fresh(n: int, **kw: object) -> m.Report:
    return msgspec.structs.replace(numbered_report(n, **kw), created_at=time.time() - 5)


def arrive(session: ConsoleSession, *reports: m.Report) -> None:
    for r in reports:
        session.dispatch(m.ReportCreated(seq=next(_seq), at=r.created_at, report=r))


@pytest.fixture
def session(tmp_path: Path) -> Iterator[ConsoleSession]:
    session = offline_session(tmp_path, "sam")
    session.client.role = "supervisor"
    yield session
    session.client.outbox.close()


@pytest.fixture
def window(qtbot: Any, session: ConsoleSession, tmp_path: Path) -> Iterator[MainWindow]:
    settings = ConsoleSettings(
        "sam", QSettings(str(tmp_path / "c.ini"), QSettings.Format.IniFormat)
    )
    w = MainWindow(session, settings)
    w.show()
    try:
        yield w
    finally:
        w.close()
        w.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def _menu(window: MainWindow, title: str) -> list[str]:
    for action in window.menuBar().actions():
        if action.text().replace("&", "") == title:
            menu = action.menu()
            assert menu is not None
            return [a.text().replace("&", "") for a in menu.actions() if a.text()]
    raise AssertionError(f"no {title} menu")


async def test_clicking_the_high_banner_opens_the_report_and_takes_it_off(
    qtbot: Any, window: MainWindow, session: ConsoleSession
) -> None:
    arrive(
        session, fresh(1, category="violence", priority="high"), fresh(2), fresh(3, priority="high")
    )
    window.feed.flush_pending()
    status = window.status
    qtbot.waitUntil(lambda: len(status.queue) == 2, timeout=3000)
    assert status.high.full_text.startswith("2 HIGH reports waiting — newest:")
    assert status.attention.isVisible() and status.high.isVisible()  # across the window
    status.high.click()
    current = window.feed.current_report()
    assert current is not None and current.report_id == "R-0003"
    assert session.is_opened("R-0003")
    assert status.queue.ids() == ["R-0001"]
    window.feed.select_report("R-0001")  # opened from the feed: it stops waiting too
    assert len(status.queue) == 0 and not status.high_showing
    assert not status.attention.isVisible()


async def test_reset_layout_keeps_the_high_row_while_high_reports_wait(
    qtbot: Any, window: MainWindow, session: ConsoleSession
) -> None:
    """The first layout was saved with no HIGH row up; restoring it must not hide one."""
    arrive(session, fresh(1, category="violence", priority="high"))
    window.feed.flush_pending()
    status = window.status
    qtbot.waitUntil(lambda: status.attention.isVisible(), timeout=3000)
    window.reset_layout()
    assert status.attention.isVisible() and status.high.isVisible()
    assert not window.link_bar.isVisible()  # the link is not down: no bar came back


async def test_an_approval_notice_click_goes_to_the_alert(
    qtbot: Any, window: MainWindow, session: ConsoleSession
) -> None:
    pending = elm_road_alert("A-7", sender="dana", state="pending_approval")
    session.dispatch(m.AlertChanged(seq=next(_seq), at=time.time(), alert=pending))
    qtbot.waitUntil(lambda: window.status.approval_showing, timeout=3000)
    window.status.approval.click()
    selected = window.alerts.selected()
    assert selected is not None and selected.alert_id == "A-7"
    assert not window.status.approval_showing


async def test_the_link_lost_bar_spans_the_window_while_backing_off(
    window: MainWindow, session: ConsoleSession
) -> None:
    assert not window.link_bar.isVisible()
    status = ConnectionStatus(State.BACKING_OFF, time.time(), next_attempt_at=time.time() + 9)
    session.connection_state_changed.emit(status)
    assert window.link_bar.isVisible()
    assert window.link_bar.text.text().startswith("Link to the relay lost — retrying in ")
    assert window.link_bar.reconnect.isVisible() and window.link_bar.reconnect.isEnabled()
    session.connection_state_changed.emit(ConnectionStatus(State.LIVE, time.time()))
    assert not window.link_bar.isVisible()


async def test_view_mutes_the_chime_and_help_has_guide_shortcuts_about(window: MainWindow) -> None:
    assert "Mute the HIGH report sound" in _menu(window, "View")
    assert _menu(window, "Help") == ["Dispatcher's guide", "Keyboard shortcuts", "About Lookout"]
    assert "Sign out" in _menu(window, "Session")
    guide = window.show_guide()
    assert guide is not None
    text = guide.browser.toPlainText()
    assert "dispatcher" in text.lower() and "# " not in text[:200]  # rendered, not source
    assert guide.images >= 3  # the screenshots, fitted to the dialog
    guide.close()
    about = window.show_about()
    assert "Apache-2.0" in about.text() and "LGPL" in about.text() and "Leaflet" in about.text()
    about.close()


async def test_the_shortcut_list_is_read_from_the_windows_actions(window: MainWindow) -> None:
    added = QAction("&Frobnicate the feed", window)
    added.setShortcut(QKeySequence("Ctrl+Shift+F12"))
    window.addAction(added)
    dialog = window.show_shortcuts()
    rows = dict(dialog.rows())
    native = QKeySequence.SequenceFormat.NativeText
    assert rows["Quit"]  # the platform's keys, else Ctrl+Q
    assert rows["Dispatcher's guide"] == "F1"
    assert rows["Frobnicate the feed"] == QKeySequence("Ctrl+Shift+F12").toString(native)
    # the feed's triage keys are its list's actions, so they are listed too
    assert (rows["Claim"], rows["Close"], rows["Reopen"], rows["High priority"]) == (
        "C",
        "X",
        "R",
        "H",
    )
    assert rows["Next report"] == "J" and rows["Previous report"] == "K"
    dialog.close()


def test_unread_is_not_opened_by_this_officer_on_every_sign_in(qtbot: Any, tmp_path: Path) -> None:
    """Sign in, open R-1; sign out; R-2 arrives (the cache applies the replay); sign in
    again: R-1 is read, R-2 and R-3 (claimed by someone else meanwhile) are unread."""
    path = tmp_path / "cache.sqlite"

    def signed_in() -> tuple[ConsoleSession, FeedWidget, LocalCache]:
        cache = LocalCache(path, KEY)
        session = ConsoleSession(offline_client(tmp_path, "dana"), cache)
        feed = FeedWidget(session)
        qtbot.addWidget(feed)
        return session, feed, cache

    def unread(feed: FeedWidget, report_id: str) -> bool:
        row = feed.model.row_of(report_id)
        assert row is not None, report_id
        return feed.model.is_unread(feed.model.storage_of_row(row))

    session, feed, cache = signed_in()
    first = [fresh(1), fresh(3)]
    cache.apply_many(
        [m.ReportCreated(seq=i + 1, at=r.created_at, report=r) for i, r in enumerate(first)]
    )
    session.load_cached()
    feed.flush_pending()
    assert unread(feed, "R-0001") and unread(feed, "R-0003")
    feed.select_report("R-0001")
    assert not unread(feed, "R-0001")
    session.client.outbox.close()
    cache.close()

    session, feed, cache = signed_in()
    away = [fresh(2), fresh(3, status="claimed", claimed_by="dev")]
    cache.apply_many(
        [
            m.ReportUpdated(seq=10 + i, at=r.created_at, report=r, by="dev")
            for i, r in enumerate(away)
        ]
    )
    session.load_cached()
    feed.flush_pending()
    assert [unread(feed, f"R-000{n}") for n in (1, 2, 3)] == [False, True, True]
    session.client.outbox.close()
    cache.close()
