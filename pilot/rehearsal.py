"""A headless rehearsal: the plan against an embedded relay, in compressed time.

The order of a run: a fresh relay over TLS on loopback (its data directory kept in
`DIR/relay`, so the metrics can be checked against it); an inspector account creates the
pilot from the plan (area, groups) and issues one invite code per citizen participant;
one simulated phone per participant joins with its code; the stand-ins sign in. Then the
run's control (`pilot.live.LiveControl` over `backend_client.pilots.Run`) starts: every
report `pilot.traffic` drew is sent at its plan time, each inject fires when the control
says it is due (or when fired by hand; never when skipped): its reports are sent, a
prompt is recorded, an alert is broadcast by its stand-in; the stand-ins act on what the
event log shows them, and the control's `Tracker` evaluates the expected actions live from
the same events. Headless (`rehearse`) the control starts at once and nobody pauses it; in
the console (`lookout --rehearse`, `demo.rehearsal`) the officer drives it from the run
panel. At the plan's end everything stops and `pilot.metrics` reads the result from the
relay's database, not from what this module thinks it sent.
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
    Entry,
    Plan,
    PromptInject,
    RunState,
    Schedule,
    create_request,
    pilot_id_of,
)
from pilot import traffic
from pilot.attribution import Attribution
from pilot.live import LiveControl
from pilot.standins import StandIns
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


#: the plan's name as a relay pilot id (one rule: `backend_client.pilots.pilot_id_of`)
pilot_slug = pilot_id_of


async def rehearse(
    plan: Plan,
    out: Path,
    speed: float,
    seed: int = 1,
    *,
    before_clock: Callable[[RelayInfo], Awaitable[None]] | None = None,
    scenario_dir: Path | None = None,
) -> RunLog:
    """Run the plan headless, start to end; `out/relay` keeps the relay's data.
    `before_clock`, if given, runs once everyone has joined and before plan time 0 (a test
    starts a bystander there)."""
    rehearsal = Rehearsal(plan, out, speed, seed, scenario_dir=scenario_dir)
    try:
        info = await rehearsal.prepare()
        if before_clock is not None:
            await before_clock(info)
        rehearsal.control.start()
        await rehearsal.run()
    finally:
        await rehearsal.close()
    return rehearsal.log


class Rehearsal:
    """A plan against its own embedded relay, driven through a `LiveControl`.

    `prepare()` starts the relay and gets everyone in (the pilot, its codes, one phone per
    participant, the stand-ins' and `officers`' accounts); from then on `control` is the
    run (start, pause, skip, fire; plan time; the tracker's live evaluation) and `info`
    says where the relay is. `run()` carries the plan out from the moment the control is
    started until the plan's end (or an `end()`); `close()` stops everything. With
    `stand_ins` off, the plan's stand-ins still send their scripted alert injects but do
    not respond to reports: the officers at a console do.
    """

    def __init__(
        self,
        plan: Plan,
        out: Path,
        speed: float,
        seed: int = 1,
        *,
        scenario_dir: Path | None = None,
        stand_ins: bool = True,
        officers: tuple[str, ...] = (),
    ) -> None:
        self.plan = plan
        self.out = out
        self.speed = speed
        self.seed = seed
        self.scenario_dir = scenario_dir
        self.respond = stand_ins
        self.officers = officers
        self.sched = Schedule.of(plan)
        self.drawn = traffic.draw(plan, seed, scenario_dir)
        self.attribution = Attribution.of(plan, scenario_dir)
        self.pid = pilot_slug(plan)
        self.log = RunLog(speed=speed)
        self.password = secrets.token_urlsafe(16)
        self.totp: dict[str, str] = {}
        self._relay: Relay | None = None
        self._info: RelayInfo | None = None
        self._control: LiveControl | None = None
        self._clients: dict[str, RelayClient] = {}
        self._stop = asyncio.Event()
        self._devices: list[asyncio.Task[None]] = []
        self._phones: list[SimDevice] = []
        self._files: dict[int, list[media.GeneratedMedia]] = {}
        self._alerts: dict[str, m.Alert] = {}  # the pilot's alerts, latest counts
        self._receipts = asyncio.Event()
        self._waiting: set[asyncio.Task[None]] = set()  # injects' reports, waiting for their time
        self._wall0 = time.monotonic()

    @property
    def control(self) -> LiveControl:
        assert self._control is not None, "prepare() first"
        return self._control

    @property
    def info(self) -> RelayInfo:
        assert self._info is not None, "prepare() first"
        return self._info

    def login(self, name: str) -> tuple[ClientConfig, Credentials]:
        """How one of `officers` signs in to the rehearsal's relay (a code made each time)."""
        relay = self._relay
        assert relay is not None
        return (
            ClientConfig(url=relay.url, pin_sha256=relay.fingerprint),
            Credentials(name, self.password, _code(self.totp[name])),
        )

    async def prepare(self) -> RelayInfo:
        plan, out, speed = self.plan, self.out, self.speed
        data_dir = out / "relay"
        engine = admin.open_engine(data_dir)
        try:
            totp = self.totp
            totp[INSPECTOR] = admin.add_officer(
                engine, INSPECTOR, "inspector", self.password
            ).totp_secret
            for s in plan.stand_ins:
                totp[s.name] = admin.add_officer(
                    engine, s.name, "dispatcher", self.password
                ).totp_secret
            officers = {
                n: admin.add_officer(engine, n, "dispatcher", self.password) for n in self.officers
            }
        finally:
            engine.dispose()
        people = len(self.drawn.participants)
        relay = Relay(
            RelayConfig(
                data_dir=data_dir,
                port=0,
                cap_sender="lookout@pilot.lookout.example",
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
        self._relay = relay
        assert relay.ca_path is not None
        self._info = RelayInfo(relay.url, relay.ca_path, data_dir, self.pid)
        config = ClientConfig(url=relay.url, pin_sha256=relay.fingerprint)
        clients = self._clients
        for name, secret in totp.items():
            clients[name] = RelayClient(
                config,
                Credentials(name, self.password, _code(secret)),
                Outbox(out / "officers" / f"{name}.outbox"),
            )
        totp.update({n: o.totp_secret for n, o in officers.items()})
        self._watch_q = clients[INSPECTOR].subscribe_queue()
        for c in clients.values():
            await c.start()
        await asyncio.gather(*(c.wait_live(30) for c in clients.values()))
        inspector = clients[INSPECTOR]
        # a console's run may be paused: the pilot stays open a day beyond the plan's end
        spare = 3600.0 if not self.officers else 86400.0
        await inspector.request(
            create_request(
                plan,
                self.pid,
                time.time(),
                f"rehearse-create-{self.pid}",
                ends_at=time.time() + self.sched.length_s / speed + spare,
            )
        )
        codes = await _invite(inspector, self.pid, self.drawn)
        stats = Stats(devices=people)
        url = relay.url.rstrip("/") + CITIZEN_PATH
        ctx = device_ssl(str(relay.ca_path))
        rng = random.Random(self.seed)
        for p in self.drawn.participants:
            b = Behaviour(
                categories=p.categories,
                lat=p.lat,
                lon=p.lon,
                read_delay_s=(READ_DELAY_S[0] / speed, READ_DELAY_S[1] / speed),
                reply_delay_s=(READ_DELAY_S[0] / speed, READ_DELAY_S[1] / speed),
            )
            phone = SimDevice(url, ctx, b, stats, random.Random(rng.getrandbits(64)))
            self._phones.append(phone)
            self._devices.append(
                asyncio.create_task(phone.run(self._stop), name=f"participant-{p.index}")
            )
        async with asyncio.timeout(60):
            await asyncio.gather(*(ph.wait_ready() for ph in self._phones))
        await asyncio.gather(
            *(
                ph.join_pilot(codes[p.index])
                for ph, p in zip(self._phones, self.drawn.participants, strict=True)
            )
        )
        self._files = await _media(self.drawn, self.seed)
        self._control = LiveControl(
            plan, self.pid, speed, self.attribution.act_of, asyncio.get_running_loop()
        )
        return self._info

    async def run(self) -> RunLog:
        """From the control's start to the plan's end: traffic, injects, stand-ins."""
        control, plan, run = self.control, self.plan, self.log
        while control.state() is RunState.READY:
            await control.wait(None)
        if control.state() is RunState.ENDED:
            return run
        length = self.sched.length_s
        # plan time 0 on the unix clock (what the after-the-fact metrics map by)
        run.started_at = time.time() - control.now() / self.speed
        spans = {a.id: self.sched.act_span(a) for a in plan.acts}
        inject_times = {i.id: (a.id, spans[a.id][0] + i.at_s) for a in plan.acts for i in a.injects}
        stand_ins = StandIns(
            plan,
            self.pid,
            self._clients,
            control,
            self.attribution.act_of,
            spans,
            inject_times,
            length,
            respond=self.respond,
        )
        stand_ins.start_fixed()
        watcher = asyncio.create_task(self._watch(stand_ins))
        sends: set[asyncio.Task[None]] = set()  # reports being sent
        background = asyncio.create_task(self._traffic(sends, stand_ins))
        try:
            while not control.finished():
                for entry in control.take_due():
                    self._fire(entry, sends, stand_ins)
                nxt = control.next_due()
                await control.wait(length if nxt is None else min(nxt, length))
            # ended by hand before the plan's end: what waits for later plan time never runs
            grace = 30.0 if control.now() >= length else 2.0
            if control.state() is not RunState.ENDED:
                control.end()
            for entry in control.take_due():  # fired by hand in the last moment
                self._fire(entry, sends, stand_ins)
            for task in (background, *self._waiting):
                task.cancel()
            await asyncio.gather(background, *self._waiting, return_exceptions=True)
            if sends:
                await asyncio.wait(set(sends), timeout=30)
            await stand_ins.drain(timeout=grace)
            await self._settle(5.0)
        finally:
            for task in (background, watcher, *self._waiting, *sends):
                task.cancel()
            await asyncio.gather(
                watcher, background, *self._waiting, *sends, return_exceptions=True
            )
        run.alerts = {
            i.id: stand_ins.alert_ids[i.id]
            for a in plan.acts
            for i in a.injects
            if isinstance(i, AlertInject) and i.id in stand_ins.alert_ids
        }
        run.stand_in_actions = stand_ins.done.actions
        run.stand_in_errors = dict(sorted(stand_ins.done.errors.items()))
        return run

    async def close(self) -> None:
        self._stop.set()
        if self._devices:
            _done, pending = await asyncio.wait(self._devices, timeout=10)
            for t in pending:
                t.cancel()
            await asyncio.gather(*self._devices, return_exceptions=True)
        for c in self._clients.values():
            with contextlib.suppress(Exception):
                await c.stop()
        if self._relay is not None:
            await self._relay.stop()
        self.log.wall_s = round(time.monotonic() - self._wall0, 2)

    # ------------------------------------------------------------ carrying the plan out

    async def _traffic(self, sends: set[asyncio.Task[None]], stand_ins: StandIns) -> None:
        """The scenarios' own reports (not an inject's), each at its plan time."""
        for k, r in enumerate(self.drawn.reports):
            if r.inject is None:
                await self.control.until(r.t)
                self._send_later(k, r, sends, stand_ins)

    def _fire(self, entry: Entry, sends: set[asyncio.Task[None]], stand_ins: StandIns) -> None:
        inject_id, control = entry.ref, self.control
        base = control.fired_at(inject_id)
        inject = next(i for a in self.plan.acts for i in a.injects if i.id == inject_id)
        if isinstance(inject, PromptInject):
            self.log.prompts[inject_id] = time.time()
            control.shown(inject_id)
            log.info("prompt to officers (%s): %s", inject_id, inject.text)
        elif isinstance(inject, AlertInject):
            stand_ins.alert_now(inject)
        else:  # its reports, as drawn, from the time it fired
            own = [(k, r) for k, r in enumerate(self.drawn.reports) if r.inject == inject_id]

            async def burst() -> None:
                for k, r in own:
                    await control.until(base + (r.t - entry.t))
                    self._send_later(k, r, sends, stand_ins)

            _keep(self._waiting, asyncio.create_task(burst()))
        stand_ins.on_inject(inject_id, base)

    def _send_later(
        self, k: int, r: traffic.Planned, sends: set[asyncio.Task[None]], stand_ins: StandIns
    ) -> None:
        phone = self._phones[r.device]
        _keep(
            sends, asyncio.create_task(_send(phone, r, self._files.get(k, []), self.log, stand_ins))
        )

    async def _watch(self, stand_ins: StandIns) -> None:
        """The event log as the officers see it: each report of the pilot starts the
        stand-ins' clocks, and everything goes to the live evaluation."""
        control, pid = self.control, self.pid
        while True:
            ev = await self._watch_q.get()
            control.on_event(ev)
            if isinstance(ev, m.ReportCreated) and ev.report.pilot_id == pid:
                stand_ins.on_report(ev.report, control.plan_time(ev.report.created_at))
            elif isinstance(ev, m.AlertChanged) and ev.alert.info.pilot_id == pid:
                self._alerts[ev.alert.alert_id] = ev.alert
                self._receipts.set()

    async def _settle(self, timeout: float) -> None:
        """Until every participant an alert reached has read it (the relay's last counts
        say so), or `timeout`: the metrics read the receipts from the relay."""

        def settled() -> bool:
            return all(a.read >= a.recipients for a in self._alerts.values())

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not settled():
                    self._receipts.clear()
                    await self._receipts.wait()


def _keep(tasks: set[asyncio.Task[None]], task: asyncio.Task[None]) -> None:
    tasks.add(task)
    task.add_done_callback(tasks.discard)


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
