"""What one relay tells the others on the same database, and what a node does when told.

Several relays share one PostgreSQL database (docs/scaling.md). Officer events already
reach every node through the event log; this is the rest, which officers never see:

- `fix`, `mask`, `gone`: a phone's entry in the device index (its located fix, its
  categories, its removal). Every node keeps the whole index, so whichever node an alert
  is sent on chooses its recipients from every device, wherever it is connected;
- `alert`: an alert version is to be delivered (sent, approved, updated, cancelled). The
  node that committed it pushes to its own connected recipients at once; every other node
  pushes the same version to its connected phones among the recipients stored with it;
- `session`: a device authenticated on a node. Its seq is that connection's generation; a
  node holding an older connection of the device closes it ("a second connection
  replaces the first" across nodes). Generations only grow, so the newer one is never
  the one closed;
- `chat-mark`: a chat message's status for the phone that sent it (delivered to the
  officers, read), pushed by the node the phone is on.

A note is written in the transaction of its change (`Tx.tell_nodes`, nothing at all on a
single relay) and read by the other nodes in seq order (`cluster.EventFollower`). A phone
that is connected nowhere gets what it missed from the database when it comes back, as
on one relay.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

from sqlalchemy import delete, update

from backend_client import codec
from backend_client import messages as m
from relay.db import models as db
from relay.db.uow import Tx
from relay.hub import Hub
from relay.targeting import DeviceIndex

log = logging.getLogger(__name__)
#: how long a note is kept: nodes read theirs within a second; one that lags longer
#: reloads the device index from the devices table (`EventFollower.on_notes_lost`)
KEEP_S = 600.0


# ------------------------------------------------------------------ telling (in a job)


def tell_fix(tx: Tx, key: int, lat: float, lon: float, mask: int, expires: float) -> None:
    tx.tell_nodes("fix", device_id=key, lat=lat, lon=lon, mask=mask, expires=expires)


def tell_mask(tx: Tx, key: int, mask: int) -> None:
    tx.tell_nodes("mask", device_id=key, mask=mask)


def tell_gone(tx: Tx, keys: Iterable[int]) -> None:
    """These devices left the index (erased, or their fix expired)."""
    for key in keys:
        tx.tell_nodes("gone", device_id=key)


def tell_erased(tx: Tx, key: int) -> None:
    """The device was erased: gone from every index, and no note keeps its position."""
    if tx.tell_nodes("gone", device_id=key):
        tx.s.execute(
            update(db.NodeNote)
            .where(db.NodeNote.device_id == key, db.NodeNote.lat.is_not(None))
            .values(lat=None, lon=None)
        )


def prune(keep_s: float = KEEP_S) -> Callable[[Tx], int]:
    """Delete the notes older than `keep_s` (a chore); returns how many."""

    def job(tx: Tx) -> int:
        done = tx.s.execute(delete(db.NodeNote).where(db.NodeNote.at < tx.now - keep_s))
        return int(getattr(done, "rowcount", 0) or 0)

    return job


def tell_alert(tx: Tx, alert_id: str) -> None:
    tx.tell_nodes("alert", ref=alert_id)


def tell_session(tx: Tx, key: int) -> int:
    """This device authenticated here; returns the connection's generation (0 alone)."""
    return tx.tell_nodes("session", device_id=key)


Moved = list[tuple[int, m.ChatMessage]]


def telling_chat_marks(job: Callable[[Tx], Moved]) -> Callable[[Tx], Moved]:
    """`job` (it moves chat messages' status: `reports.chat_receipts`), also telling the
    other nodes, whose phones among the senders are told there."""

    def run(tx: Tx) -> Moved:
        moved = job(tx)
        for key, message in moved:
            tx.tell_nodes("chat-mark", device_id=key, ref=message.message_id, status=message.status)
        return moved

    return run


# ------------------------------------------------------------------ told (event loop)


class NodeNotes:
    """Applies the other nodes' notes to this node's index and connections."""

    def __init__(
        self,
        index: DeviceIndex,
        hub: Hub,
        redeliver: Callable[[str], Awaitable[None]],
        spawn: Callable[[Any], object],
    ) -> None:
        """`redeliver(alert_id)` pushes an alert's current version to its recipients
        connected here (`Delivery.redeliver`)."""
        self._index, self._hub, self._redeliver, self._spawn = index, hub, redeliver, spawn
        #: notes applied, by kind (tests and the log)
        self.applied: dict[str, int] = {}

    def __call__(self, notes: list[db.NodeNote]) -> None:
        for note in notes:
            handle = self._kinds.get(note.kind)
            if handle is None:  # a newer node's kind this release does not know
                continue
            handle(self, note)
            self.applied[note.kind] = self.applied.get(note.kind, 0) + 1

    def _fix(self, note: db.NodeNote) -> None:
        if note.lat is None or note.lon is None:  # scrubbed: the device was erased since
            return
        self._index.upsert(
            _key(note),
            float(note.lat),
            float(note.lon),
            int(note.mask or 0),
            float(note.expires or 0.0),
        )

    def _mask(self, note: db.NodeNote) -> None:
        self._index.set_mask(_key(note), int(note.mask or 0))

    def _gone(self, note: db.NodeNote) -> None:
        self._index.remove(_key(note))

    def _alert(self, note: db.NodeNote) -> None:
        if note.ref and self._hub.citizens:  # nobody here: nothing to push
            self._spawn(self._redeliver(note.ref))

    def _session(self, note: db.NodeNote) -> None:
        older = self._hub.replaced_elsewhere(_key(note), note.seq)
        if older is not None:
            self._spawn(older.close(1000, "replaced by a newer connection"))

    def _chat_mark(self, note: db.NodeNote) -> None:
        if note.ref is None or note.status not in ("delivered", "read"):
            return
        mark = m.ChatStatusUpdate(message_id=note.ref, status=cast(m.ChatStatus, note.status))
        self._hub.send_to_devices([_key(note)], codec.encode_text(mark))

    _kinds: dict[str, Callable[[NodeNotes, db.NodeNote], None]] = {
        "fix": _fix,
        "mask": _mask,
        "gone": _gone,
        "alert": _alert,
        "session": _session,
        "chat-mark": _chat_mark,
    }


def _key(note: db.NodeNote) -> int:
    return int(cast(int, note.device_id))


__all__ = [
    "KEEP_S",
    "NodeNotes",
    "prune",
    "tell_erased",
    "tell_alert",
    "telling_chat_marks",
    "tell_fix",
    "tell_gone",
    "tell_mask",
    "tell_session",
]
