"""Live control of a run (issue 12, deliverable 6): `backend_client.pilots.control.Run`
on plain clock readings: start, pause and resume carry plan time on; due injects come out
once, in order; fire and skip are once only; refused moves say why."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from backend_client import pilots as p
from backend_client.pilots.control import MOVES, Move, RefusedMove, Run, RunState

PRESTON = p.load(Path(__file__).resolve().parents[2] / "resources" / "pilots" / "preston-2017.toml")


def three_injects(speed: float = 10.0) -> Run:
    plan = p.Plan(
        name="control-test",
        title="Control",
        timezone="Europe/London",
        area=PRESTON.area,
        days=[p.Day(date=dt.date(2017, 11, 21), start=dt.time(9), end=dt.time(10))],
        acts=[
            p.Act(
                id="a",
                day=1,
                start=dt.time(9),
                end=dt.time(10),
                scenario="burglary",
                injects=[
                    p.PromptInject(id="one", at_s=100, text="first"),
                    p.PromptInject(id="two", at_s=200, text="second"),
                    p.PromptInject(id="three", at_s=300, text="third"),
                ],
            )
        ],
    )
    return Run.of(plan, speed)


def test_plan_time_runs_at_speed_stands_still_paused_and_carries_on() -> None:
    run = three_injects(speed=10.0)
    assert run.state is RunState.READY and run.plan_time(50.0) == 0.0
    run.start(100.0)
    assert run.plan_time(105.0) == 50.0
    run.pause(105.0)
    assert run.state is RunState.PAUSED
    assert run.plan_time(1_000.0) == 50.0  # a long pause: plan time stands still
    assert run.wall_until(100.0, 1_000.0) is None
    assert run.wall_until(40.0, 1_000.0) == 0.0  # what has come goes now, paused or not
    run.resume(1_000.0)
    assert run.plan_time(1_002.0) == 70.0
    assert run.wall_until(100.0, 1_002.0) == pytest.approx(3.0)
    run.set_speed(100.0, 1_002.0)
    assert run.plan_time(1_003.0) == 170.0
    # past readings map through the pause: inside it, where plan time stood
    assert run.plan_time_at(102.0) == 20.0
    assert run.plan_time_at(500.0) == 50.0
    assert run.plan_time_at(1_001.0) == 60.0
    assert run.plan_time_at(1_002.5) == 120.0
    assert run.plan_time_at(99.0) == -10.0  # before the start: counted back


def test_due_injects_come_out_once_in_order_and_not_while_paused() -> None:
    run = three_injects(speed=10.0)
    assert run.due(0.0) == []  # ready: nothing fires
    run.start(0.0)
    assert run.due(5.0) == []
    assert [e.ref for e in run.due(25.0)] == ["one", "two"]
    assert run.due(25.0) == [] and run.due(26.0) == []  # each once
    run.pause(26.0)
    assert run.due(100.0) == []  # past its time, but paused
    assert [u.entry.ref for u in run.next_up(100.0)] == ["three"]
    assert run.next_up(100.0)[0].in_s == pytest.approx(300.0 - 260.0)
    run.resume(100.0)
    assert [e.ref for e in run.due(104.0)] == ["three"]
    assert run.fired["one"].due_t == 100.0 and not run.fired["one"].out_of_turn


def test_fire_now_is_out_of_turn_and_once_only() -> None:
    run = three_injects()
    with pytest.raises(RefusedMove, match="start the run first"):
        run.fire("three", 0.0)
    run.start(0.0)
    fired = run.fire("three", 1.0)
    assert fired.ref == "three" and run.fired["three"].out_of_turn
    assert run.fired["three"].t == 10.0 and run.fired_t()["three"] == 10.0
    with pytest.raises(RefusedMove, match="fired already"):
        run.fire("three", 2.0)
    assert [e.ref for e in run.due(1_000.0)] == ["one", "two"]  # three never again
    run.pause(1_000.0)
    with pytest.raises(RefusedMove, match="fired already"):
        run.skip("one")


def test_a_skipped_inject_never_fires() -> None:
    run = three_injects()
    run.skip("two")  # before the start, too
    run.start(0.0)
    assert [e.ref for e in run.due(1_000.0)] == ["one", "three"]
    with pytest.raises(RefusedMove, match="was skipped"):
        run.fire("two", 1_000.0)
    with pytest.raises(RefusedMove, match="no inject of that name"):
        run.skip("four")
    assert run.next_due() is None


@pytest.mark.parametrize(
    ("state", "move", "hint"),
    [
        (RunState.READY, Move.PAUSE, "start the run first"),
        (RunState.READY, Move.RESUME, "start the run first"),
        (RunState.RUNNING, Move.START, "pause it first"),
        (RunState.RUNNING, Move.RESUME, "pause it first"),
        (RunState.PAUSED, Move.PAUSE, "resume it first"),
        (RunState.ENDED, Move.START, "the run is over"),
        (RunState.ENDED, Move.FIRE, "the run is over"),
        (RunState.ENDED, Move.SKIP, "the run is over"),
    ],
)
def test_refused_moves_say_why(state: RunState, move: Move, hint: str) -> None:
    assert (state, move) not in MOVES
    run = three_injects()
    run.start(0.0)
    run.pause(1.0)
    run.state = state  # to test the table, not the path to the state
    moves = {
        Move.START: lambda: run.start(2.0),
        Move.PAUSE: lambda: run.pause(2.0),
        Move.RESUME: lambda: run.resume(2.0),
        Move.FIRE: lambda: run.fire("one", 2.0),
        Move.SKIP: lambda: run.skip("one"),
    }
    with pytest.raises(
        RefusedMove, match=f"cannot {move.value} while the run is {state.value}: {hint}"
    ):
        moves[move]()


def test_ending_freezes_plan_time_and_every_state_can_end() -> None:
    for state in (RunState.READY, RunState.RUNNING, RunState.PAUSED):
        assert MOVES[(state, Move.END)] is RunState.ENDED
    run = three_injects(speed=10.0)
    run.start(0.0)
    run.end(30.0)
    assert run.state is RunState.ENDED and run.finished(30.0)
    assert run.plan_time(99.0) == 300.0 and run.due(99.0) == []
    assert run.plan_time_at(1_000.0) == 300.0


def test_the_preston_run_hands_out_every_inject_once() -> None:
    run = Run.of(PRESTON, speed=1.0)
    planned = {e.ref for e in p.timeline(PRESTON) if e.kind == "inject"}
    run.start(0.0)
    got = [e.ref for t in range(0, int(run.length_s) + 1, 600) for e in run.due(float(t))]
    assert sorted(got) == sorted(planned) and len(got) == len(set(got))
    assert run.finished(run.length_s)


def test_a_bad_speed_is_refused() -> None:
    with pytest.raises(RefusedMove, match="positive number"):
        three_injects(speed=0.0)
    run = three_injects()
    with pytest.raises(RefusedMove, match="positive number"):
        run.set_speed(float("nan"), 0.0)
