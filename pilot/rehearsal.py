"""A headless rehearsal: the plan against an embedded relay, in compressed time.

The order of a run: a fresh relay over TLS on loopback (its data directory kept in
`DIR/relay`, so the metrics can be checked against it); an inspector account creates the
pilot from the plan (area, groups) and issues one invite code per citizen participant;
one simulated phone per participant joins with its code; the stand-ins sign in. Then the
`PlanClock` starts: every report `pilot.traffic` drew is sent at its plan time, prompts
are recorded, alert injects are broadcast by their stand-in, and the stand-ins act on
what the event log shows them. At the plan's end everything stops and `pilot.metrics`
reads the result from the relay's database, not from what this module thinks it sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from backend_client import CITIZEN_PATH
from backend_client import messages as m
from backend_client.client import ClientConfig, Credentials, RelayClient
from backend_client.limits import MAX_INVITES_PER_REQUEST
from backend_client.outbox import Outbox
from backend_client.pilots import (
    AlertInject,
    Plan,
    PromptInject,
    Schedule,
)
from pilot import traffic
from pilot.attribution import Attribution
from pilot.standins import Clock, StandIns
from relay import admin
from relay.accounts import totp_now
from relay.config import RelayConfig
from relay.server import Relay
from simulator import media
from simulator.device import Behaviour, DeviceError, DeviceGone, SimDevice, Stats
from simulator.device import client_ssl_context as device_ssl

log = logging.getLogger(__name__)

INSPECTOR = "rehearsal-inspector"
#: human delays (plan seconds) before a participant reads an alert or a chat message
READ_DELAY_S = (30.0, 240.0)


@dataclass(frozen=True)
class RelayInfo:
    """What a test (or a bystander) needs to reach the rehearsal's relay."""

    url: str
    ca_path: Path
    data_dir: Path
    pilot_id: str


@dataclass
class RunLog:
    """What the runner did, kept beside the metrics for a reader to compare (the metrics
    themselves come from the relay)."""

    started_at: float = 0.0  # unix seconds at plan time 0
    speed: float = 1.0
    wall_s: float = 0.0
    burst_reports: dict[str, list[str]] = field(default_factory=dict)  # inject -> report ids
    prompts: dict[str, float] = field(default_factory=dict)  # inject -> unix time shown
    alerts: dict[str, str] = field(default_factory=dict)  # alert inject -> alert id
    sent: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    stand_in_actions: int = 0
    stand_in_errors: dict[str, int] = field(default_factory=dict)


def pilot_slug(plan: Plan) -> str:
    """The plan's name as a relay pilot id (no `_`; letters or digits at both ends)."""
    return plan.name.replace("_", "-").strip("-") or "pilot"


async def rehearse(
    plan: Plan,
    out: Path,
    speed: float,
    seed: int = 1,
    *,
    before_clock: Callable[[RelayInfo], Awaitable[None]] | None = None,
    scenario_dir: Path | None = None,
) -> RunLog:
    """Run the plan; `out/relay` keeps the relay's data. `before_clock`, if given, runs
    once everyone has joined and before plan time 0 (a test starts a bystander there)."""
    sched = Schedule.of(plan)
    drawn = traffic.draw(plan, seed, scenario_dir)
    attribution = Attribution.of(plan, scenario_dir)
    pid = pilot_slug(plan)
    data_dir = out / "relay"
    password = secrets.token_urlsafe(16)
    engine = admin.open_engine(data_dir)
    try:
        totp = {INSPECTOR: admin.add_officer(engine, INSPECTOR, "inspector", password).totp_secret}
        for s in plan.stand_ins:
            totp[s.name] = admin.add_officer(engine, s.name, "dispatcher", password).totp_secret
    finally:
        engine.dispose()
    people = len(drawn.participants)
    relay = Relay(
        RelayConfig(
            data_dir=data_dir,
            port=0,
            # every simulated phone is on loopback: exempt it from the per-address limits
            address_allowlist=("127.0.0.0/8", "::1/128"),
            # compressed time: a phone sends an hour's reports in seconds
            reports_per_device_per_hour=1_000_000.0,
            citizen_message_burst=10_000.0,
            # stand-ins broadcast to every participant without a supervisor at hand;
            # exact counts, since a small pilot's numbers are what the evaluation reads
            approval_threshold=max(500, people + 1),
            min_count_shown=1,
        )
    )
    await relay.start()
    assert relay.ca_path is not None
    info = RelayInfo(relay.url, relay.ca_path, data_dir, pid)
    run = RunLog(speed=speed)
    clients: dict[str, RelayClient] = {}
    stop = asyncio.Event()
    devices: list[asyncio.Task[None]] = []
    wall0 = time.monotonic()
    try:
        config = ClientConfig(url=relay.url, pin_sha256=relay.fingerprint)
        for name, secret in totp.items():
            clients[name] = RelayClient(
                config,
                Credentials(name, password, _code(secret)),
                Outbox(out / "officers" / f"{name}.outbox"),
            )
        watch = clients[INSPECTOR].subscribe_queue()
        for c in clients.values():
            await c.start()
        await asyncio.gather(*(c.wait_live(30) for c in clients.values()))
        inspector = clients[INSPECTOR]
        length = sched.length_s
        await inspector.request(
            m.PilotCreate(
                id="",
                idem=f"rehearse-create-{pid}",
                pilot_id=pid,
                title=plan.title,
                area=plan.area,
                groups=[m.PilotGroupSpec(g.name, max(g.count, 0)) for g in plan.groups],
                ends_at=time.time() + length / speed + 3600.0,
            )
        )
        codes = await _invite(inspector, pid, drawn)
        stats = Stats(devices=people)
        url = relay.url.rstrip("/") + CITIZEN_PATH
        ctx = device_ssl(str(relay.ca_path))
        rng = random.Random(seed)
        phones: list[SimDevice] = []
        for p in drawn.participants:
            b = Behaviour(
                categories=p.categories,
                lat=p.lat,
                lon=p.lon,
                read_delay_s=(READ_DELAY_S[0] / speed, READ_DELAY_S[1] / speed),
                reply_delay_s=(READ_DELAY_S[0] / speed, READ_DELAY_S[1] / speed),
            )
            phone = SimDevice(url, ctx, b, stats, random.Random(rng.getrandbits(64)))
            phones.append(phone)
            devices.append(asyncio.create_task(phone.run(stop), name=f"participant-{p.index}"))
        async with asyncio.timeout(60):
            await asyncio.gather(*(ph.wait_ready() for ph in phones))
        await asyncio.gather(
            *(
                ph.join_pilot(codes[p.index])
                for ph, p in zip(phones, drawn.participants, strict=True)
            )
        )
        files = await _media(drawn, seed)
        if before_clock is not None:
            await before_clock(info)

        # ---- plan time 0
        started = time.time()
        run.started_at = started
        clock = Clock(started, speed)
        spans = {a.id: sched.act_span(a) for a in plan.acts}
        inject_times = {i.id: (a.id, spans[a.id][0] + i.at_s) for a in plan.acts for i in a.injects}
        stand_ins = StandIns(
            plan, pid, clients, clock, attribution.act_of, spans, inject_times, length
        )
        stand_ins.start_fixed()
        watcher = asyncio.create_task(_watch(watch, pid, clock, stand_ins))
        for a in plan.acts:
            for i in a.injects:
                if isinstance(i, PromptInject):
                    asyncio.create_task(_prompt(clock, inject_times[i.id][1], i, run))
        sends: set[asyncio.Task[None]] = set()
        for k, r in enumerate(drawn.reports):
            await clock.until(r.t)
            task = asyncio.create_task(_send(phones[r.device], r, files.get(k, []), run, stand_ins))
            sends.add(task)
            task.add_done_callback(sends.discard)
        await clock.until(length)
        if sends:
            await asyncio.wait(set(sends), timeout=30)
        await stand_ins.drain(timeout=30)
        await _settle(info, 5.0)
        run.alerts = {
            i.id: stand_ins.alert_ids[i.id]
            for a in plan.acts
            for i in a.injects
            if isinstance(i, AlertInject) and i.id in stand_ins.alert_ids
        }
        run.stand_in_actions = stand_ins.done.actions
        run.stand_in_errors = dict(sorted(stand_ins.done.errors.items()))
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)  # a cancel of ours still ends us
    finally:
        stop.set()
        if devices:
            _done, pending = await asyncio.wait(devices, timeout=10)
            for t in pending:
                t.cancel()
            await asyncio.gather(*devices, return_exceptions=True)
        for c in clients.values():
            with contextlib.suppress(Exception):
                await c.stop()
        await relay.stop()
        run.wall_s = round(time.monotonic() - wall0, 2)
    return run


def _code(secret: str) -> Callable[[], str | None]:
    return lambda: totp_now(secret)


async def _invite(inspector: RelayClient, pid: str, drawn: traffic.Traffic) -> dict[int, str]:
    """One code per participant, per group, in as few requests as the limit allows."""
    out: dict[int, str] = {}
    by_group: dict[str, list[int]] = {}
    for p in drawn.participants:
        by_group.setdefault(p.group, []).append(p.index)
    for group, members in by_group.items():
        for i in range(0, len(members), MAX_INVITES_PER_REQUEST):
            chunk = members[i : i + MAX_INVITES_PER_REQUEST]
            got = await inspector.request(
                m.PilotInvite(id="", pilot_id=pid, group=group, count=len(chunk))
            )
            assert isinstance(got, m.PilotInvites)
            out.update(zip(chunk, got.codes, strict=True))
    return out


async def _media(drawn: traffic.Traffic, seed: int) -> dict[int, list[media.GeneratedMedia]]:
    """The scripted reports' photos and videos, made before the clock starts."""
    out: dict[int, list[media.GeneratedMedia]] = {}
    for k, r in enumerate(drawn.reports):
        if r.media == "photo":
            out[k] = [await asyncio.to_thread(media.photo, random.Random(seed + k))]
        elif r.media == "video":
            out[k] = [await asyncio.to_thread(media.video, random.Random(seed + k))]
    return out


async def _send(
    phone: SimDevice,
    r: traffic.Planned,
    files: list[media.GeneratedMedia],
    run: RunLog,
    stand_ins: StandIns,
) -> None:
    try:
        report_id = await phone.submit_report(r.category, r.text, r.lat, r.lon, files)
    except (DeviceError, DeviceGone, TimeoutError) as exc:
        key = getattr(exc, "code", type(exc).__name__)
        run.refused[key] = run.refused.get(key, 0) + 1
        return
    run.sent += 1
    if r.inject is not None:
        run.burst_reports.setdefault(r.inject, []).append(report_id)
        stand_ins.note_inject_report(r.inject, report_id)


async def _prompt(clock: Clock, t: float, inject: PromptInject, run: RunLog) -> None:
    """An exercise controller's prompt: the headless run has no console, so it is recorded."""
    await clock.until(t)
    run.prompts[inject.id] = time.time()
    log.info("prompt to officers (%s): %s", inject.id, inject.text)


async def _watch(q: asyncio.Queue[m.Msg], pid: str, clock: Clock, stand_ins: StandIns) -> None:
    """The event log as the stand-ins see it: each report of the pilot starts their clocks."""
    while True:
        ev = await q.get()
        if isinstance(ev, m.ReportCreated) and ev.report.pilot_id == pid:
            stand_ins.on_report(ev.report, clock.plan_time(ev.report.created_at))


async def _settle(info: RelayInfo, timeout: float) -> None:
    """A moment for the last receipts (delivered, read) to reach the relay."""
    await asyncio.sleep(min(timeout, 0.5))
