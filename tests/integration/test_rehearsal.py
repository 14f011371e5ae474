"""`lookout-pilot rehearse` end to end (issue 12, deliverable 5): a real relay on TLS
loopback, simulated phones, a stand-in, and metrics checked against the relay's database.

The small plan is written here: two days, three acts, a scripted report, a burst, a prompt and
a stand-in's alert; two expected actions, one the stand-in meets (claim every report) and
one nobody does (a first response by chat). A phone that is not in the pilot stands in
the area the whole time and must receive none of the exercise alerts. The second day is
short: it is there so participation has a day after a day (retention). Then the shipped
Preston plan, whole, at 2000x: the issue's own end-to-end test (about a minute).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import subprocess
from pathlib import Path

import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend_client import messages as m
from backend_client import pilots as p
from backend_client.pilots import dumps, load
from pilot import cli
from pilot.rehearsal import RelayInfo, rehearse
from relay import admin
from relay.db import models as db
from simulator.device import Behaviour, SimDevice, Stats, client_ssl_context

PRESTON = p.load(Path(__file__).resolve().parents[2] / "resources" / "pilots" / "preston-2017.toml")
SPEED = 400.0


def small_plan() -> p.Plan:
    campus = PRESTON.zones[0]
    alert = p.AlertSpec(
        headline="Exercise: burglaries near the campus",
        categories=["burglary"],
        area=campus.name,
    )
    return p.Plan(
        name="rehearsal-test",
        title="A short rehearsal",
        timezone="Europe/London",
        area=PRESTON.area,
        zones=list(PRESTON.zones),
        days=[
            p.Day(date=dt.date(2017, 11, 21), start=dt.time(9), end=dt.time(11)),
            p.Day(date=dt.date(2017, 11, 22), start=dt.time(9), end=dt.time(9, 40)),
        ],
        groups=[
            p.Group(name="police", role="officer", count=2),
            p.Group(name="students", role="citizen", count=6),
        ],
        acts=[
            p.Act(
                id="burglary",
                day=1,
                start=dt.time(9, 10),
                end=dt.time(10, 0),
                scenario="burglary",
                report_rate_per_min=0.02,
                injects=[
                    p.ReportInject(
                        id="first",
                        at_s=300,
                        category="burglary",
                        place="student flats on Maudland Bank",
                        text="Scripted: our flat has been broken into, window smashed.",
                    ),
                    p.AlertInject(id="warn", at_s=900, by="desk", alert=alert),
                ],
                expect=[
                    p.Expectation(
                        id="claimed", action="claim", trigger="each_report", within_s=600
                    ),
                    p.Expectation(
                        id="answered",
                        action="first_response",
                        trigger="first_report",
                        within_s=300,
                    ),
                ],
            ),
            p.Act(
                id="vehicle",
                day=1,
                start=dt.time(10, 0),
                end=dt.time(10, 50),
                scenario="vehicle",
                report_rate_per_min=0.02,
                injects=[
                    p.BurstInject(id="burst", at_s=600, count=5, over_s=300),
                    p.PromptInject(id="ask", at_s=900, text="Ask for photos."),
                ],
            ),
            p.Act(
                id="burglary-again",
                day=2,
                start=dt.time(9),
                end=dt.time(9, 40),
                scenario="burglary",
                report_rate_per_min=0.05,
            ),
        ],
        stand_ins=[
            p.StandIn(
                name="desk",
                group="police",
                does=[p.StandInAction(action="claim", trigger="each_report", after_s=60)],
            )
        ],
    )


async def _bystander(
    info: RelayInfo, zone: p.Zone, stats: Stats, stop: asyncio.Event, seed: int
) -> asyncio.Task[None]:
    """A phone in the middle of `zone`, asking for every category, that never joins the
    pilot: no exercise alert may reach it. Ready when this returns; runs until `stop`."""
    ring = zone.coordinates
    phone = SimDevice(
        info.url.rstrip("/") + "/v1/citizen",
        client_ssl_context(str(info.ca_path)),
        Behaviour(
            categories=list(m.CATEGORIES),
            lat=sum(c[1] for c in ring) / len(ring),
            lon=sum(c[0] for c in ring) / len(ring),
        ),
        stats,
        random.Random(seed),
    )
    run = asyncio.create_task(phone.run(stop))
    try:
        async with asyncio.timeout(20):
            await phone.wait_ready()
    except BaseException:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        raise
    return run


async def test_a_rehearsal_s_metrics_match_the_relay_s_records(tmp_path: Path) -> None:
    plan_file = tmp_path / "rehearsal-test.toml"
    plan_file.write_text(dumps(small_plan()))
    plan = load(plan_file)  # through the checks, as the command line loads it
    out = tmp_path / "out"
    out.mkdir()
    bystander_stats = Stats(devices=1)
    stop = asyncio.Event()
    runs: list[asyncio.Task[None]] = []

    async def bystander(info: RelayInfo) -> None:
        runs.append(await _bystander(info, plan.zones[0], bystander_stats, stop, seed=3))

    try:
        log = await rehearse(plan, out, SPEED, seed=5, before_clock=bystander)
    finally:
        stop.set()
        await asyncio.gather(*runs, return_exceptions=True)
    result = await asyncio.to_thread(cli.metrics_of, plan, out, log, SPEED)

    # every inject fired once, on time in plan seconds (the relay's clock for reports)
    injects = {i["id"]: i for i in result["injects"]}
    assert set(injects) == {"first", "warn", "burst", "ask"}
    for i in injects.values():
        assert i["fired"] and i["times"] == 1, i
        assert -1.0 <= i["lateness_s"] <= 0.5 * SPEED, i  # under half a wall second late
    assert injects["burst"]["reports"] == 5
    assert result["injects_fired"] == 4

    # the report count is what the relay's database holds of the pilot, exercise-marked
    engine = admin.open_engine(out / "relay")
    try:
        with Session(engine) as s:
            stored = s.scalar(
                select(func.count())
                .select_from(db.Report)
                .where(db.Report.pilot_id == "rehearsal-test")
            )
            alerts = list(
                s.scalars(select(db.Alert.id).where(db.Alert.pilot_id == "rehearsal-test"))
            )
            receipts = s.scalar(
                select(func.count())
                .select_from(db.AlertRecipient)
                .where(db.AlertRecipient.alert_id.in_(alerts))
            )
    finally:
        engine.dispose()
    assert stored == result["reports"] > 6
    assert sum(result["reports_by_act"].values()) == stored
    assert result["participants_by_group"]["students"]["joined"] == 6

    # the stand-in claimed every report; nobody answered by chat
    expected = {e["id"]: e for e in result["expected_actions"]}
    assert (
        expected["claimed"]["met"]
        and expected["claimed"]["in_time"] == result["reports_by_act"]["burglary"]
    )
    assert not expected["answered"]["met"] and expected["answered"]["status"] == "missed"
    assert (result["expected_actions_met"], result["expected_actions_missed"]) == (1, 1)
    assert result["median_time_to_claim_s"] is not None
    assert 55.0 <= result["median_time_to_claim_s"] <= 60.0 + 0.5 * SPEED

    # the stand-in's exercise alert reached participants only, never the bystander
    (sent,) = result["alerts"]
    assert sent["status"] == "Exercise" and sent["reach"] == receipts
    assert bystander_stats.connected == 1 and bystander_stats.alerts_received == 0

    _new_metrics_match_the_relay_s_tables(plan, out / "relay", log.started_at, result)


def _new_metrics_match_the_relay_s_tables(
    plan: p.Plan,
    data_dir: Path,
    started_at: float,
    result: dict[str, object],
    speed: float = SPEED,
    all_acknowledged: bool = True,
) -> None:
    """Issue 12 deliverable 7, recomputed from the relay's tables without the event log:
    groups from `pilot_participants`, acknowledgements from the audit log, answers from
    `chat_messages`, reading from the receipts' own times. `all_acknowledged`: the plan's
    stand-ins claim every report."""
    windows = p.Schedule.of(plan).windows

    def day(unix: float) -> int:
        t = (unix - started_at) * speed
        return next((w.day for w in windows if t < w.t0 + w.length_s), windows[-1].day)

    engine = admin.open_engine(data_dir)
    try:
        with Session(engine) as s:
            reports = {
                rid: (dev, at)
                for rid, dev, at in s.execute(
                    select(db.Report.public_id, db.Report.device_id, db.Report.created_at).where(
                        db.Report.pilot_id == plan.name
                    )
                )
            }
            group_of = dict(
                s.execute(
                    select(db.PilotParticipant.device_id, db.PilotGroup.name).join(
                        db.PilotGroup, db.PilotGroup.id == db.PilotParticipant.group_id
                    )
                ).all()
            )
            acked: dict[str, float] = {}
            for subject, at in s.execute(
                select(db.AuditLog.subject, db.AuditLog.at).where(
                    db.AuditLog.action.in_(("report.claim", "report.assign", "report.status"))
                )
            ):
                acked[subject] = min(at, acked.get(subject, at))
            answered: dict[str, float] = {}
            said: list[tuple[int, float]] = []
            for rid, sender, at in s.execute(
                select(db.Report.public_id, db.ChatMessage.sender, db.ChatMessage.sent_at).join(
                    db.Report, db.Report.id == db.ChatMessage.report_id
                )
            ):
                if sender == "officer":
                    answered[rid] = min(at, answered.get(rid, at))
                elif rid in reports:
                    said.append((reports[rid][0], at))
            receipts = s.execute(
                select(
                    db.Alert.public_id,
                    db.Alert.sent_at,
                    db.AlertRecipient.device_id,
                    db.AlertRecipient.status,
                    db.AlertRecipient.read_at,
                )
                .join(db.AlertRecipient, db.AlertRecipient.alert_id == db.Alert.id)
                .where(db.Alert.pilot_id == plan.name)
            ).all()
    finally:
        engine.dispose()

    # reports per group: each report's device, the group it joined with
    by_group: dict[str, int] = {}
    for dev, _at in reports.values():
        by_group[group_of[dev]] = by_group.get(group_of[dev], 0) + 1
    assert result["reports_by_group"] == by_group and sum(by_group.values()) == len(reports)

    # per report: created -> first claim/assign/status, -> first officer chat
    times = {r["report_id"]: r for r in result["report_times"]}  # type: ignore[attr-defined]
    assert set(times) == set(reports)
    ack = {rid: (acked[rid] - at) * speed for rid, (_d, at) in reports.items() if rid in acked}
    if all_acknowledged:
        assert len(ack) == len(reports)  # the stand-in claims every report
    for rid, want in ack.items():
        assert abs(times[rid]["acknowledge_s"] - want) < 0.01, (rid, times[rid], want)
        assert times[rid]["group"] == group_of[reports[rid][0]]
    answer = {
        rid: (answered[rid] - at) * speed for rid, (_d, at) in reports.items() if rid in answered
    }
    assert {rid for rid, r in times.items() if r["first_response_s"] is not None} == set(answer)
    ack_dist = result["time_to_acknowledge_s"]
    assert ack_dist["all"]["responded"] == len(ack)  # type: ignore[index]
    assert _close(result["median_time_to_acknowledge_s"], _median(list(ack.values())))
    for g in by_group:
        mine = [v for rid, v in ack.items() if group_of[reports[rid][0]] == g]
        assert _close(ack_dist["by_group"][g]["median"], _median(mine))  # type: ignore[index]

    # alerts: delivered and read rates, sent -> read from the receipts' times
    reads = [(read_at - sent_at) * speed for _a, sent_at, _d, _s, read_at in receipts if read_at]
    assert reads and all(r > 0 for r in reads)  # the simulated phones read what they got
    assert _close(result["median_time_to_read_s"], _median(reads))
    delivered = sum(1 for r in receipts if r.status in ("delivered", "read"))
    assert _close(result["alert_delivered_rate"], delivered / len(receipts))
    alerts = result["alerts"]
    assert sum(a["time_to_read_s"]["read"] for a in alerts) == len(reads)  # type: ignore[attr-defined]

    # participation per day: a report, a chat message or a read that day; retention
    active: dict[int, set[int]] = {w.day: set() for w in windows}
    for dev, at in [*reports.values(), *said]:
        active[day(at)].add(dev)
    for _a, _s, dev, _st, read_at in receipts:
        if read_at is not None:
            active[day(read_at)].add(dev)
    got = result["participation_by_day"]["all"]  # type: ignore[index]
    assert {d: v["active"] for d, v in got["days"].items()} == {
        f"day {d}": len(devs) for d, devs in active.items()
    }
    assert active[1] and active[2]
    days = sorted(active)
    kept = {d: len(active[d] & active[d + 1]) for d in days[:-1]}
    for d, n in kept.items():
        assert got["days"][f"day {d}"]["active_next_day"] == n
    # pooled over every day but the last
    pooled = sum(kept.values()) / sum(len(active[d]) for d in days[:-1])
    assert _close(result["retention_day_over_day"], pooled)
    assert result["active_participants"] == len(set().union(*active.values()))


def _median(values: list[float]) -> float:
    """Nearest-rank, as metrics.json gives it (no interpolation)."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) // 2) - 1)]


def _close(got: object, want: float, tol: float = 0.01) -> bool:
    return isinstance(got, int | float) and abs(got - want) < tol


PRESTON_SPEED = 2000.0


async def test_the_preston_plan_rehearsed_at_2000x_end_to_end(tmp_path: Path) -> None:
    """The issue's own test, on the shipped plan: Preston's three days at 2000x. Every
    inject fires once, at its time in plan seconds; the volume is like the real pilot's
    (over 200 reports), all of it in the relay's database as the pilot's; no exercise
    alert reaches a phone on the campus that never joined; each expected action's
    verdict follows from its own rows; the new metrics equal what this test reads from
    the relay's tables; and the after-action report prints the evaluation table."""
    plan = PRESTON
    out = tmp_path / "out"
    out.mkdir()
    stop = asyncio.Event()
    runs: list[asyncio.Task[None]] = []
    bystander_stats = Stats(devices=1)

    async def bystander(info: RelayInfo) -> None:
        campus = next(z for z in plan.zones if z.name == "campus")
        runs.append(await _bystander(info, campus, bystander_stats, stop, seed=11))

    try:
        log = await rehearse(plan, out, PRESTON_SPEED, seed=1, before_clock=bystander)
    finally:
        stop.set()
        await asyncio.gather(*runs, return_exceptions=True)
    result = await asyncio.to_thread(cli.metrics_of, plan, out, log, PRESTON_SPEED)

    planned = sorted(i.id for a in plan.acts for i in a.injects)
    injects = {i["id"]: i for i in result["injects"]}
    assert sorted(injects) == planned and result["injects_fired"] == len(planned)
    for i in injects.values():
        assert i["fired"] and i["times"] == 1, i
        assert -1.0 <= i["lateness_s"] <= 0.5 * PRESTON_SPEED, i  # under half a wall second

    engine = admin.open_engine(out / "relay")
    try:
        with Session(engine) as s:
            stored = s.scalar(
                select(func.count()).select_from(db.Report).where(db.Report.pilot_id == plan.name)
            )
    finally:
        engine.dispose()
    assert stored == result["reports"] > 200
    assert sum(result["reports_by_act"].values()) + result["reports_unattributed"] == stored
    citizens = sum(g.count for g in plan.groups if g.role == "citizen")
    assert result["participants"] == citizens

    assert result["alerts_sent"] >= 1 and result["alert_reach"] > 0
    assert bystander_stats.connected == 1 and bystander_stats.alerts_received == 0

    verdicts = result["expected_actions"]
    assert len(verdicts) == sum(len(a.expect) for a in plan.acts)
    for e in verdicts:
        assert e["met"] == (e["triggered"] > 0 and e["in_time"] == e["triggered"]), e
        assert e["status"] == (
            "met" if e["met"] else "missed" if e["triggered"] else "not triggered"
        )
    assert result["expected_actions_met"] + result["expected_actions_missed"] == len(verdicts)

    _new_metrics_match_the_relay_s_tables(
        plan, out / "relay", log.started_at, result, speed=PRESTON_SPEED, all_acknowledged=False
    )

    (out / "metrics.json").write_text(json.dumps(result))
    pdf = cli.write_report(plan, out)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Evaluation: expected officer actions" in text
    for e in verdicts:  # the id column may wrap a long id at a hyphen
        (line,) = [
            ln
            for ln in text.splitlines()
            if ln.split()[:1]
            and (
                ln.split()[0] == e["id"]
                or (ln.split()[0].endswith("-") and e["id"].startswith(ln.split()[0]))
            )
        ]
        assert e["status"].split()[0] in line.split(), (e["id"], e["status"], line)


def test_the_command_line_refuses_a_directory_that_is_not_new(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    plan = tmp_path / "rehearsal-test.toml"
    plan.write_text(dumps(small_plan()))
    assert cli.main(["rehearse", str(plan), "--out", str(tmp_path)]) == 2


#: markup, an entity and a right-to-left override: the report must print them as typed
HOSTILE_TITLE = "<b>Bold</b> &amp; <script>alert(1)</script> \u202etxt.exe"


def test_the_command_line_writes_the_after_action_report(tmp_path: Path) -> None:
    """`lookout-pilot rehearse` writes DIR/report.pdf (deliverable 8): its text, as
    pdftotext reads it, holds the evaluation table (each expected action's id with the
    status metrics.json gives it) and the plan's hostile title, literally."""
    plan_file = tmp_path / "rehearsal-test.toml"
    plan_file.write_text(dumps(msgspec.structs.replace(small_plan(), title=HOSTILE_TITLE)))
    out = tmp_path / "out"
    assert cli.main(["rehearse", str(plan_file), "--speed", "2000", "--out", str(out)]) == 0
    pdf = out / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads((out / "metrics.json").read_text())
    rows = {e["id"]: e["status"] for e in result["expected_actions"]}
    assert set(rows) == {"claimed", "answered"}
    assert rows["answered"] == "missed"  # nobody answers by chat in this plan
    for eid, status in rows.items():
        (line,) = [ln for ln in text.splitlines() if ln.split()[:1] == [eid]]
        assert status in line.split(), (eid, status, line)
    # the title as typed: no markup interpreted, the override named rather than obeyed
    assert "Title: <b>Bold</b> &amp; <script>alert(1)</script> [U+202E]txt.exe" in text
    assert "\u202e" not in text
    assert "Evaluation: expected officer actions" in text
    # deliverable 7's figures, beside the names metrics.json gives them
    for heading in (
        "Participation per day and retention",
        "Time to acknowledge and to first response (plan s)",
        "Alerts: delivery, reading and time to read (plan s)",
        "Reports per group",
        # the plots, each under its title
        "Reports per day",
        "Reports per act",
        "Participation per day and retention (active again the next day)",
        "Time to first response per act (plan s): median and p90",
    ):
        assert heading in text, heading
    for name in ("retention_day_over_day", "median_time_to_acknowledge_s", "median_time_to_read_s"):
        (line,) = [ln for ln in text.splitlines() if ln.split()[:1] == [name]]
        want = result[name]
        assert line.split()[1] == (
            "n/a" if want is None else f"{want:.3f}".rstrip("0").rstrip(".")
        ), line
    (students,) = [
        ln.split()
        for ln in text.splitlines()
        if ln.split()[:1] == ["students"] and len(ln.split()) == 2
    ]
    assert students[1] == str(result["reports_by_group"]["students"])
