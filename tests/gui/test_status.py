"""The status bar says what the link is doing in the user's words, live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from backend_client import messages as m
from backend_client.outbox import OutboxEntry
from backend_client.state import ConnectionStatus, State
from console.session import ConsoleSession
from console.status.bar import StatusBar
from console.status.model import connection_text
from tests.support.console import offline_session

pytestmark = pytest.mark.gui

NOW = 1_700_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def session(tmp_path: Path) -> Iterator[ConsoleSession]:
    session = offline_session(tmp_path, "dana")
    session.client.role = "dispatcher"
    yield session
    session.client.outbox.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def bar(qtbot, session: ConsoleSession, clock: Clock) -> StatusBar:  # type: ignore[no-untyped-def]
    widget = StatusBar(session, clock=clock)
    qtbot.addWidget(widget)
    widget.show()
    return widget


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (ConnectionStatus(State.LIVE, NOW, rtt_ms=12.4), "Live"),
        (ConnectionStatus(State.CONNECTING, NOW), "Connecting…"),
        (ConnectionStatus(State.AUTHENTICATING, NOW), "Signing in…"),
        (
            ConnectionStatus(State.BACKING_OFF, NOW, next_attempt_at=NOW + 6.2),
            "Reconnecting in 7 s",
        ),
        (ConnectionStatus(State.BACKING_OFF, NOW, next_attempt_at=NOW - 1), "Reconnecting…"),
        (ConnectionStatus(State.OFFLINE, NOW, queued=3), "Offline — 3 actions queued"),
        (ConnectionStatus(State.OFFLINE, NOW, queued=1), "Offline — 1 action queued"),
        (ConnectionStatus(State.OFFLINE, NOW), "Offline"),
        (
            ConnectionStatus(State.FATAL, NOW, reason="the relay's certificate changed"),
            "Connection failed: the relay's certificate changed",
        ),
    ],
)
def test_connection_text(bar: StatusBar, status: ConnectionStatus, text: str) -> None:
    assert connection_text(status, NOW) == text
    bar.set_status(status)
    assert bar.connection.text() == f"● {text}"


def test_labels_are_plain_text(bar: StatusBar) -> None:
    for label in (bar.connection, bar.rtt, bar.queued, bar.user, bar.banner):
        assert label.textFormat() == Qt.TextFormat.PlainText


def test_rtt_queued_and_user(bar: StatusBar) -> None:
    bar.set_status(ConnectionStatus(State.LIVE, NOW, rtt_ms=12.4, queued=2))
    assert bar.rtt.text() == "RTT 12 ms"
    assert bar.queued.text() == "2 actions queued"
    assert bar.user.text() == "dana · dispatcher"
    bar.set_status(ConnectionStatus(State.BACKING_OFF, NOW, next_attempt_at=NOW + 5))
    assert bar.rtt.text() == "RTT —"
    assert bar.queued.text() == "Outbox empty"


def test_countdown_ticks_every_second(qtbot, bar: StatusBar, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    bar.set_status(ConnectionStatus(State.BACKING_OFF, NOW, next_attempt_at=NOW + 7))
    assert bar.connection.text() == "● Reconnecting in 7 s"
    clock.now = NOW + 3.5
    qtbot.waitUntil(lambda: bar.connection.text() == "● Reconnecting in 4 s", timeout=2500)
    bar.set_status(ConnectionStatus(State.LIVE, NOW + 4))
    assert not bar._countdown.isActive()


def test_submit_updates_the_queued_count(session: ConsoleSession, bar: StatusBar) -> None:
    session.submit(m.ReportClaim(id="", idem="", report_id="R-1"))
    assert bar.queued.text() == "1 action queued"
    assert bar.connection.text() == "● Offline — 1 action queued"


def test_refused_action_shows_a_banner(session: ConsoleSession, bar: StatusBar) -> None:
    entry = session.submit(m.ReportClaim(id="", idem="", report_id="R-1"))
    err = m.Error(code="conflict", message="report R-1 is already claimed by dev", re="x")
    session.outbox_changed.emit(entry, err)
    assert bar.banner_active
    assert bar.banner.text() == "Claim refused: report R-1 is already claimed by dev"
    close = OutboxEntry(
        1, "i", "report.set_status",
        m.ReportSetStatus(id="o", idem="i", report_id="R-1", status="closed"), NOW, "failed", 1, None,
    )  # fmt: skip
    bar.on_outbox(close, m.Error(code="forbidden", message="<b>not yours</b>"))
    assert bar.banner.text() == "Close refused: <b>not yours</b>"
    assert bar.banner.toolTip() == "<qt>Close refused: &lt;b&gt;not yours&lt;/b&gt;</qt>"


def test_request_failed_and_high_priority_banners(session: ConsoleSession, bar: StatusBar) -> None:
    session.request_failed.emit("Not connected to the relay right now.")
    assert bar.banner.text() == "Not connected to the relay right now."
    report = m.Report(
        report_id="R-7", reporter="owl", category="missing_person", text="Child missing\nmore",
        lat=0.0, lon=0.0, created_at=NOW, status="new", priority="high", claimed_by=None,
        incident_ref=None, media=[],
    )  # fmt: skip
    bar.show_high_priority(report)
    assert bar.banner.text() == "HIGH PRIORITY Missing person report R-7: Child missing"
    assert bar._flash_timer.isActive()
    bar.clear_banner()
    assert not bar.banner_active


def test_an_approval_notice_shows_but_never_hides_a_high_priority_report(bar: StatusBar) -> None:
    bar.show_notice("Approval waiting: “Burglaries” from dana reaches 300 phones.")
    assert bar.banner.text().startswith("Approval waiting")
    assert not bar._flash_timer.isActive()
    report = m.Report(
        report_id="R-8", reporter="owl", category="violence", text="Fight", lat=0.0, lon=0.0,
        created_at=NOW, status="new", priority="high", claimed_by=None, incident_ref=None,
        media=[],
    )  # fmt: skip
    bar.show_high_priority(report)
    bar.show_notice("Approval waiting: another")
    assert bar.banner.text().startswith("HIGH PRIORITY")
