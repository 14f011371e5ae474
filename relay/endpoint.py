"""What both websocket endpoints share: read frames, decode, authorise, dispatch, answer.

Every frame gets exactly one outcome: the handler's reply, nothing (the handler answered
itself), or one `error` frame with a stable code. A handler bug becomes `internal` for that
request only; the connection and everything already stored are untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from backend_client import codec
from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from relay.context import RelayContext

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[m.Msg | None]]


class Endpoint:
    name = "?"  # the metrics label: "officer" or "citizen"
    decoder: codec.Decoder[m.Msg]

    def __init__(self, ctx: RelayContext, ws: ServerConnection) -> None:
        self.ctx = ctx
        self.ws = ws
        self.handlers: dict[type[Any], Handler] = {m.Ping: self.ping}

    async def run(self) -> None:
        try:
            async for frame in self.ws:
                reply = await self.handle(frame)
                if reply is not None:
                    await self.ws.send(codec.encode_text(reply))
        except ConnectionClosed:
            pass
        finally:
            self.closed()

    def closed(self) -> None:
        """The connection ended (cleanly or not)."""

    async def authorise(self, msg: m.Msg) -> None:
        """Raise ProtocolError if this connection may not send `msg` now."""

    async def handle(self, frame: str | bytes) -> m.Msg | None:
        metrics = self.ctx.metrics
        metrics.frames_in.labels(self.name).inc()
        rid: str | None = None
        try:
            msg = self.decoder.decode(frame)
            rid = getattr(msg, "id", None)
            await self.authorise(msg)
            return await self.handlers[type(msg)](msg)
        except ProtocolError as exc:
            if rid is None:
                rid = codec.request_id(frame)
            metrics.errors.labels(self.name, exc.code.value).inc()
            return codec.error_frame(exc, rid)
        except Exception:
            log.exception("%s request failed", self.name)
            metrics.errors.labels(self.name, "internal").inc()
            return m.Error(
                code=ErrorCode.INTERNAL.value,
                message="the relay failed to apply this request; it was not applied",
                re=rid,
            )

    async def ping(self, msg: m.Ping) -> m.Msg:
        return m.Pong(re=msg.id, t=msg.t)
