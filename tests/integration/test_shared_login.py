"""Login limits shared by every relay on the database (issue 15): N relays do not give a
guesser N times the tries, and one relay on SQLite keeps the limits it had.

The cluster tests (PostgreSQL, three nodes, tests/support/cluster.py) skip without
PostgreSQL or HAProxy, saying why (LOOKOUT_REQUIRE_CLUSTER=1 makes that a failure); their
ids start with `test_cluster_`. The default limits apply: three free failures per (user,
address), then 1 s doubling.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from websockets.asyncio.client import connect

from backend_client import codec
from backend_client import messages as m
from relay import admin
from relay.db import models as db
from tests.conftest import PASSWORD, RunningRelay, start_relay
from tests.support import cluster as cl
from tests.support.peer import Peer, next_id
from tests.support.totp import fresh_code

#: what a guesser sends: never the password, so no row may hold it
GUESS = "guess-not-the-password"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cl.Cluster]:
    yield from cl.running(tmp_path_factory.mktemp("shared-login"), relays=3)


async def _peer(r: RunningRelay, source: str = "127.0.0.1") -> Peer:
    """An officer connection from `source` (another loopback address is another client)."""
    ws = await connect(
        r.officer_url, ssl=r.ssl, compression=None, open_timeout=10, local_addr=(source, 0)
    )
    return Peer(ws, codec.officer_outbound)


async def _login(r: RunningRelay, p: Peer, name: str, right: bool = False) -> m.Msg:
    if right:
        fields: dict[str, Any] = dict(password=PASSWORD, totp=fresh_code(r.totp[name]))
    else:
        fields = dict(password=GUESS, totp="000000")
    return await p.request(m.Login(id=next_id(), username=name, **fields))


def _code(answer: m.Msg) -> str:
    return answer.code if isinstance(answer, m.Error) else type(answer).__name__


async def _burst(nodes: list[RunningRelay], name: str, n: int) -> list[str]:
    """`n` wrong guesses sent at once, each on its own connection, spread over `nodes`."""
    peers = [await _peer(nodes[k % len(nodes)]) for k in range(n)]
    try:
        answers = await asyncio.gather(
            *(_login(nodes[k % len(nodes)], p, name) for k, p in enumerate(peers))
        )
    finally:
        for p in peers:
            await p.close()
    return [_code(a) for a in answers]


# ---------------------------------------------------------------- several relays


async def test_cluster_wrong_passwords_on_two_nodes_lock_the_user_out_on_a_third(
    cluster: cl.Cluster,
) -> None:
    one, two, three = (cluster.direct(k) for k in range(3))
    guessers = [await _peer(one), await _peer(two)]
    codes = [_code(await _login(one, guessers[k % 2], "ray")) for k in range(4)]
    assert codes == ["bad_credentials"] * 4, codes  # three free, the fourth locks the pair
    # the fifth guess, on either node, is refused as one relay would refuse it
    assert _code(await _login(two, guessers[1], "ray")) == "rate_limited"
    # the third node never saw a guess, yet even the right password is refused there
    late = await _peer(three)
    refused = await _login(three, late, "ray", right=True)
    assert isinstance(refused, m.Error) and refused.code == "rate_limited", refused
    assert refused.retry_after_s is not None and 0 < refused.retry_after_s <= 900
    # ... and the officer at a console on another address is not locked out
    honest = await _peer(three, source="127.0.0.2")
    assert isinstance(await _login(three, honest, "ray", right=True), m.AuthOk)
    for p in (*guessers, late, honest):
        await p.close()


async def test_cluster_a_burst_spread_over_nodes_gets_no_extra_tries(cluster: cl.Cluster) -> None:
    """Twelve guesses at once over two nodes: exactly the four one relay lets through one
    after another are checked (three free, the fourth locks); the rest wait."""
    nodes = [cluster.direct(0), cluster.direct(1)]
    codes = await _burst(nodes, "pat", 12)
    assert codes.count("bad_credentials") == 4, codes
    assert codes.count("rate_limited") == 8, codes
    third = await _peer(cluster.direct(2))
    assert _code(await _login(cluster.direct(2), third, "pat", right=True)) == "rate_limited"
    await third.close()


# ---------------------------------------------------------------- one relay (SQLite)


@pytest.fixture
async def slow_relay(tmp_path: Path) -> AsyncIterator[RunningRelay]:
    """A relay whose first lockout lasts a minute, so a burst cannot outlast it."""
    running = await start_relay(tmp_path / "relay", login_delay_s=60.0)
    try:
        yield running
    finally:
        await running.relay.stop()  # type: ignore[attr-defined]


async def test_one_relay_a_burst_of_guesses_gets_no_extra_tries(slow_relay: RunningRelay) -> None:
    codes = await _burst([slow_relay], "dana", 12)
    assert codes.count("bad_credentials") == 4, codes
    assert codes.count("rate_limited") == 8, codes
    honest = await _peer(slow_relay, source="127.0.0.2")
    assert isinstance(await _login(slow_relay, honest, "dana", right=True), m.AuthOk)
    await honest.close()


async def test_one_relay_the_failures_hold_no_password_and_a_success_clears_the_pair(
    slow_relay: RunningRelay,
) -> None:
    p = await _peer(slow_relay)
    for _ in range(2):
        assert _code(await _login(slow_relay, p, "dev")) == "bad_credentials"
    assert isinstance(await _login(slow_relay, p, "dev", right=True), m.AuthOk)
    engine = admin.open_engine(slow_relay.data_dir)
    try:
        with Session(engine) as s:
            rows = s.scalars(select(db.LoginFailure)).all()
    finally:
        engine.dispose()
    assert [(r.username, r.address) for r in rows] == [("dev", "127.0.0.1")] * 2
    assert all(r.cleared_at is not None for r in rows)  # the success cleared them
    assert not any(GUESS in repr(vars(r)) or PASSWORD in repr(vars(r)) for r in rows)
    # cleared: three free failures again before the pair locks
    q = await _peer(slow_relay)
    codes = [_code(await _login(slow_relay, q, "dev")) for _ in range(5)]
    assert codes == ["bad_credentials"] * 4 + ["rate_limited"], codes
    await p.close()
    await q.close()


async def test_one_relay_a_lockout_outlives_a_restart(tmp_path: Path) -> None:
    first = await start_relay(tmp_path / "relay", login_delay_s=60.0)
    try:
        p = await _peer(first)
        codes = [_code(await _login(first, p, "sue")) for _ in range(4)]
        assert codes == ["bad_credentials"] * 4, codes
        await p.close()
    finally:
        await first.relay.stop()  # type: ignore[attr-defined]
    again = await start_relay(tmp_path / "relay", login_delay_s=60.0)
    try:
        again.totp.update(first.totp)
        p = await _peer(again)
        assert _code(await _login(again, p, "sue", right=True)) == "rate_limited"
        await p.close()
    finally:
        await again.relay.stop()  # type: ignore[attr-defined]
