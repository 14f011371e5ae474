"""Exercise traffic in the console's Qt-free models: every pane's words for it, the feed's
filter and count, the map's payload, the chat title, the alert row and the dashboard's
numbers that leave it out."""

from __future__ import annotations

import msgspec

from backend_client import messages as m
from console.alerts.model import AlertRow
from console.chat.model import conversation_title
from console.common.exercise import alert_marking, pilot_words, report_banner
from console.dashboard.model import DashboardStats
from console.feed.cells import EXERCISE_PREFIX, cell_text, text_tooltip
from console.feed.store import FeedFilter, FeedStore
from console.map.model import report_payload
from tests.support.samples import (
    BIN_T0,
    PILOT,
    T0,
    exercise_report,
    numbered_report,
    timed_alert,
    timed_chat,
    timed_report,
)
from tests.support.samples import elm_road_info as info


def test_the_words_name_the_pilot_and_say_it_is_not_real() -> None:
    assert report_banner(PILOT) == "EXERCISE — pilot preston-2017: not a real incident"
    assert pilot_words(None) == "EXERCISE"
    assert alert_marking(info()) is None
    assert alert_marking(info(status="Exercise", pilot_id=PILOT)) == "EXERCISE — pilot preston-2017"
    assert alert_marking(info(status="Test")) == "TEST"


def test_feed_cells_mark_an_exercise_report_in_text_and_tooltip() -> None:
    ex, real = exercise_report(1, text="<b>smash</b> at halls"), numbered_report(2)
    assert cell_text(ex, "text", T0) == EXERCISE_PREFIX + "<b>smash</b> at halls"
    assert not cell_text(real, "text", T0).startswith(EXERCISE_PREFIX)
    tip = text_tooltip(ex)
    assert "EXERCISE — pilot preston-2017" in tip
    assert "&lt;b&gt;smash" in tip and "<b>" not in tip  # citizen text stays literal


def test_feed_store_hides_exercise_reports_and_counts_them() -> None:
    store = FeedStore(lambda: T0 + 100)
    store.upsert_many([(numbered_report(1), True), (exercise_report(2), True)])
    store.upsert_many([(exercise_report(3), True), (numbered_report(4), True)])
    assert store.exercise_total() == 2
    assert store.shown_ids() == ["R-0004", "R-0003", "R-0002", "R-0001"]
    store.set_filter(FeedFilter(hide_exercise=True))
    assert store.shown_ids() == ["R-0004", "R-0001"]
    store.upsert_many([(exercise_report(5), True), (numbered_report(6), True)])  # live arrivals
    assert store.shown_ids() == ["R-0006", "R-0004", "R-0001"]
    assert store.exercise_total() == 3
    store.remove_many(["R-0002"])  # erased: no longer counted
    assert store.exercise_total() == 2
    store.load([exercise_report(7), numbered_report(8)])
    assert store.exercise_total() == 1 and store.shown_ids() == ["R-0008"]
    assert FeedFilter(hide_exercise=True).is_default()  # a standing choice, not a narrowing


def test_map_payload_carries_the_marking() -> None:
    ex = report_payload(exercise_report(1))
    assert ex["ex"] is True and ex["exLabel"] == "EXERCISE — pilot preston-2017"
    real = report_payload(numbered_report(2))
    assert real["ex"] is False and real["exLabel"] == ""


def test_chat_title_starts_with_exercise() -> None:
    assert conversation_title("R-0001", exercise_report(1)).startswith("EXERCISE · ")
    assert not conversation_title("R-0002", numbered_report(2)).startswith("EXERCISE")


def test_alert_row_names_rehearsals() -> None:
    live = timed_alert(T0)
    exercise = msgspec.structs.replace(
        live, info=msgspec.structs.replace(live.info, status="Exercise", pilot_id=PILOT)
    )
    assert AlertRow.of(live, T0).rehearsal is None
    row = AlertRow.of(exercise, T0)
    assert row.rehearsal == "EXERCISE" and row.marking == "EXERCISE — pilot preston-2017"


def test_dashboard_leaves_exercise_traffic_out_by_default() -> None:
    now = BIN_T0 + 100
    s = DashboardStats()
    real = timed_report("real", BIN_T0)
    ex = timed_report("ex", BIN_T0 + 1, pilot_id=PILOT, exercise=True)
    s.ingest(m.ReportCreated(seq=1, at=now, report=real))
    s.ingest(m.ReportCreated(seq=2, at=now, report=ex))
    s.ingest(m.ReportUpdated(seq=3, at=now, report=ex, by=None))  # counted once
    s.ingest(m.ChatPosted(seq=4, at=now, message=timed_chat("ex", "officer", BIN_T0 + 50)))
    pilot_alert = timed_alert(BIN_T0, info=info(status="Exercise", pilot_id=PILOT))
    s.ingest(m.AlertChanged(seq=5, at=now, alert=pilot_alert))
    assert s.report_bins(now).total() == 1
    assert s.exercise_reports == 1
    assert s.response_times(now) == []
    assert s.delivery_curves(now) == []
    s.ingest(m.ReportErased(seq=6, at=now, report_ids=["ex"]))
    assert s.exercise_reports == 0

    counted = DashboardStats(include_exercise=True)
    counted.ingest(m.ReportCreated(seq=1, at=now, report=real))
    counted.ingest(m.ReportCreated(seq=2, at=now, report=ex))
    counted.observe_report(ex, now)
    assert counted.report_bins(now).total() == 2 and counted.exercise_reports == 0
