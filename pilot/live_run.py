"""A real pilot, run live on the force's relay (`lookout --run-pilot PLAN`).

The same control as a rehearsal (`pilot.live.LiveControl` over `Run` and `Tracker`), but
at speed 1, on the console's own loop, and with people instead of simulated crowds:

- plan time runs from **Start**: plan time 0 then, or (`StartMode.PLAN_DATES`) where the
  plan's `Schedule` says now is, the injects planned before that moment skipped. At the
  close of each plan day's window but the last the run pauses by itself; Resume carries
  on with the next day;
- a **prompt** is shown to the officers (the run panel and a status-bar notice);
- a **scripted report** is sent "as if an actual citizen sent it" by a scripted device:
  one per citizen group, registered here over the citizen protocol (`SimDevice`) and
  joined to the pilot with an invite code this runner asks for through the officer's own
  session (`request`, the console client's `request`). Its reports are the pilot's
  exercise traffic like any participant's. It subscribes to no alert category, so it
  never counts in an alert's reach;
- a **burst** of simulated reports, and the scenarios' own background reports, are off
  (the volunteers report themselves) unless `simulated_traffic`;
- an **alert** inject becomes a prompt ("Send the exercise alert: …"): real officers
  broadcast, stand-ins never act in a live pilot.

The tracker reads the officer session's own events (`on_event`, which the composition
subscribes to the session), so what ticks an expectation off is what the console saw.
No coordinate, token or invite code is ever logged here.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from backend_client import CITIZEN_PATH
from backend_client import messages as m
from backend_client.client import ClientConfig, fetch_fingerprint, ssl_context
from backend_client.errors import ProtocolError
from backend_client.pilots import (
    AlertInject,
    BurstInject,
    Entry,
    Plan,
    PromptInject,
    RefusedMove,
    ReportInject,
    RunState,
    Schedule,
    Shown,
    create_request,
    pilot_id_of,
)
from backend_client.rules import PILOT_ROLES
from pilot import traffic
from pilot.attribution import Attribution
from pilot.live import LiveControl
from simulator import media
from simulator.device import Behaviour, DeviceError, DeviceGone, SimDevice, Stats

log = logging.getLogger(__name__)

#: an officer request and its reply (the console session's `client.request`)
Request = Callable[[Any], Awaitable[m.Msg]]
#: with simulated traffic: scripted devices per citizen group the reports rotate over
SIMULATED_DEVICES_PER_GROUP = 5
#: a day's close this recently passed (plan seconds) pauses the run; one longer ago
#: passed before the run started at the plan's dates
DAY_END_SLACK_S = 60.0


class PilotRefused(Exception):
    """This account or relay cannot run the plan's pilot: the reason in the user's words."""


class StartMode(Enum):
    FROM_START = "start"  # plan time 0 at Start
    PLAN_DATES = "dates"  # plan time where the plan's dates say now is


START_LABELS = {
    StartMode.FROM_START: "from Start (plan time 0)",
    StartMode.PLAN_DATES: "at the plan's dates and times",
}


def refusal(role: str | None) -> str | None:
    """Why an account may not run a pilot (None: it may), per `rules.PILOT_ROLES`."""
    if role in PILOT_ROLES:
        return None
    who = " or ".join(sorted(PILOT_ROLES))
    return (
        f"This account is a {role or 'officer of unknown role'}: running a pilot needs an "
        f"{who} account. Sign in as one, or ask a supervisor to run it."
    )


async def find_pilot(request: Request, plan: Plan) -> m.PilotInfo | None:
    """The plan's pilot on the relay (its id is the plan's name), or None. An ended or
    purged one is refused: its codes no longer work and its traffic is not exercise."""
    pid = pilot_id_of(plan)
    listed = await request(m.PilotList(id="", include_purged=True))
    assert isinstance(listed, m.PilotListed)
    info = next((p for p in listed.pilots if p.pilot_id == pid), None)
    if info is not None and info.state != "active":
        raise PilotRefused(
            f"The pilot {pid!r} on this relay is {info.state}: a run needs an active pilot. "
            "Give the plan a new name to run it again."
        )
    return info


async def create_pilot(request: Request, plan: Plan) -> m.PilotInfo:
    """Create the plan's pilot (id, title, area, groups from the plan) through the session."""
    pid = pilot_id_of(plan)
    got = await request(create_request(plan, pid, time.time(), f"run-pilot-create-{pid}"))
    assert isinstance(got, m.PilotAccepted)
    return got.pilot


def default_start(plan: Plan, now: dt.datetime | None = None) -> StartMode:
    """The plan's dates when today (in the plan's zone) is one of its days, else Start."""
    tz = Schedule.of(plan).tz
    today = (now or dt.datetime.now(dt.UTC)).astimezone(tz).date()
    return StartMode.PLAN_DATES if any(d.date == today for d in plan.days) else StartMode.FROM_START


@dataclass(frozen=True)
class CitizenLink:
    """How the scripted devices reach the relay, with the console's trust: its CA file,
    or its pinned certificate (checked before any device connects)."""

    url: str
    ssl: ssl.SSLContext
    pin_sha256: str | None = None

    @staticmethod
    def of(config: ClientConfig) -> CitizenLink:
        return CitizenLink(
            config.url.rstrip("/") + CITIZEN_PATH, ssl_context(config), config.pin_sha256
        )


class PilotControl(LiveControl):
    """A live pilot's control: a `LiveControl` at speed 1 that starts at a chosen point."""

    def __init__(
        self,
        plan: Plan,
        pilot_id: str,
        act_of: Callable[[float, str], str | None],
        loop: asyncio.AbstractEventLoop,
        mode: StartMode,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        super().__init__(plan, pilot_id, 1.0, act_of, loop)
        self.mode = mode
        self._clock = clock
        self.started_from = 0.0  # the plan time Start began at

    # the panel's choice of where plan time starts (offered while READY)
    def start_options(self) -> list[tuple[str, str]]:
        return [(k.value, START_LABELS[k]) for k in StartMode]

    def start_option(self) -> str:
        return self.mode.value

    def choose_start(self, key: str) -> None:
        with self._lock:
            if self.run.state is not RunState.READY:
                raise RefusedMove("the run has started: where it starts is decided")
            self.mode = StartMode(key)

    def start(self) -> None:
        def go(now: float) -> None:
            t0 = 0.0
            if self.mode is StartMode.PLAN_DATES:
                t = self.sched.plan_time(self._clock())
                if t is None:
                    local = self._clock().astimezone(self.sched.tz)
                    raise RefusedMove(
                        f"it is {local:%a %d %b %H:%M}, outside the plan's days and hours: "
                        "start from plan time 0 instead, or at a time the plan runs"
                    )
                t0 = t
            self.run.start(now - t0 / self.run.speed)
            self.started_from = t0
            passed = [e.ref for e in self.run.injects if e.t < t0]
            for ref in passed:
                self.run.skip(ref)
            if passed:
                self.problem = (
                    f"Started at the plan's time {_clock(t0)}: {len(passed)} inject(s) planned "
                    f"earlier were skipped ({', '.join(passed)})."
                )

        self._move(go)

    def show(self, inject_id: str, text: str) -> None:
        """A prompt to the officers fired (an alert inject's too): the panel shows it."""
        with self._lock:
            self._prompts.append(Shown(inject_id, self.run.fired[inject_id].t, text))

    def pause_at_day_end(self, day: int) -> None:
        with self._lock:
            if self.run.state is RunState.RUNNING:
                self.run.pause(time.monotonic())
                self.problem = (
                    f"Day {day}'s hours are over: the run paused by itself. "
                    "Resume it when the next day opens."
                )
        self._loop.call_soon_threadsafe(self._wake)


class LiveRun:
    """One real pilot's run on the relay the console is signed in to.

    `start()` begins carrying the plan out in the background (the scripted devices get
    ready at once, so a report inject goes out as soon as it fires); `control` is the
    `RunControl` for the console's run panel; `on_event` takes every officer event the
    session sees; `close()` stops it all (the pilot stays open on the relay).
    """

    def __init__(
        self,
        plan: Plan,
        request: Request,
        link: CitizenLink,
        *,
        mode: StartMode | None = None,
        simulated_traffic: bool = False,
        seed: int = 1,
        scenario_dir: Path | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.plan = plan
        self.pid = pilot_id_of(plan)
        self.request = request
        self.link = link
        self.simulated = simulated_traffic
        self.seed = seed
        self.drawn = traffic.draw(plan, seed, scenario_dir)
        attribution = Attribution.of(plan, scenario_dir)
        self.control = PilotControl(
            plan,
            self.pid,
            attribution.act_of,
            asyncio.get_running_loop(),
            mode or default_start(plan, clock()),
            clock,
        )
        self.sent: dict[str, list[str]] = {}  # inject id -> report ids its devices sent
        self.refused: dict[str, int] = {}
        self._stop = asyncio.Event()
        self._phones: dict[str, list[SimDevice]] = {}  # citizen group -> scripted devices
        self._ready = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[None] | None = None
        self._rotate = itertools.count()

    # ------------------------------------------------------------ lifecycle

    def on_event(self, ev: m.Msg) -> None:
        self.control.on_event(ev)

    def start(self) -> None:
        self._main = asyncio.create_task(self._run(), name=f"pilot-run-{self.pid}")

    async def wait_devices(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            await self._ready.wait()

    def devices(self) -> list[SimDevice]:
        return [ph for group in self._phones.values() for ph in group]

    async def close(self) -> None:
        if self.control.state() is not RunState.ENDED:
            with contextlib.suppress(RefusedMove):
                self.control.end()
        self._stop.set()
        tasks = [t for t in (self._main, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------ carrying it out

    async def _run(self) -> None:
        try:
            await self._join_devices()
        except Exception as exc:
            log.warning("the scripted devices could not join the pilot: %s", type(exc).__name__)
            self.control.problem = (
                f"The scripted devices could not join the pilot ({_plain(exc)}): report "
                "injects will not be sent. Prompts and expected actions still work."
            )
        control = self.control
        while control.state() is RunState.READY:
            await control.wait(None)
        background = (
            self._spawn(self._background()) if self.simulated else None
        )  # the scenarios' own reports
        # each plan day's close but the last's: the run pauses there (nights are skipped)
        closes = [(w.t0 + w.length_s, w.day) for w in control.sched.windows[:-1]]
        length = control.run.length_s
        try:
            while not control.finished():
                for entry in control.take_due():
                    self._fire(entry)
                now_t = control.now()
                while closes and closes[0][0] <= now_t:
                    close_t, day = closes.pop(0)
                    if now_t - close_t < DAY_END_SLACK_S:  # not one that passed before Start
                        control.pause_at_day_end(day)
                nxt = control.next_due()
                marks = [
                    x for x in (nxt, closes[0][0] if closes else None, length) if x is not None
                ]
                await control.wait(min(marks))
            for entry in control.take_due():  # fired by hand in the last moment
                self._fire(entry)
        finally:
            if background is not None:
                background.cancel()

    async def _join_devices(self) -> None:
        """One scripted device per citizen group a scripted report needs (or, with
        simulated traffic, a few per citizen group), each joined with its own code."""
        groups = [g.name for g in self.plan.groups if g.role == "citizen"]
        wanted: dict[str, int] = {}
        for p in self.drawn.reports:
            if self._sends(p):
                group = self.drawn.participants[p.device].group
                wanted[group] = SIMULATED_DEVICES_PER_GROUP if self.simulated else 1
        if not wanted:
            self._ready.set()
            return
        link = self.link
        if link.pin_sha256:  # the console's trust decision, checked before a device connects
            presented = await fetch_fingerprint(link.url)
            if presented != link.pin_sha256.upper():
                raise PilotRefused("the relay's certificate is not the one the console pinned")
        stats = Stats(devices=sum(wanted.values()))
        rng = random.Random(self.seed)
        lat, lon = _centre(self.plan)
        for group in (g for g in groups if g in wanted):
            for _ in range(wanted[group]):
                behaviour = Behaviour(categories=(), lat=lat, lon=lon)
                phone = SimDevice(
                    link.url, link.ssl, behaviour, stats, random.Random(rng.getrandbits(64))
                )
                self._phones.setdefault(group, []).append(phone)
                self._spawn(phone.run(self._stop))
        phones = self.devices()
        async with asyncio.timeout(60):
            await asyncio.gather(*(ph.wait_ready() for ph in phones))
        for group, members in self._phones.items():
            got = await self.request(
                m.PilotInvite(id="", pilot_id=self.pid, group=group, count=len(members))
            )
            assert isinstance(got, m.PilotInvites)
            await asyncio.gather(
                *(ph.join_pilot(code) for ph, code in zip(members, got.codes, strict=True))
            )
        log.info("%d scripted device(s) joined pilot %s", len(phones), self.pid)
        self._ready.set()

    def _sends(self, p: traffic.Planned) -> bool:
        """Does a live run send this drawn report? A scripted report inject's always; a
        burst's or the scenario's own only with simulated traffic."""
        if p.inject is None:
            return self.simulated
        inject = self._inject(p.inject)
        return isinstance(inject, ReportInject) or (
            isinstance(inject, BurstInject) and self.simulated
        )

    def _inject(self, inject_id: str) -> Any:
        return next(i for a in self.plan.acts for i in a.injects if i.id == inject_id)

    def _fire(self, entry: Entry) -> None:
        inject, control = self._inject(entry.ref), self.control
        if isinstance(inject, PromptInject):
            control.shown(inject.id)
            log.info("prompt to officers (%s) shown", inject.id)
        elif isinstance(inject, AlertInject):
            control.show(inject.id, alert_prompt(self.plan, inject))
            log.info("alert inject %s shown to officers as a prompt", inject.id)
        elif isinstance(inject, BurstInject) and not self.simulated:
            log.info("burst %s: simulated reports are off in a live pilot", inject.id)
        else:
            base = control.fired_at(inject.id)
            own = [r for r in self.drawn.reports if r.inject == inject.id]
            self._spawn(self._send_all(own, base - entry.t))

    async def _send_all(self, planned: list[traffic.Planned], shift: float) -> None:
        for r in planned:
            await self.control.until(r.t + shift)
            self._spawn(self._send(r))

    async def _background(self) -> None:
        start = self.control.started_from
        for r in self.drawn.reports:
            if r.inject is None and r.t >= start:
                await self.control.until(r.t)
                self._spawn(self._send(r))

    async def _send(self, r: traffic.Planned) -> None:
        await self._ready.wait()
        group = self.drawn.participants[r.device].group
        phones = self._phones.get(group) or self.devices()
        if not phones:
            return
        phone = phones[next(self._rotate) % len(phones)]
        files = []
        if r.media in ("photo", "video"):
            make = media.photo if r.media == "photo" else media.video
            files = [await asyncio.to_thread(make, random.Random(self.seed + int(r.t)))]
        try:
            report_id = await phone.submit_report(r.category, r.text, r.lat, r.lon, files)
        except (DeviceError, DeviceGone, TimeoutError) as exc:
            key = getattr(exc, "code", type(exc).__name__)
            self.refused[key] = self.refused.get(key, 0) + 1
            self.control.problem = f"A scripted report was not accepted ({key})."
            return
        if r.inject is not None:
            self.sent.setdefault(r.inject, []).append(report_id)

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def alert_prompt(plan: Plan, inject: AlertInject) -> str:
    """What an alert inject asks of the officers in a live pilot (they broadcast, not a
    stand-in)."""
    a = inject.alert
    where = f"the zone {a.area}" if a.area else "the pilot area"
    cats = ", ".join(a.categories)
    return f"Send the exercise alert: {a.headline} (to {where}, categories {cats})."


def _centre(plan: Plan) -> tuple[float, float]:
    pts = plan.area.coordinates
    return sum(p[1] for p in pts) / len(pts), sum(p[0] for p in pts) / len(pts)


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _plain(exc: BaseException) -> str:
    if isinstance(exc, ProtocolError):
        return exc.message
    if isinstance(exc, TimeoutError):
        return "the relay did not answer in time"
    return str(exc) or type(exc).__name__


__all__ = [
    "CitizenLink",
    "LiveRun",
    "PilotControl",
    "PilotRefused",
    "StartMode",
    "alert_prompt",
    "create_pilot",
    "default_start",
    "find_pilot",
    "refusal",
]
