"""One event log, many relays: every node's officers get every node's events, once, in order.

Relays sharing one PostgreSQL database append to the same `events` table. Each batch takes
its seqs under the audit lock and holds it to COMMIT (relay/db/uow.py), so seqs become
visible in the order they were handed out: the committed log is always a gap-free prefix,
and "every event after seq N" read at any moment misses nothing that commits later.

A batch also sends `NOTIFY lookout_events, 'events <seq> <node>'` in its transaction
(PostgreSQL delivers it at COMMIT, never for a rolled-back one). It carries the stream and
the seq only, never the event (payloads stay far below the 8,000-byte limit), and is only
a wake-up: each node's `EventFollower` then reads `seq > cursor` from the table and hands
the rows to the hub in seq order. A lost notification (the LISTEN connection dropped, a
node that was restarting) costs latency, not events: the follower also reads every
`poll_s`, and after every reconnection. A node's own events go to its hub straight from the
commit when nothing is missing before them (the single-relay path, no read); otherwise
they wait for the read, which returns them with the other nodes' ones, in order.

Some events ask for more than a push to officers when another node made them: an
officer's chat (`chat.posted` from an officer) must reach the phone wherever it is
connected. `RemoteChat` does that for the node the phone is on; a node's own chat went
out from its commit already, so the follower tells own seqs (noted in the transaction,
before COMMIT) from the other nodes'.

The pattern is Centrifugo's PostgreSQL broker (events inserted in the application's
transaction, NOTIFY as a wake-up, nodes catching up by offset); docs/scaling.md has the
reasons and what is still per node.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from backend_client import codec
from backend_client import messages as m
from backend_client.errors import ProtocolError
from relay.db import models as db
from relay.db.uow import Database
from relay.hub import Hub

log = logging.getLogger(__name__)

CHANNEL = "lookout_events"
#: events read per catch-up query (a node that was away reads its backlog in pages)
PAGE = 1000

Publish = Callable[[list[tuple[int, bytes]], frozenset[int]], None]
#: told the events other nodes made, after they went to this node's officers
OnRemote = Callable[[list[tuple[int, bytes]]], None]
#: told the `node_notes` rows other nodes wrote, in seq order (relay/node_notes.py)
OnNotes = Callable[[list["db.NodeNote"]], None]
#: told that notes this node had not read were pruned: reload what they keep current
OnNotesLost = Callable[[], None]
STREAMS = ("events", "notes")


def payload(seq: int, node_id: str, stream: str = "events") -> str:
    """The NOTIFY payload: stream, seq and the sending node, never the event itself."""
    return f"{stream} {seq} {node_id or '-'}"


def parse_payload(text_: str) -> tuple[str, int] | None:
    """(stream, seq) of a payload, or None for one this release does not know."""
    parts = text_.split(" ")
    if len(parts) != 3 or parts[0] not in STREAMS or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def libpq_url(sqlalchemy_url: str) -> str:
    """The SQLAlchemy URL (`postgresql+psycopg://...`) as psycopg's own connection string."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(False)


class EventFollower:
    """Feeds this node's hub (through `publish`) every committed event of every node."""

    def __init__(
        self,
        database: Database,
        url: str,
        publish: Publish,
        node_id: str = "",
        poll_s: float = 1.0,
        on_remote: OnRemote | None = None,
        on_notes: OnNotes | None = None,
        on_notes_lost: OnNotesLost | None = None,
    ) -> None:
        self._db = database
        self._url = libpq_url(url)
        self._publish = publish
        self.node_id = node_id
        self.poll_s = poll_s
        #: the last seq handed to `publish`: everything up to it went out, in order
        self.cursor = database.head_seq
        self._wake = asyncio.Event()
        #: catch-up reads done (tests and metrics: a node's own events need none)
        self.reads = 0
        self.connected = False
        self.on_remote = on_remote
        #: seqs of this node's batches not yet published (noted on the writer thread)
        self._own: set[int] = set()
        self._own_lock = threading.Lock()
        #: the last `node_notes` seq handed to `on_notes` (or this node's own)
        self.note_cursor = database.note_head
        self.on_notes = on_notes
        self.on_notes_lost = on_notes_lost

    # ---------------------------------------------------------- the writer's side

    def announce(self, s: Session, stream: str, first: int, last: int) -> None:
        """In the batch's transaction (writer thread): the NOTIFY, sent at COMMIT, and a
        note that these event seqs are ours (a read may bring them before `local` is told;
        notes carry their node)."""
        if stream == "events":
            with self._own_lock:
                self._own.update(range(first, last + 1))
        s.execute(select(func.pg_notify(CHANNEL, payload(last, self.node_id, stream))))

    def local(self, events: list[tuple[int, bytes]], exercise: frozenset[int]) -> None:
        """This node's batch just committed (event loop): out now if it follows the cursor."""
        if not events:
            return
        if events[0][0] == self.cursor + 1:
            self._publish(events, exercise)
            self.cursor = events[-1][0]
            self._forget_own(self.cursor)
        elif events[-1][0] > self.cursor:  # another node's events are first: read them all
            self._wake.set()

    # ---------------------------------------------------------- the reader's side

    async def catch_up(self) -> int:
        """Publish every committed event after the cursor, in order, then hand on the other
        nodes' notes; returns how many events."""
        sent = await self._catch_up_events()
        await self.catch_up_notes()
        return sent

    async def catch_up_notes(self) -> int:
        """Hand every other node's note after the note cursor to `on_notes`, in seq order."""
        told = 0
        while True:
            notes = await self._db.read(functools.partial(_notes_page, after=self.note_cursor))
            if not notes:
                return told
            if notes[0].seq != self.note_cursor + 1:  # pruned before we read them
                log.warning(
                    "node notes %d to %d were pruned before this node read them: reloading",
                    self.note_cursor + 1,
                    notes[0].seq - 1,
                )
                if self.on_notes_lost is not None:
                    self.on_notes_lost()
            self.note_cursor = notes[-1].seq
            remote = [n for n in notes if n.node != self.node_id]
            if remote and self.on_notes is not None:
                self.on_notes(remote)
            told += len(remote)
            if len(notes) < PAGE:
                return told

    async def _catch_up_events(self) -> int:
        sent = 0
        while True:
            rows = await self._db.read(functools.partial(_page, after=self.cursor))
            self.reads += 1
            rows = [r for r in rows if r[0] > self.cursor]  # some went out meanwhile
            if not rows:
                return sent
            if rows[0][0] != self.cursor + 1:  # cannot happen with serialised appends
                log.warning("event log gap after seq %d (next %d)", self.cursor, rows[0][0])
            events = [(seq, frame.encode("utf-8")) for seq, frame, _pilot in rows]
            exercise = frozenset(seq for seq, _frame, pilot in rows if pilot is not None)
            with self._own_lock:
                remote = [e for e in events if e[0] not in self._own]
            self._publish(events, exercise)
            self.cursor = events[-1][0]
            self._forget_own(self.cursor)
            if remote and self.on_remote is not None:
                self.on_remote(remote)
            sent += len(events)
            if len(rows) < PAGE:
                return sent

    def _forget_own(self, upto: int) -> None:
        with self._own_lock:
            if self._own:
                self._own = {seq for seq in self._own if seq > upto}

    async def run(self) -> None:
        """LISTEN, and catch up on each wake-up, each `poll_s` and each reconnection."""
        import psycopg

        backoff = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=10
                ) as conn:
                    await conn.execute(text_listen())
                    self.connected, backoff = True, 0.5
                    await self.catch_up()  # whatever committed while we were not listening
                    await self._follow(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: retry, read on return
                if self.connected:
                    log.warning("event log listener lost its connection: %s", type(exc).__name__)
                self.connected = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _follow(self, conn: Any) -> None:
        notified = asyncio.Event()

        async def listen() -> None:
            async for note in conn.notifies():
                if parse_payload(note.payload) is not None:
                    notified.set()

        listener = asyncio.ensure_future(listen())
        try:
            while True:
                waits = [asyncio.ensure_future(e.wait()) for e in (notified, self._wake)]
                await asyncio.wait(
                    [*waits, listener], timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED
                )
                for w in waits:
                    w.cancel()
                if listener.done():  # the connection ended: let run() reconnect
                    listener.result()
                    raise ConnectionError("LISTEN connection closed")
                notified.clear()
                self._wake.clear()
                await self.catch_up()
        finally:
            listener.cancel()
            with contextlib.suppress(BaseException):
                await listener


def text_listen() -> Any:
    """`LISTEN lookout_events` as psycopg wants it (a constant: no user input)."""
    from psycopg import sql

    return sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL))


def _notes_page(s: Session, after: int) -> list[db.NodeNote]:
    notes = s.scalars(
        select(db.NodeNote).where(db.NodeNote.seq > after).order_by(db.NodeNote.seq).limit(PAGE)
    ).all()
    s.expunge_all()  # plain values from here on: read on the event loop after the session
    return list(notes)


def _page(s: Session, after: int) -> list[tuple[int, str, str | None]]:
    rows = s.execute(
        select(db.Event.seq, db.Event.frame, db.Event.pilot_id)
        .where(db.Event.seq > after)
        .order_by(db.Event.seq)
        .limit(PAGE)
    ).all()
    return [(int(seq), str(frame), pilot) for seq, frame, pilot in rows]


class RemoteChat:
    """Chat messages made on another node: an officer's to its phone if it is on this one;
    a citizen's just handed to this node's live officers, marked delivered to them (the
    phone is told on its own node: relay/node_notes.py), as the phone's node does for its
    own officers.

    The phone not connected here (or anywhere) gets an officer's message from the
    database when it comes back, as on one relay (`reports.undelivered_chat`)."""

    def __init__(
        self,
        database: Database,
        hub: Hub,
        spawn: Callable[[Any], object],
        delivered_to_officers: Callable[[list[str]], Awaitable[None]],
    ) -> None:
        self._db, self._hub, self._spawn = database, hub, spawn
        self._delivered_to_officers = delivered_to_officers

    def __call__(self, events: list[tuple[int, bytes]]) -> None:
        if not (self._hub.citizens or self._hub.officers_live):
            return
        reached: list[str] = []  # citizens' messages this node's officers now have
        for _seq, frame in events:
            if b'"chat.posted"' not in frame:
                continue
            try:
                event = codec.officer_outbound.decode(frame)
            except ProtocolError:  # a newer node's event this release does not know
                continue
            if not isinstance(event, m.ChatPosted):
                continue
            if event.message.sender == "officer":
                if self._hub.citizens:
                    self._spawn(self._deliver(event.message))
            elif event.message.status == "sent" and self._hub.officers_live:
                reached.append(event.message.message_id)
        if reached:
            self._spawn(self._delivered_to_officers(reached))

    async def _deliver(self, message: m.ChatMessage) -> None:
        report_id = message.report_id
        key = await self._db.read(
            lambda s: s.scalar(select(db.Report.device_id).where(db.Report.public_id == report_id))
        )
        if key is not None:
            self._hub.send_to_devices([int(key)], codec.encode_text(m.ChatDeliver(message=message)))


def default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"[:64]


def follower_for(
    config_url: str | None,
    database: Database,
    publish: Publish,
    node_id: str,
    on_remote: OnRemote | None = None,
) -> EventFollower | None:
    """A follower for a relay on PostgreSQL (wired into `database`), None on SQLite.

    A node started without `--node-id` gets its host and process id: notes carry their
    node, and two nodes sharing the empty id would each take the other's notes for its
    own and skip them."""
    if not config_url or not database.shared_log:
        return None
    node_id = node_id or default_node_id()
    database.node_id = node_id
    follower = EventFollower(database, config_url, publish, node_id, on_remote=on_remote)
    database.on_events = follower.local
    database.announce = follower.announce
    return follower


__all__ = [
    "CHANNEL",
    "EventFollower",
    "RemoteChat",
    "follower_for",
    "libpq_url",
    "parse_payload",
    "payload",
]
