"""Expected actions, one rule live and after the fact (issue 12, deliverable 6):
`backend_client.pilots.evaluation`. The `Tracker` takes officer events as the console
receives them; an action done in time is met with its time, one not done is pending until
its deadline passes and missed after; and the after-the-fact metrics
(`pilot.metrics._expectation`, fed the same records) give the same answer."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

from backend_client import messages as m
from backend_client import pilots as p
from backend_client.pilots.evaluation import Tracker, evaluate
from pilot import metrics
from tests.support.samples import T0, timed_chat, timed_report

PRESTON = p.load(Path(__file__).resolve().parents[2] / "resources" / "pilots" / "preston-2017.toml")
PID = "eval-test"
CAMPUS = PRESTON.zones[0]


def plan() -> p.Plan:
    return p.Plan(
        name="eval-test",
        title="Evaluation",
        timezone="Europe/London",
        area=PRESTON.area,
        zones=list(PRESTON.zones),
        days=[p.Day(date=dt.date(2017, 11, 21), start=dt.time(9), end=dt.time(11))],
        acts=[
            p.Act(
                id="burglary",
                day=1,
                start=dt.time(9),
                end=dt.time(10),
                scenario="burglary",
                injects=[p.PromptInject(id="ask", at_s=1_000, text="Ask for video.")],
                expect=[
                    p.Expectation(
                        id="claimed", action="claim", trigger="each_report", within_s=600
                    ),
                    p.Expectation(
                        id="answered", action="first_response", trigger="first_report", within_s=300
                    ),
                    p.Expectation(
                        id="warned",
                        action="alert",
                        trigger="first_report",
                        within_s=600,
                        area=CAMPUS.name,
                    ),
                    p.Expectation(id="appeal", action="alert", trigger="inject:ask", within_s=900),
                    p.Expectation(
                        id="linked", action="link_incident", trigger="act_start", within_s=3_000
                    ),
                ],
            )
        ],
    )


def at(t: float) -> float:
    """The unix time of plan time `t` in these tests (speed 1, plan time 0 at T0)."""
    return T0 + t


def tracker(pl: p.Plan) -> Tracker:
    return Tracker(pl, PID, lambda unix: unix - T0, lambda t, cat: "burglary")


def created(rid: str, t: float, pilot: str = PID) -> m.ReportCreated:
    r = timed_report(rid, at(t), pilot_id=pilot, exercise=True)
    return m.ReportCreated(seq=1, at=at(t), report=r)


def claimed(rid: str, t: float) -> m.ReportUpdated:
    r = timed_report(rid, at(0), pilot_id=PID, claimed_by="dana", status="claimed")
    return m.ReportUpdated(seq=2, at=at(t), report=r, by="dana")


def chatted(rid: str, t: float) -> m.ChatPosted:
    return m.ChatPosted(seq=3, at=at(t), message=timed_chat(rid, "officer", at(t)))


def alerted(aid: str, t: float, area: m.Polygon, pilot: str = PID) -> m.AlertChanged:
    info = m.AlertInfo(
        categories=["burglary"],
        area=area,
        area_desc="campus",
        headline="Exercise",
        expires_at=at(t) + 3600,
        status="Exercise",
        pilot_id=pilot,
    )
    alert = m.Alert(
        alert_id=aid,
        sender="dana",
        sent_at=at(t),
        msg_type="Alert",
        state="active",
        info=info,
        recipients=3,
        delivered=0,
        read=0,
    )
    return m.AlertChanged(seq=4, at=at(t), alert=alert)


def by_id(outcomes: list[p.Outcome]) -> dict[str, p.Outcome]:
    return {o.id: o for o in outcomes}


def test_actions_tick_off_as_events_arrive_and_deadlines_turn_pending_to_missed() -> None:
    tr = tracker(plan())
    got = by_id(tr.evaluate(10.0, {}))
    assert got["claimed"].status == "not triggered"
    assert got["linked"].status == "pending" and got["linked"].next_due_s == 3_000.0

    tr.on_event(created("R-1", 100.0))
    tr.on_event(created("R-x", 110.0, pilot="another-pilot"))  # not this pilot's: ignored
    got = by_id(tr.evaluate(120.0, {}))
    assert got["claimed"].status == "pending" and got["claimed"].next_due_s == 700.0
    assert got["answered"].status == "pending" and got["answered"].first_due_s == 400.0

    tr.on_event(claimed("R-1", 250.0))
    got = by_id(tr.evaluate(260.0, {}))
    assert got["claimed"].met and got["claimed"].done_s == 250.0
    assert got["claimed"].worst_delay_s == 150.0
    assert got["answered"].status == "pending"  # a claim is not an answer

    # the answer's deadline (100 + 300) passes with no chat: missed, and stays missed
    assert by_id(tr.evaluate(400.0, {}))["answered"].status == "pending"  # on the deadline
    assert by_id(tr.evaluate(400.5, {}))["answered"].status == "missed"
    tr.on_event(chatted("R-1", 450.0))  # too late
    assert by_id(tr.evaluate(460.0, {}))["answered"].status == "missed"

    # an alert that does not cover the campus does not count; one that does, does
    corner = m.Polygon(coordinates=[(-2.71, 53.76), (-2.709, 53.76), (-2.709, 53.761)])
    tr.on_event(alerted("A-1", 300.0, corner))
    assert by_id(tr.evaluate(310.0, {}))["warned"].status == "pending"
    tr.on_event(alerted("A-2", 320.0, CAMPUS.polygon))
    assert by_id(tr.evaluate(330.0, {}))["warned"].met

    # an inject's trigger starts when the inject fired (here out of turn, at 500)
    assert by_id(tr.evaluate(330.0, {}))["appeal"].status == "not triggered"
    got = by_id(tr.evaluate(1_500.0, {"ask": 500.0}))
    assert got["appeal"].status == "missed"  # the campus alert came before it fired
    tr.on_event(alerted("A-3", 1_300.0, PRESTON.area))
    assert by_id(tr.evaluate(1_500.0, {"ask": 500.0}))["appeal"].met

    # a second report starts its own claim clock
    tr.on_event(created("R-2", 2_000.0))
    assert by_id(tr.evaluate(2_100.0, {}))["claimed"].status == "pending"
    assert by_id(tr.evaluate(2_601.0, {}))["claimed"].status == "missed"


def test_a_relay_change_is_no_officer_action() -> None:
    tr = tracker(plan())
    tr.on_event(created("R-1", 100.0))
    media = timed_report("R-1", at(0), pilot_id=PID, claimed_by="dana")
    tr.on_event(m.ReportUpdated(seq=5, at=at(150.0), report=media, by=None))
    assert tr.reports["R-1"].first_action_t is None
    assert by_id(tr.evaluate(200.0, {}))["claimed"].status == "pending"


def test_live_at_the_end_equals_the_after_the_fact_metrics() -> None:
    """The same records, as metrics reads them from the relay and as the tracker saw them
    arrive, give the same JSON row for every expectation."""
    pl = plan()
    tr = tracker(pl)
    events: list[m.Msg] = [
        created("R-1", 100.0),
        created("R-2", 900.0),
        claimed("R-1", 300.0),
        chatted("R-2", 950.0),
        alerted("A-1", 400.0, CAMPUS.polygon),
        alerted("A-2", 2_000.0, PRESTON.area),
    ]
    for ev in events:
        tr.on_event(ev)
    reports = [
        metrics._Report("R-1", "burglary", "x", at(100.0), 100.0, "burglary", 1, claim_t=300.0),
        metrics._Report("R-2", "burglary", "x", at(900.0), 900.0, "burglary", 1, chat_t=950.0),
    ]
    alerts = [
        metrics._Alert(e.alert.alert_id, "dana", e.alert.sent_at - T0, e.alert.info)
        for e in events
        if isinstance(e, m.AlertChanged)
    ]
    sched = p.Schedule.of(pl)
    fired = {"ask": 1_000.0}
    after = [
        metrics._expectation(pl, sched, "burglary", exp, reports, alerts, fired)
        for exp in pl.acts[0].expect
    ]
    live = tr.evaluate(math.inf, fired)
    assert [row["status"] for row in after] == [o.status for o in live]
    assert {row["status"] for row in after} == {"met", "missed"}  # both outcomes exercised
    for row, o in zip(after, live, strict=True):
        assert row["done_s"] == o.done_s and row["in_time"] == o.in_time, (row, o)
        assert row["met"] is o.met


def test_after_the_fact_nothing_is_pending() -> None:
    pl = plan()
    exp = pl.acts[0].expect[1]  # answered: first_report + 300
    sched = p.Schedule.of(pl)
    report = p.SeenReport("R-1", 100.0, "burglary", "x", "burglary")
    assert evaluate(pl, sched, "burglary", exp, [report], [], {}, now=200.0).status == "pending"
    assert evaluate(pl, sched, "burglary", exp, [report], [], {}).status == "missed"
    report.saw(["first_response"], 350.0)
    done = evaluate(pl, sched, "burglary", exp, [report], [], {})
    assert done.met and done.worst_delay_s == 250.0
