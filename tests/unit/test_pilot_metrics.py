"""pilot/metrics.py's arithmetic on a record written by hand (issue 12, deliverable 7):
retention day over day is pooled over the days but the last and counts only the next day;
time to read runs from the alert's current version; metrics.csv holds every figure. The
figures' agreement with a real relay's tables is tests/integration/test_rehearsal.py's."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from backend_client import messages as m
from backend_client import pilots
from pilot import metrics
from tests.support.flows import alert_info

PRESTON = Path(__file__).resolve().parents[2] / "resources" / "pilots" / "preston-2017.toml"


@pytest.fixture
def computed() -> dict[str, Any]:
    plan = pilots.load(PRESTON)
    rec = metrics.Record()
    # students 1-4 active on day 1; 1, 2 and 5 on day 2; 5 and 1 on day 3 (1 skipped none)
    days = {
        "students": {1: {1, 2, 3, 4}, 2: {1, 2, 5}, 3: {1, 5}},
        "university-security": {1: {9}, 2: set(), 3: {9}},  # back on day 3: not retained
    }
    for group, active in days.items():
        rec.active_by_day[group] = active
        members = set().union(*active.values())
        rec.joined_by_day[group] = {d: len(members) for d in active}
        rec.joined[group] = rec.active[group] = len(members)
    rec.reports = [
        metrics._Report("R-1", "burglary", "x", 0.0, 100.0, "burglary", 1, "students", 130.0),
        metrics._Report("R-2", "burglary", "y", 0.0, 200.0, "burglary", 1, "students"),
        metrics._Report("R-3", "other", "z", 0.0, 300.0, None, 2, "university-security"),
    ]
    rec.reports[0].ack_t, rec.reports[0].chat_t = 130.0, 190.0
    rec.reports[2].ack_t = 310.0
    info: m.AlertInfo = alert_info(status="Exercise", pilot_id=plan.name)
    rec.alerts = [
        metrics._Alert(
            "A-1", "desk", 50.0, info, reach=4, delivered=3, read=2, read_after=[30.0, 90.0]
        ),
        metrics._Alert("A-2", "desk", 60.0, info, reach=4, delivered=4, read=1, read_after=[10.0]),
    ]
    return metrics.compute(plan, rec, started_at=0.0, speed=1.0, burst_reports={}, prompts={})


def test_retention_is_pooled_over_the_days_but_the_last(computed: dict[str, Any]) -> None:
    part = computed["participation_by_day"]
    students = part["by_group"]["students"]
    assert students["days"]["day 1"] == {
        "joined": 5,
        "active": 4,
        "active_next_day": 2,
        "retention": 0.5,
    }
    assert students["days"]["day 2"]["retention"] == round(2 / 3, 3)
    assert students["days"]["day 3"]["active_next_day"] is None
    assert students["retention_day_over_day"] == round(4 / 7, 3)
    security = part["by_group"]["university-security"]
    assert security["retention_day_over_day"] == 0.0  # day 3 is not day 2
    assert security["days"]["day 2"]["retention"] is None  # nobody active: no share
    # overall: day 1 {1,2,3,4,9} -> 2 again; day 2 {1,2,5} -> 2 again
    assert computed["retention_day_over_day"] == round(4 / 8, 3)
    assert part["all"]["days"]["day 1"]["active"] == 5


def test_report_and_alert_times(computed: dict[str, Any]) -> None:
    assert computed["reports_by_group"] == {"university-security": 1, "students": 2}
    ack = computed["time_to_acknowledge_s"]
    assert ack["all"] == {"reports": 3, "responded": 2, "median": 10.0, "p90": 30.0}
    assert ack["by_group"]["students"]["median"] == 30.0
    assert ack["by_act"]["burglary"]["responded"] == 1
    assert computed["time_to_first_response_s"]["all"]["median"] == 90.0
    r1 = next(r for r in computed["report_times"] if r["report_id"] == "R-1")
    assert (r1["acknowledge_s"], r1["first_response_s"], r1["group"]) == (30.0, 90.0, "students")
    assert computed["median_time_to_acknowledge_s"] == 10.0
    assert computed["alert_delivered_rate"] == round(7 / 8, 3)
    assert computed["alert_read_rate"] == round(3 / 8, 3)
    assert computed["median_time_to_read_s"] == 30.0
    assert computed["time_to_read_s"] == {"read": 3, "median": 30.0, "p90": 90.0}
    a1 = computed["alerts"][0]
    assert (a1["delivered_rate"], a1["read_rate"]) == (0.75, 0.5)
    assert a1["time_to_read_s"]["median"] == 30.0


def test_the_csv_holds_every_figure(computed: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    metrics.write_csv(computed, path)
    with path.open() as f:
        rows = {(r["metric"], r["scope"]): r["value"] for r in csv.DictReader(f)}
    for name in pilots.METRICS:
        assert (name, "pilot") in rows, name
    assert rows[("retention_day_over_day", "pilot")] == str(round(4 / 8, 3))
    assert rows[("retention_day_over_day", "group students")] == str(round(4 / 7, 3))
    assert rows[("participants_active_next_day", "group students, day 1")] == "2"
    assert rows[("reports", "group students")] == "2"
    assert rows[("time_to_acknowledge_s", "report R-1")] == "30.0"
    assert rows[("time_to_first_response_s", "report R-2")] == ""
    assert rows[("time_to_acknowledge_median_s", "group university-security")] == "10.0"
    assert rows[("time_to_read_median_s", "alert A-1")] == "30.0"
    assert rows[("alert_delivered_rate", "alert A-2")] == "1.0"
