"""The simulator against a real relay over TLS: reports, media, alerts, chat, scenarios."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from backend_client import messages as m
from simulator import scenarios
from simulator.cli import main as cli_main
from simulator.device import Behaviour, DeviceError, SimDevice, Stats, client_ssl_context
from simulator.runner import Summary, run_scenario
from tests.conftest import RunningRelay
from tests.support.flows import PRESTON, officer, square
from tests.support.peer import next_id, wait_until, wait_until_async


async def until(cond: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Wait for in-process state the simulator changes (no frame to wait on)."""
    try:
        await wait_until(cond, timeout)
    except TimeoutError:
        raise TimeoutError(f"{what} not met within {timeout}s") from None


def start(
    relay: RunningRelay, devices: int, scenario: str, **kw: object
) -> tuple[asyncio.Event, asyncio.Task[Summary]]:
    stop = asyncio.Event()
    ca = relay.relay.ca_path  # type: ignore[attr-defined]
    task = asyncio.create_task(
        run_scenario(relay.relay.url, ca, devices, scenario, None, stop, seed=7, **kw)  # type: ignore[attr-defined,arg-type]
    )
    return stop, task


async def finish(stop: asyncio.Event, task: asyncio.Task[Summary]) -> Summary:
    stop.set()
    return await asyncio.wait_for(task, 20)


async def test_burglary_devices_report_with_media_that_is_stored(relay: RunningRelay) -> None:
    off = await officer(relay)
    stop, task = start(relay, 5, "burglary", report_rate_per_min=60.0, media_probability=1.0)
    reporters: set[str] = set()
    created: dict[str, m.Report] = {}
    stored: list[m.Report] = []

    def seen(e: m.Msg) -> bool:
        if isinstance(e, m.ReportCreated):
            created[e.report.report_id] = e.report
            reporters.add(e.report.reporter)
        elif isinstance(e, m.ReportUpdated) and any(x.stored for x in e.report.media):
            stored.append(e.report)
        return len(reporters) == 5 and bool(stored)

    try:
        await off.wait_for(seen, timeout=30)
    finally:
        summary = await finish(stop, task)
    report = created[stored[0].report_id]
    assert report.category == "burglary"
    assert report.media and not report.media[0].stored  # announced first, stored after upload
    assert all(
        scenarios.distance_m(53.7640, -2.7080, r.lat, r.lon) <= 1200 for r in created.values()
    )
    assert summary.devices == summary.connected == 5
    assert summary.reports_accepted >= 5 and summary.media_uploaded >= 1
    assert summary.errors == 0, summary.error_codes
    await off.close()


async def test_alert_into_the_area_is_read_and_officer_sees_counts_climb(
    relay: RunningRelay,
) -> None:
    off = await officer(relay)
    scen = scenarios.load("burglary")
    stop, task = start(relay, 3, "burglary", report_rate_per_min=0.0, read_delay_s=(0.05, 0.3))
    area = m.Circle(lat=scen.lat, lon=scen.lon, radius_m=scen.radius_m + 100)

    async def all_three_located() -> bool:  # they connect and send locations in the background
        count = await off.request(m.AlertPreview(id=next_id(), area=area, categories=["burglary"]))
        assert isinstance(count, m.AlertCount), count
        return count.recipients == 3

    await wait_until_async(all_three_located, timeout=20)
    info = m.AlertInfo(
        categories=["burglary"], area=area, area_desc="UCLan campus", headline="Burglaries at student flats",
        description="Lock doors and windows", contact="101", incident_ref="LC-20171121-0042",
        expires_at=time.time() + 3600,
    )  # fmt: skip
    acc = await off.request(m.AlertSend(id=next_id(), idem=next_id(), info=info))
    assert isinstance(acc, m.AlertAccepted), acc
    reads: list[int] = []

    def progress(e: m.Msg) -> bool:
        if isinstance(e, m.AlertChanged) and e.alert.alert_id == acc.alert.alert_id:
            reads.append(e.alert.read)
            return e.alert.read == 3
        return False

    final = await off.wait_for(progress, timeout=20)
    assert isinstance(final, m.AlertChanged) and final.alert.delivered == 3
    assert reads == sorted(reads)  # the count only climbs
    summary = await finish(stop, task)
    assert summary.alerts_received == 3 and summary.errors == 0, summary
    await off.close()


async def test_officer_chat_gets_delivered_and_read_receipts(relay: RunningRelay) -> None:
    off = await officer(relay)
    stop, task = start(
        relay,
        1,
        "missing_person",
        report_rate_per_min=120.0,
        media_probability=0.0,
        read_delay_s=(0.05, 0.2),
    )
    created = await off.wait_for(lambda e: isinstance(e, m.ReportCreated), timeout=20)
    assert isinstance(created, m.ReportCreated)
    sent = await off.request(
        m.OfficerChatSend(
            id=next_id(),
            idem=next_id(),
            report_id=created.report.report_id,
            text="Are you with them now?",
        )
    )
    assert isinstance(sent, m.ChatSent), sent
    mid = sent.message.message_id
    statuses: list[str] = []

    def receipt(e: m.Msg) -> bool:
        if isinstance(e, m.ChatStatusChanged) and e.message_id == mid:
            statuses.append(e.status)
        return "read" in statuses

    await off.wait_for(receipt, timeout=20)
    assert statuses == ["delivered", "read"]
    summary = await finish(stop, task)
    assert summary.chats_received == 1 and summary.errors == 0, summary
    await off.close()


async def test_device_reconnects_with_its_credentials_and_gets_held_chat(
    relay: RunningRelay,
) -> None:
    """A dropped phone comes back as the same pseudonymous device (device.auth, not a new
    registration) and the relay pushes the chat it missed; the device acknowledges it."""
    off = await officer(relay)
    stats = Stats(devices=1)
    ctx = client_ssl_context(str(relay.relay.ca_path))  # type: ignore[attr-defined]
    behaviour = Behaviour(
        categories=["burglary"],
        lat=53.7645,
        lon=-2.7085,
        read_delay_s=(0.01, 0.05),
        backoff_s=(0.05, 0.2),
    )
    dev = SimDevice(relay.citizen_url, ctx, behaviour, stats, random.Random(1))
    stop = asyncio.Event()
    run = asyncio.create_task(dev.run(stop))
    await asyncio.wait_for(dev.ready.wait(), 15)
    first = dev.pseudonym
    report_id = await dev.submit_report(
        "burglary", "Side gate forced at Maudland Bank", 53.7628, -2.7135
    )
    await dev.drop()
    await until(lambda: stats.reconnects == 1 and dev.ready.is_set(), what="reconnect")
    assert dev.pseudonym == first
    sent = await off.request(
        m.OfficerChatSend(
            id=next_id(), idem=next_id(), report_id=report_id, text="Thanks, on our way"
        )
    )
    assert isinstance(sent, m.ChatSent)
    await off.wait_for(
        lambda e: (
            isinstance(e, m.ChatStatusChanged)
            and e.message_id == sent.message.message_id
            and e.status == "read"
        )
    )
    second = await dev.submit_report("burglary", "They came back", 53.7628, -2.7135)
    created = [e for e in off.seen if isinstance(e, m.ReportCreated)]
    assert {e.report.report_id for e in created} >= {report_id} and created[
        0
    ].report.reporter == first
    assert second != report_id
    stop.set()
    await asyncio.wait_for(run, 10)
    assert stats.connected == 1 and stats.chats_received == 1
    await off.close()


async def test_cli_runs_and_prints_one_json_summary(
    relay: RunningRelay, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = str(relay.relay.ca_path)  # type: ignore[attr-defined]
    argv = [
        "--relay",
        relay.relay.url,
        "--ca",
        ca,
        "--devices",
        "2",
        "--scenario",
        "vehicle",
        "--duration",
        "1.5",
        "--rate",
        "120",
    ]  # type: ignore[attr-defined]
    code = await asyncio.to_thread(cli_main, argv)
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    for key in (
        "devices",
        "reports_sent",
        "reports_accepted",
        "media_uploaded",
        "alerts_received",
        "chats_received",
        "errors",
    ):
        assert key in summary
    assert summary["devices"] == 2 and summary["reports_accepted"] >= 1


# ---------------------------------------------------------------- scenario files

PILOT = {"burglary", "vehicle", "drugs", "missing_person", "fly_tipping", "antisocial"}


def test_every_scenario_file_loads_and_the_pilot_six_are_there() -> None:
    names = scenarios.available()
    assert PILOT | {"mixed"} <= set(names)
    rng = random.Random(0)
    for name, scen in scenarios.load_all().items():
        assert scen.name == name and scen.kinds and scen.subscribe
        for _ in range(50):
            lat, lon, place = scen.place_device(rng)
            assert scenarios.distance_m(scen.lat, scen.lon, lat, lon) <= scen.radius_m
            kind = scen.draw_kind(rng, place)
            text = kind.text(rng, place)
            assert text and "{" not in text
    mixed = scenarios.load("mixed")
    assert {k.category for k in mixed.kinds} == PILOT


def test_cli_lists_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--list-scenarios"]) == 0
    out = capsys.readouterr().out
    assert "burglary" in out and "Burglary at student accommodation" in out


GOOD = """name = "NAME"
title = "Test"
category = "burglary"
templates = ["Someone at {place} {doing}"]
[placeholders]
doing = ["trying doors"]
"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (GOOD.replace('category = "burglary"', 'category = "arson"'), "category"),
        (GOOD + '[area]\nlat = "north"\n', "$.area.lat"),
        (GOOD.replace("{doing}", "{weapon}"), "{weapon}"),
        (GOOD + 'chat_replies = ["ok"]\n', "Move `chat_replies` above the first [table]"),
        (GOOD.replace('title = "Test"', 'title = "Test'), "not valid TOML"),
        (GOOD.replace('name = "NAME"', 'name = "other"'), "must match the file name"),
        (
            GOOD
            + '[area]\nradius_m = 100\n[[area.hotspots]]\nname = "far"\nlat = 54.0\nlon = -2.7\n',
            "outside the area",
        ),
        (GOOD.replace("templates =", "tempaltes ="), "tempaltes"),
    ],
)
def test_broken_scenario_file_gives_a_clear_error(tmp_path: Path, body: str, expected: str) -> None:
    (tmp_path / "broken.toml").write_text(body.replace("NAME", "broken"), encoding="utf-8")
    with pytest.raises(scenarios.ScenarioError) as err:
        scenarios.load("broken", tmp_path)
    assert "broken" in str(err.value) and expected in str(err.value)


def test_good_file_in_the_same_harness_loads(tmp_path: Path) -> None:
    (tmp_path / "fine.toml").write_text(GOOD.replace("NAME", "fine"), encoding="utf-8")
    assert scenarios.load("fine", tmp_path).kinds[0].category == "burglary"


def test_unknown_scenario_names_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(scenarios.ScenarioError, match="Available: .*burglary"):
        scenarios.load("../../etc/passwd")


async def test_a_device_joins_a_pilot_with_a_code_and_reports_as_exercise(
    relay: RunningRelay,
) -> None:
    """SimDevice.join_pilot: the printed code joins; the device's report reaches officers
    marked exercise with the pilot's id; joining again while in it is refused."""
    sam = await officer(relay, "sam")
    made = await sam.request(
        m.PilotCreate(
            id=next_id(),
            idem=next_id(),
            pilot_id="maudland",
            title="Maudland pilot",
            area=square(0.01),
            groups=[m.PilotGroupSpec("students", 5)],
        )
    )
    assert isinstance(made, m.PilotAccepted), made
    inv = await sam.request(
        m.PilotInvite(id=next_id(), pilot_id="maudland", group="students", count=1)
    )
    assert isinstance(inv, m.PilotInvites), inv
    stats = Stats(devices=1)
    ctx = client_ssl_context(str(relay.relay.ca_path))  # type: ignore[attr-defined]
    behaviour = Behaviour(categories=["burglary"], lat=53.7645, lon=-2.7085)
    dev = SimDevice(relay.citizen_url, ctx, behaviour, stats, random.Random(2))
    stop = asyncio.Event()
    run = asyncio.create_task(dev.run(stop))
    try:
        joined = await dev.join_pilot(inv.codes[0])
        assert (joined.pilot_id, joined.title, joined.group) == (
            "maudland",
            "Maudland pilot",
            "students",
        )
        report_id = await dev.submit_report("burglary", "Exercise: gate forced", *PRESTON)
        created = await sam.wait_for(
            lambda e: isinstance(e, m.ReportCreated) and e.report.report_id == report_id
        )
        assert isinstance(created, m.ReportCreated)
        assert created.report.exercise and created.report.pilot_id == "maudland"
        with pytest.raises(DeviceError) as refused:
            await dev.join_pilot(inv.codes[0])
        assert refused.value.code == "conflict"  # already in a pilot
    finally:
        stop.set()
        await asyncio.wait_for(run, 10)
        await sam.close()
