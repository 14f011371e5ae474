"""The status bar says what the link is doing in the user's words, live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from backend_client import messages as m
from backend_client.outbox import OutboxEntry
from backend_client.state import ConnectionStatus, State
from console.session import ConsoleSession
from console.status.bar import StatusBar
from console.status.model import connection_text
from tests.support.samples import elm_road_alert

pytestmark = pytest.mark.gui

NOW = 1_700_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


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


def _report(
    report_id: str,
    category: str = "missing_person",
    text: str = "Child missing\nmore",
    **kw: object,
) -> m.Report:
    fields: dict[str, object] = dict(
        report_id=report_id, reporter="owl", category=category, text=text, lat=0.0, lon=0.0,
        created_at=NOW, status="new", priority="high", claimed_by=None, incident_ref=None,
        media=[],
    )  # fmt: skip
    fields.update(kw)
    return m.Report(**fields)  # type: ignore[arg-type]


def test_request_failed_and_high_priority_banners(session: ConsoleSession, bar: StatusBar) -> None:
    session.request_failed.emit("Not connected to the relay right now.")
    assert bar.banner.text() == "Not connected to the relay right now."
    bar.show_high_priority(_report("R-7"))
    assert bar.high.full_text == "HIGH PRIORITY Missing person report R-7: Child missing"
    assert bar._flash_timer.isActive()
    bar.clear_banner()
    assert not bar.banner_active
    assert bar.high_showing, "the HIGH queue stays until acknowledged"


def test_high_reports_queue_up_until_acknowledged(session: ConsoleSession, bar: StatusBar) -> None:
    opened: list[str] = []
    bar.open_report.connect(opened.append)
    for i in (1, 2, 3):
        bar.show_high_priority(_report(f"R-{i}", category="violence", text=f"Fight {i}"))
    assert bar.high.full_text == "3 HIGH reports waiting — newest: Violence report R-3: Fight 3"
    assert bar.queue.ids() == ["R-1", "R-2", "R-3"]
    bar.show_high_priority(_report("R-2"))  # the same report again: no second place
    assert len(bar.queue) == 3
    bar.high.click()  # opens the newest, which leaves the queue
    assert opened == ["R-3"]
    assert bar.high.full_text.startswith("2 HIGH reports waiting — newest: Violence report R-2")
    bar.acknowledge.click()
    assert bar.queue.ids() == ["R-1"]
    assert bar.high.full_text.startswith("HIGH PRIORITY Violence report R-1")
    bar.acknowledge.click()
    assert len(bar.queue) == 0
    assert not bar.high_showing and bar.attention.isHidden()


def test_a_report_leaves_the_queue_when_opened_closed_or_lowered(
    session: ConsoleSession, bar: StatusBar
) -> None:
    for i in (1, 2, 3):
        bar.show_high_priority(_report(f"R-{i}"))
    session.mark_opened("R-1")  # opened in the feed or on the map
    assert bar.queue.ids() == ["R-2", "R-3"]
    session.report_changed.emit(_report("R-2", status="closed"), False)
    session.report_changed.emit(_report("R-3", priority="normal"), False)
    assert len(bar.queue) == 0 and not bar.high_showing
    bar.show_high_priority(_report("R-1"))  # this officer opened it already: not news
    assert len(bar.queue) == 0


def test_the_chime_rings_for_a_new_high_report_unless_muted(
    qtbot: Any, session: ConsoleSession, tmp_path: Path
) -> None:
    from PySide6.QtCore import QSettings

    from console.settings import ConsoleSettings
    from console.status.bar import MUTE_KEY
    from console.status.sound import HighSound

    store = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    settings = ConsoleSettings("dana", store)
    sound = HighSound(folder=tmp_path)
    bar = StatusBar(session, settings=settings, sound=sound)
    qtbot.addWidget(bar)
    bar.show_high_priority(_report("R-1"))
    assert sound.requests == 1  # asked to ring (heard where there is a sound device)
    bar.mute_action.trigger()
    assert sound.muted and settings.get(MUTE_KEY) in (True, "true")
    assert bar.mute_button.text() == "Sound muted"
    bar.show_high_priority(_report("R-2"))
    assert sound.requests == 1
    again = StatusBar(session, settings=settings, sound=HighSound(folder=tmp_path))
    qtbot.addWidget(again)
    assert again.sound.muted and again.mute_action.isChecked()  # the choice persists


def test_no_sound_device_is_one_log_line_not_a_crash(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    from console.status.sound import HighSound, chime_wav

    wav = chime_wav()
    assert wav[:4] == b"RIFF" and len(wav) < 20_000
    sound = HighSound(folder=tmp_path)
    with caplog.at_level(logging.INFO, logger="console.status.sound"):
        sound.ring()
        sound._last = float("-inf")
        sound.ring()
    if not sound.available:  # the headless case this test runs in, usually
        assert len([r for r in caplog.records if "no sound" in r.message]) == 1
        assert sound.rung == 0
    else:
        assert sound.rung == 2


def test_an_approval_notice_stays_and_leads_to_the_alert(
    session: ConsoleSession, bar: StatusBar
) -> None:
    wanted: list[str] = []
    bar.open_alert.connect(wanted.append)
    pending = _pending_alert("A-9", sender="dev")
    session.alerts[pending.alert_id] = pending
    bar.show_approval("Approval waiting: “Burglaries” from dev reaches 300 phones.")
    assert bar.approval_showing
    assert bar.approval.full_text.startswith("Click to review — Approval waiting:")
    bar.show_high_priority(_report("R-8", category="violence", text="Fight"))
    assert bar.approval_showing, "a HIGH report does not hide the approval notice"
    bar.approval.click()
    assert wanted == ["A-9"]
    assert not bar.approval_showing


def test_an_approval_notice_goes_once_the_alert_is_decided(
    session: ConsoleSession, bar: StatusBar
) -> None:
    import msgspec

    pending = _pending_alert("A-3", sender="dev")
    session.alerts[pending.alert_id] = pending
    bar.show_approval("Approval waiting: x")
    decided = msgspec.structs.replace(pending, state="active")
    session.alerts[decided.alert_id] = decided
    session.alert_changed.emit(decided)
    assert not bar.approval_showing


def _pending_alert(alert_id: str, sender: str) -> m.Alert:
    return elm_road_alert(alert_id, sender=sender, state="pending_approval", sent_at=NOW)


def test_the_link_bar_says_the_link_is_lost_and_reconnects_now(
    qtbot: Any, session: ConsoleSession, clock: Clock
) -> None:
    from console.status.link import LinkBar

    link = LinkBar(session, clock=clock)
    qtbot.addWidget(link)
    assert not link.showing
    asked: list[bool] = []

    def reconnect_now() -> bool:
        asked.append(True)
        return True

    session.reconnect_now = reconnect_now  # type: ignore[method-assign]
    link.set_status(ConnectionStatus(State.BACKING_OFF, NOW, next_attempt_at=NOW + 12, attempt=2))
    assert link.showing
    assert link.text.text() == "Link to the relay lost — retrying in 12 s"
    assert link.reconnect.isEnabled()
    clock.now = NOW + 5
    qtbot.waitUntil(lambda: link.text.text().endswith("retrying in 7 s"), timeout=2500)
    link.reconnect.click()
    assert asked == [True]
    assert link.text.text() == "Link to the relay lost — reconnecting now…"
    link.set_status(ConnectionStatus(State.CONNECTING, NOW + 5, attempt=2))
    assert link.showing and not link.reconnect.isEnabled()
    link.set_status(ConnectionStatus(State.LIVE, NOW + 6))
    assert not link.showing
    link.set_status(ConnectionStatus(State.OFFLINE, NOW + 7))  # stopped on purpose
    assert not link.showing


def test_a_report_raised_to_high_joins_the_queue_once(
    session: ConsoleSession, bar: StatusBar
) -> None:
    session.report_changed.emit(_report("R-5", priority="normal"), True)
    session.report_changed.emit(_report("R-5"), False)  # a colleague raised it
    assert bar.queue.ids() == ["R-5"]
    bar.acknowledge.click()
    session.report_changed.emit(_report("R-5", claimed_by="dev"), False)  # later news
    session.report_changed.emit(_report("R-5", priority="normal"), False)
    session.report_changed.emit(_report("R-5"), False)
    assert len(bar.queue) == 0, "acknowledged this sign-in: it does not come back"


def test_a_long_banner_text_ends_in_an_ellipsis_not_mid_letter(qtbot) -> None:  # type: ignore[no-untyped-def]
    from console.common.eliding import ElidingButton

    button = ElidingButton("3 HIGH reports waiting — newest: Missing person report R-7: " * 3)
    qtbot.addWidget(button)
    button.resize(220, 30)
    button.show()
    assert button.text().endswith("…") and len(button.text()) < len(button.full_text)
    assert button.toolTip() == button.full_text
    button.resize(2000, 30)
    assert button.text() == button.full_text
