"""The relay lost the history the console was built from (`subscribed` with history_lost):
every view drops what it showed, so no stale report, alert, incident or count stays, and
the replay from seq 0 that follows fills them again.

A real ConsoleSession over a RelayClient that is never started: the client's word (the
`Subscribed` it hands every subscriber) and the events are fed with `session.dispatch`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_client import messages as m
from console.alerts.widget import AlertsWidget
from console.dashboard.widget import DashboardWidget
from console.feed.widget import FeedWidget
from console.incidents.widget import IncidentsWidget
from console.session import ConsoleSession
from tests.support.console import offline_session
from tests.support.feed_events import arrive, next_seq
from tests.support.samples import elm_road_alert as alert
from tests.support.samples import numbered_report as report

pytestmark = pytest.mark.gui

LOST = m.Subscribed(re="", head=3, epoch="00000000000000bb", history_lost=True)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[ConsoleSession]:
    session = offline_session(tmp_path, "dana")
    session.client.role = "dispatcher"
    yield session
    session.client.outbox.close()


def test_history_lost_empties_every_view_and_the_replay_fills_them(qtbot, session) -> None:  # type: ignore[no-untyped-def]
    feed = FeedWidget(session)
    alerts = AlertsWidget(session)
    incidents = IncidentsWidget(session, lambda: [])
    dashboard = DashboardWidget(session)
    for w in (feed, alerts, incidents, dashboard):
        qtbot.addWidget(w)
    stale = report(1, created_at=time.time())
    arrive(session, feed, stale)
    session.dispatch(m.AlertChanged(seq=next_seq(), at=time.time(), alert=alert("alr_old")))
    session.dispatch(
        m.IncidentOpened(seq=next_seq(), at=time.time(), incident_ref="I-OLD", title="t", by="dana")
    )
    assert feed.model.rowCount() == 1 and alerts.model.rowCount() == 1
    assert incidents.model.version > 0
    assert dashboard.stats.awaiting_response(time.time()) == 1
    dropped: list[frozenset[str]] = []
    session.history_lost.connect(dropped.append)

    session.dispatch(LOST)
    feed.flush_pending()
    assert dropped == [frozenset({"alr_old"})]
    assert session.reports == {} and session.alerts == {} and session.chats == {}
    assert feed.model.rowCount() == 0 and alerts.model.rowCount() == 0
    assert incidents.model.summaries(session.chats) == []
    assert dashboard.stats.awaiting_response(time.time()) == 0

    fresh = report(2)  # the replay from seq 0: what is true now
    arrive(session, feed, fresh)
    assert feed.model.rowCount() == 1 and set(session.reports) == {fresh.report_id}


def test_a_subscribed_without_loss_changes_nothing(qtbot, session) -> None:  # type: ignore[no-untyped-def]
    feed = FeedWidget(session)
    qtbot.addWidget(feed)
    arrive(session, feed, report(3))
    seen: list[m.Msg] = []
    session.event_received.connect(seen.append)
    session.dispatch(m.Subscribed(re="", head=3, epoch="00000000000000bb"))
    feed.flush_pending()
    assert feed.model.rowCount() == 1 and seen == []  # not an event: no view hears of it
