"""How the relay's clock maps to a plan's plan time, for metrics after the fact.

The relay stamps everything with unix time; the metrics are in plan seconds. How one
becomes the other depends on how the pilot ran (`messages.PlanTimeMap`, on the wire in
`pilot.review`):

- `LinearClock`: a rehearsal, plan time 0 at its start, `speed` plan seconds a second;
- `DatesClock`: a live pilot that followed the plan's dates (`Schedule`). A time before
  day 1 opens is counted back from the opening (negative), one in a night stands at the
  day's close (the next day's opening: the same plan time), one after the last close
  counts on from it;
- `FromStartClock`: a live pilot started by hand, with its pauses: the run's running
  stretches (`Run.segments`, exported by `LiveControl.segments`), read as `Run.plan_time_at`
  reads them.

A live run's log (`RunLog`, what `lookout --run-pilot` saves when it pauses or ends) holds
its stretches and when its prompts were shown, as JSON; `lookout-pilot review` and the
console's Review… read it. Pure: no sockets, database or event loop.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from backend_client import messages as m
from backend_client.pilots.schedule import Schedule

PlanTimeOf = Callable[[float], float]

#: a run log's `format` (bumped if its fields change meaning)
RUN_LOG_FORMAT = "lookout-pilot-run/1"


def mapper(clock: m.PlanTimeMap, sched: Schedule) -> PlanTimeOf:
    """unix time -> plan time, for one run of the plan `sched` is the schedule of."""
    if isinstance(clock, m.LinearClock):
        started, speed = clock.started_at, clock.speed
        return lambda unix: (unix - started) * speed
    if isinstance(clock, m.DatesClock):
        return lambda unix: _dates(sched, unix)
    segs = sorted(clock.segments, key=lambda s: s.at)
    starts = [s.at for s in segs]

    def from_start(unix: float) -> float:
        k = max(0, bisect.bisect_right(starts, unix) - 1)
        s = segs[k]
        t = s.t + (unix - s.at) * s.speed
        if k + 1 < len(segs):
            t = min(t, segs[k + 1].t)
        if s.until_t is not None:
            t = min(t, s.until_t)
        return t

    return from_start


def speed_of(clock: m.PlanTimeMap) -> float:
    """The run's speed as metrics.json states it (a live pilot's is 1)."""
    return clock.speed if isinstance(clock, m.LinearClock) else 1.0


def describe(clock: m.PlanTimeMap) -> str:
    """The mapping in words, for the after-action report's reader."""
    if isinstance(clock, m.LinearClock):
        start = dt.datetime.fromtimestamp(clock.started_at, dt.UTC)
        return f"from {start:%Y-%m-%d %H:%M:%S} UTC at {clock.speed:g}x"
    if isinstance(clock, m.DatesClock):
        return "at the plan's dates and times"
    first = dt.datetime.fromtimestamp(clock.segments[0].at, dt.UTC)
    pauses = len(clock.segments) - 1
    return f"from Start ({first:%Y-%m-%d %H:%M:%S} UTC), {pauses} pause(s)"


def _dates(sched: Schedule, unix: float) -> float:
    if not sched.windows:
        return 0.0
    when = dt.datetime.fromtimestamp(unix, dt.UTC)
    first, last = sched.windows[0], sched.windows[-1]
    if when < first.opens:
        return (when - first.opens).total_seconds()
    for w in sched.windows:
        if when <= w.closes:
            return w.t0 + max(0.0, (when - w.opens).total_seconds())
    return last.t0 + last.length_s + (when - last.closes).total_seconds()


# ---------------------------------------------------------------- a live run's log


class RunLogError(ValueError):
    """A run log that cannot be used, in the user's words."""


@dataclass(frozen=True)
class RunLog:
    """What a live run knows that the relay does not: when plan time ran, and when each
    prompt was shown (unix times). Saved as JSON by `lookout --run-pilot`."""

    plan: str
    pilot_id: str
    segments: tuple[m.ClockSegment, ...]
    prompts: dict[str, float] = field(default_factory=dict)
    saved_at: float = 0.0

    @property
    def clock(self) -> m.FromStartClock:
        return m.FromStartClock(segments=list(self.segments))

    def dumps(self) -> str:
        return (
            json.dumps(
                {
                    "format": RUN_LOG_FORMAT,
                    "plan": self.plan,
                    "pilot_id": self.pilot_id,
                    "saved_at": self.saved_at,
                    "segments": msgspec.to_builtins(list(self.segments)),
                    "prompts": self.prompts,
                },
                indent=2,
            )
            + "\n"
        )

    @staticmethod
    def loads(text: str, source: str = "run log") -> RunLog:
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != RUN_LOG_FORMAT:
                raise RunLogError(
                    f"{source} is not a Lookout pilot run log (lookout --run-pilot saves one "
                    "when a run pauses or ends)"
                )
            segments = msgspec.convert(data["segments"], list[m.ClockSegment])
            prompts = msgspec.convert(data.get("prompts", {}), dict[str, float])
            if not segments:
                raise RunLogError(f"{source}: the run never started, so it has no plan time")
            return RunLog(
                str(data["plan"]),
                str(data["pilot_id"]),
                tuple(segments),
                prompts,
                float(data.get("saved_at", 0.0)),
            )
        except (ValueError, KeyError, TypeError, msgspec.ValidationError) as exc:
            if isinstance(exc, RunLogError):
                raise
            raise RunLogError(f"{source} cannot be read ({exc})") from None

    @staticmethod
    def load(path: Path) -> RunLog:
        try:
            text = path.read_text()
        except OSError as exc:
            raise RunLogError(f"{path} cannot be read ({exc.strerror})") from None
        return RunLog.loads(text, str(path))

    def save(self, path: Path) -> None:
        """Atomically: a run log half written by a crash would be worse than the last one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.dumps())
        tmp.replace(path)


def run_log_name(pilot_id: str, started_at: float) -> str:
    """The file a run's log is saved as: one per run, named by pilot and start (UTC)."""
    start = dt.datetime.fromtimestamp(started_at, dt.UTC)
    return f"{pilot_id}-{start:%Y%m%dT%H%M%SZ}.run.json"
