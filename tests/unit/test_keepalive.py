"""One keepalive task for the phones (relay/keepalive.py), on real websockets over loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from relay import keepalive
from tests.support.peer import wait_until


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, list[ServerConnection]]]:
    held: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        held.append(ws)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, ping_interval=None, ping_timeout=5) as srv:
        yield srv, held


async def client(srv: Server, n: int, held: list[ServerConnection]) -> list[ClientConnection]:
    port = next(iter(srv.sockets)).getsockname()[1]
    out = [await connect(f"ws://127.0.0.1:{port}", ping_interval=None) for _ in range(n)]
    await wait_until(lambda: len(held) >= n)
    return out


async def test_a_sweep_pings_every_connection_and_the_pongs_come_back(server: Any) -> None:
    srv, held = server
    clients = await client(srv, 3, held)
    assert all(ws.keepalive_task is None for ws in held)  # websockets' own is off
    pinged, closed = await keepalive.sweep(srv.connections, 5.0, asyncio.ensure_future)
    assert (pinged, closed) == (3, 0)
    await wait_until(lambda: all(ws.latency > 0 and not ws.pending_pings for ws in held))
    for c in clients:
        await c.close()


async def test_a_ping_unanswered_past_the_timeout_closes_the_connection(server: Any) -> None:
    srv, held = server
    clients = await client(srv, 2, held)
    loop = asyncio.get_running_loop()
    # a ping sent 30 s ago that never got its pong (as from a phone that went away)
    held[0].pending_pings[b"lost"] = (loop.create_future(), time.monotonic() - 30)
    pinged, closed = await keepalive.sweep(srv.connections, 20.0, asyncio.ensure_future)
    assert (pinged, closed) == (1, 1)
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(clients[0].recv(), 10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1011
    assert clients[1].state.name == "OPEN"
    await clients[1].close()


async def test_connections_with_their_own_keepalive_are_left_to_it(server: Any) -> None:
    srv, held = server
    clients = await client(srv, 2, held)
    held[0].ping_interval = 60.0  # as the relay does for an officer
    held[0].start_keepalive()
    pinged, _ = await keepalive.sweep(srv.connections, 5.0, asyncio.ensure_future)
    assert pinged == 1
    await wait_until(lambda: held[1].latency > 0)
    assert held[0].latency == 0
    for c in clients:
        await c.close()


async def test_run_sweeps_on_its_interval_and_stops_when_cancelled(server: Any) -> None:
    srv, held = server
    clients = await client(srv, 1, held)
    task = asyncio.ensure_future(
        keepalive.run(lambda: srv.connections, 0.05, 5.0, asyncio.ensure_future)
    )
    try:
        await wait_until(lambda: held[0].latency > 0)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await clients[0].close()
