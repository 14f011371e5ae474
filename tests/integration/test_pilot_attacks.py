"""Attacks on `pilot.review` over the real relay on TLS loopback (issue 12's new surface).

An inspector's session (or a stolen one) sends hostile plans: TOML that costs the parser
quadratic time (a long dotted key), nesting past Python's recursion limit. Each must be
refused at once, as `invalid`, without stalling the event loop for honest phones.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from backend_client import messages as m
from backend_client import pilots as p
from backend_client.limits import MAX_REVIEW_EXPECTATIONS
from tests.conftest import RunningRelay, start_relay
from tests.integration.test_pilot_review import review_plan, run_pilot
from tests.integration.test_pilots import add_inspector, is_error
from tests.support.flows import device, officer
from tests.support.peer import Peer, next_id


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[RunningRelay]:
    running = await start_relay(tmp_path / "relay")
    add_inspector(running)
    try:
        yield running
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def review_while_pinging(ivy: Peer, phone: Peer, plan: str) -> tuple[m.Msg, float, float]:
    """The review's reply, how long it took, and the slowest ping a phone saw meanwhile."""
    started = time.perf_counter()
    task = asyncio.create_task(
        ivy.request(
            m.PilotReview(id=next_id(), pilot_id="no-such-pilot", plan=plan, clock=m.DatesClock()),
            timeout=600,
        )
    )
    worst = 0.0
    while not task.done():
        t = time.perf_counter()
        assert isinstance(await phone.request(m.Ping(id=next_id()), timeout=600), m.Pong)
        worst = max(worst, time.perf_counter() - t)
    reply = await task
    return reply, time.perf_counter() - started, worst


async def test_a_dotted_key_bomb_is_refused_without_stalling_the_relay(
    relay: RunningRelay,
) -> None:
    # tomllib spends quadratic time on one dotted key: 20,000 parts (40 kB, a fifth of the
    # limit) held the event loop for 3.7 s before the fix, every phone's frames with it
    ivy = await officer(relay, "ivy")
    phone, _ = await device(relay)
    for bomb in ("a" + ".a" * 20_000 + " = 1", "[a" + '."a"' * 20_000 + "]"):
        reply, took, worst_ping = await review_while_pinging(ivy, phone, bomb)
        assert is_error(reply, "invalid"), reply
        assert "dotted key" in reply.message, reply  # type: ignore[attr-defined]
        assert took < 0.5 and worst_ping < 0.5, (took, worst_ping)


async def test_nesting_past_the_recursion_limit_is_invalid_not_internal(
    relay: RunningRelay,
) -> None:
    ivy = await officer(relay, "ivy")
    phone, _ = await device(relay)
    for deep in (
        "x = " + "[" * 50_000 + "]" * 50_000,
        "x = " + "{a=" * 30_000 + "1" + "}" * 30_000,
    ):
        reply, _took, _worst = await review_while_pinging(ivy, phone, deep)
        assert is_error(reply, "invalid"), reply
        assert "nested" in reply.message, reply  # type: ignore[attr-defined]
    # and the connection carries on
    assert isinstance(await ivy.request(m.Ping(id=next_id())), m.Pong)


async def test_a_plan_past_the_review_s_counts_is_refused_before_any_work(
    relay: RunningRelay,
) -> None:
    # what a reviewed plan costs grows with its expectations x the pilot's reports: a
    # 189 kB plan holds 1,500 expectations; the shipped plan has 11
    ivy = await officer(relay, "ivy")
    phone, _ = await device(relay)
    base = review_plan()
    expect = [
        p.Expectation(id=f"e{i}", action="claim", trigger="each_report", within_s=600)
        for i in range(MAX_REVIEW_EXPECTATIONS + 1)
    ]
    many = msgspec.structs.replace(
        base, acts=[msgspec.structs.replace(base.acts[0], expect=expect)]
    )
    reply, took, _worst = await review_while_pinging(ivy, phone, p.dumps(many))
    assert is_error(reply, "invalid"), reply
    assert f"at most {MAX_REVIEW_EXPECTATIONS} expected actions" in reply.message, reply  # type: ignore[attr-defined]
    assert took < 1.0, took
    ok = msgspec.structs.replace(
        many, acts=[msgspec.structs.replace(base.acts[0], expect=expect[:-1])]
    )
    reply, _took, _worst = await review_while_pinging(ivy, phone, p.dumps(ok))
    assert is_error(reply, "not_found"), reply  # the plan passed; the pilot does not exist


async def test_infinite_plan_times_and_out_of_range_clock_times_are_refused_not_internal(
    relay: RunningRelay,
) -> None:
    # `at_s = inf` reached schedule.duration's round() (OverflowError), a prompt shown at
    # 1e308 reached datetime.fromtimestamp (OverflowError): both answered `internal`
    plan = review_plan()
    ivy, _ = await run_pilot(relay, plan)
    pid = p.pilot_id_of(plan)
    text = p.dumps(plan)
    assert "at_s = 2.0" in text and "within_s = 600\n" in text
    for bad in ("at_s = inf", "at_s = nan", "at_s = 1e300"):
        reply = await ivy.request(
            m.PilotReview(
                id=next_id(),
                pilot_id=pid,
                plan=text.replace("at_s = 2.0", bad),
                clock=m.DatesClock(),
            )
        )
        assert is_error(reply, "invalid"), (bad, reply)
    reply = await ivy.request(
        m.PilotReview(
            id=next_id(),
            pilot_id=pid,
            plan=text.replace("within_s = 600\n", "within_s = inf\n"),
            clock=m.DatesClock(),
        )
    )
    assert is_error(reply, "invalid"), reply
    for clock, prompts in (
        ({"kind": "dates"}, [{"inject": "ask", "at": 1e308}]),
        ({"kind": "linear", "started_at": 1e308, "speed": 1e308}, []),
        ({"kind": "from_start", "segments": [{"at": -1e300, "t": 1e308}]}, []),
    ):
        frame = {
            "type": "pilot.review",
            "v": 1,
            "id": next_id(),
            "pilot_id": pid,
            "plan": text,
            "clock": clock,
            "prompts": prompts,
        }
        await ivy.send_raw(json.dumps(frame))
        reply = await ivy.recv()
        assert isinstance(reply, m.Error) and reply.code in ("invalid", "malformed"), (clock, reply)
    ok = await ivy.request(
        m.PilotReview(id=next_id(), pilot_id=pid, plan=text, clock=m.DatesClock())
    )
    assert isinstance(ok, m.PilotReviewed), ok
