"""A reviewed plan cannot make `metrics.compute` cost reports x alerts x expectations
polygon tests (pilot.review runs it on the relay's reader thread, one review at a time
per relay: a slow one shuts every other inspector out and holds a reader)."""

from __future__ import annotations

import math
import time
from typing import Any

import msgspec

from backend_client import messages as m
from backend_client.pilots import Expectation, Plan, Zone
from backend_client.pilots import metrics as pm
from tests.integration.test_pilot_review import review_plan
from tests.support.flows import alert_info


def zoned_plan(expectations: int) -> tuple[Plan, m.Polygon]:
    """The review plan with a 1,999-point zone and `expectations` each_report alert
    expectations naming it, all in its one act."""
    base = review_plan()
    xs = [c[0] for c in base.area.coordinates]
    ys = [c[1] for c in base.area.coordinates]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    r = min(max(xs) - min(xs), max(ys) - min(ys)) / 8
    ring = [
        (cx + r * math.cos(2 * math.pi * i / 1999), cy + r * math.sin(2 * math.pi * i / 1999))
        for i in range(1999)
    ]
    expect = [
        Expectation(id=f"e{i}", action="alert", trigger="each_report", within_s=600, area="z")
        for i in range(expectations)
    ]
    act = msgspec.structs.replace(base.acts[0], expect=expect)
    plan = msgspec.structs.replace(base, zones=[Zone(name="z", coordinates=ring)], acts=[act])
    return plan, base.area


def record(plan: Plan, area: m.Polygon, reports: int, alerts: int) -> pm.Record:
    """`reports` reports 1 s apart from plan time 10, `alerts` alerts over the whole area
    50 s apart from plan time 5."""
    rec = pm.Record()
    rec.joined = rec.active = {"students": 1}
    rec.joined_by_day = {"students": {1: 1}}
    rec.active_by_day = {"students": {1: {7}}}
    rec.reports = [
        pm.ReportRecord(f"R-{i}", "burglary", "x", 0.0, 10.0 + i, "burglary", 1, "students")
        for i in range(reports)
    ]
    info = alert_info(area=area, status="Exercise", pilot_id=plan.name)
    rec.alerts = [pm.AlertRecord(f"A-{i}", "desk", 5.0 + 50 * i, info) for i in range(alerts)]
    return rec


def timed(plan: Plan, rec: pm.Record) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    got = pm.compute(plan, rec, clock=m.LinearClock(started_at=0.0))
    return got, time.perf_counter() - started


def test_alert_expectations_over_a_detailed_zone_cost_one_polygon_test_per_alert() -> None:
    plan, area = zoned_plan(5)
    got, took = timed(plan, record(plan, area, 100, 5))
    # 5 x 100 x 5 = 2,500 tests of a 1,999-point zone took 2.7 s; now a few hundredths
    assert took < 0.5, took
    by_id = {e["id"]: e for e in got["expected_actions"]}
    # every report (plan times 10-109) had an alert at or after it (55, 105, 155, 205)
    assert [e["in_time"] for e in by_id.values()] == [100] * 5
    assert all(e["met"] for e in by_id.values())


def test_many_expectations_naming_one_zone_test_each_alert_against_it_once() -> None:
    # 200 expectations x 20 alerts took 5.7 s (a 189 kB plan of 1,500 of them: 43 s, on a
    # reader thread, every other review refused meanwhile)
    plan, area = zoned_plan(200)
    got, took = timed(plan, record(plan, area, 200, 20))
    assert took < 1.0, took
    assert {e["in_time"] for e in got["expected_actions"]} == {200}


def test_a_pilot_nobody_joined_is_reviewed_not_an_internal_error() -> None:
    # a group with no participant made _participation zip [] with [None] (strict): every
    # review of such a pilot answered `internal`, with a traceback in the relay's log
    got = pm.compute(review_plan(), pm.Record(), clock=m.DatesClock())
    assert got["participants"] == 0
    assert got["participation_by_day"]["all"] == {"retention_day_over_day": None, "days": {}}
    assert got["participation_by_day"]["by_group"]["students"]["days"] == {}
