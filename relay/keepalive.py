"""Keepalive pings for the phones from one task, not one task per connection.

websockets' own keepalive runs a task per connection that sleeps, pings and waits for the
pong: a task, its coroutine, a sleep future and a timer, about 1.3 KB for each of 10,000
idle phones (bench/idle_connections.py). Here one chore pings every open connection that
has no keepalive of its own every `interval`, and closes one whose earlier ping has gone
unanswered for `timeout` (websockets' `ping_timeout`): a dead phone is dropped within
`interval + timeout`, as with websockets' keepalive. Officers keep websockets' own
(relay/server.py), so their few connections are checked exactly as before.

Pings go out in slices of `SLICE`, one loop pass each, so 10,000 of them never hold the
loop at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.protocol import State

#: pings sent per loop pass
SLICE = 500


def overdue(ws: ServerConnection, now: float, timeout: float) -> bool:
    """Has a ping to `ws` waited longer than `timeout` for its pong? (websockets drops a
    ping from `pending_pings` once its pong, or any later one, arrives.)"""
    return any(now - sent > timeout for _, sent in ws.pending_pings.values())


async def _ping(ws: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        await ws.ping()  # the pong is noticed by websockets; nobody waits for it here


async def sweep(
    connections: Iterable[ServerConnection],
    timeout: float,
    close: Callable[[Coroutine[Any, Any, None]], object],
) -> tuple[int, int]:
    """One round: ping every open connection without a keepalive of its own; close those
    whose earlier ping is overdue (`close` runs the closing handshake in the background).
    Returns (pinged, closed)."""
    now = time.monotonic()
    due: list[ServerConnection] = []
    closed = 0
    for ws in list(connections):
        if ws.keepalive_task is not None or ws.state is not State.OPEN:
            continue
        if overdue(ws, now, timeout):
            closed += 1
            close(ws.close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout"))
        else:
            due.append(ws)
    for i in range(0, len(due), SLICE):
        await asyncio.gather(*(_ping(ws) for ws in due[i : i + SLICE]))
        await asyncio.sleep(0)
    return len(due), closed


async def run(
    connections: Callable[[], Iterable[ServerConnection]],
    interval: float,
    timeout: float,
    close: Callable[[Coroutine[Any, Any, None]], object],
) -> None:
    """Sweep every `interval` seconds until cancelled (never, for an interval of 0)."""
    while interval > 0:
        await asyncio.sleep(interval)
        await sweep(connections(), timeout, close)
