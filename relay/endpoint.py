"""What both websocket endpoints share: read frames, decode, authorise, dispatch, answer.

Every frame gets exactly one outcome: the handler's reply, nothing (the handler answered
itself), or one `error` frame with a stable code. A handler bug becomes `internal` for that
request only; the connection and everything already stored are untouched.

Before a frame is even decoded it pays for itself: one token from the connection's
message bucket and its length from the byte bucket (so media chunks count by size). A
frame over either limit is answered `rate_limited` with a retry time and not looked at
further; a peer that keeps sending regardless is closed, and its address refused at accept
for a few seconds (it would only reconnect and start again). A new socket that has not signed
in within `auth_deadline_s` is closed. Bad frames and handler failures log at most one
line per connection per `bad_frame_log_every_s`, so a flood cannot fill the disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from backend_client import codec
from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from relay.context import RelayContext
from relay.ratelimit import LogThrottle, Rate, TokenBucket, address_key, retry_after

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[m.Msg | None]]
#: an endpoint's method answering one request type, called with the connection
Route = Callable[[Any, Any], Awaitable[m.Msg | None]]
#: a connection is signed in once one of these succeeded (either endpoint)
SIGN_IN: tuple[type[m.Msg], ...] = (m.Login, m.Resume, m.DeviceRegister, m.DeviceAuth)
#: close code for a peer over a limit or past its deadline (policy violation)
POLICY_CLOSE = 1008


class RateLimited(ProtocolError):
    """`rate_limited`, with the seconds after which the same request would be accepted."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(ErrorCode.RATE_LIMITED, message)
        self.retry_after_s = retry_after(retry_after_s)


class Endpoint:
    name = "?"  # the metrics label: "officer" or "citizen"
    decoder: codec.Decoder[m.Msg]
    #: the method answering each request type, one table per class (not a dict of bound
    #: methods per connection: 10,000 phones would hold 10,000 copies)
    routes: ClassVar[dict[type[Any], Route]]

    def __init__(self, ctx: RelayContext, ws: ServerConnection) -> None:
        self.ctx = ctx
        self.ws = ws
        #: answers of this connection's own, before `routes` (the officer's, some wrapped)
        self.handlers: dict[type[Any], Handler] = {}
        cfg = ctx.config
        #: the key this peer's per-address limits count under; None: allowlisted or unknown
        self.address = address_key(getattr(ws, "remote_address", None), cfg.address_allowlist)
        self.signed_in = False
        #: the auth deadline passed and the connection is being closed (`_auth_deadline_passed`)
        self.deadline_passed = False
        #: a sign-in request is being handled: the deadline is about sending one, so it
        #: waits for the answer (a busy database, a login's hash) and closes only if it failed
        self._signing_in = False
        self._deadline_waiting = False
        now = time.monotonic()
        self._messages_rate = self._message_rate()
        self._bytes_rate = Rate(cfg.inbound_bytes_per_s, cfg.inbound_byte_burst)
        self._messages = TokenBucket.full(self._messages_rate, now)
        self._bytes = TokenBucket.full(self._bytes_rate, now)
        self._refused_in_row = 0
        #: refusals in the current window: a flooder that waits for each answer gets a
        #: frame through on every refill, so it is never refused many times in a row
        self._window_start = now
        self._refused_in_window = 0
        self._close_reason: str | None = None
        self._log_throttle = LogThrottle(cfg.bad_frame_log_every_s)
        #: when the frame being handled now arrived (perf_counter), for the latency metrics
        self.received_at = 0.0
        #: the wire tag of the request being handled (None until it decodes)
        self._tag: str | None = None

    def _message_rate(self) -> Rate:
        cfg = self.ctx.config
        if self.name == "officer":
            return Rate(cfg.officer_messages_per_s, cfg.officer_message_burst)
        return Rate(cfg.citizen_messages_per_s, cfg.citizen_message_burst)

    async def run(self) -> None:
        deadline = self.ctx.config.auth_deadline_s
        timer = (
            asyncio.get_running_loop().call_later(deadline, self._auth_deadline_passed)
            if deadline > 0
            else None
        )
        try:
            async for frame in self.ws:
                self.received_at, self._tag = time.perf_counter(), None
                reply = await self.handle(frame)
                if reply is not None:
                    await self.ws.send(codec.encode_text(reply))
                if self._tag is not None:
                    self.answered(self._tag, time.perf_counter() - self.received_at)
                if self._close_reason is not None:
                    await self.ws.close(POLICY_CLOSE, self._close_reason)
                    break
        except ConnectionClosed:
            pass
        finally:
            if timer is not None:
                timer.cancel()
            self.closed()

    def _auth_deadline_passed(self) -> None:
        if self.signed_in:
            return
        if self._signing_in:
            self._deadline_waiting = True
            return
        self.deadline_passed = True  # the close below runs later: a sign-in now must not attach
        self.ctx.metrics.rate_limited.labels(self.name, "auth_deadline").inc()
        reason = f"not authenticated within {self.ctx.config.auth_deadline_s:g} s"
        self.ctx.spawn(self.ws.close(POLICY_CLOSE, reason))

    def closed(self) -> None:
        """The connection ended (cleanly or not)."""

    def answered(self, tag: str, seconds: float) -> None:
        """A request of type `tag` was answered `seconds` after its frame arrived."""

    async def authorise(self, msg: m.Msg) -> None:
        """Raise ProtocolError if this connection may not send `msg` now."""

    async def handle(self, frame: str | bytes) -> m.Msg | None:
        metrics = self.ctx.metrics
        metrics.frames_in.labels(self.name).inc()
        rid: str | None = None
        try:
            self._pay_for(frame)
            msg = self.decoder.decode(frame)
            rid = getattr(msg, "id", None)
            self._tag = str(type(msg).__struct_config__.tag)
            if has_nul(frame):
                raise ProtocolError(
                    ErrorCode.INVALID,
                    f"{type(msg).__name__}: text may not hold NUL characters (U+0000)",
                )
            await self.authorise(msg)
            handler = self.handlers.get(type(msg))
            signing_in = isinstance(msg, SIGN_IN) and not self.signed_in
            self._signing_in = signing_in
            try:
                if handler is not None:
                    reply = await handler(msg)
                else:
                    reply = await self.routes[type(msg)](self, msg)
                if isinstance(msg, SIGN_IN):
                    self.signed_in = True
            finally:
                self._signing_in = False
                if signing_in and self._deadline_waiting:  # it passed while we answered
                    self._deadline_waiting = False
                    self._auth_deadline_passed()  # closes unless that sign-in succeeded
            return reply
        except ProtocolError as exc:
            if rid is None:
                rid = codec.request_id(frame)
            metrics.errors.labels(self.name, exc.code.value).inc()
            self._note_refusal(exc)
            return codec.error_frame(exc, rid)
        except ConnectionClosed:
            # The peer left while a handler sent it something (a phone gone mid sign-in:
            # thousands at once when a node dies). What was committed stays; run() ends.
            raise
        except Exception:
            held = self._log_throttle.due()
            if held is not None:
                log.exception("%s request failed%s", self.name, _held(held))
            metrics.errors.labels(self.name, "internal").inc()
            return m.Error(
                code=ErrorCode.INTERNAL.value,
                message="the relay failed to apply this request; it was not applied",
                re=rid,
            )

    def _pay_for(self, frame: str | bytes) -> None:
        """Charge the frame to this connection's buckets, or raise RateLimited."""
        now = time.monotonic()
        wait = self._messages.take(self._messages_rate, now)
        if wait:
            self._limited("messages")
            raise RateLimited("too many messages on this connection: slow down", wait)
        wait = self._bytes.take(self._bytes_rate, now, len(frame))
        if wait:
            self._messages.give(self._messages_rate, now)
            self._limited("bytes")
            raise RateLimited("too many bytes on this connection: slow down", wait)
        self._refused_in_row = 0

    def _limited(self, limit: str) -> None:
        self.ctx.metrics.rate_limited.labels(self.name, limit).inc()
        self._refused_in_row += 1
        now = time.monotonic()
        if now - self._window_start >= REFUSAL_WINDOW_S:
            self._window_start, self._refused_in_window = now, 0
        self._refused_in_window += 1
        most = self.ctx.config.refusals_before_close
        if most > 0 and max(self._refused_in_row, self._refused_in_window) >= most:
            self.close_for_flooding("too many frames over the rate limit")

    def close_for_flooding(self, reason: str) -> None:
        """Close after the current reply, and refuse this address at accept for
        `abuse_penalty_s`: it would only reconnect and start again."""
        if self._close_reason is None:
            self.ctx.metrics.rate_limited.labels(self.name, "flood").inc()
            if self.address is not None:
                self.ctx.limits.penalties.add(self.address, self.ctx.config.abuse_penalty_s)
        self._close_reason = reason

    def _note_refusal(self, exc: ProtocolError) -> None:
        """One log line per connection per interval for frames a client should not send."""
        if exc.code not in _LOGGED:
            return
        held = self._log_throttle.due()
        if held is not None:
            log.warning(
                "%s %s: %s frame refused%s",
                self.name,
                self.address or "-",
                exc.code.value,
                _held(held),
            )

    async def ping(self, msg: m.Ping) -> m.Msg:
        return m.Pong(re=msg.id, t=msg.t)

    routes = {m.Ping: ping}


def has_nul(frame: str | bytes) -> bool:
    """Does a decoded JSON frame hold a string with U+0000? JSON can only write one as the
    escape `\\u0000` (a raw NUL byte is malformed), and that escape counts only when its
    backslash is not itself escaped. The relay refuses them, on every database: a
    PostgreSQL text column cannot hold NUL, so storing one failed the whole request as
    `internal` (with a traceback in the log) instead of a clear refusal."""
    raw = frame.encode() if isinstance(frame, str) else frame
    at = raw.find(b"\\u0000")
    while at >= 0:
        slashes = 0
        while at - slashes > 0 and raw[at - slashes - 1] == 0x5C:  # backslash
            slashes += 1
        if slashes % 2 == 0:
            return True
        at = raw.find(b"\\u0000", at + 1)
    return False


#: codes that mean a broken or hostile client (the others are ordinary answers)
_LOGGED = frozenset(
    {
        ErrorCode.MALFORMED,
        ErrorCode.UNKNOWN_TYPE,
        ErrorCode.UNSUPPORTED_VERSION,
        ErrorCode.TOO_LARGE,
        ErrorCode.RATE_LIMITED,
    }
)


#: refusals_before_close counts refusals in a row, and also within this many seconds
REFUSAL_WINDOW_S = 10.0


def _held(n: int) -> str:
    return f" ({n} more since the last line)" if n else ""
