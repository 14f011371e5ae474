"""Plan time: the days' windows end to end, nights skipped; the timeline; a run's clock.

Plan time 0 is day 1's window opening. `Schedule` maps plan time to the real time in the
plan's zone through UTC, so a day across a daylight-saving change has its real length;
`PlanClock` maps it to a run's wall clock at a speed.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backend_client import rules
from backend_client.pilots.model import (
    Act,
    BurstInject,
    Expectation,
    Inject,
    Plan,
    PlanError,
    Problem,
    PromptInject,
    ReportInject,
    Trigger,
    participants,
    scenario_of,
)

# ---------------------------------------------------------------- the schedule


@dataclass(frozen=True)
class Window:
    """One day's window in real time (UTC) and in plan time."""

    day: int  # 1-based
    opens: dt.datetime  # UTC
    closes: dt.datetime  # UTC
    t0: float  # plan time at which it opens

    @property
    def length_s(self) -> float:
        return (self.closes - self.opens).total_seconds()


@dataclass(frozen=True)
class Schedule:
    """Plan time <-> the real date and time in the plan's zone (nights skipped)."""

    tz: ZoneInfo
    windows: tuple[Window, ...]

    @staticmethod
    def of(plan: Plan) -> Schedule:
        """The plan's schedule; PlanError if its zone or days cannot make one."""
        problems = schedule_problems(plan)
        if problems:
            raise PlanError(plan.name, problems)
        tz = ZoneInfo(plan.timezone)
        windows, t0 = [], 0.0
        for i, day in enumerate(plan.days, 1):
            opens, closes = _utc(day.date, day.start, tz), _utc(day.date, day.end, tz)
            windows.append(Window(i, opens, closes, t0))
            t0 += (closes - opens).total_seconds()
        return Schedule(tz, tuple(windows))

    @property
    def length_s(self) -> float:
        """Plan seconds from day 1's opening to the last day's close, nights skipped."""
        return sum(w.length_s for w in self.windows)

    def at(self, t: float, day: int | None = None) -> dt.datetime:
        """The real time (in the plan's zone) of plan time `t`.

        A day's close and the next day's opening share one plan time; `day` (1-based) says
        which is meant, else the later day's window is used.
        """
        if not self.windows:
            raise ValueError("a plan with no days has no times")
        if day is not None:
            window = self.windows[day - 1]
        else:
            window = next((w for w in reversed(self.windows) if w.t0 <= t), self.windows[0])
        return (window.opens + dt.timedelta(seconds=t - window.t0)).astimezone(self.tz)

    def plan_time(self, when: dt.datetime) -> float | None:
        """Plan time of a real (aware) time, None if it falls outside every day's window."""
        for w in self.windows:
            if w.opens <= when <= w.closes:
                return w.t0 + (when - w.opens).total_seconds()
        return None

    def local(self, day: int, clock: dt.time) -> float:
        """Plan time of local time `clock` on `day` (1-based)."""
        w = self.windows[day - 1]
        return (
            w.t0
            + (_utc(w.opens.astimezone(self.tz).date(), clock, self.tz) - w.opens).total_seconds()
        )

    def act_span(self, act: Act) -> tuple[float, float]:
        return self.local(act.day, act.start), self.local(act.day, act.end)


def _utc(date: dt.date, clock: dt.time, tz: ZoneInfo) -> dt.datetime:
    """A local date and time as UTC; an ambiguous time (clocks back) is its first instance."""
    return dt.datetime.combine(date, clock, tzinfo=tz).astimezone(dt.UTC)


def _exists(date: dt.date, clock: dt.time, tz: ZoneInfo) -> bool:
    local = dt.datetime.combine(date, clock, tzinfo=tz)
    return local.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None) == local.replace(
        tzinfo=None
    )


@dataclass(frozen=True)
class PlanClock:
    """A run of a plan that started at `started` (wall clock) at `speed` times real time."""

    started: dt.datetime
    speed: float = 1.0

    def __post_init__(self) -> None:
        if not (self.speed > 0 and math.isfinite(self.speed)):
            raise ValueError(f"speed must be a positive number, not {self.speed}")

    def wall_s(self, t: float) -> float:
        """Wall seconds after the start at which plan time `t` falls."""
        return t / self.speed

    def wall(self, t: float) -> dt.datetime:
        return self.started + dt.timedelta(seconds=t / self.speed)

    def plan_time(self, when: dt.datetime) -> float:
        return (when - self.started).total_seconds() * self.speed

    def lateness(self, t: float, happened: dt.datetime) -> float:
        """How late (plan seconds; negative: early) something due at `t` happened."""
        return self.plan_time(happened) - t


# ---------------------------------------------------------------- the timeline

EntryKind = Literal["day_start", "act_start", "inject", "deadline", "act_end", "day_end"]
_ORDER = {"day_start": 0, "act_start": 1, "inject": 2, "deadline": 3, "act_end": 4, "day_end": 5}


@dataclass(frozen=True)
class Entry:
    """One moment of the plan: `t` plan seconds, `at` the real time in the plan's zone.

    A deadline whose trigger is a report (`first_report`, `each_report`) cannot be known
    before the run: its entry is the latest it can fall (`latest`: the act's end plus
    `within_s`).
    """

    t: float
    kind: EntryKind
    day: int
    ref: str  # the day number, act id, inject id or expectation id
    act: str | None
    label: str
    at: dt.datetime
    latest: bool = False

    def at_speed(self, clock: PlanClock) -> dt.datetime:
        return clock.wall(self.t)


def timeline(plan: Plan) -> list[Entry]:
    """Every day, act, inject and deadline of a checked plan, in plan time order."""
    sched = Schedule.of(plan)
    entries: list[Entry] = []

    def add(
        t: float,
        kind: EntryKind,
        day: int,
        ref: str,
        act: str | None,
        label: str,
        latest: bool = False,
    ) -> None:
        entries.append(Entry(t, kind, day, ref, act, label, sched.at(t, day), latest))

    for w in sched.windows:
        title = plan.days[w.day - 1].title
        add(
            w.t0,
            "day_start",
            w.day,
            str(w.day),
            None,
            f"Day {w.day} opens" + (f": {title}" if title else ""),
        )
        add(w.t0 + w.length_s, "day_end", w.day, str(w.day), None, f"Day {w.day} closes")
    injects = {i.id: (a, i) for a in plan.acts for i in a.injects}
    for act in plan.acts:
        t_start, t_end = sched.act_span(act)
        name = act.title or act.id
        add(t_start, "act_start", act.day, act.id, act.id, f"{name} starts")
        add(t_end, "act_end", act.day, act.id, act.id, f"{name} ends")
        for inject in act.injects:
            add(t_start + inject.at_s, "inject", act.day, inject.id, act.id, _inject_label(inject))
        for exp in act.expect:
            t, latest = deadline(exp, t_start, t_end, sched, injects)
            if t is not None:
                label = exp.text or f"{exp.action.replace('_', ' ')} due ({exp.trigger})"
                add(t, "deadline", act.day, exp.id, act.id, label, latest)
    entries.sort(key=lambda e: (e.t, e.day, _ORDER[e.kind]))
    return entries


def deadline(
    exp: Expectation,
    t_start: float,
    t_end: float,
    sched: Schedule,
    injects: dict[str, tuple[Act, Inject]],
) -> tuple[float | None, bool]:
    trigger = Trigger.parse(exp.trigger or "")
    if trigger is None or exp.within_s is None:
        return None, False
    if trigger.kind == "act_start":
        return t_start + exp.within_s, False
    if trigger.kind == "inject":
        if trigger.inject not in injects:
            return None, False
        act, inject = injects[trigger.inject]
        return sched.act_span(act)[0] + inject.at_s + exp.within_s, False
    return t_end + exp.within_s, True


def _inject_label(inject: Inject) -> str:
    if isinstance(inject, ReportInject):
        return f"Scripted {rules.category_label(inject.category)} report: {inject.text}"
    if isinstance(inject, BurstInject):
        return f"Burst of {inject.count} reports over {duration(inject.over_s)}"
    if isinstance(inject, PromptInject):
        return f"Prompt to officers: {inject.text}"
    return f"Alert by {inject.by}: {inject.alert.headline}"


def schedule_problems(plan: Plan) -> list[Problem]:
    out: list[Problem] = []
    try:
        tz = ZoneInfo(plan.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return [
            Problem(
                "timezone",
                f"{plan.timezone!r} is not an IANA time zone name; write one like Europe/London",
            )
        ]
    if not plan.days:
        return [
            Problem("days", "a plan needs at least one day ([[days]] with date, start and end)")
        ]
    for i, day in enumerate(plan.days):
        where = f"days[{i}] (day {i + 1}, {day.date})"
        for key, clock in (("start", day.start), ("end", day.end)):
            if not _exists(day.date, clock, tz):
                out.append(
                    Problem(
                        f"{where}.{key}",
                        f"{hm(clock)} does not exist in {plan.timezone} on {day.date} (the clocks "
                        "go forward over it); choose a time outside the gap",
                    )
                )
        if _utc(day.date, day.end, tz) <= _utc(day.date, day.start, tz):
            out.append(
                Problem(
                    where,
                    f"the day ends ({hm(day.end)}) before it starts ({hm(day.start)}); "
                    "a day's window runs from start to end on the same date",
                )
            )
        if i and day.date <= plan.days[i - 1].date:
            out.append(
                Problem(
                    f"{where}.date",
                    f"day {i + 1} ({day.date}) is not after day {i} ({plan.days[i - 1].date}); "
                    "list the days in date order, one per date",
                )
            )
    return out


def expected_reports(plan: Plan, scenario_dir: Path | None = None) -> float:
    """The mean number of reports a run of the plan yields (simulated, bursts and scripted)."""
    sched = Schedule.of(plan)
    total = 0.0
    for act in plan.acts:
        rate = act.report_rate_per_min
        if rate is None:
            rate = scenario_of(plan, act, scenario_dir).spec.report_rate_per_min
        t_start, t_end = sched.act_span(act)
        total += participants(plan, act) * rate * (t_end - t_start) / 60.0
        for inject in act.injects:
            if isinstance(inject, BurstInject):
                total += inject.count
            elif isinstance(inject, ReportInject):
                total += 1
    return total


def hm(clock: dt.time) -> str:
    return clock.strftime("%H:%M") if not clock.second else clock.strftime("%H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    sign, s = ("-" if seconds < 0 else ""), abs(round(seconds))
    h, rest = divmod(s, 3600)
    mins, secs = divmod(rest, 60)
    parts = [
        f"{h} h" if h else "",
        f"{mins} min" if mins else "",
        f"{secs} s" if secs or not s else "",
    ]
    return sign + " ".join(p for p in parts if p)
