"""One simulated citizen phone: its own websocket to `/v1/citizen`, as the real app behaves.

It registers once and keeps its credentials, so after a dropped link it comes back with
`device.auth` (after a backoff with jitter) and the relay pushes whatever it held: alerts
and chat. One reader task owns the socket's inbound side and hands each frame to
`backend_client.protocol.CitizenProtocol`, which assigns request ids and says which
request a reply answers; pushes (chat, alerts) are answered like a person would:
"delivered" at once, "read" after a short human delay, sometimes a chat reply.

Only this module touches the simulator's sockets; the runner decides what to report.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import ssl
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from backend_client import messages as m
from backend_client.errors import ErrorCode
from backend_client.limits import MAX_FRAME_BYTES, MEDIA_CHUNK_BYTES
from backend_client.protocol import CitizenProtocol, Garbled, Push, Rejected, Reply, Unmatched
from simulator.media import GeneratedMedia

__all__ = ["Behaviour", "DeviceError", "DeviceGone", "SimDevice", "Stats", "client_ssl_context"]

_ids = itertools.count(1)


def client_ssl_context(ca_file: str) -> ssl.SSLContext:
    """Trust exactly the relay's CA (a pilot relay makes its own), verify the host name."""
    return ssl.create_default_context(cafile=ca_file)


class DeviceGone(Exception):
    """The link dropped (or never came up) while a request waited; retry after reconnect."""


class DeviceError(Exception):
    """The relay answered a request with an `error` frame."""

    def __init__(self, error: m.Error) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.code = error.code


@dataclass
class Stats:
    """Counters shared by every device of one run (single event loop, so no locking)."""

    devices: int = 0
    connected: int = 0  # devices that completed a handshake at least once
    reports_sent: int = 0
    reports_accepted: int = 0
    media_uploaded: int = 0
    alerts_received: int = 0
    chats_received: int = 0
    chats_replied: int = 0
    reconnects: int = 0
    errors: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)

    def error(self, code: str) -> None:
        self.errors += 1
        self.error_codes[code] = self.error_codes.get(code, 0) + 1


@dataclass(frozen=True)
class Behaviour:
    """How this citizen acts: what they subscribe to and how quickly they read things."""

    categories: Sequence[m.Category]
    lat: float
    lon: float
    read_delay_s: tuple[float, float] = (0.5, 4.0)
    reply_delay_s: tuple[float, float] = (1.0, 6.0)
    request_timeout_s: float = 15.0
    backoff_s: tuple[float, float] = (0.5, 30.0)  # first retry, cap
    platform: str = "lookout-sim"


@dataclass
class _Report:
    """What the device remembers about a report it sent: for chat replies."""

    replies: Sequence[str]
    reply_probability: float


class SimDevice:
    def __init__(
        self,
        url: str,
        ssl_context: ssl.SSLContext,
        behaviour: Behaviour,
        stats: Stats,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self.ssl_context = ssl_context
        self.behaviour = behaviour
        self.stats = stats
        self.rng = rng or random.Random()
        self.device_id: str | None = None
        self.secret: str | None = None
        self.pseudonym: str | None = None
        self.ready = asyncio.Event()  # set while connected and authenticated
        self._ws: ClientConnection | None = None
        self._proto = CitizenProtocol()
        #: rid -> the future its caller awaits; which reply is whose is the protocol's call
        self._waiters: dict[str, asyncio.Future[Reply | Rejected]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reports: dict[str, _Report] = {}
        self._chats_seen: set[str] = set()
        self._alerts_seen: set[str] = set()
        self._upload_offsets: dict[str, int] = {}  # sha256 -> bytes the relay confirmed
        self._counted = False
        self._stop: asyncio.Event | None = None

    # ------------------------------------------------------------ connection lifecycle

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until `stop` is set: connect, (re)authenticate, read; retry with backoff."""
        attempt = 0
        self._stop = stop
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                try:
                    await self._session(stopping)
                    attempt = 0
                except (
                    OSError,
                    TimeoutError,
                    ConnectionClosed,
                    InvalidHandshake,
                    DeviceGone,
                ) as exc:
                    self.stats.error(_error_code(exc))
                except DeviceError as exc:
                    self.stats.error(exc.code)
                    if exc.code == ErrorCode.BAD_CREDENTIALS:  # the relay forgot us: start over
                        self.device_id = self.secret = None
                if stop.is_set():
                    break
                self.stats.reconnects += 1
                first, cap = self.behaviour.backoff_s
                delay = min(cap, first * 2**attempt) * self.rng.uniform(0.5, 1.0)
                attempt = min(attempt + 1, 16)
                await asyncio.wait({stopping}, timeout=delay)
        finally:
            stopping.cancel()
            await self._cancel_tasks()

    async def _session(self, stopping: asyncio.Future[Any]) -> None:
        async with connect(
            self.url,
            ssl=self.ssl_context,
            compression=None,
            max_size=MAX_FRAME_BYTES,
            open_timeout=self.behaviour.request_timeout_s,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=2,
        ) as ws:
            self._ws = ws
            reader = asyncio.create_task(self._read(ws))
            try:
                await self._hello()
                self.ready.set()
                await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stopping.done():  # a clean stop: end the phone's own chores before closing
                    await self._cancel_tasks()
                elif reader.done():
                    raise DeviceGone("the relay closed the connection")
            finally:
                self.ready.clear()
                self._ws = None
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                self._proto.connection_lost()
                self._fail_pending()

    async def _hello(self) -> None:
        b = self.behaviour
        if self.device_id is None or self.secret is None:
            reg = await self.request(m.DeviceRegister(id="", platform=b.platform), wait_ready=False)
            assert isinstance(reg, m.DeviceRegistered)
            self.device_id, self.secret, self.pseudonym = reg.device_id, reg.secret, reg.pseudonym
        else:
            authed = await self.request(
                m.DeviceAuth(id="", device_id=self.device_id, secret=self.secret),
                wait_ready=False,
            )
            assert isinstance(authed, m.DeviceAuthed)
            self.pseudonym = authed.pseudonym
        if not self._counted:
            self._counted = True
            self.stats.connected += 1
        await self.request(m.SetCategories(id="", categories=list(b.categories)), wait_ready=False)
        await self.request(
            m.LocationUpdate(id="", lat=b.lat, lon=b.lon, accuracy_m=15.0), wait_ready=False
        )

    async def drop(self) -> None:
        """Close the link as a phone losing signal would; `run` reconnects."""
        if self._ws is not None:
            await self._ws.close(1001, "simulated signal loss")

    # ------------------------------------------------------------ requests

    async def request(self, msg: Any, *, wait_ready: bool = True) -> m.Msg:
        """Send `msg` and wait for its reply; DeviceGone on a dropped link, DeviceError on `error`.

        The protocol gives `msg` its id (any id it carried is replaced).
        """
        if wait_ready:
            await self.wait_ready()
        ws = self._ws
        if ws is None:
            raise DeviceGone("not connected")
        rid, text = self._proto.send_request(msg)
        fut: asyncio.Future[Reply | Rejected] = asyncio.get_running_loop().create_future()
        self._waiters[rid] = fut
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
            async with asyncio.timeout(self.behaviour.request_timeout_s):
                await ws.send(text)
                answer = await fut
        except ConnectionClosed as exc:
            raise DeviceGone(str(exc)) from None
        finally:
            self._waiters.pop(rid, None)
            self._proto.forget(rid)
        if isinstance(answer, Rejected):
            raise DeviceError(answer.error)
        return answer.msg

    async def wait_ready(self) -> None:
        """Until connected and authenticated; DeviceGone if the device is stopping instead."""
        stop = self._stop
        if stop is None or self.ready.is_set():
            await self.ready.wait()
            return
        ready = asyncio.ensure_future(self.ready.wait())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            stopped.cancel()
        if not self.ready.is_set():
            raise DeviceGone("the device is stopping")

    def _fail_pending(self) -> None:
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(DeviceGone("connection lost"))
        self._waiters.clear()

    # ------------------------------------------------------------ reports and media

    async def submit_report(
        self,
        category: m.Category,
        text: str,
        lat: float,
        lon: float,
        media: Sequence[GeneratedMedia] = (),
        *,
        replies: Sequence[str] = (),
        reply_probability: float = 0.0,
        attempts: int = 5,
    ) -> str:
        """Submit a report and upload its media; survives drops (same client_ref, resume).

        Returns the relay's report id. Raises DeviceError if the relay refuses it.
        """
        client_ref = f"c{_next_id()}-{self.rng.getrandbits(32):08x}"
        decls = [m.MediaDecl(sha256=x.sha256, mime=x.mime, size=x.size) for x in media]
        by_sha = {x.sha256: x for x in media}
        self.stats.reports_sent += 1
        for attempt in range(attempts):
            try:
                acc = await self.request(
                    m.ReportSubmit(
                        id="", client_ref=client_ref, category=category, text=text,
                        lat=lat, lon=lon, media=decls,
                    )
                )  # fmt: skip
                assert isinstance(acc, m.ReportAccepted)
                if attempt == 0:
                    self.stats.reports_accepted += 1
                self._reports[acc.report_id] = _Report(replies, reply_probability)
                for sha in acc.missing:
                    await self._upload(acc.report_id, by_sha[sha])
                return acc.report_id
            except DeviceGone:
                if attempt + 1 == attempts:
                    raise
                await self.wait_ready()
        raise AssertionError("unreachable")

    async def _upload(self, report_id: str, item: GeneratedMedia) -> None:
        """Send the file in order from the last offset the relay confirmed."""
        offset = self._upload_offsets.get(item.sha256, 0)
        while True:
            chunk = item.data[offset : offset + MEDIA_CHUNK_BYTES]
            reply = await self.request(
                m.MediaChunk(
                    id="",
                    report_id=report_id,
                    sha256=item.sha256,
                    offset=offset,
                    data=chunk,
                )
            )
            assert isinstance(reply, m.MediaProgress)
            if reply.complete:
                self._upload_offsets.pop(item.sha256, None)
                self.stats.media_uploaded += 1
                return
            if reply.received <= offset and not chunk:
                raise DeviceError(m.Error(code="media_stalled", message="relay made no progress"))
            offset = reply.received
            self._upload_offsets[item.sha256] = offset

    async def chat(self, report_id: str, text: str) -> m.ChatMessage:
        sent = await self.request(
            m.CitizenChatSend(id="", report_id=report_id, text=text, client_ref=f"c{_next_id()}")
        )
        assert isinstance(sent, m.ChatSent)
        return sent.message

    # ------------------------------------------------------------ pilots

    async def join_pilot(self, code: str) -> m.PilotJoined:
        """Take part in a pilot with an invite code (as printed or typed): from now on this
        device's reports and chat are the pilot's exercise traffic. DeviceError when the
        relay refuses the code (`not_found`, `conflict`, `rate_limited`)."""
        joined = await self.request(m.PilotJoin(id="", code=code))
        assert isinstance(joined, m.PilotJoined)
        return joined

    # ------------------------------------------------------------ inbound

    async def _read(self, ws: ClientConnection) -> None:
        async for frame in ws:
            for item in self._proto.receive(frame):
                if isinstance(item, Reply | Rejected):
                    fut = self._waiters.pop(item.rid, None)
                    if fut is not None and not fut.done():
                        fut.set_result(item)
                elif isinstance(item, Push):
                    if isinstance(item.msg, m.ChatDeliver):
                        self._spawn(self._on_chat(item.msg.message))
                    elif isinstance(item.msg, m.AlertDeliver):
                        self._spawn(self._on_alert(item.msg.alert))
                elif isinstance(item, Garbled):  # a relay we do not understand: count it
                    self.stats.error(item.error.code.value)
                elif isinstance(item, Unmatched) and isinstance(item.msg, m.Error):
                    self.stats.error(item.msg.code)  # a late or unaddressed refusal

    async def _on_chat(self, message: m.ChatMessage) -> None:
        new = message.message_id not in self._chats_seen
        self._chats_seen.add(message.message_id)
        if new:
            self.stats.chats_received += 1
        await self._quietly(
            m.ChatReceipt(id="", message_ids=[message.message_id], status="delivered")
        )
        await asyncio.sleep(self.rng.uniform(*self.behaviour.read_delay_s))
        await self._quietly(m.ChatReceipt(id="", message_ids=[message.message_id], status="read"))
        report = self._reports.get(message.report_id)
        if new and report and report.replies and self.rng.random() < report.reply_probability:
            await asyncio.sleep(self.rng.uniform(*self.behaviour.reply_delay_s))
            text = self.rng.choice(list(report.replies))
            await self._quietly(
                m.CitizenChatSend(
                    id="",
                    report_id=message.report_id,
                    text=text,
                    client_ref=f"r-{message.message_id}",
                )
            )
            self.stats.chats_replied += 1

    async def _on_alert(self, alert: m.CitizenAlert) -> None:
        if alert.alert_id not in self._alerts_seen:
            self._alerts_seen.add(alert.alert_id)
            self.stats.alerts_received += 1
        await self._quietly(m.AlertAck(id="", alert_id=alert.alert_id, status="delivered"))
        await asyncio.sleep(self.rng.uniform(*self.behaviour.read_delay_s))
        await self._quietly(m.AlertAck(id="", alert_id=alert.alert_id, status="read"))

    async def _quietly(self, msg: Any) -> None:
        """A best-effort request from a push handler: failures are counted, not raised.

        A receipt lost to a drop is not retried here: on reconnect the relay pushes the
        still-undelivered chat and held alerts again, and the handler answers them anew.
        """
        try:
            await self.request(msg)
        except DeviceGone:
            self.stats.error("connection_lost")
        except DeviceError as exc:
            self.stats.error(exc.code)
        except TimeoutError:
            self.stats.error("timeout")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cancel_tasks(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _next_id() -> str:
    return f"s{next(_ids)}"


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionClosed | DeviceGone):
        return "connection_lost"
    if isinstance(exc, InvalidHandshake):
        return "handshake_failed"
    return "connect_failed"
