"""The dashboard's Qt-free model: 5-minute bins, first-response times, delivery curves,
and the words and scales the charts print."""

from __future__ import annotations

from backend_client import messages as m
from console.dashboard.model import (
    DashboardStats,
    count_top,
    curve_label,
    duration_text,
    median_text,
    response_labels,
)
from tests.support.samples import BIN_T0 as T0
from tests.support.samples import timed_alert as alert
from tests.support.samples import timed_chat as chat
from tests.support.samples import timed_report as report

# ------------------------------------------------------------------ the aggregator


def test_reports_are_binned_per_five_minutes_by_category() -> None:
    s = DashboardStats()
    now = T0 + 7200 + 100  # inside the bin starting at T0 + 7200
    s.ingest(m.ReportCreated(seq=1, at=T0, report=report("old", T0 - 10)))  # out of window
    s.ingest(m.ReportCreated(seq=2, at=T0, report=report("a", T0 + 301)))
    s.ingest(m.ReportCreated(seq=3, at=T0, report=report("b", T0 + 599, "vehicle")))
    s.ingest(m.ReportCreated(seq=4, at=T0, report=report("c", T0 + 600)))
    s.ingest(m.ReportCreated(seq=5, at=T0, report=report("d", now - 1, "drugs")))
    # the same report again (an update, a replay) is not counted twice
    s.ingest(m.ReportUpdated(seq=6, at=T0, report=report("a", T0 + 301), by=None))
    bins = s.report_bins(now)
    assert len(bins.starts) == 24
    assert bins.starts[-1] == T0 + 7200 and bins.starts[0] == T0 + 300
    assert list(bins.counts) == ["burglary", "vehicle", "drugs"]  # wire order, seen only
    assert bins.counts["burglary"][:3] == [1, 1, 0]
    assert bins.counts["vehicle"][:2] == [1, 0]
    assert bins.counts["drugs"][-1] == 1
    assert bins.total() == 4


def test_first_response_is_the_first_officer_action() -> None:
    s = DashboardStats()
    s.ingest(m.ReportCreated(seq=1, at=T0, report=report("r1", T0)))
    s.ingest(m.ReportCreated(seq=2, at=T0, report=report("r2", T0 + 10)))
    s.ingest(m.ReportCreated(seq=3, at=T0, report=report("r3", T0 + 20)))
    # media arriving (by=None) and the citizen's own chat are not responses
    s.ingest(m.ReportUpdated(seq=4, at=T0 + 30, report=report("r1", T0), by=None))
    s.ingest(m.ChatPosted(seq=5, at=T0 + 40, message=chat("r1", "citizen", T0 + 40)))
    s.ingest(
        m.ReportUpdated(
            seq=6,
            at=T0 + 120,
            report=report("r1", T0, status="claimed", claimed_by="dana"),
            by="dana",
        )
    )
    s.ingest(m.ChatPosted(seq=7, at=T0 + 200, message=chat("r1", "officer", T0 + 200)))  # later
    s.ingest(m.ChatPosted(seq=8, at=T0 + 610, message=chat("r2", "officer", T0 + 610, "m2")))
    now = T0 + 700
    assert sorted(s.response_times(now)) == [120.0, 600.0]
    assert s.median_response(now) == 360.0
    hist = s.response_histogram(now)
    assert len(hist) == len(response_labels()) and response_labels()[0] == "0–2"
    assert hist[1] == 1  # 2 min falls in 2–5
    assert hist[3] == 1  # 10 min falls in 10–15
    assert s.awaiting_response(now) == 1  # r3
    # responses drop out of the window with time
    assert s.response_times(T0 + 120 + 7201) == [600.0]


def test_observed_reports_infer_the_first_action_from_a_change() -> None:
    s = DashboardStats()
    s.observe_report(report("r1", T0), at=T0 + 1)
    s.observe_report(report("r1", T0, media=[]), at=T0 + 50)  # nothing an officer changed
    assert s.response_times(T0 + 60) == []
    s.observe_report(report("r1", T0, status="claimed", claimed_by="sam"), at=T0 + 90)
    assert s.response_times(T0 + 100) == [90.0]
    # first seen already handled (from the cache): unknown, neither timed nor awaiting
    s.observe_report(report("r2", T0, status="closed"), at=T0 + 5000)
    assert s.awaiting_response(T0 + 5000) == 0
    assert s.response_times(T0 + 5000) == [90.0]


def test_delivery_curves_follow_alert_changed() -> None:
    s = DashboardStats()
    for at, d, r in [(T0, 0, 0), (T0 + 30, 20, 0), (T0 + 31, 20, 0), (T0 + 90, 45, 12)]:
        s.ingest(m.AlertChanged(seq=1, at=at, alert=alert(T0, d, r)))
    [curve] = s.delivery_curves(T0 + 100)
    assert curve.categories == ("burglary", "vehicle")
    assert curve.minutes == [0.0, 0.5, 1.5]  # the repeat at T0 + 31 added nothing
    assert curve.delivered == [0, 20, 45]
    assert curve.read == [0, 0, 12]
    assert curve.recipients == 50
    # an update restarts the curve from its new send time
    s.ingest(m.AlertChanged(seq=9, at=T0 + 200, alert=alert(T0 + 200, msg_type="Update")))
    [curve] = s.delivery_curves(T0 + 210)
    assert curve.sent_at == T0 + 200 and curve.delivered == [0]
    # old, finished alerts leave the chart; only the newest few are kept
    for i in range(8):
        s.alert_progress(alert(T0 + 300 + i, alert_id=f"a{i}"), T0 + 300 + i)
    assert [c.alert_id for c in s.delivery_curves(T0 + 400, limit=3)] == ["a7", "a6", "a5"]
    s.alert_progress(alert(T0 + 200, msg_type="Cancel", state="cancelled"), T0 + 300)
    ids = [c.alert_id for c in s.delivery_curves(T0 + 200 + 7300, limit=10)]
    assert "alr_1" not in ids and "a7" in ids  # a7 is still active


def test_median_needs_a_few_samples_and_reads_in_seconds_under_a_minute() -> None:
    assert median_text(None, 0) == "—"
    assert median_text(12.0, 1) == "—"  # one or two responses are not a median
    assert median_text(12.0, 3) == "12 s"
    assert median_text(150.0, 5) == "2.5 min"
    assert duration_text(59.0) == "59 s" and duration_text(60.0) == "1.0 min"


def test_count_axes_leave_headroom_for_the_top_label() -> None:
    assert count_top(0) == count_top(1) == 1.3  # an empty chart still has a 0..1 axis
    assert count_top(10) == 13.0


def test_curve_legends_use_the_shared_category_labels() -> None:
    assert curve_label("alr_1", ("antisocial", "fly_tipping")) == (
        "alr_1 (Anti-social, Fly-tipping)"
    )
    assert curve_label("alr_2", ["missing_person"]) == "alr_2 (Missing person)"
