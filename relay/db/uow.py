"""The relay's unit of work: one writer thread, group commit, events and audit in-transaction.

Every state change is a job `fn(tx) -> result` queued to a single writer thread. The thread
takes every job waiting, runs each inside its own SAVEPOINT (a job that raises is undone
alone), commits the batch once, and only then resolves the callers and runs post-commit
actions in order. So a reply or an event never goes out before its data is durable
(persist before acknowledge), seq numbers are gap-free and broadcast in order, and one
fsync serves many concurrent requests (that is how ingest reaches thousands per second).

A storage failure (disk full, read-only database, I/O error) undoes the batch and answers
each caller UNAVAILABLE, a code clients retry; `problem` says why (for /healthz) until a
later batch commits.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, Table, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from backend_client import codec, rules
from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from relay import audit
from relay.db import models as db

log = logging.getLogger(__name__)
R = TypeVar("R")
MAX_BATCH = 1000
_EVENTS = cast(Table, db.Event.__table__)
_NOTES = cast(Table, db.NodeNote.__table__)
#: the row every audit writer locks first, so the relay and `lookout-relay officer ...`
#: (another process) never take the same audit seq (PostgreSQL; SQLite has one writer anyway)
AUDIT_LOCK = "audit-lock"
#: the highest event seq ever committed, kept beside the log on a shared (PostgreSQL) log
#: so a seq is never handed out twice even after a pilot's erasure deleted the last events
EVENT_HEAD = "event-head"
#: the highest `node_notes` seq ever committed (a shared database only; docs/scaling.md)
NOTE_HEAD = "note-head"
#: a note's columns, so one insert takes the batch's notes whatever each one sets
_NOTE_FIELDS = ("device_id", "ref", "lat", "lon", "mask", "expires", "status")


def lock_audit_head(s: Session) -> tuple[int, str]:
    """Take the audit lock and read the chain's head inside the caller's transaction.

    The lock is taken by writing its row, not by SELECT ... FOR UPDATE (which SQLite
    ignores): on SQLite a transaction that reads first and writes later fails at once
    ("database is locked", a stale snapshot, no busy timeout helps) when another process
    (`lookout-relay mail bounce`, `officer add`) committed in between; one that writes
    first waits the busy timeout for it. On PostgreSQL it is the same row lock."""
    s.execute(
        update(db.Counter).where(db.Counter.name == AUDIT_LOCK).values(value=db.Counter.value)
    )
    last = s.execute(
        select(db.AuditLog.seq, db.AuditLog.hash).order_by(db.AuditLog.seq.desc()).limit(1)
    ).first()
    return (int(last[0]), str(last[1])) if last else (0, audit.GENESIS_HASH)


@dataclass
class _Job:
    fn: Callable[[Tx], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


@dataclass
class _Maintenance:
    """Work on the database file itself (a WAL checkpoint) that must not race the writer:
    it runs on the writer thread, between two batches, outside any transaction."""

    fn: Callable[[], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


@dataclass
class Tx:
    """What a job sees: the session, the transaction's clock, and ways to emit effects."""

    s: Session
    now: float
    _db: Database
    events: list[tuple[int, bytes]] = field(default_factory=list)
    after: list[Callable[[], object]] = field(default_factory=list)
    #: seq -> pilot of each exercise event this job emitted (`rules.event_pilot`)
    pilots: dict[int, str] = field(default_factory=dict)
    #: what this job tells the other relays sharing the database (`tell_nodes`)
    notes: list[dict[str, Any]] = field(default_factory=list)

    def emit(self, cls: type[m.Msg], **fields: Any) -> m.Msg:
        """Append an officer event (seq assigned here) to the log, broadcast after commit."""
        seq = self._db._next_seq
        self._db._next_seq += 1
        event = cls(seq=seq, at=self.now, **fields)  # type: ignore[call-arg]
        frame = codec.encode(event)
        self.events.append((seq, frame))  # inserted with the batch's others in one statement
        pilot = rules.event_pilot(event)
        if pilot is not None:
            self.pilots[seq] = pilot
        return event

    def audit(self, actor: str, action: str, subject: str, **detail: object) -> int:
        """Append one record to the hash-chained audit log, in this transaction; returns
        its seq (an export's reply names its record)."""
        seq, prev = self._db._audit_head
        seq += 1
        detail_text = audit.canonical_detail(detail)
        digest = audit.record_hash(prev, seq, self.now, actor, action, subject, detail_text)
        self.s.add(
            db.AuditLog(
                seq=seq,
                at=self.now,
                actor=actor,
                action=action,
                subject=subject,
                detail=detail_text,
                prev_hash=prev,
                hash=digest,
            )
        )
        self._db._audit_head = (seq, digest)
        return seq

    def after_commit(self, fn: Callable[[], object]) -> None:
        """Run `fn` on the event loop once this job's data is committed."""
        self.after.append(fn)

    def tell_nodes(self, kind: str, **fields: Any) -> int:
        """Note for the other relays on this database (relay/cluster.py reads it there),
        committed with this job; returns its seq, which only grows. A single relay has no
        one to tell: nothing is written and the answer is 0."""
        database = self._db
        if not database.shared_log:
            return 0
        seq = database._next_note
        database._next_note += 1
        note = dict.fromkeys(_NOTE_FIELDS) | fields
        self.notes.append(
            note | {"seq": seq, "at": self.now, "node": database.node_id, "kind": kind}
        )
        return seq


#: called after commit with the batch's events, in seq order, and the seqs of those
#: that are exercise traffic (a pilot's)
OnEvents = Callable[[list[tuple[int, bytes]], frozenset[int]], None]


class Database:
    def __init__(self, engine: Engine, on_events: OnEvents | None = None) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.on_events = on_events
        self._queue: queue.SimpleQueue[_Job | _Maintenance | None] = queue.SimpleQueue()
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="relay-read")
        with self.sessions() as s, s.begin():
            self._next_seq = int(s.scalar(select(func.max(db.Event.seq))) or 0) + 1
            _ensure_counters(s, {AUDIT_LOCK: 0, EVENT_HEAD: self._next_seq - 1, NOTE_HEAD: 0})
            note_head = s.scalar(select(db.Counter.value).where(db.Counter.name == NOTE_HEAD))
            self._next_note = int(note_head or 0) + 1
        self._audit_head: tuple[int, str] = (0, audit.GENESIS_HASH)
        #: several relays append to this log (PostgreSQL): each batch takes its seqs from
        #: the table under the audit lock, so seqs commit in order (docs/scaling.md)
        self.shared_log = engine.dialect.name == "postgresql"
        #: run in each batch's transaction after its events are inserted, with its first
        #: and last seq (relay/cluster.py's NOTIFY, delivered by PostgreSQL at COMMIT)
        self.announce: Callable[[Session, str, int, int], None] | None = None
        #: this relay's name among several (`--node-id`), written in its `node_notes`
        self.node_id = ""
        self._storage_failed = False  # set by the batch running now (writer thread only)
        self._thread = threading.Thread(target=self._run, name="relay-writer", daemon=True)
        self._thread.start()
        self.batches = 0
        #: seconds batches waited for the audit lock, and held it to COMMIT (bench/ingest.py:
        #: on a shared log every node's batch takes it, so this is where nodes queue)
        self.lock_wait_s = self.lock_held_s = 0.0
        self.jobs = 0
        #: told (seconds, jobs) on the writer thread after each batch commits (the metrics)
        self.on_commit: Callable[[float, int], None] | None = None
        #: why the last write failed for lack of storage; None once a batch commits
        self.problem: str | None = None

    @property
    def head_seq(self) -> int:
        return self._next_seq - 1

    @property
    def note_head(self) -> int:
        """The last `node_notes` seq this relay knows committed (a follower starts there)."""
        return self._next_note - 1

    async def write(self, fn: Callable[[Tx], R]) -> R:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[R] = loop.create_future()
        self._queue.put(_Job(fn, fut, loop))
        return await fut

    async def maintain(self, fn: Callable[[], R]) -> R:
        """Run `fn` on the writer thread between batches. A WAL checkpoint from another
        connection made the writer's next transaction fail with "database is locked"
        (SQLITE_BUSY_SNAPSHOT: no busy timeout helps); from the writer itself it cannot."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[R] = loop.create_future()
        self._queue.put(_Maintenance(fn, fut, loop))
        return await fut

    async def read(self, fn: Callable[[Session], R]) -> R:
        """Run a read-only query on a reader thread (WAL lets reads run beside the writer)."""

        def run() -> R:
            with self.sessions() as s:
                return fn(s)

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    def read_sync(self, fn: Callable[[Session], R]) -> R:
        with self.sessions() as s:
            return fn(s)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._readers.shutdown(wait=True)
        self.engine.dispose()

    # ------------------------------------------------------------ writer thread

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            if isinstance(first, _Maintenance):
                _run_maintenance(first)
                continue
            batch = [first]
            stop = False
            then: _Maintenance | None = None
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                if isinstance(nxt, _Maintenance):
                    then = nxt  # after this batch, before the next
                    break
                batch.append(nxt)
            self._run_batch(batch)
            if then is not None:
                _run_maintenance(then)
            if stop:
                return

    def _run_batch(self, batch: list[_Job]) -> None:
        seq_before, note_before = self._next_seq, self._next_note
        started = time.perf_counter()
        now = time.time()
        self._storage_failed = False
        try:
            try:  # the common case: every job succeeds, no savepoints needed
                outcomes = self._attempt(batch, now, isolate=False)
            except _JobFailed as failed:  # undo the batch, then run each job in its own savepoint
                cause = failed.__cause__
                if isinstance(cause, Exception) and _storage_failure(cause):
                    raise cause from None  # the disk, not the job: every job fails alike
                self._next_seq, self._next_note = seq_before, note_before
                outcomes = self._attempt(batch, now, isolate=True)
        except Exception as exc:  # the commit itself failed: nothing of the batch is stored
            self._next_seq, self._next_note = seq_before, note_before
            failure: Exception = exc
            if _storage_failure(exc):
                failure = self._unavailable(exc)
            else:
                log.exception("batch commit failed")
            for job in batch:
                _resolve(job, False, failure)
            return
        if not self._storage_failed:
            self.problem = None
        self.batches += 1
        self.jobs += len(batch)
        if self.on_commit is not None:
            self.on_commit(time.perf_counter() - started, len(batch))
        events: list[tuple[int, bytes]] = []
        exercise: set[int] = set()
        for _job, ok, _res, done in outcomes:
            if ok and done is not None:
                events.extend(done.events)
                exercise.update(done.pilots)
        # In this order on the caller's loop: the batch's events, then each job's
        # after-commit calls and its answer. One wake-up of the loop for the whole batch
        # (a batch is often hundreds of jobs): each wake-up hands the GIL over.
        steps: list[tuple[asyncio.AbstractEventLoop, Callable[[], object]]] = []
        if events and self.on_events is not None and batch:
            on_events, frozen = self.on_events, frozenset(exercise)
            steps.append((batch[0].loop, lambda: on_events(events, frozen)))
        for job, ok, res, done in outcomes:
            if ok and done is not None:
                steps.extend((job.loop, fn) for fn in done.after)
            steps.append((job.loop, _answer(job, ok, res)))
        _run_on_loops(steps)

    def _unavailable(self, exc: BaseException) -> ProtocolError:
        """Remember a storage failure (one log line, no traceback) and say it to callers."""
        self._storage_failed = True
        problem = f"database storage: {getattr(exc, 'orig', None) or exc}"
        if problem != self.problem:  # one line when it starts, not one per request
            log.warning("writes not applied: %s", problem)
        self.problem = problem
        return ProtocolError(
            ErrorCode.UNAVAILABLE,
            "the relay cannot store data right now; nothing was applied: retry later",
        )

    def _attempt(
        self, batch: list[_Job], now: float, isolate: bool
    ) -> list[tuple[_Job, bool, Any, Tx | None]]:
        outcomes: list[tuple[_Job, bool, Any, Tx | None]] = []
        with self.sessions() as s, s.begin():
            # another process (an admin command) may have appended to the audit chain
            asked = time.perf_counter()
            self._audit_head = lock_audit_head(s)
            locked = time.perf_counter()
            self.lock_wait_s += locked - asked
            if self.shared_log:  # another node may have appended since our last batch
                self._next_seq, self._next_note = (head + 1 for head in _shared_heads(s))
            for job in batch:
                tx = Tx(s=s, now=now, _db=self)
                if not isolate:
                    try:
                        outcomes.append((job, True, job.fn(tx), tx))
                    except Exception as exc:
                        raise _JobFailed from exc
                    continue
                seq0, audit0, note0 = self._next_seq, self._audit_head, self._next_note
                try:
                    with s.begin_nested():
                        result = job.fn(tx)
                    outcomes.append((job, True, result, tx))
                except Exception as exc:  # the job alone is undone
                    self._next_seq, self._audit_head, self._next_note = seq0, audit0, note0
                    failure: Exception = exc
                    if _storage_failure(exc):
                        failure = self._unavailable(exc)
                    elif not _expected(exc):
                        log.exception("write job failed")
                    outcomes.append((job, False, failure, None))
            rows = [
                {
                    "seq": seq,
                    "at": now,
                    "frame": frame.decode("utf-8"),
                    "pilot_id": tx.pilots.get(seq),
                }
                for _job, ok, _res, tx in outcomes
                if ok and tx is not None
                for seq, frame in tx.events
            ]
            if rows:
                s.connection().execute(insert(_EVENTS), rows)
                if self.shared_log:
                    head = int(cast(int, rows[-1]["seq"]))
                    s.execute(
                        update(db.Counter).where(db.Counter.name == EVENT_HEAD).values(value=head)
                    )
                    if self.announce is not None:
                        self.announce(s, "events", int(cast(int, rows[0]["seq"])), head)
            notes = [
                n for _job, ok, _res, tx in outcomes if ok and tx is not None for n in tx.notes
            ]
            if notes:
                s.connection().execute(insert(_NOTES), notes)
                last = int(notes[-1]["seq"])
                s.execute(update(db.Counter).where(db.Counter.name == NOTE_HEAD).values(value=last))
                if self.announce is not None:
                    self.announce(s, "notes", int(notes[0]["seq"]), last)
        self.lock_held_s += time.perf_counter() - locked  # to the end of COMMIT
        return outcomes


def _ensure_counters(s: Session, first: dict[str, int]) -> None:
    """Create the counters missing, with these first values; one that exists is left as
    it is, even when another relay starting at the same moment created it meanwhile."""
    dialect = s.get_bind().dialect.name
    insert_ = postgresql_insert if dialect == "postgresql" else sqlite_insert
    rows = [{"name": name, "value": value} for name, value in first.items()]
    s.execute(insert_(db.Counter).values(rows).on_conflict_do_nothing(index_elements=["name"]))


def _shared_heads(s: Session) -> tuple[int, int]:
    """The last seq of the shared event log and of `node_notes`, read under the audit lock
    (so no other node's batch is between this read and our COMMIT: seqs commit in the
    order they are handed out, and a reader resuming after seq N never misses a lower one
    committed later)."""
    names = (EVENT_HEAD, NOTE_HEAD)
    rows = s.execute(select(db.Counter.name, db.Counter.value).where(db.Counter.name.in_(names)))
    counted = {str(name): int(value or 0) for name, value in rows}
    stored = s.scalar(select(func.max(db.Event.seq))) or 0
    return max(counted.get(EVENT_HEAD, 0), int(stored)), counted.get(NOTE_HEAD, 0)


_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO})
_SQLITE_STORAGE = (
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_NOMEM",
)


def _storage_failure(exc: BaseException | None) -> bool:
    """The database could not write (full, read-only, I/O error, gone): not the job's fault.

    Told by the driver's own code, never by message text: SQLite's error names (FULL,
    READONLY, IOERR, CANTOPEN, BUSY, LOCKED, NOMEM), PostgreSQL's SQLSTATE classes 08
    (connection), 53 (insufficient resources: disk full), 57 (operator intervention) and
    58 (system error). A bad statement ("no such table") is a bug, not a full disk."""
    if isinstance(exc, OSError):
        return exc.errno in _STORAGE_ERRNOS
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    name = getattr(orig, "sqlite_errorname", None)
    if isinstance(name, str):
        return name.startswith(_SQLITE_STORAGE)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(state, str):
        return state[:2] in ("08", "53", "57", "58")
    return isinstance(exc, OperationalError)


class _JobFailed(Exception):
    """A job raised in a batch run without savepoints: re-run the batch isolating jobs."""


def _expected(exc: Exception) -> bool:
    return isinstance(exc, ProtocolError)


def _run_maintenance(work: _Maintenance) -> None:
    try:
        result = work.fn()
    except Exception as exc:
        _resolve(work, False, exc)
    else:
        _resolve(work, True, result)


def _answer(job: _Job | _Maintenance, ok: bool, value: Any) -> Callable[[], None]:
    """Settle `job`'s future (on its loop) with `value`, unless its caller gave up."""

    def set_result() -> None:
        if job.future.done():
            return
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)

    return set_result


def _resolve(job: _Job | _Maintenance, ok: bool, value: Any) -> None:
    job.loop.call_soon_threadsafe(_answer(job, ok, value))


def _run_on_loops(steps: list[tuple[asyncio.AbstractEventLoop, Callable[[], object]]]) -> None:
    """Run each step on its loop, in order, with one call_soon_threadsafe per run of steps
    on the same loop (a relay has one loop: one per batch)."""
    start = 0
    while start < len(steps):
        loop = steps[start][0]
        end = start
        while end < len(steps) and steps[end][0] is loop:
            end += 1
        run = [fn for _loop, fn in steps[start:end]]

        def run_all(run: list[Callable[[], object]] = run) -> None:
            for fn in run:
                try:
                    fn()
                except Exception:  # one step's failure must not keep the others' answers
                    log.exception("after-commit step failed")

        loop.call_soon_threadsafe(run_all)
        start = end
