"""`RelayClient`: the console's link to the relay. The only module here that touches a socket.

It connects over TLS (a CA file, or a pinned SHA-256 certificate fingerprint), logs in with
password and TOTP, keeps its token fresh, subscribes with the last sequence number it saw
(so every missed event arrives once, in order), sends officer actions through a durable
outbox, and reconnects with capped, fully jittered exponential backoff. This module does
only the I/O: what a frame means, which reply answers which request, which events are
new and what the login sequence sends next are `protocol.OfficerProtocol`'s; states and
their transitions live in `state`; what is retryable lives in `policy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeGuard

from websockets.asyncio.client import ClientConnection, connect

from backend_client import OFFICER_PATH
from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from backend_client.limits import MAX_FRAME_BYTES
from backend_client.outbox import Outbox, OutboxEntry
from backend_client.policy import Backoff, CertificateChanged, LinkLost, classify
from backend_client.protocol import (
    Event,
    Garbled,
    Incoming,
    OfficerProtocol,
    Push,
    Rejected,
    Reply,
    login_instead,
    should_resume,
)
from backend_client.state import ConnectionStatus, State, Trigger, next_state

log = logging.getLogger(__name__)

#: errors after which an outbox action is kept and retried later (the relay may recover)
_TRANSIENT = {
    ErrorCode.INTERNAL.value,
    ErrorCode.RATE_LIMITED.value,
    ErrorCode.UNAVAILABLE.value,  # the relay's disk is full or read-only: it will come back
}
#: seconds to wait for the closing handshake; on a dead link it only delays noticing
CLOSE_TIMEOUT = 1.0
#: seconds `stop()` waits for the relay to confirm a logout
LOGOUT_TIMEOUT = 2.0


class NotLive(Exception):
    """A request needs a live link; actions that must not be lost go through `submit`."""


class SessionExpired(Exception):
    pass


class EventSink(Protocol):
    """Where events are made durable before the console sees them (the local cache)."""

    def apply_many(self, events: list[m.OfficerEvent]) -> None: ...

    def last_seq(self) -> int: ...


class EpochSink(EventSink, Protocol):
    """A sink that also keeps the log's epoch beside its seq (`cache.LocalCache`): its
    items can be dropped when the relay says history was lost. A sink without these
    methods is resumed by seq alone, as before epochs."""

    def epoch(self) -> str | None: ...

    def keep_epoch(self, epoch: str) -> None: ...

    def start_over(self, epoch: str) -> None: ...


@dataclass
class Credentials:
    username: str
    password: str
    #: returns the current TOTP code, or None when a person must type one (then a lapsed
    #: session ends in FATAL 'log in again' instead of a silent re-login)
    totp: Callable[[], str | None]


@dataclass
class ClientConfig:
    url: str  # wss://host:port (the client adds /v1/officer)
    ca_file: Path | None = None
    pin_sha256: str | None = None  # "AB:CD:..." of the relay certificate (trust on first use)
    open_timeout: float = 10.0
    request_timeout: float = 15.0
    #: websocket keepalive: a ping every `keepalive` s, dead if no pong within `keepalive` s
    #: more; the closing handshake then gets CLOSE_TIMEOUT s, so a black-holed link is
    #: noticed within 2 x keepalive + CLOSE_TIMEOUT (9 s by default)
    keepalive: float = 4.0
    rtt_interval: float = 5.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    refresh_margin: float = 60.0  # refresh the token this many seconds before it expires


def _keeps_epoch(sink: EventSink | None) -> TypeGuard[EpochSink]:
    return all(
        callable(getattr(sink, name, None)) for name in ("epoch", "keep_epoch", "start_over")
    )


def certificate_fingerprint(der: bytes) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def ssl_context(config: ClientConfig) -> ssl.SSLContext:
    if config.pin_sha256:
        # The pin is the trust decision: the chain is not checked, the fingerprint is,
        # before a single credential is sent.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def fetch_fingerprint(url: str, timeout: float = 10.0) -> str:
    """The SHA-256 fingerprint the relay presents, for the console to show on first contact."""
    host, port = _host_port(url)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=ctx), timeout)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        return certificate_fingerprint(der)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def _host_port(url: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "localhost", parts.port or 443


class RelayClient:
    """One officer's connection. `await start()`, then read `events()`, `request()`, `submit()`."""

    def __init__(
        self,
        config: ClientConfig,
        credentials: Credentials,
        outbox: Outbox,
        sink: EventSink | None = None,
    ) -> None:
        self.config = config
        self.credentials = credentials
        self.outbox = outbox
        self.sink = sink
        self._status = ConnectionStatus(State.OFFLINE, time.time(), queued=outbox.count_pending())
        self._status_listeners: list[Callable[[ConnectionStatus], None]] = []
        self._outbox_listeners: list[Callable[[OutboxEntry, m.Msg | None], None]] = []
        self._subscribers: list[asyncio.Queue[m.Msg]] = []
        #: rid -> the future its caller awaits; which reply is whose is the protocol's call
        self._waiters: dict[str, asyncio.Future[Reply | Rejected]] = {}
        self._proto = OfficerProtocol(
            last_seq=sink.last_seq() if sink is not None else 0,
            epoch=sink.epoch() if _keeps_epoch(sink) else None,
        )
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._outbox_kick = asyncio.Event()
        #: set by `reconnect_now`: ends the current backoff wait early
        self._wake = asyncio.Event()
        self._live = asyncio.Event()
        self._backoff = Backoff(config.backoff_base, config.backoff_cap)
        self.token: str | None = None
        self.token_expires_at = 0.0
        self.username = credentials.username
        self.role: str | None = None
        #: whether the relay's CAP messages carry `<web>` (AuthOk.cap_web)
        self.cap_web = True
        self.connect_attempts = 0

    # ------------------------------------------------------------ observation

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    @property
    def last_seq(self) -> int:
        """The highest seq made durable and handed to the console: the next resume point."""
        return self._proto.last_seq

    def on_status(self, fn: Callable[[ConnectionStatus], None]) -> None:
        self._status_listeners.append(fn)

    def on_outbox(self, fn: Callable[[OutboxEntry, m.Msg | None], None]) -> None:
        """Called when an action is queued (reply None), confirmed, or refused (an Error)."""
        self._outbox_listeners.append(fn)

    async def events(self) -> AsyncIterator[m.Msg]:
        """Every officer event, once, in seq order, after the sink made it durable."""
        q: asyncio.Queue[m.Msg] = asyncio.Queue()
        self._subscribers.append(q)
        try:
            while True:
                yield await q.get()
        finally:
            self._subscribers.remove(q)

    def subscribe_queue(self) -> asyncio.Queue[m.Msg]:
        """A queue fed with every event (for code that prefers polling to iteration)."""
        q: asyncio.Queue[m.Msg] = asyncio.Queue()
        self._subscribers.append(q)
        return q

    def _set(self, trigger: Trigger, **changes: Any) -> None:
        new = next_state(self._status.state, trigger)
        self._status = replace(self._status, state=new, since=time.time(), **changes)
        for fn in list(self._status_listeners):
            try:
                fn(self._status)
            except Exception:
                log.exception("status listener failed")

    def _update(self, **changes: Any) -> None:
        self._status = replace(self._status, **changes)
        for fn in list(self._status_listeners):
            try:
                fn(self._status)
            except Exception:
                log.exception("status listener failed")

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._stop.clear()
        self._set(Trigger.START, attempt=0, reason="", next_attempt_at=None)
        self._task = asyncio.create_task(self._run(), name="relay-client")

    async def stop(self, logout: bool = True) -> None:
        """Stop for good; a live session is logged out first (its token is revoked, so a
        closed console leaves nothing that resumes). Best effort: a dead link only delays
        this by LOGOUT_TIMEOUT, and the token then lapses on its own."""
        if logout and self._live.is_set():
            with contextlib.suppress(Exception):
                await self.request(m.Logout(id=""), timeout=LOGOUT_TIMEOUT)
            self.token, self.token_expires_at = None, 0.0
        self._stop.set()
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            # gather, not suppress(CancelledError): that would also swallow a cancel of
            # the task closing us
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        if self._status.state is not State.OFFLINE:
            self._set(Trigger.STOP, next_attempt_at=None)

    async def wait_live(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._live.wait(), timeout)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self._session()
                if self._stop.is_set():
                    return
                raise ConnectionError("the relay closed the connection")
            except asyncio.CancelledError:
                raise
            except SessionExpired as exc:
                self._fail_pending()
                self._set(Trigger.FATAL_ERROR, reason=str(exc), next_attempt_at=None)
                return
            except BaseException as exc:
                self._fail_pending()
                self._live.clear()
                verdict = classify(exc)
                if not verdict.retry:
                    log.warning("relay link failed for good: %s", verdict.reason)
                    self._set(Trigger.FATAL_ERROR, reason=verdict.reason, next_attempt_at=None)
                    return
                delay = self._backoff.next_delay()
                self._wake.clear()  # before the state is shown: a click from now on counts
                self._set(
                    Trigger.LINK_FAILED,
                    reason=verdict.reason,
                    next_attempt_at=time.time() + delay,
                    attempt=self._backoff.attempt,
                )
                await self._wait_backoff(delay)
                if self._stop.is_set():
                    return
                self._set(Trigger.RETRY, next_attempt_at=None)

    async def _wait_backoff(self, delay: float) -> None:
        """The backoff delay, cut short by `stop()` or `reconnect_now()`."""
        waiters = [
            asyncio.ensure_future(self._stop.wait()),
            asyncio.ensure_future(self._wake.wait()),
        ]
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    def reconnect_now(self) -> bool:
        """The officer asked to try again at once: skip what is left of the backoff wait.
        The policy is unchanged (`policy.Backoff` still decides the wait after another
        failure). True when a wait was cut short, False when not backing off."""
        if self._status.state is not State.BACKING_OFF:
            return False
        log.info("reconnecting now, at the officer's request")
        self._wake.set()
        return True

    async def _session(self) -> None:
        cfg = self.config
        self.connect_attempts += 1
        ws = await connect(
            cfg.url.rstrip("/") + OFFICER_PATH,
            ssl=ssl_context(cfg),
            compression=None,
            max_size=MAX_FRAME_BYTES,
            open_timeout=cfg.open_timeout,
            ping_interval=cfg.keepalive,
            ping_timeout=cfg.keepalive,
            close_timeout=CLOSE_TIMEOUT,
            proxy=None,
        )
        self._ws = ws
        self._proto.connection_made()
        # per socket: events read but not yet durable when it drops are replayed on the next
        inbound: asyncio.Queue[Event] = asyncio.Queue()
        tasks: list[asyncio.Task[Any]] = []
        try:
            if cfg.pin_sha256:
                der = ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
                got = certificate_fingerprint(der)
                if got != cfg.pin_sha256.upper():
                    raise CertificateChanged(cfg.pin_sha256.upper(), got)
            self._set(Trigger.CONNECTED)
            reader = asyncio.create_task(self._reader(ws, inbound), name="relay-reader")
            processor = asyncio.create_task(self._processor(inbound), name="relay-events")
            tasks += [reader, processor]
            await self._authenticate(ws)
            await self._subscribe(ws)
            await inbound.join()  # replayed events are durable before we say live
            self._backoff.reset()
            self._set(Trigger.SUBSCRIBED, attempt=0, reason="", next_attempt_at=None)
            self._live.set()
            tasks += [
                asyncio.create_task(self._drain_outbox(), name="relay-outbox"),
                asyncio.create_task(self._keep_token(), name="relay-token"),
                asyncio.create_task(self._measure_rtt(), name="relay-rtt"),
            ]
            self._outbox_kick.set()
            done, _ = await asyncio.wait([reader, *tasks[2:]], return_when=asyncio.FIRST_EXCEPTION)
            # a dead link fails the reader and every pending request at once: report the
            # reader's cause ("link lost"), not a request's echo of it
            for t in sorted(done, key=lambda t: t is not reader):
                if t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
        finally:
            self._live.clear()
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(BaseException):
                    await t
            self._ws = None
            self._proto.connection_lost()
            self._fail_pending()
            await ws.close()

    async def _subscribe(self, ws: ClientConnection) -> m.Subscribed:
        """Subscribe from the last durable seq of its epoch; if the relay says history was
        lost, drop what the sink cached, tell the console (the `Subscribed` itself goes to
        every subscriber, before any event of the new replay) and subscribe from 0."""
        for _ in range(2):  # at most: told history_lost, then the replay from 0
            if self._proto.lost is not None:  # just now, or on a socket lost since
                await self._start_over(self._proto.lost)
            sub = await self._exchange(ws, self._proto.subscribe())
            assert isinstance(sub, m.Subscribed)
            if not sub.history_lost:
                if sub.epoch and _keeps_epoch(self.sink):
                    await asyncio.to_thread(self.sink.keep_epoch, sub.epoch)
                return sub
            log.warning("the relay's event history was lost: reloading everything")
        raise ConnectionError("the relay refused to replay its history from the start")

    async def _start_over(self, lost: m.Subscribed) -> None:
        if _keeps_epoch(self.sink):
            await asyncio.to_thread(self.sink.start_over, lost.epoch)
        self._proto.history_dropped()
        for q in self._subscribers:
            q.put_nowait(lost)

    # ------------------------------------------------------------ authentication

    async def _authenticate(self, ws: ClientConnection) -> None:
        if self.token and should_resume(self.token, self.token_expires_at, time.time()):
            try:
                self._took(await self._exchange(ws, self._proto.resume(self.token)))
                return
            except ProtocolError as exc:
                if not login_instead(exc):
                    raise
        code = self.credentials.totp()
        if code is None:
            raise SessionExpired("Your session has expired. Log in again with a new code.")
        creds = self.credentials
        self._took(
            await self._exchange(ws, self._proto.login(creds.username, creds.password, code))
        )

    def _took(self, ok: m.Msg) -> None:
        assert isinstance(ok, m.AuthOk)
        self.token, self.token_expires_at = ok.token, ok.expires_at
        self.username, self.role = ok.username, ok.role
        self.cap_web = ok.cap_web

    async def _keep_token(self) -> None:
        """Refresh ahead of expiry. A session also ends a shift after its login (the
        relay's absolute lifetime): then a refresh no longer extends the token, and once
        it lapses the reconnect logs in again (password + code; a person is asked)."""
        while True:
            wait = self.token_expires_at - self.config.refresh_margin - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            before = self.token_expires_at
            self._took(await self.request(m.Refresh(id="")))
            if self.token_expires_at <= before:  # the end of the shift: nothing to extend
                await asyncio.sleep(max(0.0, self.token_expires_at - time.time()))
                raise ProtocolError(
                    ErrorCode.TOKEN_EXPIRED, "Your session reached the end of its shift."
                )

    async def _measure_rtt(self) -> None:
        while True:
            t0 = time.perf_counter()
            limit = self.config.keepalive * 2
            try:
                await self.request(m.Ping(id="", t=time.time()), timeout=limit)
            except TimeoutError:
                raise LinkLost(f"no answer to a ping for {limit:g} s") from None
            self._update(rtt_ms=(time.perf_counter() - t0) * 1000)
            await asyncio.sleep(self.config.rtt_interval)

    # ------------------------------------------------------------ frames in

    async def _reader(self, ws: ClientConnection, inbound: asyncio.Queue[Event]) -> None:
        try:
            async for frame in ws:
                for item in self._proto.receive(frame):
                    self._dispatch(item, inbound)
            raise ConnectionError("the relay closed the connection")
        finally:
            self._fail_pending()

    def _dispatch(self, item: Incoming, inbound: asyncio.Queue[Event]) -> None:
        if isinstance(item, Reply | Rejected):
            fut = self._waiters.pop(item.rid, None)
            if fut is not None and not fut.done():
                fut.set_result(item)
        elif isinstance(item, Event):
            inbound.put_nowait(item)  # new (the protocol dropped repeats), in seq order
        elif isinstance(item, Push) and isinstance(item.msg, m.TeamChanged):
            for q in self._subscribers:  # presence: ephemeral, not made durable (issue 13)
                q.put_nowait(item.msg)
        elif isinstance(item, Garbled):
            log.warning("dropped an undecodable frame from the relay (%s)", item.error.code.value)
        else:
            log.debug("ignored a frame from the relay: %s", item)

    async def _processor(self, inbound: asyncio.Queue[Event]) -> None:
        """Make events durable in the sink, in order, then hand them to the console."""
        while True:
            batch = [await inbound.get()]
            while not inbound.empty():
                batch.append(inbound.get_nowait())
            try:
                if self.sink is not None:
                    await asyncio.to_thread(self.sink.apply_many, [e.msg for e in batch])
                for e in batch:
                    self._proto.confirm(e.seq)
                    for q in self._subscribers:
                        q.put_nowait(e.msg)
            finally:
                for _ in batch:
                    inbound.task_done()

    def _fail_pending(self) -> None:
        """Wake every waiter at once (the reader saw the link die): no answer can come now."""
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(ConnectionError("the link to the relay was lost"))
        self._waiters.clear()

    # ------------------------------------------------------------ requests

    async def request(
        self, msg: Any, timeout: float | None = None, live_only: bool = True
    ) -> m.Msg:
        """Send a request and wait for its reply; an `error` reply raises ProtocolError."""
        ws = self._ws
        if ws is None or (live_only and not self._live.is_set()):
            raise NotLive("not connected to the relay")
        return await self._exchange(ws, self._proto.send_request(msg), timeout)

    async def export_evidence(
        self, export: m.EvidenceExport, out: Path, build_timeout: float = 900.0
    ) -> m.EvidenceReady:
        """Have the relay build an evidence package (docs/protocol.md 5.8), fetch it piece
        by piece into `out` and check its SHA-256. Verifying it against the pinned key is
        the caller's (evidence.verify). Raises ProtocolError, or ValueError on a bad hash."""
        ready = await self.request(export, timeout=build_timeout)
        if not isinstance(ready, m.EvidenceReady):
            raise ValueError(f"unexpected reply to evidence.export: {type(ready).__name__}")
        part = out.with_name(out.name + ".part")
        h = hashlib.sha256()
        try:
            with part.open("wb") as f:
                offset = 0
                while offset < ready.total:
                    piece = await self.request(
                        m.EvidenceGet(id="", package_id=ready.package_id, offset=offset)
                    )
                    if not isinstance(piece, m.EvidenceData) or not piece.data:
                        raise ValueError("the relay sent no bytes for the evidence package")
                    await asyncio.to_thread(f.write, piece.data)
                    h.update(piece.data)
                    offset += len(piece.data)
            if h.hexdigest() != ready.sha256:
                raise ValueError("the evidence package arrived damaged (SHA-256 differs)")
            part.replace(out)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return ready

    async def _exchange(
        self, ws: ClientConnection, request: tuple[str, str], timeout: float | None = None
    ) -> m.Msg:
        """Send a request the protocol framed and wait for the answer it matches to it."""
        rid, text = request
        fut: asyncio.Future[Reply | Rejected] = asyncio.get_running_loop().create_future()
        self._waiters[rid] = fut
        try:
            await ws.send(text)
            answer = await asyncio.wait_for(fut, timeout or self.config.request_timeout)
        finally:
            self._waiters.pop(rid, None)
            self._proto.forget(rid)
        if isinstance(answer, Rejected):
            raise answer.exception()
        return answer.msg

    def submit(self, action: Any) -> OutboxEntry:
        """Queue an officer action durably; it is sent now if live, else after reconnecting."""
        entry = self.outbox.add(action)
        self._update(queued=self.outbox.count_pending())
        self._notify_outbox(entry, None)
        self._outbox_kick.set()
        return entry

    def _notify_outbox(self, entry: OutboxEntry, reply: m.Msg | None) -> None:
        for fn in list(self._outbox_listeners):
            try:
                fn(entry, reply)
            except Exception:
                log.exception("outbox listener failed")

    async def _drain_outbox(self) -> None:
        while True:
            await self._outbox_kick.wait()
            self._outbox_kick.clear()
            for entry in await asyncio.to_thread(self.outbox.pending):
                await asyncio.to_thread(self.outbox.attempted, entry.entry_id)
                try:
                    reply = await self.request(entry.message)
                except ProtocolError as exc:
                    if exc.code.value in _TRANSIENT:
                        raise ConnectionError(
                            f"the relay could not apply an action: {exc.message}"
                        ) from exc
                    err = m.Error(code=exc.code.value, message=exc.message)
                    await asyncio.to_thread(
                        self.outbox.fail, entry.entry_id, f"{exc.code.value}: {exc.message}"
                    )
                    self._update(queued=await asyncio.to_thread(self.outbox.count_pending))
                    self._notify_outbox(entry, err)
                    continue
                await asyncio.to_thread(self.outbox.complete, entry.entry_id, reply)
                self._update(queued=await asyncio.to_thread(self.outbox.count_pending))
                self._notify_outbox(entry, reply)
