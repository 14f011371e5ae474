"""`pilot.review` over the real relay on TLS loopback (issue 12, deliverables 7 and 8 for a
real pilot): an inspector's pilot with participants, reports, a claim, a chat answer and an
exercise alert read by one phone, reviewed at speed 1 both "at the plan's dates" and
"from Start" with a pause. The metrics equal what this test computes on its own from the
relay's database (its tables and the event log's JSON, not the relay's decoder or the
metrics code); a dispatcher, a plan of another pilot, an unknown and a purged pilot are
refused; the reply holds no coordinate; the review is audited.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from backend_client import messages as m
from backend_client import pilots as p
from backend_client.pilots.metrics import POSITION_KEYS
from relay import admin
from relay.db import models as db
from tests.conftest import RunningRelay, start_relay
from tests.integration.test_pilots import add_inspector, is_error
from tests.support.flows import PRESTON, alert_info, device, officer, report
from tests.support.live_run_plan import PRESTON as SHIPPED
from tests.support.peer import Peer, next_id

#: the shipped Preston plan's area (the burglary scenario's places lie inside it)
AREA = SHIPPED.area
#: a spot inside it, where the phones stand
INSIDE = (53.7640, -2.7100)
SCRIPTED = "Scripted: a shed broken into behind the library."


#: a fixed-offset zone where it is about noon now (Etc/GMT-X is UTC+X), so the plan's one
#: day is today there, whenever the suite runs, and its hours hold the test's traffic
NOON_ZONE = ZoneInfo(f"Etc/GMT{dt.datetime.now(dt.UTC).hour - 12:+d}")


def review_plan(name: str = "review-test", title: str = "Review test") -> p.Plan:
    """A one-day plan for today (in NOON_ZONE), so plan time maps at its dates too."""
    today = dt.datetime.now(NOON_ZONE).date()
    return p.Plan(
        name=name,
        title=title,
        timezone=NOON_ZONE.key,
        area=AREA,
        days=[p.Day(date=today, start=dt.time(0), end=dt.time(23, 59, 59))],
        groups=[
            p.Group(name="students", role="citizen", count=3),
            p.Group(name="police", role="officer", count=2),
        ],
        objectives=[p.Objective(id="volume", text="Reports come in", target="reports >= 3")],
        acts=[
            p.Act(
                id="burglary",
                day=1,
                start=dt.time(0, 0, 1),
                end=dt.time(23, 40),
                scenario="burglary",
                report_rate_per_min=0.0,
                injects=[
                    p.PromptInject(id="ask", at_s=1.0, text="Ask for photos."),
                    p.ReportInject(
                        id="scripted",
                        at_s=2.0,
                        category="burglary",
                        lat=INSIDE[0],
                        lon=INSIDE[1],
                        text=SCRIPTED,
                    ),
                ],
                expect=[
                    p.Expectation(
                        id="claimed", action="claim", trigger="each_report", within_s=600
                    ),
                    p.Expectation(
                        id="answered",
                        action="first_response",
                        trigger="first_report",
                        within_s=600,
                    ),
                ],
            )
        ],
    )


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RunningRelay]:
    running = await start_relay(tmp_path / "relay", counts_interval_s=0.1)
    add_inspector(running)
    try:
        yield running
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def run_pilot(r: RunningRelay, plan: p.Plan, who: str = "ivy") -> tuple[Peer, dict[str, Any]]:
    """The pilot on the relay, and what happened in it: 3 phones join, 2 report (one the
    scripted text), ivy answers the first and claims the second, sends an exercise alert that one
    phone reads."""
    ivy = await officer(r, who)
    pid = p.pilot_id_of(plan)
    created = await ivy.request(p.create_request(plan, pid, time.time(), next_id()))
    assert isinstance(created, m.PilotAccepted), created
    got = await ivy.request(m.PilotInvite(id=next_id(), pilot_id=pid, group="students", count=3))
    assert isinstance(got, m.PilotInvites), got
    phones = []
    for code in got.codes:
        phone, _ = await device(r, *INSIDE)
        assert isinstance(await phone.request(m.PilotJoin(id=next_id(), code=code)), m.PilotJoined)
        phones.append(phone)
    a = await report(phones[0], SCRIPTED, lat=INSIDE[0], lon=INSIDE[1])
    b = await report(phones[1], "Someone trying car doors", lat=INSIDE[0], lon=INSIDE[1])
    c = await report(phones[1], "Gate left open at the flats", lat=INSIDE[0], lon=INSIDE[1])
    claim = await ivy.request(m.ReportClaim(id=next_id(), idem=next_id(), report_id=b.report_id))
    assert not isinstance(claim, m.Error), claim
    chat = await ivy.request(
        m.OfficerChatSend(id=next_id(), idem=next_id(), report_id=a.report_id, text="On our way")
    )
    assert isinstance(chat, m.ChatSent), chat
    sent = await ivy.request(
        m.AlertSend(
            id=next_id(),
            idem=next_id(),
            info=alert_info(area=AREA, status="Exercise", pilot_id=pid, headline="Drill"),
        )
    )
    assert isinstance(sent, m.AlertAccepted), sent
    for phone in phones:
        await phone.wait_for(lambda e: isinstance(e, m.AlertDeliver))
    alert_id = sent.alert.alert_id
    ack = await phones[2].request(m.AlertAck(id=next_id(), alert_id=alert_id, status="read"))
    assert isinstance(ack, m.Ack), ack
    # the relay tells officers of the read in its next counts update, an event of the
    # pilot's: wait for it, so the review and the test's own reading see the same log
    await ivy.wait_for(
        lambda e: (
            isinstance(e, m.AlertChanged) and e.alert.alert_id == alert_id and e.alert.read == 1
        )
    )
    return ivy, {"reports": [a.report_id, b.report_id, c.report_id], "alert": alert_id}


def independent(r: RunningRelay, pilot_id: str, plan_t: Any) -> dict[str, Any]:
    """The figures straight from the relay's tables and the event log's JSON."""
    engine = admin.open_engine(r.data_dir)
    try:
        with engine.connect() as conn:
            reports = {
                str(rid): (int(dev), float(at))
                for rid, dev, at in conn.execute(
                    select(db.Report.public_id, db.Report.device_id, db.Report.created_at).where(
                        db.Report.pilot_id == pilot_id
                    )
                )
            }
            frames = [
                json.loads(f)
                for (f,) in conn.execute(
                    select(db.Event.frame)
                    .where(db.Event.pilot_id == pilot_id)
                    .order_by(db.Event.seq)
                )
            ]
            joined = conn.execute(
                select(db.PilotParticipant.device_id)
                .join(db.Pilot, db.Pilot.id == db.PilotParticipant.pilot_id)
                .where(db.Pilot.public_id == pilot_id)
            ).all()
            receipts = conn.execute(
                select(db.AlertRecipient.status, db.AlertRecipient.device_id)
                .join(db.Alert, db.Alert.id == db.AlertRecipient.alert_id)
                .where(db.Alert.pilot_id == pilot_id)
            ).all()
    finally:
        engine.dispose()
    claims: dict[str, float] = {}
    answers: dict[str, float] = {}
    for f in frames:
        if f["type"] == "report.updated" and f["report"].get("claimed_by"):
            claims.setdefault(f["report"]["report_id"], float(f["at"]))
        if f["type"] == "chat.posted" and f["message"]["sender"] == "officer":
            answers.setdefault(f["message"]["report_id"], float(f["message"]["sent_at"]))
    active = {dev for dev, _ in reports.values()} | {
        int(dev) for status, dev in receipts if status == "read"
    }

    def after(done: dict[str, float]) -> list[float]:
        return sorted(plan_t(t) - plan_t(reports[rid][1]) for rid, t in done.items())

    return {
        "reports": len(reports),
        "participants": len(joined),
        "active_participants": len(active),
        "alert_reach": len(receipts),
        "alert_read": sum(1 for s, _ in receipts if s == "read"),
        "claims": after(claims),
        "answers": after(answers),
        "events": len(frames),
        "created_t": sorted(plan_t(at) for _, at in reports.values()),
    }


def positions_in(obj: Any, coords: set[float]) -> list[str]:
    """Paths in `obj` that name a position or hold a coordinate's value."""
    found: list[str] = []

    def walk(x: Any, path: str) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k in POSITION_KEYS:
                    found.append(f"{path}.{k}")
                walk(v, f"{path}.{k}")
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{path}[{i}]")
        elif isinstance(x, float) and any(math.isclose(x, c, abs_tol=1e-6) for c in coords):
            found.append(path)

    walk(obj, "$")
    return found


def check_against(metrics: dict[str, Any], want: dict[str, Any], plan: p.Plan) -> None:
    assert metrics["pilot"] == plan.name
    assert metrics["reports"] == want["reports"] == 3
    assert metrics["participants"] == want["participants"] == 3
    assert metrics["active_participants"] == want["active_participants"] == 3
    assert metrics["reports_by_group"] == {"students": 3}
    assert metrics["alerts_sent"] == 1
    assert metrics["alert_reach"] == want["alert_reach"] == 3
    assert metrics["alert_read"] == want["alert_read"] == 1
    assert metrics["alert_read_rate"] == round(1 / 3, 3)
    assert metrics["events"] == want["events"]
    assert metrics["median_time_to_claim_s"] == pytest.approx(want["claims"][0], abs=1e-3)
    assert metrics["median_time_to_first_response_s"] == pytest.approx(want["answers"][0], abs=1e-3)
    created = sorted(r["created_s"] for r in metrics["report_times"])
    assert created == pytest.approx(want["created_t"], abs=1e-3)
    by_id = {e["id"]: e for e in metrics["expected_actions"]}
    assert by_id["answered"]["met"] is True, (by_id, metrics["report_times"])
    assert by_id["claimed"]["status"] == "missed"  # two reports were never claimed
    assert metrics["objectives"][0]["met"] is True
    fired = {i["id"]: i for i in metrics["injects"]}
    assert fired["scripted"]["fired"] and fired["ask"]["fired"]


async def test_a_real_pilot_is_reviewed_from_the_relay_s_records(relay: RunningRelay) -> None:
    now = dt.datetime.now(NOON_ZONE)
    assert dt.time(1) < now.time() < dt.time(23), now  # the act runs 00:00:01 to 23:40
    plan = review_plan()
    started = time.time() - 5.0  # Start was pressed a little before the pilot's traffic
    ivy, happened = await run_pilot(relay, plan)
    pid = p.pilot_id_of(plan)
    text = p.dumps(plan)
    shown = [m.PromptShown(inject="ask", at=started + 1.0)]

    # at the plan's dates: plan time is seconds since today's 00:00 in the plan's zone
    opens = dt.datetime.combine(now.date(), dt.time(0), tzinfo=NOON_ZONE).timestamp()
    got = await ivy.request(
        m.PilotReview(id=next_id(), pilot_id=pid, plan=text, clock=m.DatesClock(), prompts=shown)
    )
    assert isinstance(got, m.PilotReviewed), got
    assert got.pilot_id == pid and got.metrics["speed"] == 1.0
    check_against(got.metrics, independent(relay, pid, lambda u: u - opens), plan)
    assert got.metrics["injects"][0]["fired_s"] == pytest.approx(started + 1.0 - opens, abs=1e-3)

    # from Start, paused for a moment between the claim and now: what fell in the pause
    # stands at the pause's plan time, what came after is shifted back by the pause
    segments = [
        m.ClockSegment(at=started, t=0.0, speed=1.0, until_t=2.0),
        m.ClockSegment(at=started + 3.0, t=2.0, speed=1.0),
    ]

    def from_start(u: float) -> float:
        return u - started if u < started + 2.0 else (2.0 if u < started + 3.0 else u - started - 1)

    got = await ivy.request(
        m.PilotReview(
            id=next_id(),
            pilot_id=pid,
            plan=text,
            clock=m.FromStartClock(segments=segments),
            prompts=shown,
        )
    )
    assert isinstance(got, m.PilotReviewed), got
    check_against(got.metrics, independent(relay, pid, from_start), plan)
    assert got.metrics["injects"][0]["fired_s"] == pytest.approx(1.0, abs=1e-3)

    # privacy: no position key, and no number that is one of the pilot's coordinates
    coords = {INSIDE[0], INSIDE[1], PRESTON[0], PRESTON[1]}
    coords |= {c for pt in plan.area.coordinates for c in pt}
    assert positions_in(got.metrics, coords) == []
    assert positions_in({"x": {"lat": 1}}, coords) == ["$.x.lat"]  # the check can fail

    # audited: who reviewed which pilot
    engine = admin.open_engine(relay.data_dir)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(db.AuditLog.actor, db.AuditLog.subject).where(
                    db.AuditLog.action == "pilot.review"
                )
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("ivy", pid), ("ivy", pid)]
    assert happened["alert"]


async def test_review_is_refused_to_a_dispatcher_a_wrong_plan_and_a_purged_pilot(
    relay: RunningRelay,
) -> None:
    plan = review_plan()
    ivy, _ = await run_pilot(relay, plan)
    pid = p.pilot_id_of(plan)
    clock = m.DatesClock()

    dana = await officer(relay, "dana")  # a dispatcher
    no = await dana.request(
        m.PilotReview(id=next_id(), pilot_id=pid, plan=p.dumps(plan), clock=clock)
    )
    assert is_error(no, "forbidden"), no

    other = review_plan("another-pilot", "Another pilot")
    no = await ivy.request(
        m.PilotReview(id=next_id(), pilot_id=pid, plan=p.dumps(other), clock=clock)
    )
    assert is_error(no, "invalid") and "not the plan of pilot" in no.message, no  # type: ignore[attr-defined]

    broken = p.dumps(plan).replace(f'timezone = "{NOON_ZONE.key}"', 'timezone = "Mars/Olympus"')
    no = await ivy.request(m.PilotReview(id=next_id(), pilot_id=pid, plan=broken, clock=clock))
    assert is_error(no, "invalid") and "time zone" in no.message, no  # type: ignore[attr-defined]

    no = await ivy.request(
        m.PilotReview(id=next_id(), pilot_id="no-such-pilot", plan=p.dumps(plan), clock=clock)
    )
    assert is_error(no, "not_found"), no

    ended = await ivy.request(m.PilotEnd(id=next_id(), idem=next_id(), pilot_id=pid))
    assert isinstance(ended, m.PilotAccepted), ended
    ok = await ivy.request(
        m.PilotReview(id=next_id(), pilot_id=pid, plan=p.dumps(plan), clock=clock)
    )
    assert isinstance(ok, m.PilotReviewed), ok  # an ended pilot is what one reviews
    purged = await ivy.request(m.PilotPurge(id=next_id(), pilot_id=pid, confirm=True))
    assert isinstance(purged, m.PilotPurged), purged
    no = await ivy.request(
        m.PilotReview(id=next_id(), pilot_id=pid, plan=p.dumps(plan), clock=clock)
    )
    assert is_error(no, "conflict") and "purged" in no.message, no  # type: ignore[attr-defined]
