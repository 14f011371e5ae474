"""Exercise traffic in every console pane: a pilot's report shows its EXERCISE marking in
words (feed, report pane, chat, map popup, alert list), "Hide exercise traffic" takes it out
of the feed and off the map while real reports stay, the choice persists, and the
dashboard does not count it. Events go in through `ConsoleSession.dispatch`; a real (never
started) client stands behind the session."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QSettings, Qt

from backend_client import messages as m
from console.alerts.composer import AlertComposer
from console.alerts.widget import AlertsWidget
from console.chat.widget import ChatWidget
from console.dashboard.widget import DashboardWidget
from console.detail.widget import ReportDetailWidget
from console.feed.model import COL
from console.feed.widget import FeedWidget
from console.main_window import MainWindow
from console.session import ConsoleSession
from console.settings import ConsoleSettings
from tests.support.console import js, offline_session
from tests.support.samples import (
    ELM_ROAD,
    PILOT,
    chat_message,
    exercise_report,
    numbered_report,
)
from tests.support.samples import elm_road_alert as alert
from tests.support.samples import elm_road_info as info

pytestmark = pytest.mark.gui

BANNER = "EXERCISE — pilot preston-2017: not a real incident"
HOSTILE = "<b>Smashed window</b> at Foster halls"
_seq = iter(range(1, 1_000_000))


def now(r: m.Report) -> m.Report:
    """The sample made a minute ago, at a place of its own (markers never share a cluster
    at the map's zoom, so a popup can open)."""
    n = int(r.report_id[-2:])
    return msgspec.structs.replace(
        r, created_at=time.time() - 60 + n, lat=53.70 + n * 0.01, lon=-2.70 + n * 0.01
    )


def arrive(session: ConsoleSession, *reports: m.Report) -> None:
    for r in reports:
        session.dispatch(m.ReportCreated(seq=next(_seq), at=r.created_at, report=r))


@pytest.fixture
def session(tmp_path: Path) -> Iterator[ConsoleSession]:
    session = offline_session(tmp_path, "dana")
    yield session
    session.client.outbox.close()


def settings_in(path: Path) -> ConsoleSettings:
    return ConsoleSettings("dana", QSettings(str(path), QSettings.Format.IniFormat))


def feed_text(feed: FeedWidget) -> dict[str, str]:
    model = feed.model
    return {
        str(model.data(model.index(row, 0), Qt.ItemDataRole.UserRole + 1)): str(
            model.data(model.index(row, COL["text"]))
        )
        for row in range(model.rowCount())
    }


def test_feed_marks_an_exercise_report_and_names_its_pilot(
    qtbot: Any, session: ConsoleSession
) -> None:
    feed = FeedWidget(session)
    qtbot.addWidget(feed)
    feed.resize(900, 300)
    feed.show()
    arrive(session, now(numbered_report(1)), now(exercise_report(2, text=HOSTILE)))
    feed.flush_pending()
    texts = feed_text(feed)
    assert texts["R-0002"] == f"EXERCISE · {HOSTILE}"  # the word, and the text literally
    assert not texts["R-0001"].startswith("EXERCISE")
    row = feed.model.row_of("R-0002")
    assert row is not None
    tip = feed.model.data(feed.model.index(row, COL["text"]), Qt.ItemDataRole.ToolTipRole)
    assert "EXERCISE — pilot preston-2017" in tip and "<b>Smashed" not in tip
    assert feed.filters.exercise_label.isVisibleTo(feed)
    assert feed.filters.exercise_label.text() == "1 EXERCISE report"
    # a look at the painted row, for whoever judges the marking (kept when asked)
    shot = feed.grab()
    assert not shot.isNull()
    out = os.environ.get("LOOKOUT_EXERCISE_SHOTS") or tempfile.mkdtemp()
    assert shot.save(str(Path(out) / "feed-exercise.png"))


def test_detail_and_chat_open_under_the_exercise_banner(
    qtbot: Any, session: ConsoleSession
) -> None:
    ex, real = now(exercise_report(2, text=HOSTILE)), now(numbered_report(1))
    arrive(session, real, ex)
    session.dispatch(
        m.ChatPosted(
            seq=next(_seq),
            at=time.time(),
            message=msgspec.structs.replace(
                # an officer's message: a citizen's would be marked read through the
                # relay, which this offline session never reaches
                chat_message("c1", "Is anyone hurt?", report=ex.report_id, sender="officer"),
                pilot_id=PILOT,
                exercise=True,
            ),
        )
    )
    detail = ReportDetailWidget(session)
    chat = ChatWidget(session)
    for w in (detail, chat):
        qtbot.addWidget(w)
        w.resize(420, 600)
        w.show()
    detail.show_report(ex.report_id)
    assert detail.exercise_banner.isVisibleTo(detail)
    assert detail.exercise_banner.text() == BANNER
    assert detail.exercise_banner.textFormat() == Qt.TextFormat.PlainText
    chat.open_conversation(ex.report_id)
    assert chat.exercise_banner.isVisibleTo(chat) and chat.exercise_banner.text() == BANNER
    assert chat.title.text().startswith("EXERCISE · ")
    assert any(text.startswith("EXERCISE · ") for _rid, text, _n in chat.list_rows())

    detail.show_report(real.report_id)  # a real report: no banner
    chat.open_conversation(real.report_id)
    assert not detail.exercise_banner.isVisibleTo(detail)
    assert not chat.exercise_banner.isVisibleTo(chat)
    out = os.environ.get("LOOKOUT_EXERCISE_SHOTS") or tempfile.mkdtemp()
    detail.show_report(ex.report_id)
    assert detail.grab().save(str(Path(out) / "detail-exercise.png"))


def test_alert_list_marks_exercise_and_test_alerts(qtbot: Any, session: ConsoleSession) -> None:
    w = AlertsWidget(session)
    qtbot.addWidget(w)
    w.show()
    for a in (
        alert("live"),
        alert("drill", info=info(headline="Campus drill", status="Exercise", pilot_id=PILOT)),
        alert("test", info=info(headline="Siren check", status="Test")),
    ):
        session.dispatch(m.AlertChanged(seq=next(_seq), at=time.time(), alert=a))
    model = w.table.model()
    headlines = {model.data(model.index(r, 1)) for r in range(model.rowCount())}
    states = [str(model.data(model.index(r, 0))) for r in range(model.rowCount())]
    assert "[EXERCISE — pilot preston-2017] Campus drill" in headlines
    assert "[TEST] Siren check" in headlines
    assert "Burglaries on Elm Road" in headlines  # the real one, unmarked
    assert sum(s.startswith(("EXERCISE · ", "TEST · ")) for s in states) == 2
    assert not w.grab().isNull()  # the delegate paints the marked chips


def test_dashboard_does_not_count_exercise_reports(qtbot: Any, session: ConsoleSession) -> None:
    arrive(session, now(numbered_report(1)), now(exercise_report(2)), now(exercise_report(3)))
    w = DashboardWidget(session, interval_ms=60_000)
    qtbot.addWidget(w)
    w.show()
    w.redraw()
    text = w.summary.text()
    assert text.startswith("Last 2 hours: 1 reports")
    assert "2 exercise reports not counted" in text


def stats(qtbot: Any, window: MainWindow) -> dict[str, Any]:
    return json.loads(js(qtbot, window.map, "JSON.stringify(LookoutMap.stats())"))


def popup(qtbot: Any, window: MainWindow) -> str:
    return str(
        js(
            qtbot,
            window.map,
            "(document.querySelector('.leaflet-popup-content') || {}).textContent || ''",
        )
    )


def test_hide_exercise_traffic_clears_feed_and_map_keeps_real_and_persists(
    qtbot: Any, session: ConsoleSession, tmp_path: Path
) -> None:
    ini = tmp_path / "console.ini"
    window = MainWindow(session, settings_in(ini))
    window.resize(1400, 900)
    window.show()
    try:
        qtbot.waitUntil(lambda: window.map.ready, timeout=30_000)
        ex, real = now(exercise_report(12, text=HOSTILE)), now(numbered_report(11))
        arrive(session, real, ex)
        window.feed.flush_pending()
        qtbot.waitUntil(lambda: stats(qtbot, window)["clustered"] == 2, timeout=20_000)

        # the map marks it: popup title and line in words, a broken yellow ring
        window.map.focus_report(ex.report_id)
        qtbot.waitUntil(lambda: "EXERCISE — pilot preston-2017" in popup(qtbot, window))
        text = popup(qtbot, window)
        assert text.startswith("EXERCISE — pilot preston-2017: not a real incident")
        assert "EX" in js(qtbot, window.map, "document.querySelector('.lk-ex-badge').textContent")
        assert HOSTILE in text  # citizen text literally, no <b> element made
        assert (
            js(qtbot, window.map, "document.querySelectorAll('.leaflet-popup-content b').length")
            == 0
        )
        ring = f"LookoutMap.markerFor('{real.report_id}').options.dashArray"
        assert not js(qtbot, window.map, ring)  # a new real report: a solid ring
        window.map.select_report(real.report_id)  # unselect the exercise one
        ex_ring = f"LookoutMap.markerFor('{ex.report_id}').options"
        qtbot.waitUntil(lambda: js(qtbot, window.map, ex_ring + ".color") == "#e3b341")
        assert js(qtbot, window.map, ex_ring + ".dashArray") == "4 3"

        window.feed.hide_exercise.setChecked(True)
        assert list(feed_text(window.feed)) == [real.report_id]
        assert window.feed.filters.exercise_label.text() == "1 exercise report hidden"
        qtbot.waitUntil(lambda: stats(qtbot, window)["clustered"] == 1, timeout=10_000)
        assert stats(qtbot, window)["hideExercise"] is True
        # later arrivals are held to it: a new exercise report stays hidden, a real one shows
        arrive(session, now(exercise_report(14)), now(numbered_report(13)))
        window.feed.flush_pending()
        qtbot.waitUntil(lambda: stats(qtbot, window)["markers"] == 4, timeout=10_000)
        qtbot.waitUntil(lambda: window.map.settled, timeout=10_000)
        assert stats(qtbot, window)["clustered"] == 2
        assert sorted(feed_text(window.feed)) == ["R-0011", "R-0013"]
        assert settings_in(ini).hide_exercise() is True  # persisted
    finally:
        window.close()
        window.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)

    # a new window for the same officer starts with exercise traffic hidden, map included
    again = MainWindow(session, settings_in(ini))
    again.show()
    try:
        assert again.feed.hide_exercise.isChecked() and again.map.hiding_exercise
        qtbot.waitUntil(lambda: again.map.ready, timeout=30_000)
        qtbot.waitUntil(lambda: again.map.settled, timeout=20_000)
        assert stats(qtbot, again)["clustered"] == 2 and stats(qtbot, again)["markers"] == 4
        again.feed.hide_exercise.setChecked(False)
        qtbot.waitUntil(lambda: stats(qtbot, again)["clustered"] == 4, timeout=10_000)
        assert settings_in(ini).hide_exercise() is False
    finally:
        again.close()
        again.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def pilot_info(pilot_id: str, state: str) -> m.PilotInfo:
    return m.PilotInfo(
        pilot_id=pilot_id,
        title="Preston campus pilot",
        state=state,  # type: ignore[arg-type]
        area=ELM_ROAD,
        starts_at=time.time() - 3600,
        ends_at=None,
        created_by="ines",
        created_at=time.time() - 7200,
        ended_at=None,
        groups=[],
    )


def test_composer_sends_an_exercise_alert_with_its_pilot(
    qtbot: Any, session: ConsoleSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, Any]] = []
    monkeypatch.setattr(session, "run", lambda request, ok, err=None: calls.append((request, ok)))
    dlg = AlertComposer(session, ELM_ROAD, debounce_ms=0)
    qtbot.addWidget(dlg)
    dlg.headline.setText("Campus drill: suspicious person near the library")
    dlg.set_categories(["burglary"])
    assert not dlg.pilot_row.isVisibleTo(dlg)  # a live alert has no pilot
    dlg.cap_status.setCurrentText("Exercise")
    assert dlg.pilot_row.isVisibleTo(dlg)
    asked = [ok for request, ok in calls if isinstance(request, m.PilotList)]
    assert len(asked) == 1
    assert "choose it" in " ".join(dlg.validate())  # no pilot yet: refused here
    asked[0](
        m.PilotListed(re="x", pilots=[pilot_info(PILOT, "active"), pilot_info("old-one", "ended")])
    )
    assert dlg.pilot.findData("old-one") < 0  # only running pilots can be chosen
    assert dlg.pilot_id() == PILOT  # the one running pilot is chosen
    assert "EXERCISE — pilot preston-2017" in dlg.pilot_note.text()
    dlg.request_count()
    previews = [r for r, _ok in calls if isinstance(r, m.AlertPreview)]
    assert previews and previews[-1].pilot_id == PILOT
    entry = dlg.send()
    assert entry is not None
    sent = entry.message
    assert isinstance(sent, m.AlertSend)
    assert sent.info.status == "Exercise" and sent.info.pilot_id == PILOT
