"""A live pilot's control without a relay: where plan time starts, who may run one, and
`lookout --run-pilot`'s arguments."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from backend_client.pilots import RefusedMove, RunState
from pilot.attribution import Attribution
from pilot.live_run import PilotControl, StartMode, default_start, refusal
from tests.support.live_run_plan import plan

LONDON = ZoneInfo("Europe/London")


def control(at: dt.datetime, mode: StartMode) -> PilotControl:
    p = plan()
    return PilotControl(
        p, "live-run-test", Attribution.of(p).act_of, asyncio.get_running_loop(), mode, lambda: at
    )


def test_at_the_plans_dates_plan_time_is_now_and_earlier_injects_are_skipped() -> None:
    async def go() -> None:
        c = control(dt.datetime(2017, 11, 21, 9, 30, tzinfo=LONDON), StartMode.PLAN_DATES)
        c.start()
        assert c.state() is RunState.RUNNING
        assert 1800.0 <= c.now() < 1802.0
        assert c.run.skipped == {"ask", "later"}  # planned at 1 s and 8 s
        assert "2 inject(s) planned earlier were skipped (ask, later)" in c.problem
        assert [u.entry.ref for u in c.view().next_up] == ["crowd", "first"]

    asyncio.run(go())


def test_outside_the_plans_hours_a_dated_start_is_refused_and_from_start_is_zero() -> None:
    async def go() -> None:
        night = dt.datetime(2017, 11, 21, 22, 0, tzinfo=LONDON)
        c = control(night, StartMode.PLAN_DATES)
        with pytest.raises(RefusedMove, match="outside the plan's days and hours"):
            c.start()
        assert c.state() is RunState.READY
        c.choose_start("start")
        c.start()
        assert c.now() < 2.0 and not c.run.skipped and c.problem == ""
        with pytest.raises(RefusedMove, match="has started"):
            c.choose_start("dates")

    asyncio.run(go())


def test_the_dates_are_the_default_on_a_plan_day_only() -> None:
    on = dt.datetime(2017, 11, 21, 7, 0, tzinfo=LONDON)
    assert default_start(plan(), on) is StartMode.PLAN_DATES
    assert default_start(plan(), on + dt.timedelta(days=1)) is StartMode.FROM_START


def test_only_pilot_roles_may_run_a_pilot() -> None:
    assert refusal("inspector") is None and refusal("supervisor") is None
    assert refusal("admin") is None
    why = refusal("dispatcher")
    assert why is not None and "dispatcher" in why and "admin or inspector or supervisor" in why


def test_run_pilot_arguments_are_checked_before_any_window(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from console.app import parse_args
    from demo.cli import DemoExtension
    from demo.pilot_run import PilotRunCompanion

    _args, source = parse_args(["--run-pilot", "preston-2017"], DemoExtension())
    assert isinstance(source, PilotRunCompanion) and source.plan.name.startswith("preston")
    for bad, words in [
        (["--simulated-traffic"], "only applies with --run-pilot"),
        (["--run-pilot", "preston-2017", "--demo"], "at real speed: not with --demo"),
        (["--run-pilot", "no-such-plan"], "no-such-plan"),
    ]:
        with pytest.raises(SystemExit):
            parse_args(bad, DemoExtension())
        assert words in capsys.readouterr().err
