"""The event log's epoch: which history a console's `since` counts in.

A console resumes by seq: "every event after N". That is right only while the log N was
counted in is the log the relay holds now. After a restore from an older backup, or a
database made anew, seq N names another event (or none), and a console resuming from it
would keep items that no longer exist and miss others, silently. So the log has an
epoch, a random id made with it and made again whenever its history is lost; `subscribed`
names it, the console keeps it with its seq, and a `subscribe` whose epoch is not the
log's, or whose seq the log cannot continue, is answered `history_lost`: the console drops
what it cached and reloads from seq 0. Centrifugo's streams carry the same pair (offset,
epoch) for the same reason.

Kept in `counters`, beside the other heads (no table of its own): `log-epoch`, a random
63-bit number (16 hex digits on the wire), and `log-floor`, the highest seq whose events
may have been discarded (`forget_through`; 0 while the whole log is kept).

History is lost, and the epoch renewed, when:

- the database has no epoch (a new database, or one from before epochs): `ensure`, at
  relay start, makes one;
- the database went back in time: it holds fewer audit records than this relay's last
  signed checkpoint counted (relay/checkpoints.py), i.e. it was restored from an older
  backup: `ensure` renews before any new event can reuse a seq a console has seen;
- a console has seen a seq beyond the log's head (a restore the checkpoint could not
  show): `subscribe` renews (`renewed_if_behind`).

The oldest events discarded (`forget_through`, for a retention policy) keep the epoch
(what remains is the same history) and raise the floor: a console whose `since` is below
it cannot continue and is told so. Erasures (a citizen's, a pilot's purge) delete events
too, but the log announces them (`report.erased`, `pilot.changed`), so a console resuming
across them stays right: that is not lost history.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relay.db import models as db
from relay.db.uow import EVENT_HEAD, Tx

log = logging.getLogger(__name__)

EPOCH = "log-epoch"
FLOOR = "log-floor"


@dataclass(frozen=True)
class LogPosition:
    """Where the log stands: its epoch (as on the wire), the floor and the head."""

    epoch: str
    floor: int
    head: int


def wire(value: int) -> str:
    return f"{value:016x}"


def _new_value() -> int:
    return secrets.randbits(63) or 1


def ensure(engine: Engine, audit_seen: int = 0) -> str:
    """At relay start (after the migrations): the log's epoch, made if the database has
    none, and renewed if it holds fewer audit records than `audit_seen` (the seq of this
    relay's last signed checkpoint), which only a restore from an older backup does."""
    with Session(engine) as s, s.begin():
        row = s.get(db.Counter, EPOCH)
        audit_head = int(s.scalar(select(func.max(db.AuditLog.seq))) or 0)
        if row is not None and audit_head < audit_seen:
            log.warning(
                "the database holds audit records up to %d, but this relay signed a "
                "checkpoint at %d: it was restored from an older backup; consoles reload",
                audit_head,
                audit_seen,
            )
            row.value = _new_value()
        if row is not None:
            return wire(row.value)
    try:  # another node starting at the same moment may make it first: then take its
        with Session(engine) as s, s.begin():
            value = _new_value()
            s.add(db.Counter(name=EPOCH, value=value))
            if s.get(db.Counter, FLOOR) is None:
                s.add(db.Counter(name=FLOOR, value=0))
        return wire(value)
    except IntegrityError:
        with Session(engine) as s:
            made = s.get(db.Counter, EPOCH)
            assert made is not None
            return wire(made.value)


def position(s: Session) -> LogPosition:
    """The log's epoch, floor and committed head, read in one session. The head is the
    highest of the stored events and the shared `event-head` counter (a pilot's erasure
    may have deleted the newest events; their seqs were seen all the same)."""
    names = (EPOCH, FLOOR, EVENT_HEAD)
    rows = s.execute(select(db.Counter.name, db.Counter.value).where(db.Counter.name.in_(names)))
    counted = {str(name): int(value or 0) for name, value in rows}
    stored = int(s.scalar(select(func.max(db.Event.seq))) or 0)
    return LogPosition(
        wire(counted.get(EPOCH, 0)),
        counted.get(FLOOR, 0),
        max(stored, counted.get(EVENT_HEAD, 0)),
    )


def lost(since: int, epoch: str | None, at: LogPosition) -> bool:
    """Whether a console that saw every event up to `since` in `epoch` cannot resume.

    Since 0 has nothing to lose. No epoch (a console from before epochs, or one that has
    not been told one yet) is taken on trust: its seq is checked against floor and head."""
    if since <= 0:
        return False
    return (epoch is not None and epoch != at.epoch) or since < at.floor or since > at.head


def renewed_if_behind(since: int) -> Callable[[Tx], str]:
    """The epoch to tell a console that saw seq `since`: a new one if the log's head is
    still below it in the writer (so no other batch is between the check and the renewal),
    else the current one."""

    def job(tx: Tx) -> str:
        at = position(tx.s)
        if since <= at.head:
            return at.epoch
        log.warning(
            "a console saw event %d but the log ends at %d: history was lost; new epoch",
            since,
            at.head,
        )
        value = _new_value()
        tx.s.execute(update(db.Counter).where(db.Counter.name == EPOCH).values(value=value))
        return wire(value)

    return job


def forget_through(tx: Tx, seq: int) -> int:
    """Discard the events up to `seq` and raise the floor to it; returns how many went."""
    done = tx.s.execute(delete(db.Event).where(db.Event.seq <= seq))
    gone = int(getattr(done, "rowcount", 0) or 0)
    floor = tx.s.get(db.Counter, FLOOR)
    if floor is None:
        tx.s.add(db.Counter(name=FLOOR, value=seq))
    elif floor.value < seq:
        floor.value = seq
    return gone
