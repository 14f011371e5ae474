"""A TCP proxy between a client and the relay whose faults a test switches at run time.

The client connects to `127.0.0.1:proxy.port`; each accepted connection is forwarded to the
target as opaque bytes (TLS passes through untouched, so the certificate still says
127.0.0.1). Faults model what networks really do to a console's link:

- latency and jitter per chunk, order preserved (a slow mobile or satellite link);
- throttle in bytes per second per direction (a congested uplink);
- `reset_all()`: every open connection gets a TCP RST now (a NAT box or relay crash);
- `black_hole()`: nothing moves in either direction but every socket stays open, so
  only keepalive can notice (a dead Wi-Fi access point, a pulled cable upstream);
- `refuse()`: new connections are reset as soon as they are accepted (relay host down);
- `cut_after(n)`: new connections die after n bytes (a link that drops mid-transfer).

It counts accepted connections with their times, so a test can measure a reconnection
storm (`peak_rate`). Usage::

    async with FaultProxy(host, port) as proxy:
        url = f"wss://127.0.0.1:{proxy.port}"
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["both", "to_relay", "to_client"]


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), not a polite FIN: the peer sees ECONNRESET."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)  # hashed by identity: kept in a set
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    cut_after: int | None = None
    forwarded: int = 0  # bytes forwarded in both directions
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def reset(self) -> None:
        for w in (self.client, self.upstream):
            if w is not None:
                _reset(w)


class FaultProxy:
    """Forward `127.0.0.1:<port>` to `target_host:target_port`, with switchable faults."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        listen_host: str = "127.0.0.1",
        chunk: int = 64 * 1024,
        connect_timeout: float = 5.0,
        backlog: int = 4096,
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.listen_host = listen_host
        self.chunk = chunk
        self.connect_timeout = connect_timeout
        self.backlog = backlog
        #: time.monotonic() of every accepted connection, in order (storm measurement)
        self.accepted_at: list[float] = []
        self.refused_count = 0
        self.latency = 0.0
        self.jitter = 0.0
        self.throttle_bps: float | None = None
        self._cut_after: int | None = None
        self._refusing = False
        self._flow = {"to_relay": asyncio.Event(), "to_client": asyncio.Event()}
        for ev in self._flow.values():
            ev.set()
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._rng = random.Random(1234)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.listen_host, 0, backlog=self.backlog
        )

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the proxy first"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"wss://{self.listen_host}:{self.port}"

    async def close(self) -> None:
        """Stop accepting, reset every connection, and wait for every task to end."""
        if self._server is not None:
            self._server.close()
        for ev in self._flow.values():
            ev.set()
        self.reset_all()
        handlers = list(self._handlers)
        for t in handlers:
            t.cancel()
        if handlers:
            await asyncio.wait(handlers, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ faults

    def set_latency(self, latency: float, jitter: float = 0.0) -> None:
        """Delay each chunk by latency + uniform(0, jitter) seconds, never reordering."""
        self.latency, self.jitter = latency, jitter

    def throttle(self, bytes_per_s: float | None) -> None:
        """Limit each direction of each connection to this rate (None: unlimited)."""
        self.throttle_bps = bytes_per_s

    def black_hole(self, direction: Direction = "both") -> None:
        """Stop moving bytes (in one or both directions); sockets stay open and silent."""
        for name, ev in self._flow.items():
            if direction in ("both", name):
                ev.clear()

    def refuse(self, on: bool = True) -> None:
        """Reset new connections as soon as they are accepted (open ones are untouched)."""
        self._refusing = on

    def cut_after(self, n_bytes: int | None) -> None:
        """Connections accepted from now on are reset after forwarding n bytes in total."""
        self._cut_after = n_bytes

    def reset_all(self) -> int:
        """Send a TCP RST on every open connection now; returns how many were reset."""
        links = list(self._links)
        for link in links:
            link.reset()
        return len(links)

    def heal(self) -> None:
        """Back to a perfect link: no delay, no limit, no black hole, no refusal, no cut."""
        self.latency = self.jitter = 0.0
        self.throttle_bps = None
        self._cut_after = None
        self._refusing = False
        for ev in self._flow.values():
            ev.set()

    def retarget(self, host: str, port: int) -> None:
        """New connections go to another address (open ones are untouched)."""
        self.target_host, self.target_port = host, port

    # ------------------------------------------------------------ measurements

    @property
    def accepted(self) -> int:
        return len(self.accepted_at)

    @property
    def open_connections(self) -> int:
        return len(self._links)

    def accepted_since(self, t: float) -> int:
        return sum(1 for a in self.accepted_at if a >= t)

    def peak_rate(self, since: float, window: float = 0.1) -> int:
        """Most connections accepted in any sliding `window` seconds at or after `since`."""
        return peak_in_window([a for a in self.accepted_at if a >= since], window)

    # ------------------------------------------------------------ forwarding

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted_at.append(time.monotonic())
        if self._refusing:
            self.refused_count += 1
            _reset(writer)
            return
        task = asyncio.current_task()
        assert task is not None
        link = _Link(writer, cut_after=self._cut_after)
        self._handlers.add(task)
        self._links.add(link)
        try:
            # a black-holed link does not reach the relay either: wait for it to come back
            await asyncio.gather(*(ev.wait() for ev in self._flow.values()))
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(self.target_host, self.target_port),
                    self.connect_timeout,
                )
            except (OSError, TimeoutError):
                link.reset()  # relay down: the client sees its connection reset
                return
            link.upstream = up_writer
            link.tasks = [
                asyncio.create_task(self._pipe(link, reader, up_writer, "to_relay")),
                asyncio.create_task(self._pipe(link, up_reader, writer, "to_client")),
            ]
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in link.tasks:
                t.cancel()
            for t in link.tasks:
                with contextlib.suppress(BaseException):
                    await t
            for w in (writer, link.upstream):
                if w is not None and not w.is_closing():
                    w.close()
            self._links.discard(link)
            self._handlers.discard(task)

    async def _pipe(
        self,
        link: _Link,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        direction: Literal["to_relay", "to_client"],
    ) -> None:
        """Reader and writer run apart so latency delays chunks without stalling reads."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        reader = asyncio.create_task(self._read(src, queue, direction))
        try:
            await self._write(link, dst, queue, direction)
        except (ConnectionError, OSError):
            link.reset()  # pass a reset on to the other side, as a router would
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader

    async def _read(
        self,
        src: asyncio.StreamReader,
        queue: asyncio.Queue[tuple[float, bytes] | None],
        direction: str,
    ) -> None:
        loop = asyncio.get_running_loop()
        flow = self._flow[direction]
        last_due = 0.0
        try:
            while True:
                await flow.wait()
                size = self.chunk
                if self.throttle_bps:
                    size = max(1, min(size, int(self.throttle_bps / 20)))
                data = await src.read(size)
                if not data:
                    break
                due = loop.time() + self.latency
                if self.jitter:
                    due += self._rng.uniform(0, self.jitter)
                last_due = max(due, last_due)  # jitter never reorders bytes
                queue.put_nowait((last_due, data))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait(None)

    async def _write(
        self,
        link: _Link,
        dst: asyncio.StreamWriter,
        queue: asyncio.Queue[tuple[float, bytes] | None],
        direction: str,
    ) -> None:
        loop = asyncio.get_running_loop()
        flow = self._flow[direction]
        while True:
            item = await queue.get()
            if item is None:
                return  # the source closed: the link is done
            due, data = item
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await flow.wait()
            if link.cut_after is not None:
                allowed = link.cut_after - link.forwarded
                if len(data) >= allowed:
                    dst.write(data[: max(0, allowed)])
                    link.forwarded += max(0, allowed)
                    link.reset()
                    return
            dst.write(data)
            link.forwarded += len(data)
            await dst.drain()
            if self.throttle_bps:
                await asyncio.sleep(len(data) / self.throttle_bps)


def peak_in_window(times: Sequence[float], window: float) -> int:
    """The largest number of `times` inside any half-open interval of length `window`."""
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best
