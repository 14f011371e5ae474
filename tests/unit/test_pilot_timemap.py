"""Plan time from the relay's clock (`backend_client.pilots.timemap`): a live run's
stretches read as `Run.plan_time_at` reads them, pauses included; the plan's dates with
nights standing at the close; a run log round-trips and a foreign file is refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from backend_client import messages as m
from backend_client import pilots as p
from backend_client.pilots.timemap import RunLog, RunLogError, mapper
from tests.support.live_run_plan import plan


def test_from_start_stretches_match_the_run_s_own_reading() -> None:
    run = p.Run.of(plan(), 1.0)
    run.start(100.0)
    run.pause(130.0)
    run.resume(160.0)
    run.pause(170.0)
    clock = m.FromStartClock(
        segments=[m.ClockSegment(at=w, t=t, speed=s, until_t=u) for w, t, s, u in run.segments()]
    )
    f = mapper(clock, p.Schedule.of(plan()))
    for when in (90.0, 100.0, 115.0, 130.0, 145.0, 160.0, 165.0, 170.0, 200.0):
        assert f(when) == pytest.approx(run.plan_time_at(when)), when
    assert f(145.0) == 30.0 and f(200.0) == 40.0  # paused: plan time stands still


def test_the_plan_s_dates_skip_the_nights() -> None:
    two_days = p.Plan(
        name="two",
        title="Two days",
        timezone="UTC",
        area=plan().area,
        days=[
            p.Day(date=dt.date(2030, 1, 1), start=dt.time(9), end=dt.time(17)),
            p.Day(date=dt.date(2030, 1, 2), start=dt.time(9), end=dt.time(17)),
        ],
    )
    f = mapper(m.DatesClock(), p.Schedule.of(two_days))

    def at(day: int, h: int) -> float:
        return dt.datetime(2030, 1, day, h, tzinfo=dt.UTC).timestamp()

    assert f(at(1, 8)) == -3600.0
    assert f(at(1, 10)) == 3600.0
    assert f(at(1, 20)) == f(at(2, 9)) == 8 * 3600.0  # the night stands at the close
    assert f(at(2, 10)) == 9 * 3600.0
    assert f(at(2, 18)) == 17 * 3600.0  # after the last close it counts on


def test_a_run_log_round_trips_and_a_foreign_file_is_refused(tmp_path: Path) -> None:
    log = RunLog("p", "p", (m.ClockSegment(at=1.0, t=0.0, until_t=5.0),), {"ask": 2.0}, 9.0)
    log.save(tmp_path / "a.run.json")
    assert RunLog.load(tmp_path / "a.run.json") == log
    (tmp_path / "b.run.json").write_text('{"format": "something else"}')
    with pytest.raises(RunLogError, match="not a Lookout pilot run log"):
        RunLog.load(tmp_path / "b.run.json")
