"""Was each expected officer action done in time? One rule, live and after the fact.

HSEEP's evaluation: every expectation of an act starts a clock at its trigger (the act's
start, its first report, each report, or an inject firing) and is met when the action is
seen within `within_s` of every start. `evaluate` decides it from plain inputs, in plan
seconds: the act's reports with the first time each officer action was done on them, the
pilot's alerts, the plan times the injects fired, and `now`. After the fact `now` is
infinity (every deadline has passed); during a run it is the run's plan time, so a clock
whose deadline is still ahead is `pending` rather than `missed`.

`pilot.metrics` reads these inputs from the relay's event log once the run is over;
`Tracker` builds the same inputs from the officer events as they arrive (what the console
receives), so the run panel ticks an action off, or marks it missed, by the same rule the
after-action report uses. `actions_shown` is the one reading of an event as officer
actions.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from backend_client import geometry
from backend_client import messages as m
from backend_client.pilots.model import Expectation, Plan, ReportInject, Trigger
from backend_client.pilots.schedule import Schedule

#: pending: a deadline is still ahead and nothing is missed yet; met: done in time for
#: every start; missed: a deadline passed without it; not triggered: no clock started yet
Status = Literal["pending", "met", "missed", "not triggered"]
#: the report actions an officer event can show (an alert is its own event)
REPORT_ACTIONS: tuple[str, ...] = ("claim", "first_response", "chat", "link_incident", "close")
_EPS = 1e-6


@dataclass
class SeenReport:
    """A report of the pilot and the first plan time each officer action was seen on it."""

    report_id: str
    t: float  # plan time it was created
    category: str
    text: str
    act: str | None
    done: dict[str, float] = field(default_factory=dict)  # action -> first plan time
    first_action_t: float | None = None  # any officer action (claim, status, link) or chat

    def action_t(self, action: str) -> float | None:
        return self.done.get(action)

    def saw(self, actions: Iterable[str], t: float) -> None:
        """Officer actions seen at plan time `t` (none: some other officer change)."""
        for action in actions:
            if action not in self.done or t < self.done[action]:
                self.done[action] = t
        if self.first_action_t is None or t < self.first_action_t:
            self.first_action_t = t


@dataclass(frozen=True)
class SeenAlert:
    t: float  # plan time it was sent
    categories: tuple[str, ...]
    area: m.Polygon | m.Circle


@dataclass(frozen=True)
class Outcome:
    """One expectation's evaluation (plan seconds); `pilot.metrics` writes it as JSON."""

    id: str
    act: str
    action: str
    trigger: str | None
    within_s: float
    text: str
    status: Status
    triggered: int  # clocks started
    in_time: int  # of those, done in time
    pending: int  # of those, not done yet with the deadline still ahead
    first_due_s: float | None  # the first clock's deadline
    next_due_s: float | None  # the earliest deadline still ahead (pending only)
    done_s: float | None  # the latest time it was done in time
    worst_delay_s: float | None  # the longest start-to-done of those done in time

    @property
    def met(self) -> bool:
        return self.status == "met"


def evaluate(
    plan: Plan,
    sched: Schedule,
    act_id: str,
    exp: Expectation,
    reports: list[SeenReport],
    alerts: Iterable[SeenAlert],
    fired_t: Mapping[str, float],
    now: float = math.inf,
) -> Outcome:
    """`exp` of act `act_id` at plan time `now`; `reports` are the act's, in time order."""
    act = plan.act(act_id)
    t0, _t1 = sched.act_span(act)
    trig = Trigger.parse(exp.trigger or "")
    within = float(exp.within_s or 0.0)
    scoped = [r for r in reports if exp.category is None or r.category == exp.category]
    # each start of the clock, with the report it is about (None: any report of the act)
    starts: list[tuple[float, SeenReport | None]] = []
    if trig is None:
        pass
    elif trig.kind == "act_start":
        starts = [(t0, None)] if t0 <= now else []
    elif trig.kind == "first_report":
        starts = [(scoped[0].t, scoped[0])] if scoped else []
    elif trig.kind == "each_report":
        starts = [(r.t, r) for r in scoped]
    elif trig.inject is not None and trig.inject in fired_t:
        inj = next(i for a in plan.acts for i in a.injects if i.id == trig.inject)
        own = next(
            (r for r in reports if isinstance(inj, ReportInject) and r.text == inj.text), None
        )
        starts = [(fired_t[trig.inject], own)]
    zone = plan.area_of(exp.area) if exp.area else None
    # the alerts that would do, tested against the zone once each (not once per start:
    # each_report over a detailed zone cost reports x alerts polygon tests), by time
    fitting: list[float] = []
    if exp.action == "alert" and starts:
        fitting = sorted(
            a.t
            for a in alerts
            if (exp.category is None or exp.category in a.categories)
            and (zone is None or covers(a.area, zone))
        )
    outcomes: list[float | None] = []
    for start, report in starts:
        if exp.action == "alert":
            k = bisect.bisect_left(fitting, start - _EPS)
            done = fitting[k : k + 1]
        else:
            pool = [report] if report is not None else scoped
            done = [
                t for r in pool if (t := r.action_t(exp.action)) is not None and t >= start - _EPS
            ]
        first = min(done, default=None)
        outcomes.append(first if first is not None and first - start <= within else None)
    in_time = sum(1 for o in outcomes if o is not None)
    ahead = [
        s + within
        for o, (s, _r) in zip(outcomes, starts, strict=True)
        if o is None and s + within >= now
    ]
    missed = len(starts) - in_time - len(ahead)
    status: Status
    if not starts:
        status = "not triggered"
    elif missed:
        status = "missed"
    elif ahead:
        status = "pending"
    else:
        status = "met"
    delays = [o - s for o, (s, _r) in zip(outcomes, starts, strict=True) if o is not None]
    return Outcome(
        id=exp.id,
        act=act_id,
        action=exp.action,
        trigger=exp.trigger,
        within_s=within,
        text=exp.text,
        status=status,
        triggered=len(starts),
        in_time=in_time,
        pending=len(ahead),
        first_due_s=starts[0][0] + within if starts else None,
        next_due_s=min(ahead, default=None),
        done_s=max(o for o in outcomes if o is not None) if in_time else None,
        worst_delay_s=max(delays) if delays else None,
    )


def covers(area: m.Polygon | m.Circle, zone: m.Polygon) -> bool:
    """Does an alert's area cover the zone an expectation names (a circle never does)."""
    if not isinstance(area, m.Polygon):
        return False
    return bool(
        geometry.shape(area.coordinates).buffer(1e-9).covers(geometry.shape(zone.coordinates))
    )


def actions_shown(ev: m.Msg) -> tuple[str, list[str]] | None:
    """The report an officer event acted on and the actions it shows, or None.

    A change by an officer (not the relay's own, e.g. media arriving) shows a claim, an
    incident link or a close by what the report now holds, and counts as a first action
    whatever it changed; an officer's chat message is a first response.
    """
    if isinstance(ev, m.ReportUpdated) and ev.by is not None:
        r = ev.report
        shown = [
            a
            for a, yes in (
                ("claim", r.claimed_by is not None),
                ("link_incident", r.incident_ref is not None),
                ("close", r.status == "closed"),
            )
            if yes
        ]
        return r.report_id, shown
    if isinstance(ev, m.ChatPosted) and ev.message.sender == "officer":
        return ev.message.report_id, ["first_response", "chat"]
    return None


def event_time(ev: m.Msg) -> float:
    """When the relay says an officer event happened (unix seconds, relay clock)."""
    if isinstance(ev, m.ChatPosted):
        return ev.message.sent_at
    if isinstance(ev, m.ReportCreated):
        return ev.report.created_at
    if isinstance(ev, m.AlertChanged):
        return ev.alert.sent_at
    return float(getattr(ev, "at", 0.0))


class Tracker:
    """The evaluation of a pilot's expectations, kept up to date as officer events arrive.

    Feed it every officer event (`on_event`: the pilot's reports, report changes and
    claims, chat, alerts; anything else is ignored) and ask `evaluate(now, fired_t)` at
    any plan time. `plan_time` turns the relay's unix time into the run's plan time (a
    paused run is not a straight line); `act_of` attributes a report to an act by its plan
    time and category, as the after-the-fact metrics do.
    """

    def __init__(
        self,
        plan: Plan,
        pilot_id: str,
        plan_time: Callable[[float], float],
        act_of: Callable[[float, str], str | None],
    ) -> None:
        self.plan = plan
        self.sched = Schedule.of(plan)
        self.pilot_id = pilot_id
        self.plan_time = plan_time
        self.act_of = act_of
        self.reports: dict[str, SeenReport] = {}
        self._ordered: list[tuple[float, str]] = []  # (t, report id), in plan time order
        self.alerts: dict[str, SeenAlert] = {}

    def on_event(self, ev: m.Msg) -> None:
        if isinstance(ev, m.ReportCreated):
            r = ev.report
            if r.pilot_id != self.pilot_id or r.report_id in self.reports:
                return
            t = self.plan_time(r.created_at)
            self.reports[r.report_id] = SeenReport(
                r.report_id, t, r.category, r.text, self.act_of(t, r.category)
            )
            bisect.insort(self._ordered, (t, r.report_id))
        elif isinstance(ev, m.AlertChanged):
            a = ev.alert
            if a.info.pilot_id != self.pilot_id or a.alert_id in self.alerts:
                return
            self.alerts[a.alert_id] = SeenAlert(
                self.plan_time(a.sent_at), tuple(a.info.categories), a.info.area
            )
        else:
            shown = actions_shown(ev)
            if shown is None or shown[0] not in self.reports:
                return
            self.reports[shown[0]].saw(shown[1], self.plan_time(event_time(ev)))

    def evaluate(self, now: float, fired_t: Mapping[str, float]) -> list[Outcome]:
        """Every expectation of the plan, in plan order, at plan time `now`."""
        by_act: dict[str, list[SeenReport]] = {a.id: [] for a in self.plan.acts}
        for _t, rid in self._ordered:
            r = self.reports[rid]
            if r.act in by_act:
                by_act[r.act].append(r)
        alerts = list(self.alerts.values())
        return [
            evaluate(self.plan, self.sched, act.id, exp, by_act[act.id], alerts, fired_t, now)
            for act in self.plan.acts
            for exp in act.expect
        ]
