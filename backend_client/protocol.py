"""Lookout's client side of the wire without I/O: requests in, text out; text in, items out.

Like websockets' `protocol.py` and h11's `Connection`, this module knows no socket and no
event loop. The I/O layers (`client.RelayClient` for the console, `simulator.device` for
a phone, `tests/support/peer.py` for tests) own the socket and the futures their callers
wait on: they send whatever text `send_request` returns and hand every frame they read to
`receive`. So what a frame means (which request a reply answers, whether an event was
seen already, what may be sent at this point of the login sequence) is decided once,
here, and tested by feeding strings (tests/unit/test_protocol.py).

An officer connection, step by step (docs/protocol.md section 5):

    proto = OfficerProtocol(last_seq=cache.last_seq(), epoch=cache.epoch())
    proto.connection_made()
    rid, text = proto.login("dana", password, totp)  # or proto.resume(token); send text
    proto.receive(frame)      # -> [Reply(rid, ..., AuthOk)]; phase AUTHENTICATED
    rid, text = proto.subscribe()                    # since = the last confirmed seq
    proto.receive(frame)      # -> [Event(seq, ...)] per missed event, once each
    proto.receive(frame)      # -> [Reply(rid, ..., Subscribed)]; phase LIVE
    proto.confirm(seq)        # the event is durable: the next subscribe starts after it
    proto.connection_lost()   # -> rids still pending: fail their waiters

A `Subscribed` with `history_lost` (the relay's log is another epoch, or the events after
`since` are gone) leaves the phase AUTHENTICATED and the protocol starting over (seq 0,
the relay's new epoch): the application drops what it cached, then subscribes again.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import msgspec

from backend_client import codec
from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from backend_client.state import Phase, Step, next_phase

__all__ = [
    "ClientProtocol",
    "CitizenProtocol",
    "Event",
    "Garbled",
    "Incoming",
    "OfficerProtocol",
    "Push",
    "Rejected",
    "Reply",
    "SeqFilter",
    "Unmatched",
    "login_instead",
    "should_resume",
]

#: a token this close to its expiry would lapse mid-handshake: log in instead of resuming
RESUME_MARGIN_S = 5.0
#: a resume refused with one of these means "the session is over, log in", not "give up"
_LOGIN_AGAIN = frozenset({ErrorCode.TOKEN_EXPIRED, ErrorCode.BAD_CREDENTIALS})
#: requests that belong to the connection sequence: only its own steps may send them
_SEQUENCE = (m.Login, m.Resume, m.Subscribe)


# ---------------------------------------------------------------- what `receive` returns


@dataclass(frozen=True, slots=True)
class Reply:
    """The success answer to a request this connection sent (`request` is what was sent)."""

    rid: str
    request: m.Msg
    msg: m.Msg


@dataclass(frozen=True, slots=True)
class Rejected:
    """The relay answered a request with `error`: that request was not applied."""

    rid: str
    request: m.Msg
    error: m.Error

    def exception(self) -> ProtocolError:
        """The error as the exception callers catch; a code this client does not know is
        treated as the relay's own fault (`internal`), the one every client retries."""
        try:
            code = ErrorCode(self.error.code)
        except ValueError:
            code = ErrorCode.INTERNAL
        return ProtocolError(code, self.error.message)


@dataclass(frozen=True, slots=True)
class Event:
    """An ordered officer event (it has a `seq`) that this connection had not seen yet."""

    seq: int
    msg: m.OfficerEvent


@dataclass(frozen=True, slots=True)
class Push:
    """A frame sent unasked that is neither a reply nor an ordered event (chat.deliver,
    alert.deliver, chat.status to a phone)."""

    msg: m.Msg


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A reply no pending request waits for: a late one whose waiter gave up, a relay bug,
    or an error about a frame whose `id` the relay could not read. Reported, not raised:
    the connection carries on (docs/protocol.md: bad frames never close a connection)."""

    msg: m.Msg
    reason: str


@dataclass(frozen=True, slots=True)
class Garbled:
    """A frame that did not decode (`error` says why; `frame` is its start, for a log)."""

    frame: str
    error: ProtocolError


Incoming = Reply | Rejected | Event | Push | Unmatched | Garbled


# ---------------------------------------------------------------- the shared core


class ClientProtocol:
    """Correlation ids for one client: the request/reply half both endpoints share.

    It assigns every request's `id` (so ids are unique while outstanding, as the contract
    requires), remembers what is pending, and turns each frame into one `Incoming` item.
    Pushes and events are passed through unfiltered: a test peer must see exactly what
    the relay sent. `OfficerProtocol` adds the seq filter and the connection sequence.
    """

    def __init__(self, decoder: codec.Decoder[m.Msg], prefix: str = "r") -> None:
        self._decoder = decoder
        self._prefix = prefix
        self._ids = itertools.count(1)
        #: rid -> the request sent with it, until its reply arrives or `forget`
        self.pending: dict[str, m.Msg] = {}

    def send_request(self, msg: m.Msg) -> tuple[str, str]:
        """Give `msg` a fresh id (any id it carried is replaced) and return (id, text to send).

        The request is pending from now, so a reply cannot arrive before it is expected.
        """
        if "id" not in msg.__struct_fields__:
            raise TypeError(f"{type(msg).__name__} is not a request: it has no id")
        rid = f"{self._prefix}{next(self._ids)}"
        msg = msgspec.structs.replace(msg, id=rid)
        self.pending[rid] = msg
        return rid, codec.encode_text(msg)

    def receive(self, frame: str | bytes) -> list[Incoming]:
        """Decode one frame and say what it is. Never raises for anything the relay sends."""
        try:
            msg = self._decoder.decode(frame)
        except ProtocolError as exc:
            text = frame if isinstance(frame, str) else frame[:400].decode("utf-8", "replace")
            return [Garbled(text[:200], exc)]
        return self._classify(msg)

    def forget(self, rid: str) -> None:
        """The waiter gave up (a timeout): a reply arriving later is `Unmatched`."""
        self.pending.pop(rid, None)

    def connection_lost(self) -> list[str]:
        """Every request still pending: no reply can come on a new socket, fail their waiters."""
        lost = list(self.pending)
        self.pending.clear()
        return lost

    def _classify(self, msg: m.Msg) -> list[Incoming]:
        re = getattr(msg, "re", None)
        if re is not None:
            request = self.pending.pop(re, None)
            if request is None:
                return [Unmatched(msg, f"a reply to {re[:64]!r}, which no request is waiting for")]
            if isinstance(msg, m.Error):
                return [Rejected(re, request, msg)]
            return [Reply(re, request, msg)]
        if isinstance(msg, m.Error):
            return [Unmatched(msg, "an error about a frame whose id the relay could not read")]
        if isinstance(msg, m.OfficerEvent):
            return self._event(msg)
        return [Push(msg)]

    def _event(self, msg: m.OfficerEvent) -> list[Incoming]:
        return [Event(msg.seq, msg)]


class CitizenProtocol(ClientProtocol):
    """A phone's side of `/v1/citizen`: its replies matched, chat and alert pushes as `Push`."""

    def __init__(self) -> None:
        super().__init__(codec.citizen_outbound, prefix="s")


# ---------------------------------------------------------------- the officer side


class SeqFilter:
    """Lets each officer event through once: seq <= the last one let through is dropped.

    The relay sends every event once per subscription, in order; this is what keeps that
    promise true for the console even if a replay overlaps what already arrived.
    """

    def __init__(self, last: int = 0) -> None:
        self.last = last
        self.dropped = 0  # repeats seen (a relay bug if it is ever non-zero)

    def admit(self, seq: int) -> bool:
        if seq <= self.last:
            self.dropped += 1
            return False
        self.last = seq
        return True


def should_resume(token: str | None, expires_at: float, now: float) -> bool:
    """Resume (no TOTP code needed) while the token has life left; otherwise log in."""
    return bool(token) and now < expires_at - RESUME_MARGIN_S


def login_instead(exc: ProtocolError) -> bool:
    """A refused resume that a fresh login can fix (the token lapsed or was revoked)."""
    return exc.code in _LOGIN_AGAIN


class OfficerProtocol(ClientProtocol):
    """The console's side of `/v1/officer`: resume-or-login, subscribe, replay, live.

    It lives as long as the client (across sockets), because `last_seq` does: the highest
    seq the application `confirm`ed, i.e. made durable. Each subscribe asks for events
    after it and restarts the filter there, so an event that arrived but was not yet
    durable when the link dropped comes again in the replay and is let through, and an
    event already confirmed is never delivered twice.
    """

    def __init__(self, last_seq: int = 0, epoch: str | None = None) -> None:
        super().__init__(codec.officer_outbound, prefix="c")
        self.last_seq = last_seq
        #: the epoch of the log `last_seq` counts in (None: not known yet); the pair is
        #: the resume point, as Centrifugo's stream position (offset, epoch)
        self.epoch = epoch
        self.seq = SeqFilter(last_seq)
        self.phase = Phase.CLOSED
        #: the `subscribed` that said history_lost, until the caller has dropped what it
        #: cached (`history_dropped`): kept across sockets, so a link lost in between
        #: still starts over before the next subscribe
        self.lost: m.Subscribed | None = None

    # -- the sequence, one method per step (each raises IllegalTransition out of order)

    def connection_made(self) -> None:
        self.pending.clear()
        self.phase = next_phase(self.phase, Step.OPEN)

    def resume(self, token: str) -> tuple[str, str]:
        self.phase = next_phase(self.phase, Step.AUTH)
        return super().send_request(m.Resume(id="", token=token))

    def login(self, username: str, password: str, totp: str) -> tuple[str, str]:
        self.phase = next_phase(self.phase, Step.AUTH)
        login = m.Login(id="", username=username, password=password, totp=totp)
        return super().send_request(login)

    def subscribe(self) -> tuple[str, str]:
        self.phase = next_phase(self.phase, Step.SUBSCRIBE)
        self.seq = SeqFilter(self.last_seq)
        return super().send_request(m.Subscribe(id="", since=self.last_seq, epoch=self.epoch))

    def connection_lost(self) -> list[str]:
        self.phase = next_phase(self.phase, Step.CLOSE)
        return super().connection_lost()

    def confirm(self, seq: int) -> None:
        """The application made the event with `seq` durable: resume after it next time."""
        if seq > self.last_seq:
            self.last_seq = seq

    def start_over(self, lost: m.Subscribed) -> None:
        """History was lost: resume from nothing, in the relay's epoch (what the cache
        holds must be dropped before the next subscribe, which replays the whole log)."""
        self.last_seq = 0
        self.seq = SeqFilter(0)
        self.epoch = lost.epoch or None
        self.lost = lost

    def history_dropped(self) -> None:
        """The application dropped what it cached: the loss is handled."""
        self.lost = None

    # -- everything else

    def send_request(self, msg: m.Msg) -> tuple[str, str]:
        """Any other request; the sequence's own requests go through their steps."""
        if isinstance(msg, _SEQUENCE):
            raise TypeError(f"send {type(msg).__name__} with login(), resume() or subscribe()")
        return super().send_request(msg)

    def _classify(self, msg: m.Msg) -> list[Incoming]:
        items = super()._classify(msg)
        for item in items:
            if isinstance(item, Reply):
                if isinstance(item.msg, m.AuthOk) and isinstance(item.request, m.Login | m.Resume):
                    self.phase = next_phase(self.phase, Step.AUTH_OK)
                elif isinstance(item.msg, m.Subscribed) and item.msg.history_lost:
                    self.phase = next_phase(self.phase, Step.HISTORY_LOST)
                    self.start_over(item.msg)
                elif isinstance(item.msg, m.Subscribed):
                    self.phase = next_phase(self.phase, Step.SUBSCRIBED)
                    self.epoch = item.msg.epoch or self.epoch
        return items

    def _event(self, msg: m.OfficerEvent) -> list[Incoming]:
        return [Event(msg.seq, msg)] if self.seq.admit(msg.seq) else []
