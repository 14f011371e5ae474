"""Where the timeline view draws each day, act, inject and deadline. No Qt.

One row per day, its window from the day's opening to its close; acts are bars inside
their day's row (overlapping acts get lanes of their own); injects and expected-action
deadlines are markers at their plan times (`backend_client.pilots.timeline`). The x axis is
the local clock in hours, the same for every day, so the days line up under each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from backend_client.pilots import Plan, PlanError, Schedule, timeline


@dataclass(frozen=True)
class DayRow:
    day: int  # 1-based
    x0: float  # local clock hours
    x1: float
    label: str
    lanes: int


@dataclass(frozen=True)
class Bar:
    act: int  # index in plan.acts
    day: int
    lane: int
    x0: float
    x1: float
    label: str


@dataclass(frozen=True)
class Marker:
    kind: Literal["inject", "deadline"]
    act: int
    index: int  # in the act's injects or expect
    day: int
    lane: int
    x: float
    t: float  # plan seconds
    label: str
    #: a deadline whose trigger is a report: drawn where it falls at the latest
    latest: bool = False


@dataclass(frozen=True)
class Layout:
    days: list[DayRow] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    x_min: float = 8.0
    x_max: float = 18.0
    #: why nothing (or not everything) is drawn, in the inspector's words
    note: str = ""

    def marker(self, kind: str, act: int, index: int) -> Marker | None:
        return next(
            (m for m in self.markers if (m.kind, m.act, m.index) == (kind, act, index)), None
        )


def layout(plan: Plan | None) -> Layout:
    if plan is None:
        return Layout(note="Fix the plan's fields to see its timeline.")
    try:
        sched = Schedule.of(plan)
    except PlanError:
        return Layout(note="Fix the time zone and the days to see the timeline.")
    valid = [a for a in plan.acts if 1 <= a.day <= len(plan.days)]
    left_out = len(plan.acts) - len(valid)
    entries = timeline(msgspec.structs.replace(plan, acts=valid))
    index = {id(a): i for i, a in enumerate(plan.acts)}
    acts = {a.id: index[id(a)] for a in reversed(valid)}  # the first act of an id wins
    opens = [_hours(d.start.hour, d.start.minute, d.start.second) for d in plan.days]

    def x_of(t: float, day: int) -> float:
        return opens[day - 1] + (t - sched.windows[day - 1].t0) / 3600.0

    rows: list[DayRow] = []
    bars: list[Bar] = []
    lanes_of: dict[int, int] = {}
    for w in sched.windows:
        day = plan.days[w.day - 1]
        spans = sorted(
            (x_of(sched.act_span(a)[0], w.day), x_of(sched.act_span(a)[1], w.day), index[id(a)])
            for a in valid
            if a.day == w.day
        )
        ends: list[float] = []
        for x0, x1, i in spans:
            lane = next((n for n, end in enumerate(ends) if end <= x0), len(ends))
            if lane == len(ends):
                ends.append(x1)
            else:
                ends[lane] = x1
            lanes_of[i] = lane
            act = plan.acts[i]
            bars.append(Bar(i, w.day, lane, x0, max(x1, x0), act.title or act.id))
        title = f"Day {w.day} · {day.date:%a %d %b}"
        rows.append(
            DayRow(
                w.day, x_of(w.t0, w.day), x_of(w.t0 + w.length_s, w.day), title, max(1, len(ends))
            )
        )
    markers: list[Marker] = []
    for e in entries:
        if e.kind not in ("inject", "deadline") or e.act not in acts:
            continue
        i = acts[e.act]
        act = plan.acts[i]
        items = act.injects if e.kind == "inject" else act.expect
        j = next((n for n, item in enumerate(items) if item.id == e.ref), -1)
        if j < 0:
            continue
        kind: Literal["inject", "deadline"] = "inject" if e.kind == "inject" else "deadline"
        markers.append(
            Marker(kind, i, j, e.day, lanes_of.get(i, 0), x_of(e.t, e.day), e.t, e.label, e.latest)
        )
    xs = [r.x0 for r in rows] + [r.x1 for r in rows] + [m.x for m in markers]
    note = ""
    if left_out:
        note = f"{left_out} act{'s' if left_out != 1 else ''} on a day the plan does not have: not drawn"
    return Layout(
        rows,
        bars,
        markers,
        x_min=float(int(min(xs))) if xs else 8.0,
        x_max=float(int(max(xs)) + (0 if max(xs) == int(max(xs)) else 1)) if xs else 18.0,
        note=note,
    )


#: a dragged inject lands on a whole minute
SNAP_S = 60


def inject_at_s(plan: Plan, act: int, x: float) -> float:
    """An inject's `at_s` (seconds after its act starts) for a marker dropped at local clock
    hours `x`, on the minute, never before the act starts. An inject after its act ends is
    left to the plan's checks to name, as when it is typed in the table."""
    start = plan.acts[act].start
    seconds = (x - _hours(start.hour, start.minute, start.second)) * 3600.0
    return float(max(0, round(seconds / SNAP_S) * SNAP_S))


def _hours(h: int, m: int, s: int) -> float:
    return h + m / 60.0 + s / 3600.0


def clock(x: float) -> str:
    """Local clock hours as HH:MM."""
    minutes = round(x * 60)
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"
