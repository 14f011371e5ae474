"""The client's connection states and every legal transition, in tables (as h11 does).

Two machines, each one short table: `State` is what the console shows and spans
reconnects (`RelayClient` drives it); `Phase` is where one socket is in the officer's
login, subscribe, live sequence (`protocol.OfficerProtocol` drives it) and ends with
that socket. The console shows `ConnectionStatus`; nothing else decides what state the
link is in, and no other module decides what may be sent before the link is live.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class State(Enum):
    OFFLINE = "offline"  # not started, or stopped on purpose
    CONNECTING = "connecting"  # TCP + TLS + websocket handshake (and certificate check)
    AUTHENTICATING = "authenticating"  # auth.resume / auth.login, then subscribe
    LIVE = "live"  # subscribed: events flow, the outbox drains
    BACKING_OFF = "backing_off"  # waiting before the next attempt (see next_attempt_at)
    FATAL = "fatal"  # retrying cannot help (bad credentials, changed certificate)


class Trigger(Enum):
    START = "start"
    CONNECTED = "connected"
    SUBSCRIBED = "subscribed"
    LINK_FAILED = "link_failed"  # retryable: refused, reset, timeout, dead link
    FATAL_ERROR = "fatal_error"  # not retryable
    RETRY = "retry"  # the backoff delay has passed (or the officer asked to reconnect now)
    STOP = "stop"


T, S = Trigger, State
TRANSITIONS: dict[tuple[State, Trigger], State] = {
    (S.OFFLINE, T.START): S.CONNECTING,
    (S.FATAL, T.START): S.CONNECTING,  # the user fixed the problem (new password, trust)
    (S.CONNECTING, T.CONNECTED): S.AUTHENTICATING,
    (S.CONNECTING, T.LINK_FAILED): S.BACKING_OFF,
    (S.CONNECTING, T.FATAL_ERROR): S.FATAL,
    (S.AUTHENTICATING, T.SUBSCRIBED): S.LIVE,
    (S.AUTHENTICATING, T.LINK_FAILED): S.BACKING_OFF,
    (S.AUTHENTICATING, T.FATAL_ERROR): S.FATAL,
    (S.LIVE, T.LINK_FAILED): S.BACKING_OFF,
    (S.LIVE, T.FATAL_ERROR): S.FATAL,
    (S.BACKING_OFF, T.RETRY): S.CONNECTING,
}
for _s in State:
    TRANSITIONS[(_s, T.STOP)] = S.OFFLINE


class IllegalTransition(RuntimeError):
    """A bug in the caller (e.g. subscribing before logging in), never a network event."""


def next_state(current: State, trigger: Trigger) -> State:
    try:
        return TRANSITIONS[(current, trigger)]
    except KeyError:
        raise IllegalTransition(f"{trigger.value} is not possible while {current.value}") from None


class Phase(Enum):
    """One officer connection's place in the sequence of docs/protocol.md section 5."""

    CLOSED = "closed"  # no socket
    AUTHENTICATING = "authenticating"  # socket open: auth.resume or auth.login next
    AUTHENTICATED = "authenticated"  # auth.ok arrived: subscribe next
    REPLAYING = "replaying"  # subscribe sent: missed events arrive, then `subscribed`
    LIVE = "live"  # `subscribed` arrived: live events and any request


class Step(Enum):
    OPEN = "open"  # the socket is up
    AUTH = "auth"  # auth.resume or auth.login sent (a refused resume may be followed by a login)
    AUTH_OK = "auth_ok"  # auth.ok answered it
    SUBSCRIBE = "subscribe"  # subscribe sent
    SUBSCRIBED = "subscribed"  # `subscribed` answered it: the replay is complete
    HISTORY_LOST = "history_lost"  # `subscribed` said history_lost: start over, subscribe again
    CLOSE = "close"  # the socket is gone, whatever the phase


P, St = Phase, Step
PHASES: dict[tuple[Phase, Step], Phase] = {
    (P.CLOSED, St.OPEN): P.AUTHENTICATING,
    (P.AUTHENTICATING, St.AUTH): P.AUTHENTICATING,
    (P.AUTHENTICATING, St.AUTH_OK): P.AUTHENTICATED,
    (P.AUTHENTICATED, St.SUBSCRIBE): P.REPLAYING,
    (P.REPLAYING, St.SUBSCRIBED): P.LIVE,
    (P.REPLAYING, St.HISTORY_LOST): P.AUTHENTICATED,
}
for _p in Phase:
    PHASES[(_p, St.CLOSE)] = P.CLOSED


def next_phase(current: Phase, step: Step) -> Phase:
    try:
        return PHASES[(current, step)]
    except KeyError:
        raise IllegalTransition(f"{step.value} is not possible while {current.value}") from None


@dataclass(frozen=True)
class ConnectionStatus:
    """What the console shows in its status bar."""

    state: State
    since: float  # when this state began (time.time())
    next_attempt_at: float | None = None  # BACKING_OFF: when the next attempt starts
    attempt: int = 0  # consecutive failed attempts
    reason: str = ""  # the last failure, in the user's words
    queued: int = 0  # outbox actions not yet confirmed by the relay
    rtt_ms: float | None = None  # last application-level round trip
