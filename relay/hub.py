"""Who is connected, and how events reach them (one encode, `websockets.broadcast`).

The endpoints register and drop their connections here; the server's chores read the
authenticated officer sessions from here. Hub knows sessions only by the `OfficerSession`
protocol, so it imports no endpoint module.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Protocol

import websockets
from websockets.asyncio.server import ServerConnection


class OfficerSession(Protocol):
    """An authenticated officer connection whose token can be re-checked."""

    @property
    def ws(self) -> ServerConnection: ...

    async def still_valid(self) -> bool:
        """False once the token lapsed or the account was disabled."""
        ...


class Hub:
    def __init__(self) -> None:
        #: authenticated officer connections, re-checked by the chores even when silent
        self._sessions: set[OfficerSession] = set()
        self.officers_live: set[ServerConnection] = set()
        #: officers replaying the log: live events wait here until the replay has caught up
        self.replaying: dict[ServerConnection, list[tuple[int, str]]] = {}
        self.citizens: dict[int, ServerConnection] = {}  # device key -> its connection
        #: device key -> its connection's generation (`node_notes.tell_session`; several
        #: relays only: a lone relay's connections are all generation 0)
        self._generations: dict[int, int] = {}
        #: officers who subscribed with `exclude_exercise`: no pilot's event reaches them
        self.live_only: set[ServerConnection] = set()

    def publish(
        self, events: Iterable[tuple[int, bytes]], exercise: Collection[int] = frozenset()
    ) -> None:
        """Called after commit, in seq order: push each event to every subscribed officer;
        an exercise event (its seq in `exercise`) to those who did not exclude them."""
        for seq, frame in events:
            text = frame.decode("utf-8")
            skip = self.live_only if seq in exercise else None
            for ws, buf in self.replaying.items():
                if skip is None or ws not in skip:
                    buf.append((seq, text))
            to = self.officers_live if skip is None else self.officers_live - skip
            if to:
                websockets.broadcast(to, text)

    def begin_replay(self, ws: ServerConnection, exclude_exercise: bool = False) -> None:
        self.officers_live.discard(ws)
        self.replaying[ws] = []
        if exclude_exercise:
            self.live_only.add(ws)
        else:
            self.live_only.discard(ws)

    def take_buffer(self, ws: ServerConnection) -> list[tuple[int, str]]:
        buf = self.replaying.get(ws, [])
        self.replaying[ws] = []
        return buf

    def go_live(self, ws: ServerConnection) -> None:
        self.replaying.pop(ws, None)
        self.officers_live.add(ws)

    def drop_officer(self, ws: ServerConnection) -> None:
        self.officers_live.discard(ws)
        self.live_only.discard(ws)
        self.replaying.pop(ws, None)

    def add_session(self, session: OfficerSession) -> None:
        self._sessions.add(session)

    def discard_session(self, session: OfficerSession) -> None:
        self._sessions.discard(session)

    def sessions(self) -> list[OfficerSession]:
        """A snapshot: the caller may discard sessions while it walks the list."""
        return list(self._sessions)

    def attach_citizen(
        self, key: int, ws: ServerConnection, generation: int = 0
    ) -> ServerConnection | None:
        """Register a device's connection; returns the one it replaces (a stale link)."""
        old = self.citizens.get(key)
        self.citizens[key] = ws
        if generation:
            self._generations[key] = generation
        else:
            self._generations.pop(key, None)
        return old if old is not ws else None

    def detach_citizen(self, key: int, ws: ServerConnection) -> None:
        if self.citizens.get(key) is ws:
            del self.citizens[key]
            self._generations.pop(key, None)

    def replaced_elsewhere(self, key: int, generation: int) -> ServerConnection | None:
        """The device connected anew on another node with `generation`: its connection
        here, detached, if it is older (the caller closes it); None otherwise."""
        ws = self.citizens.get(key)
        if ws is None or self._generations.get(key, 0) >= generation:
            return None
        self.detach_citizen(key, ws)
        return ws

    def send_to_devices(self, keys: Iterable[int], text: str) -> int:
        conns = [c for k in keys if (c := self.citizens.get(int(k))) is not None]
        if conns:
            websockets.broadcast(conns, text)
        return len(conns)
