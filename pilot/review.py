"""`lookout-pilot review`: a real pilot's metrics from the relay (`pilot.review`), headless.

The same request as the console's Review… (docs/pilots.md, Reviewing a real pilot): the
plan the pilot ran (its TOML text) and how the relay's unix time maps to plan time, one
of the three the console offers: the plan's dates (`DatesClock`), a start time (plan time
0 then, never paused) or a run log `lookout --run-pilot` saved (its running stretches and
when its prompts were shown: `timemap.RunLog`). The relay computes the figures; the CLI
writes them as the console does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from backend_client import messages as m
from backend_client.client import RelayClient
from backend_client.errors import ErrorCode, ProtocolError
from backend_client.pilots import Plan, dumps
from backend_client.pilots.timemap import RunLog

#: how long the relay may take to read a pilot's records and compute its metrics
REVIEW_TIMEOUT_S = 300.0


class ClockError(ValueError):
    """The plan-time option cannot be used, in the user's words."""


@dataclass(frozen=True)
class Mapping:
    clock: m.PlanTimeMap
    prompts: tuple[m.PromptShown, ...] = ()


def started_at(text: str, plan: Plan) -> float:
    """Unix time of an ISO-8601 date and time; one without an offset is read in the plan's
    time zone (where the pilot ran, so what its organisers' clocks said)."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ClockError(
            f"--started-at {text!r} is not an ISO-8601 date and time "
            "(e.g. 2017-06-12T09:30:00+01:00)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(plan.timezone))
    return when.timestamp()


def from_dates() -> Mapping:
    return Mapping(m.DatesClock())


def from_start(at: float) -> Mapping:
    """Plan time 0 at `at`, one plan second a second, never paused."""
    return Mapping(m.FromStartClock(segments=[m.ClockSegment(at=at, t=0.0)]))


def from_run_log(log: RunLog, pilot_id: str, source: Path) -> Mapping:
    """The run's stretches (its pauses left out) and its prompts' times."""
    if log.pilot_id != pilot_id:
        raise ClockError(f"{source} is a run of pilot {log.pilot_id}, not {pilot_id}")
    prompts = tuple(m.PromptShown(inject=k, at=v) for k, v in sorted(log.prompts.items()))
    return Mapping(log.clock, prompts)


def request(pilot_id: str, plan: Plan, how: Mapping) -> m.PilotReview:
    return m.PilotReview(
        id="", pilot_id=pilot_id, plan=dumps(plan), clock=how.clock, prompts=list(how.prompts)
    )


async def review(client: RelayClient, msg: m.PilotReview) -> dict[str, Any]:
    """metrics.json's object from a live officer client (inspector, supervisor, admin);
    an error reply raises `ProtocolError`."""
    got = await client.request(msg, timeout=REVIEW_TIMEOUT_S)
    if not isinstance(got, m.PilotReviewed):
        raise ProtocolError(ErrorCode.INTERNAL, f"no review came back ({type(got).__name__})")
    return got.metrics
