"""A rehearsal's live control: the pure `Run` and `Tracker`, on this run's clocks and loop.

`LiveControl` is the `RunControl` a console's run panel drives. Its moves may come from
another thread (the console's GUI thread, while the rehearsal runs on its own loop): each
is applied under one lock with a `time.monotonic()` reading, then wakes the rehearsal's
loop, so a pause stops what waits for plan time and a Fire now fires at once. It is also
the run's clock for everything that waits in plan time (the simulated reports, the
stand-ins): `until(t)` waits while plan time stands still and wakes again when it moves.
The relay stamps events with its unix clock; `plan_time(unix)` maps them through the
run's pauses to the plan time they fell at.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable

from backend_client import messages as m
from backend_client.pilots import (
    Entry,
    Plan,
    PromptInject,
    Run,
    RunState,
    RunView,
    Schedule,
    Shown,
    Tracker,
)


class LiveControl:
    """One rehearsal's run: moves from any thread, waits on the rehearsal's loop."""

    def __init__(
        self,
        plan: Plan,
        pilot_id: str,
        speed: float,
        act_of: Callable[[float, str], str | None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.plan = plan
        self.sched = Schedule.of(plan)
        self.run = Run.of(plan, speed)
        self.tracker = Tracker(plan, pilot_id, self.plan_time, act_of)
        self._loop = loop
        self._lock = threading.RLock()
        self._changed = asyncio.Event()
        self._by_hand: list[Entry] = []  # fired out of turn, for the runner to carry out
        self._prompts: list[Shown] = []
        self._texts = {
            i.id: i.text for a in plan.acts for i in a.injects if isinstance(i, PromptInject)
        }
        # the relay's unix clock on this machine's monotonic one (both this machine's time)
        self._mono_minus_unix = time.monotonic() - time.time()
        self.problem = ""
        #: called on the loop after every move (a run log is saved on pause and end)
        self._watchers: list[Callable[[], object]] = []

    # ------------------------------------------------------------ RunControl (any thread)

    def view(self) -> RunView:
        with self._lock:
            now = time.monotonic()
            t = self.run.plan_time(now)
            return RunView(
                title=self.plan.title,
                state=self.run.state,
                plan_time=t,
                length_s=self.run.length_s,
                speed=self.run.speed,
                at=self.sched.at(min(t, self.run.length_s)) if self.sched.windows else None,
                next_up=tuple(self.run.next_up(now, 6)),
                expectations=tuple(self.tracker.evaluate(t, self.run.fired_t())),
                fired=len(self.run.fired),
                skipped=len(self.run.skipped),
                injects=len(self.run.injects),
                prompts=tuple(self._prompts),
                problem=self.problem,
            )

    def start(self) -> None:
        self._move(self.run.start)

    def pause(self) -> None:
        self._move(self.run.pause)

    def resume(self) -> None:
        self._move(self.run.resume)

    def end(self) -> None:
        self._move(self.run.end)

    def skip(self, inject_id: str) -> None:
        self._move(lambda _now: self.run.skip(inject_id))

    def fire(self, inject_id: str) -> None:
        def fire(now: float) -> None:
            self._by_hand.append(self.run.fire(inject_id, now))

        self._move(fire)

    # ------------------------------------------------------------ the runner's side (its loop)

    def take_due(self) -> list[Entry]:
        """What to fire now: what came due, and what was fired by hand since last asked."""
        with self._lock:
            out, self._by_hand = self._by_hand, []
            return out + self.run.due(time.monotonic())

    def fired_at(self, inject_id: str) -> float:
        """The plan time an inject's reports start from: its own time when it fired on
        time, the moment it was fired when fired by hand."""
        with self._lock:
            f = self.run.fired[inject_id]
            return f.t if f.out_of_turn else f.due_t

    def shown(self, inject_id: str) -> None:
        """A prompt to officers fired (the run panel shows it)."""
        with self._lock:
            t = self.run.fired[inject_id].t
            self._prompts.append(Shown(inject_id, t, self._texts.get(inject_id, "")))

    def on_event(self, ev: m.Msg) -> None:
        with self._lock:
            self.tracker.on_event(ev)

    def now(self) -> float:
        """Plan time now."""
        with self._lock:
            return self.run.plan_time(time.monotonic())

    def state(self) -> RunState:
        with self._lock:
            return self.run.state

    def plan_time(self, unix: float) -> float:
        """The plan time a relay timestamp (unix seconds) fell at."""
        with self._lock:
            return self.run.plan_time_at(unix + self._mono_minus_unix)

    def segments(self) -> list[m.ClockSegment]:
        """The run's running stretches on the relay's (unix) clock: how plan time ran, for
        the metrics after the fact (`pilot.review`'s `FromStartClock`)."""
        with self._lock:
            return [
                m.ClockSegment(at=wall - self._mono_minus_unix, t=t, speed=speed, until_t=until)
                for wall, t, speed, until in self.run.segments()
            ]

    def prompts_shown(self) -> dict[str, float]:
        """Prompt id -> when it was shown (unix), as the relay's clock reads."""
        with self._lock:
            return {
                p.inject: self._unix_of(p.t) for p in self._prompts if p.inject in self.run.fired
            }

    def watch(self, fn: Callable[[], object]) -> Callable[[], None]:
        """Call `fn` on the runner's loop after every move; returns the way to stop."""
        self._watchers.append(fn)
        return lambda: self._watchers.remove(fn) if fn in self._watchers else None

    def _unix_of(self, t: float) -> float:
        """The unix time plan time `t` fell at (its first stretch reaching it)."""
        for wall, t0, speed, until in self.run.segments():
            if t0 <= t and (until is None or t <= until):
                return wall + (t - t0) / speed - self._mono_minus_unix
        return time.time()

    def finished(self) -> bool:
        with self._lock:
            return self.run.finished(time.monotonic())

    def next_due(self) -> float | None:
        with self._lock:
            return self.run.next_due()

    async def wait(self, t: float | None) -> None:
        """Until plan time `t` (None: no time), or sooner if the run changes (a move)."""
        changed = self._changed
        with self._lock:
            wall = None if t is None else self.run.wall_until(t, time.monotonic())
        if wall == 0.0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), wall)

    async def until(self, t: float) -> None:
        """Until plan time `t`, however long it stands still on the way."""
        while True:
            with self._lock:
                wall = self.run.wall_until(t, time.monotonic())
            if wall == 0.0:
                return
            await self.wait(t)

    def _move(self, apply: Callable[[float], object]) -> None:
        with self._lock:
            apply(time.monotonic())
        self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for fn in list(self._watchers):
            fn()
