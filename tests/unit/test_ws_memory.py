"""relay/ws_memory.py: websockets' idle deques swapped for lists, on a real connection, and
a websockets upgrade that changes them noticed here rather than silently costing memory."""

from __future__ import annotations

import asyncio
import collections
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from relay import ws_memory
from relay.ws_memory import ListQueue


def test_list_queue_behaves_as_the_deque_it_replaces() -> None:
    q: ListQueue[int] = ListQueue([3, 4])
    d = collections.deque([3, 4])
    for target in (q, d):
        target.append(5)
        target.extendleft(reversed([1, 2]))  # SimpleQueue.put_back
    assert list(q) == list(d) == [1, 2, 3, 4, 5]
    assert q.popleft() == d.popleft() == 1
    assert len(q) == len(d) == 4 and bool(q) and not bool(ListQueue())
    assert sys.getsizeof(ListQueue()) < sys.getsizeof(collections.deque()) // 4


async def test_a_trimmed_connection_still_queues_frames_and_drains() -> None:
    trimmed: list[bool] = []
    got: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        trimmed.append(ws_memory.trim(ws))
        assert isinstance(ws.drain_waiters, list)
        assert isinstance(ws.recv_messages.frames.queue, ListQueue)
        await asyncio.sleep(0.1)  # frames pile up in the swapped queue meanwhile
        for _ in range(3):
            got.append(str(await ws.recv()))
        await ws.send("x" * 200_000)  # past the write limit: drain_waiters is used

    async with serve(handler, "127.0.0.1", 0, write_limit=1024) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as client:
            for text in ("a", "b", "c"):
                await client.send(text)
            assert len(await client.recv()) == 200_000
    assert trimmed == [True] and got == ["a", "b", "c"]


def test_trim_leaves_an_unknown_connection_alone() -> None:
    class Other:
        drain_waiters: list[object] = []

    assert ws_memory.trim(Other()) is False
