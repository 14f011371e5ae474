"""Scripted officers: claim, answer, link and broadcast after set delays, in plan time.

Each stand-in of the plan signs in as its own officer account (so the relay's audit and
event log name who did what, as they would a person) and watches the event log through
its own officer client. A report of the pilot starts the clocks of the stand-in actions
whose trigger it matches (`each_report`, `first_report` of its act and category); an
`act_start` trigger is a fixed plan time known before the run, an `inject:<id>` one starts
when the inject fires (on time, or by hand from the run panel; never, if skipped). What
is due is done at that plan time on the run's clock (which a pause stops); what fails is
counted, never raised: a rehearsal goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from backend_client import messages as m
from backend_client.client import RelayClient
from backend_client.pilots import AlertInject, AlertSpec, Plan, StandInAction, Trigger, to_info

log = logging.getLogger(__name__)

_ids = itertools.count(1)


class Clock(Protocol):
    """Plan time, however it runs (`pilot.live.LiveControl`: at speed, paused, resumed)."""

    def until(self, t: float) -> Awaitable[None]: ...


def _idem() -> str:
    return f"rehearse-{next(_ids)}"


@dataclass
class Done:
    """What the stand-ins did (for the run's log; metrics come from the relay)."""

    actions: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


class StandIns:
    """Every stand-in of a plan, each acting through its own signed-in officer client."""

    def __init__(
        self,
        plan: Plan,
        pilot_id: str,
        clients: dict[str, RelayClient],
        clock: Clock,
        act_of: Callable[[float, str], str | None],
        spans: dict[str, tuple[float, float]],  # act id -> (start, end) in plan time
        inject_times: dict[str, tuple[str, float]],  # inject id -> (act id, plan time)
        end_t: float,
        *,
        respond: bool = True,
    ) -> None:
        self.plan = plan
        self.pilot_id = pilot_id
        self.clients = clients
        self.clock = clock
        self.act_of = act_of
        self.spans = spans
        self.inject_times = inject_times
        self.end_t = end_t
        #: off: only the scripted alert injects are sent; the officers at a console respond
        self.respond = respond
        self.done = Done()
        self.alert_ids: dict[str, str] = {}  # alert inject id -> the relay's alert id
        self._incidents: dict[str, str] = {}  # plan's incident_ref -> the relay's
        self._first_seen: set[tuple[str, int]] = set()
        self._inject_reports: dict[str, str] = {}  # scripted report inject -> report id
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ what triggers what

    def start_fixed(self) -> None:
        """The actions at known plan times: act starts."""
        if not self.respond:
            return
        for s in self.plan.stand_ins:
            for k, does in enumerate(s.does):
                trig = Trigger.parse(does.trigger or "")
                if trig is not None and trig.kind == "act_start":
                    for act in self.plan.acts:
                        if does.act in (None, act.id):
                            t = self.spans[act.id][0] + does.after_s
                            self._at(t, self._act(s.name, does, None, f"{s.name}[{k}]"))

    def on_inject(self, inject_id: str, t: float) -> None:
        """An inject fired, its clock starting at plan time `t` (on time or by hand)."""
        if not self.respond:
            return
        for s in self.plan.stand_ins:
            for k, does in enumerate(s.does):
                trig = Trigger.parse(does.trigger or "")
                if trig is not None and trig.kind == "inject" and trig.inject == inject_id:
                    self._at(
                        t + does.after_s,
                        self._act(s.name, does, None, f"{s.name}[{k}]", inject=inject_id),
                    )

    def alert_now(self, inject: AlertInject) -> None:
        """An alert inject fired: its stand-in broadcasts it (scripted, so even with
        `respond` off)."""
        task = asyncio.create_task(self._alert(inject.by, inject.alert, inject.id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def note_inject_report(self, inject: str, report_id: str) -> None:
        """The report a scripted report inject became (what its trigger's actions act on)."""
        self._inject_reports[inject] = report_id

    def on_report(self, report: m.Report, t: float) -> None:
        """A report of the pilot was created at plan time `t`."""
        if not self.respond:
            return
        act = self.act_of(t, report.category)
        for s in self.plan.stand_ins:
            for k, does in enumerate(s.does):
                if does.act is not None and does.act != act:
                    continue
                if does.category is not None and does.category != report.category:
                    continue
                trig = Trigger.parse(does.trigger or "")
                if trig is None:
                    continue
                if trig.kind == "first_report":
                    key = (f"{s.name}:{act}", k)
                    if key in self._first_seen:
                        continue
                    self._first_seen.add(key)
                elif trig.kind != "each_report":
                    continue
                self._at(t + does.after_s, self._act(s.name, does, report.report_id, s.name))

    # ------------------------------------------------------------ doing it

    def _at(self, t: float, coro: Coroutine[Any, Any, None]) -> None:
        if t > self.end_t:
            coro.close()
            return

        async def later() -> None:
            await self.clock.until(t)
            await coro

        task = asyncio.create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _act(
        self,
        who: str,
        does: StandInAction,
        report_id: str | None,
        label: str,
        inject: str | None = None,
    ) -> None:
        if report_id is None and inject is not None:
            report_id = self._inject_reports.get(inject)
        client = self.clients[who]
        try:
            if does.action == "alert":
                if does.alert is not None:
                    await self._send_alert(client, does.alert)
            elif report_id is None:
                return  # a report action with no report to act on
            elif does.action == "claim":
                await client.request(m.ReportClaim(id="", idem=_idem(), report_id=report_id))
            elif does.action in ("chat", "first_response"):
                text = does.text or "Thank you for your report (exercise)."
                await client.request(
                    m.OfficerChatSend(id="", idem=_idem(), report_id=report_id, text=text)
                )
            elif does.action == "link_incident":
                ref = await self._incident(client, does.incident_ref or "rehearsal")
                await client.request(
                    m.ReportLink(id="", idem=_idem(), report_id=report_id, incident_ref=ref)
                )
            elif does.action == "close":
                await client.request(
                    m.ReportSetStatus(id="", idem=_idem(), report_id=report_id, status="closed")
                )
            self.done.actions += 1
        except Exception as exc:  # counted: one refusal must not stop the rehearsal
            self.done.error(f"{does.action}: {type(exc).__name__}")
            log.debug("stand-in %s could not %s: %s", label, does.action, exc)

    async def _alert(self, who: str, spec: AlertSpec, inject_id: str) -> None:
        client = self.clients.get(who)
        if client is None:
            self.done.error("alert: no such stand-in")
            return
        try:
            alert = await self._send_alert(client, spec)
            self.alert_ids[inject_id] = alert.alert_id
            self.done.actions += 1
        except Exception as exc:
            self.done.error(f"alert: {type(exc).__name__}")
            log.debug("stand-in %s could not send an alert: %s", who, exc)

    async def _send_alert(self, client: RelayClient, spec: AlertSpec) -> m.Alert:
        info = msgspec.structs.replace(
            to_info(self.plan, spec, time.time()), pilot_id=self.pilot_id
        )
        accepted = await client.request(m.AlertSend(id="", idem=_idem(), info=info))
        assert isinstance(accepted, m.AlertAccepted)
        return accepted.alert

    async def _incident(self, client: RelayClient, plan_ref: str) -> str:
        """The relay's incident for the plan's reference (made on first use)."""
        if plan_ref not in self._incidents:
            made = await client.request(
                m.IncidentCreate(id="", idem=_idem(), title=f"Exercise {plan_ref}")
            )
            assert isinstance(made, m.IncidentCreated)
            self._incidents.setdefault(plan_ref, made.incident_ref)
        return self._incidents[plan_ref]

    async def drain(self, timeout: float) -> None:
        """Wait for what is due (everything left is after the plan's end: cancelled)."""
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for t in pending:
                t.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*pending, return_exceptions=True)
