"""Live control of a run of a plan: start, pause, resume, skip or fire an inject, end.

Everything about a run's states lives here, in one table (as `backend_client.state` does
for the connection): `MOVES` says which move is possible in which state and where it
leads; anything else raises `RefusedMove` with the reason in the controller's words.

`Run` keeps plan time from monotonic clock readings the caller passes in (it never reads
a clock itself, so a test drives it with plain numbers): running, plan time advances at
`speed` plan seconds per wall second; paused, it stands still; resuming carries on from
where it stood. `due(now)` hands out the injects whose plan time has come, each once;
`fire` hands one out now, out of turn; `skip` takes one out. An inject that fired or was
skipped never fires again. Each running stretch is remembered, so `plan_time_at` turns a
past reading (an event the relay stamped) into the plan time it fell at, pauses included.

`RunControl` is what a console panel drives and shows (`RunView`), without knowing the
runner behind it: `pilot.rehearsal` implements it over a `Run` and a `Tracker`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable

from backend_client.pilots.evaluation import Outcome
from backend_client.pilots.model import Plan
from backend_client.pilots.schedule import Entry, Schedule, timeline


class RunState(Enum):
    READY = "ready"  # set up, plan time 0, waiting for Start
    RUNNING = "running"  # plan time advances; injects fire when due
    PAUSED = "paused"  # plan time stands still; nothing fires by itself
    ENDED = "ended"  # over: the plan's end was reached or the run was ended


class Move(Enum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    FIRE = "fire"  # an inject now, out of turn
    SKIP = "skip"  # an inject never fires
    SPEED = "speed"  # a new speed from now on
    END = "end"


R, V = RunState, Move
MOVES: dict[tuple[RunState, Move], RunState] = {
    (R.READY, V.START): R.RUNNING,
    (R.RUNNING, V.PAUSE): R.PAUSED,
    (R.PAUSED, V.RESUME): R.RUNNING,
    (R.RUNNING, V.FIRE): R.RUNNING,
    (R.PAUSED, V.FIRE): R.PAUSED,
}
for _s in (R.READY, R.RUNNING, R.PAUSED):
    MOVES[(_s, V.SKIP)] = _s
    MOVES[(_s, V.SPEED)] = _s
    MOVES[(_s, V.END)] = R.ENDED

#: what to do instead, per state, for a move that is not possible there
_HINT = {
    R.READY: "start the run first",
    R.RUNNING: "pause it first",
    R.PAUSED: "resume it first",
    R.ENDED: "the run is over",
}


class RefusedMove(RuntimeError):
    """A move the run's state (or an inject's fate) does not allow, in the user's words."""


def next_run_state(current: RunState, move: Move) -> RunState:
    try:
        return MOVES[(current, move)]
    except KeyError:
        raise RefusedMove(
            f"cannot {move.value} while the run is {current.value}: {_HINT[current]}"
        ) from None


@dataclass(frozen=True)
class Fired:
    inject: str
    due_t: float  # the plan time it was planned for
    t: float  # the plan time it fired
    out_of_turn: bool  # fired by hand (`fire`), not because it was due


@dataclass(frozen=True)
class Upcoming:
    entry: Entry
    in_s: float  # plan seconds until it is due (negative: overdue, e.g. while paused)


@dataclass(frozen=True)
class _Stretch:
    """A running stretch: from wall reading `wall`, plan time `t` at `speed`."""

    wall: float
    t: float
    speed: float


class Run:
    """One run of a plan's injects on a monotonic clock the caller reads."""

    def __init__(self, entries: Iterable[Entry], length_s: float, speed: float = 1.0) -> None:
        _check_speed(speed)
        self.injects: tuple[Entry, ...] = tuple(
            sorted((e for e in entries if e.kind == "inject"), key=lambda e: e.t)
        )
        self._by_id = {e.ref: e for e in self.injects}
        self.length_s = length_s
        self.speed = speed
        self.state = RunState.READY
        self.fired: dict[str, Fired] = {}
        self.skipped: set[str] = set()
        self._t = 0.0  # plan time where the current stretch began (or where it stands)
        self._stretches: list[_Stretch] = []

    @staticmethod
    def of(plan: Plan, speed: float = 1.0) -> Run:
        return Run(timeline(plan), Schedule.of(plan).length_s, speed)

    # ------------------------------------------------------------ plan time

    def plan_time(self, now: float) -> float:
        """Plan time at wall reading `now` (not before the last move's reading)."""
        if self.state is RunState.RUNNING:
            s = self._stretches[-1]
            return s.t + (now - s.wall) * s.speed
        return self._t

    def plan_time_at(self, when: float) -> float:
        """Plan time at a past wall reading `when`: inside a pause, where it stood then;
        before the start, counted back from the first stretch (negative)."""
        if not self._stretches:
            return 0.0
        k = max(0, bisect.bisect_right([s.wall for s in self._stretches], when) - 1)
        s = self._stretches[k]
        t = s.t + (when - s.wall) * s.speed
        if k + 1 < len(self._stretches):
            t = min(t, self._stretches[k + 1].t)
        elif self.state is not RunState.RUNNING:
            t = min(t, self._t)
        return t

    def segments(self) -> list[tuple[float, float, float, float | None]]:
        """The running stretches so far, as (wall reading, plan time, speed, plan time it
        stood at once it stopped or None): what `plan_time_at` reads, for a run's log."""
        out: list[tuple[float, float, float, float | None]] = []
        for k, s in enumerate(self._stretches):
            if k + 1 < len(self._stretches):
                until: float | None = self._stretches[k + 1].t
            else:
                until = None if self.state is RunState.RUNNING else self._t
            out.append((s.wall, s.t, s.speed, until))
        return out

    def wall_until(self, t: float, now: float) -> float | None:
        """Wall seconds from `now` until plan time `t`: 0 if it has come (paused too: an
        inject fired by hand while paused goes out now), None while it is still ahead and
        plan time stands still (ready, paused, ended)."""
        ahead = t - self.plan_time(now)
        if ahead <= 0:
            return 0.0
        return ahead / self.speed if self.state is RunState.RUNNING else None

    def finished(self, now: float) -> bool:
        """The plan's last window has closed (or the run ended)."""
        return self.state is RunState.ENDED or self.plan_time(now) >= self.length_s

    # ------------------------------------------------------------ moves

    def start(self, now: float) -> None:
        self.state = next_run_state(self.state, Move.START)
        self._stretches.append(_Stretch(now, self._t, self.speed))

    def pause(self, now: float) -> None:
        t = self.plan_time(now)
        self.state = next_run_state(self.state, Move.PAUSE)
        self._t = t

    def resume(self, now: float) -> None:
        self.state = next_run_state(self.state, Move.RESUME)
        self._stretches.append(_Stretch(now, self._t, self.speed))

    def set_speed(self, speed: float, now: float) -> None:
        _check_speed(speed)
        state = next_run_state(self.state, Move.SPEED)
        if state is RunState.RUNNING:
            self._t = self.plan_time(now)
            self._stretches.append(_Stretch(now, self._t, speed))
        self.speed = speed

    def end(self, now: float) -> None:
        t = self.plan_time(now)
        self.state = next_run_state(self.state, Move.END)
        self._t = t

    def due(self, now: float) -> list[Entry]:
        """The injects whose plan time has come and that have not fired or been skipped;
        each is handed out once (it counts as fired from here on)."""
        if self.state is not RunState.RUNNING:
            return []
        t = self.plan_time(now)
        out = [e for e in self.injects if e.t <= t and self._pending(e.ref)]
        for e in out:
            self.fired[e.ref] = Fired(e.ref, e.t, t, out_of_turn=False)
        return out

    def fire(self, inject_id: str, now: float) -> Entry:
        """The inject, now and out of turn (it will not fire again when its time comes)."""
        entry = self._fate(inject_id, "fire")
        self.state = next_run_state(self.state, Move.FIRE)
        self.fired[inject_id] = Fired(inject_id, entry.t, self.plan_time(now), out_of_turn=True)
        return entry

    def skip(self, inject_id: str) -> Entry:
        """The inject will never fire."""
        entry = self._fate(inject_id, "skip")
        self.state = next_run_state(self.state, Move.SKIP)
        self.skipped.add(inject_id)
        return entry

    # ------------------------------------------------------------ what comes next

    def next_up(self, now: float, k: int = 5) -> list[Upcoming]:
        """The next `k` injects still to fire, in plan order, with how soon they are due."""
        t = self.plan_time(now)
        pending = [e for e in self.injects if self._pending(e.ref)]
        return [Upcoming(e, e.t - t) for e in pending[:k]]

    def next_due(self) -> float | None:
        """Plan time of the next inject still to fire."""
        return next((e.t for e in self.injects if self._pending(e.ref)), None)

    def fired_t(self) -> dict[str, float]:
        """Inject id -> plan time it fired (what an expectation's `inject:` trigger starts at)."""
        return {k: f.t for k, f in self.fired.items()}

    def _pending(self, inject_id: str) -> bool:
        return inject_id not in self.fired and inject_id not in self.skipped

    def _fate(self, inject_id: str, what: str) -> Entry:
        entry = self._by_id.get(inject_id)
        if entry is None:
            raise RefusedMove(f"cannot {what} {inject_id!r}: the plan has no inject of that name")
        if inject_id in self.fired:
            raise RefusedMove(
                f"cannot {what} {inject_id!r}: it has fired already (an inject fires once)"
            )
        if inject_id in self.skipped:
            raise RefusedMove(f"cannot {what} {inject_id!r}: it was skipped")
        return entry


def _check_speed(speed: float) -> None:
    if not (speed > 0 and math.isfinite(speed)):
        raise RefusedMove(f"speed must be a positive number, not {speed}")


# ---------------------------------------------------------------- what a console drives


@dataclass(frozen=True)
class Shown:
    """A prompt to officers that fired, with when (plan time)."""

    inject: str
    t: float
    text: str


@dataclass(frozen=True)
class RunView:
    """A run as a panel shows it, at one moment."""

    title: str
    state: RunState
    plan_time: float
    length_s: float
    speed: float
    at: dt.datetime | None  # the real time (plan's zone) plan time stands for
    next_up: tuple[Upcoming, ...]
    expectations: tuple[Outcome, ...]
    fired: int
    skipped: int
    injects: int
    prompts: tuple[Shown, ...] = ()
    problem: str = ""  # the last thing that went wrong in the runner, in the user's words


@runtime_checkable
class RunControl(Protocol):
    """A live run a console panel can drive; every method may be called from the GUI
    thread and returns at once. A refused move raises `RefusedMove`."""

    def view(self) -> RunView: ...

    def start(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def skip(self, inject_id: str) -> None: ...

    def fire(self, inject_id: str) -> None: ...
