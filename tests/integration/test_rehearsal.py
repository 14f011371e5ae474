"""`lookout-pilot rehearse` end to end (issue 12, deliverable 5): a real relay on TLS
loopback, simulated phones, a stand-in, and metrics checked against the relay's database.

The plan is written here: one day, two acts, a scripted report, a burst, a prompt and a
stand-in's alert; two expected actions, one the stand-in meets (claim every report) and
one nobody does (a first response by chat). A phone that is not in the pilot stands in
the area the whole time and must receive none of the exercise alerts.
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
        days=[p.Day(date=dt.date(2017, 11, 21), start=dt.time(9), end=dt.time(11))],
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
        ],
        stand_ins=[
            p.StandIn(
                name="desk",
                group="police",
                does=[p.StandInAction(action="claim", trigger="each_report", after_s=60)],
            )
        ],
    )


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
        """A phone in the middle of the campus that never joined the pilot."""
        zone = plan.zones[0].coordinates
        lat = sum(c[1] for c in zone) / len(zone)
        lon = sum(c[0] for c in zone) / len(zone)
        phone = SimDevice(
            info.url.rstrip("/") + "/v1/citizen",
            client_ssl_context(str(info.ca_path)),
            Behaviour(categories=list(m.CATEGORIES), lat=lat, lon=lon),
            bystander_stats,
            random.Random(3),
        )
        runs.append(asyncio.create_task(phone.run(stop)))
        async with asyncio.timeout(20):
            await phone.wait_ready()

    try:
        log = await rehearse(plan, out, SPEED, seed=5, before_clock=bystander)
    finally:
        stop.set()
        await asyncio.gather(*runs, return_exceptions=True)
    result = await asyncio.to_thread(_metrics, plan, out, log)

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


def _metrics(plan: p.Plan, out: Path, log: object) -> dict[str, object]:
    from pilot import metrics

    rec = metrics.read(out / "relay", plan, "rehearsal-test", log.started_at, SPEED)  # type: ignore[attr-defined]
    return metrics.compute(
        plan,
        rec,
        started_at=log.started_at,  # type: ignore[attr-defined]
        speed=SPEED,
        burst_reports=log.burst_reports,  # type: ignore[attr-defined]
        prompts=log.prompts,  # type: ignore[attr-defined]
    )


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
