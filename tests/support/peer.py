"""A thin websocket peer that speaks the contract, for tests that drive the relay directly.

It is the real codec over a real TLS websocket, with `backend_client.protocol`'s shared
request matching (`ClientProtocol`, so ids and "which reply is mine" are decided where
the console decides them); it only adds "wait for the frame I want". It does not filter
events by seq: a test must see exactly what the relay sent, repeats included.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from backend_client import codec
from backend_client import messages as m
from backend_client.protocol import ClientProtocol, Garbled, Rejected, Reply

_ids = itertools.count(1)


async def wait_until(
    cond: Callable[[], bool],
    timeout: float = 10.0,
    poll: float = 0.02,
    tick: Callable[[], object] | None = None,
) -> None:
    """Wait for a condition the test cannot be notified of (a clock passing a deadline, a
    widget's state); `tick` runs between looks (e.g. QApplication.processEvents)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        if tick is not None:
            tick()
        await asyncio.sleep(poll)


async def wait_until_async(
    cond: Callable[[], Awaitable[bool]], timeout: float = 10.0, poll: float = 0.05
) -> None:
    """`wait_until` for a condition that must itself await (e.g. a database query)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await cond():
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(poll)


def next_id() -> str:
    return f"t{next(_ids)}"


class Peer:
    def __init__(self, ws: ClientConnection, decoder: codec.Decoder[m.Msg]) -> None:
        self.ws = ws
        self.decoder = decoder
        self.protocol = ClientProtocol(decoder, prefix="p")
        self.seen: list[m.Msg] = []  # every frame received, in order
        self.backlog: list[m.Msg] = []  # received but not yet matched by wait_for
        self._answers: dict[
            str, m.Msg
        ] = {}  # rid -> its reply (or error), until `request` takes it

    @classmethod
    async def open(cls, url: str, ca: ssl.SSLContext, officer: bool) -> Peer:
        ws = await connect(url, ssl=ca, compression=None, max_size=2**20, open_timeout=10)
        return cls(ws, codec.officer_outbound if officer else codec.citizen_outbound)

    async def send(self, msg: m.Msg) -> None:
        """Send `msg` exactly as built (its own id, no reply awaited); see `request`."""
        await self.ws.send(codec.encode_text(msg))

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def recv(self, timeout: float = 10.0) -> m.Msg:
        frame = await asyncio.wait_for(self.ws.recv(), timeout)
        (item,) = self.protocol.receive(frame)  # no seq filter here: always one item
        if isinstance(item, Garbled):
            raise item.error
        msg = item.error if isinstance(item, Rejected) else item.msg
        if isinstance(item, Reply | Rejected):
            self._answers[item.rid] = msg
        self.seen.append(msg)
        self.backlog.append(msg)
        return msg

    async def wait_for(self, pred: Callable[[m.Msg], bool], timeout: float = 10.0) -> m.Msg:
        """The first unmatched frame (already received or still to come) that matches."""
        for i, msg in enumerate(self.backlog):
            if pred(msg):
                del self.backlog[i]
                return msg
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no matching frame within {timeout}s; saw {self.seen[-5:]}")
            msg = await self.recv(remaining)
            if pred(msg):
                self.backlog.pop()
                return msg

    async def request(self, msg: Any, timeout: float = 10.0) -> m.Msg:
        """Send `msg` under a fresh id and return its reply, or the `error` refusing it."""
        rid, text = self.protocol.send_request(msg)
        await self.ws.send(text)
        try:
            return await self.wait_for(lambda r: self._answers.get(rid) is r, timeout)
        finally:
            self._answers.pop(rid, None)
            self.protocol.forget(rid)

    async def close(self) -> None:
        await self.ws.close()
