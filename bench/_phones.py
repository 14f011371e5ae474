"""Citizen phones for the fan-out benches: real TLS websocket clients in child processes.

Not a benchmark itself. `start(plans)` spawns one child process per `Plan`; each opens its
`n` phones (`batch` handshakes in flight at a time), phone i on
`urls[(offset + i) % len(urls)]` (its *node*, an index into `urls`), registers every
device, sends its categories and a location inside the benchmark fence, and reports
ready. The children freeze and disable their garbage collector after set-up: they are the
instrument, and a full pass over thousands of connections' objects takes ~100 ms.

A phone stamps `time.time()` on every `alert.deliver` frame before anything else and keys
it by the `alert_id` inside. The first frame of an alert on a phone is its arrival; any
other is a repeat: on the wire, since a phone shows an alert once (it drops a repeat by
alert id). The machine has one clock, so an arrival minus a send time taken in another
process is the one-way latency.

Two things a real phone does are options, since the single-relay fan-out bench measures
without them: `ack` acknowledges each alert (`alert.ack` "delivered", once), so the relay
does not hold it for the phone's next `device.auth`; `reconnect_url` brings a phone whose
connection dropped back there as the app comes back: after a full-jitter backoff
(backend_client.policy.Backoff, the console's policy too) it connects and sends
`device.auth` with its device id and secret; the held alerts the relay pushes after
`device.authed` count like any other frame.

The parent drives each child through a pipe (`Child`): `collect` returns the arrivals,
repeats and come-backs; `move` reconnects phones (`device.auth`) to other nodes; `file`
has some phones on each node file reports as fast as the relay answers; `quiet` waits
until every acknowledgement has been answered; `close` ends the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import multiprocessing as mp
import os
import random
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import msgspec
import websockets
from _common import FENCE, PRESTON, raise_nofile
from websockets.asyncio.client import ClientConnection, connect

from backend_client import codec
from backend_client import messages as m
from backend_client.policy import Backoff

#: a phone that came back through the balancer: which node it reached is not known here
VIA_BALANCER = -1


@dataclass(frozen=True)
class Plan:
    """What one child process does (pickled to it)."""

    urls: tuple[str, ...]  # citizen endpoints (wss://.../v1/citizen); phone i on one of them
    ca_path: str
    n: int
    seed: int
    batch: int  # handshakes in flight
    deadline: float  # seconds the child may live
    offset: int = 0  # phone i of this child is phone offset+i of the whole fleet
    cpus: tuple[int, ...] | None = None
    nice: int = 0
    ack: bool = False
    reconnect_url: str | None = None


class _AlertId(msgspec.Struct):
    alert_id: str


class _Deliver(msgspec.Struct):
    alert: _AlertId


_deliver_decoder = msgspec.json.Decoder(_Deliver)
_ids = itertools.count(1)


def _next_id(tag: str) -> str:
    return f"{tag}{next(_ids)}"


# ====================================================================== child process


def child_main(conn: Connection, plan: Plan) -> None:
    raise_nofile()
    if plan.cpus:
        os.sched_setaffinity(0, plan.cpus)
    if plan.nice:
        os.nice(plan.nice)
    try:
        asyncio.run(asyncio.wait_for(_Fleet(conn, plan).run(), plan.deadline))
    except Exception as exc:  # tell the parent, never hang it
        with contextlib.suppress(Exception):
            conn.send(("error", repr(exc)))


class _Fleet:
    """One child's phones and what they saw."""

    def __init__(self, conn: Connection, plan: Plan) -> None:
        self.conn, self.plan = conn, plan
        self.ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=plan.ca_path)
        self.rng = random.Random(plan.seed)
        self.phones: list[_Phone] = []
        #: alert id -> (arrival, node) of its first frame on each phone
        self.arrivals: dict[str, list[tuple[float, int]]] = {}
        #: alert id -> frames of it a phone had already had
        self.repeats: dict[str, int] = {}
        #: (node before, lost at, back at, attempts, close code and reason, seconds its last
        #: attempt took to connect, then to sign in) of each phone that came back after its
        #: connection dropped
        self.comebacks: list[tuple[int, float, float, int, str, float, float]] = []
        #: why come-back attempts failed -> [attempts, seconds they took]; and the seconds
        #: the phones spent in backoff before their attempts
        self.attempt_failures: dict[str, list[float]] = {}
        self.backoff_s = 0.0
        self.expected = 0
        self.closing = False
        self.acks_out = 0
        self.ack_failures = 0
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def connect(self, url: str) -> ClientConnection:
        return await connect(
            url,
            ssl=self.ctx,
            compression=None,
            max_size=2**20,
            open_timeout=60,
            ping_interval=None,  # the relay pings us; answer, don't add our own
            close_timeout=2,
            proxy=None,
        )

    def arrived(self, phone: _Phone, alert_id: str, t: float) -> None:
        if alert_id in phone.shown:
            self.repeats[alert_id] = self.repeats.get(alert_id, 0) + 1
            return
        phone.shown.add(alert_id)
        got = self.arrivals.setdefault(alert_id, [])
        got.append((t, phone.node))
        if len(got) == self.expected:
            self.conn.send(("got", alert_id))
        if self.plan.ack:
            self.spawn(phone.ack(alert_id))

    async def run(self) -> None:
        plan = self.plan
        sem = asyncio.Semaphore(plan.batch)
        failures: list[str] = []
        candidates = [_Phone(self, (plan.offset + i) % len(plan.urls)) for i in range(plan.n)]
        await asyncio.gather(*(p.setup(sem, failures) for p in candidates))
        self.phones = [p for p in candidates if p.online]
        self.expected = len(self.phones)
        for p in self.phones:
            self.spawn(p.life())
        gc.collect()
        gc.freeze()
        gc.disable()
        self.conn.send(("ready", len(self.phones), failures[:5], len(failures)))

        loop = asyncio.get_running_loop()
        commands: asyncio.Queue[Any] = asyncio.Queue()
        loop.add_reader(self.conn.fileno(), lambda: commands.put_nowait(self.conn.recv()))
        while True:
            cmd = await commands.get()
            kind, *rest = cmd if isinstance(cmd, tuple) else (cmd,)
            if kind == "collect":
                self.conn.send(self.collected(*rest))
            elif kind == "move":
                self.spawn(self.move(*rest))
            elif kind == "file":
                self.spawn(self.file(*rest))
            elif kind == "quiet":
                self.spawn(self.quiet(*rest))
            elif kind == "close":
                loop.remove_reader(self.conn.fileno())
                await self.close()
                self.conn.send(("closed",))
                return

    def collected(self, alert_ids: Iterable[str] | None = None) -> tuple[Any, ...]:
        ids = list(self.arrivals) if alert_ids is None else list(alert_ids)
        online: dict[int, int] = {}
        for p in self.phones:
            if p.online:
                online[p.node] = online.get(p.node, 0) + 1
        return (
            "collected",
            {a: self.arrivals.get(a, []) for a in ids},
            {a: self.repeats.get(a, 0) for a in ids},
            list(self.comebacks),
            online,
            {"failures": self.attempt_failures, "backoff_s": self.backoff_s},
        )

    async def move(self, urls: tuple[str, ...], batch: int) -> None:
        """Phone i of the fleet to `urls[i % len(urls)]` (node = that index), by closing its
        connection and coming back there with `device.auth`, `batch` at a time; phones
        already there stay."""
        sem = asyncio.Semaphore(batch)

        async def one(i: int, p: _Phone) -> bool:
            node = (self.plan.offset + i) % len(urls)
            if p.url == urls[node]:
                return True
            async with sem:
                return await p.move_to(urls[node], node)

        done = await asyncio.gather(*(one(i, p) for i, p in enumerate(self.phones)))
        self.conn.send(("moved", sum(done), len(done) - sum(done)))

    async def file(self, seconds: float, per_node: int) -> None:
        """`per_node` phones on each node file reports one after another for `seconds`."""
        taken: dict[int, int] = {}
        filers = []
        for p in self.phones:
            if p.online and taken.get(p.node, 0) < per_node:
                taken[p.node] = taken.get(p.node, 0) + 1
                filers.append(p)
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        accepted = [0]
        errors: list[str] = []

        async def filer(p: _Phone) -> None:
            while loop.time() < end:
                msg = m.ReportSubmit(
                    id=_next_id("s"),
                    client_ref=_next_id("ref"),
                    category="burglary",
                    text="Bench report: someone trying car doors along the street",
                    lat=PRESTON[0],
                    lon=PRESTON[1],
                )
                try:
                    reply = await p.request(msg)
                except Exception as exc:
                    errors.append(repr(exc))
                    await asyncio.sleep(0.05)
                    continue
                if isinstance(reply, m.ReportAccepted):
                    accepted[0] += 1
                else:
                    errors.append(repr(reply))

        await asyncio.gather(*(filer(p) for p in filers))
        self.conn.send(("filed", accepted[0], len(errors), errors[:3], len(filers)))

    async def quiet(self, timeout: float) -> None:
        """Answer once every acknowledgement sent has its reply (or `timeout` passes)."""
        end = asyncio.get_running_loop().time() + timeout
        while self.acks_out and asyncio.get_running_loop().time() < end:
            await asyncio.sleep(0.05)
        self.conn.send(("quiet", self.acks_out, self.ack_failures))

    async def close(self) -> None:
        self.closing = True
        for p in self.phones:
            if p.ws is not None:
                p.ws.transport.abort()  # no close handshakes to wait for
        await asyncio.sleep(0.2)
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class _Phone:
    """One device: its connection, what it has shown, and its requests in flight."""

    def __init__(self, fleet: _Fleet, node: int) -> None:
        self.fleet, self.node = fleet, node
        self.url = fleet.plan.urls[node]
        self.ws: ClientConnection | None = None
        self.online = False
        self.device_id = self.secret = ""
        self.shown: set[str] = set()
        self.pending: dict[str, asyncio.Future[m.Msg]] = {}
        #: set by `move_to`: where to come back after the connection it closes ends
        self._target: tuple[str, int, asyncio.Event] | None = None

    # ------------------------------------------------------------ frames

    def frame(self, frame: str | bytes, t: float) -> m.Msg | None:
        if isinstance(frame, str) and '"alert.deliver"' in frame:
            self.fleet.arrived(self, _deliver_decoder.decode(frame).alert.alert_id, t)
            return None
        msg = codec.citizen_outbound.decode(frame)
        fut = self.pending.pop(getattr(msg, "re", None) or "", None)
        if fut is not None and not fut.done():
            fut.set_result(msg)
        return msg

    async def exchange(self, ws: ClientConnection, msg: Any, timeout: float = 60.0) -> m.Msg:
        """Send `msg` on `ws` and read frames (each handled) until its reply: for use while
        no `life` reads this connection (set-up, coming back)."""
        await ws.send(codec.encode_text(msg))
        async with asyncio.timeout(timeout):
            while True:
                raw = await ws.recv()
                reply = self.frame(raw, time.time())
                if reply is not None and getattr(reply, "re", None) == msg.id:
                    return reply

    async def request(self, msg: Any, timeout: float = 60.0) -> m.Msg:
        """Send `msg` on the live connection; `life` hands over the reply."""
        ws = self.ws
        if ws is None or not self.online:
            raise ConnectionError("offline")
        fut: asyncio.Future[m.Msg] = asyncio.get_running_loop().create_future()
        self.pending[msg.id] = fut
        try:
            await ws.send(codec.encode_text(msg))
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.pending.pop(msg.id, None)

    async def ack(self, alert_id: str) -> None:
        fleet = self.fleet
        fleet.acks_out += 1
        try:
            reply = await self.request(
                m.AlertAck(id=_next_id("a"), alert_id=alert_id, status="delivered")
            )
            if not isinstance(reply, m.Ack):
                fleet.ack_failures += 1
        except Exception:  # the link dropped: the relay holds the alert for device.auth
            fleet.ack_failures += 1
        finally:
            fleet.acks_out -= 1

    # ------------------------------------------------------------ a connection's life

    async def setup(self, sem: asyncio.Semaphore, failures: list[str]) -> None:
        async with sem:
            try:
                ws = await self.fleet.connect(self.url)
            except Exception as exc:
                failures.append(f"connect: {exc!r}")
                return
            try:
                reg = await self.exchange(ws, m.DeviceRegister(id=_next_id("r"), platform="bench"))
                assert isinstance(reg, m.DeviceRegistered), reg
                cats = await self.exchange(
                    ws, m.SetCategories(id=_next_id("c"), categories=["burglary"])
                )
                assert isinstance(cats, m.Ack), cats
                rng, (lat0, lon0), (dlat, dlon) = self.fleet.rng, PRESTON, FENCE
                lat = lat0 + rng.uniform(-0.9, 0.9) * dlat
                lon = lon0 + rng.uniform(-0.9, 0.9) * dlon
                loc = await self.exchange(ws, m.LocationUpdate(id=_next_id("l"), lat=lat, lon=lon))
                assert isinstance(loc, m.Ack), loc
            except Exception as exc:
                failures.append(f"register: {exc!r}")
                ws.transport.abort()
                return
            self.device_id, self.secret = reg.device_id, reg.secret
            self.ws, self.online = ws, True

    async def life(self) -> None:
        """Read the connection until it ends; then come back where the phone should."""
        fleet = self.fleet
        while True:
            ws = self.ws
            assert ws is not None
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in ws:
                    self.frame(raw, time.time())  # first thing: the arrival stamp
            self.online = False
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("connection closed"))
                    fut.exception()  # retrieved: a request still sending needs no warning
            self.pending.clear()
            if fleet.closing:
                return
            if self._target is not None:  # moved: come back there at once
                url, node, moved = self._target
                self._target = None
                await self.come_back(url, node, lost_at=None)
                moved.set()
            elif fleet.plan.reconnect_url is not None:  # dropped: come back as the app does
                why = f"{ws.close_code} {ws.close_reason or ''}".strip()
                await self.come_back(fleet.plan.reconnect_url, VIA_BALANCER, time.time(), why)
            else:
                return
            if not self.online:
                return

    async def come_back(self, url: str, node: int, lost_at: float | None, why: str = "") -> None:
        """Connect to `url` and `device.auth` until it works (full-jitter backoff between
        attempts; a dropped phone waits before the first one too, as the app does)."""
        backoff = Backoff(rng=self.fleet.rng)
        attempts = 0
        before, self.node = self.node, node  # what arrives from here on came from there
        while not self.fleet.closing:
            if lost_at is not None or attempts:
                delay = backoff.next_delay()
                self.fleet.backoff_s += delay
                await asyncio.sleep(delay)
            attempts += 1
            ws: ClientConnection | None = None
            started = time.time()
            try:
                ws = await self.fleet.connect(url)
                opened = time.time()
                auth = m.DeviceAuth(id=_next_id("d"), device_id=self.device_id, secret=self.secret)
                reply = await self.exchange(ws, auth, timeout=30)
                if not isinstance(reply, m.DeviceAuthed):
                    raise RuntimeError(f"device.auth refused: {reply}")
            except Exception as exc:
                kind = _failure_kind(exc, ws is not None)
                tally = self.fleet.attempt_failures.setdefault(kind, [0, 0.0])
                tally[0] += 1
                tally[1] += time.time() - started
                if ws is not None:
                    ws.transport.abort()
                continue
            self.ws, self.url, self.online = ws, url, True
            if lost_at is not None:
                now = time.time()
                self.fleet.comebacks.append(
                    (before, lost_at, now, attempts, why, opened - started, now - opened)
                )
            return

    async def move_to(self, url: str, node: int) -> bool:
        moved = asyncio.Event()
        self._target = (url, node, moved)
        assert self.ws is not None
        await self.ws.close()
        try:
            await asyncio.wait_for(moved.wait(), 60)
        except TimeoutError:
            return False
        return self.online and self.node == node


def _failure_kind(exc: Exception, opened: bool) -> str:
    """A failed come-back attempt, in a few words: where it failed and how."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    where = "auth" if opened else "connect"
    return f"{where}: {type(exc).__name__}" + (f" {status}" if status else "")


# ====================================================================== parent process


class Child:
    """The parent's end of one phone process."""

    def __init__(self, proc: mp.process.BaseProcess, conn: Connection, n: int) -> None:
        self.proc, self.conn, self.n = proc, conn, n
        self.ready = 0
        self.got: set[str] = set()

    async def recv(self, timeout: float) -> Any:
        if not await asyncio.to_thread(self.conn.poll, timeout):
            raise TimeoutError(f"child {self.proc.pid}: nothing within {timeout:.0f}s")
        msg = self.conn.recv()
        if msg[0] == "error":
            raise RuntimeError(f"child {self.proc.pid} failed: {msg[1]}")
        return msg

    async def expect(self, kind: str, timeout: float) -> Any:
        """The next message of `kind`; `got` notices seen on the way are remembered."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            msg = await self.recv(max(0.01, end - loop.time()))
            if msg[0] == "got":
                self.got.add(msg[1])
                if kind == "got":
                    return msg
            elif msg[0] == kind:
                return msg

    async def ask(self, cmd: Any, kind: str, timeout: float) -> Any:
        self.conn.send(cmd)
        return await self.expect(kind, timeout)

    async def wait_got(self, alert_id: str, timeout: float) -> bool:
        """True once every phone of this child has had `alert_id` (False after `timeout`)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while alert_id not in self.got:
            if loop.time() >= end:
                return False
            with contextlib.suppress(TimeoutError):
                await self.expect("got", end - loop.time())
        return True


def start(plans: Iterable[Plan]) -> list[Child]:
    """One child process per plan (spawned: nothing of the parent's state goes along)."""
    ctx = mp.get_context("spawn")
    children = []
    for plan in plans:
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(target=child_main, args=(child_end, plan), daemon=True)
        proc.start()
        child_end.close()
        children.append(Child(proc, parent_end, plan.n))
    return children


async def ready(children: list[Child], timeout: float, log: Any) -> int:
    """Wait for every child's set-up; returns how many phones are connected and registered."""
    connected = 0
    for c in children:
        msg = await c.expect("ready", timeout)
        c.ready = msg[1]
        connected += c.ready
        if msg[3]:
            log(f"child {c.proc.pid}: {msg[3]} devices failed, e.g. {msg[2]}")
    return connected


async def stop(children: list[Child]) -> None:
    for c in children:
        with contextlib.suppress(Exception):
            c.conn.send("close")
    for c in children:
        with contextlib.suppress(Exception):
            await c.expect("closed", 20)
        await asyncio.to_thread(c.proc.join, 10)
        if c.proc.is_alive():
            c.proc.terminate()
            await asyncio.to_thread(c.proc.join, 5)


def shares(total: int, parts: int) -> list[int]:
    """`total` split into `parts` near-equal shares."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]
