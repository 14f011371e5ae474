"""The console's local cache: what the relay sent, kept so an officer can read on offline.

One SQLite file (WAL) holds the latest state of every report, chat message, alert and
incident the console has seen, the highest event `seq` applied and the epoch of the
relay's log it counts in (so a reconnect resumes from there, or starts over when the relay
says that history was lost), and fetched media. Events are applied idempotently and out-of-order safe:
each row remembers the `seq` of the state it holds and an older event never overwrites a
newer one, so replaying a batch twice, or a replay overlapping live events, is harmless.

Media is stored as BLOBs in the same file, not as files in a directory: a file is written
in the same transaction as its row (no orphans, no half-written files after a crash), the
cache is one file to back up or wipe, and no name from the wire ever becomes a path. The
bytes are verified by SHA-256 on the way in and out, and encrypted with AES-256-GCM under
a fresh nonce per file, with the hash and MIME type as associated data, so a flipped byte,
a swapped row or the wrong key is detected, never shown. Report and chat text are not
encrypted: the file is created readable by its owner only.

Every method is synchronous and short: the client calls them from a worker thread, never
the event loop. Callers get `messages` structs (plain, immutable), never ORM objects.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, assert_never

import keyring
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import (
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    delete,
    select,
)
from sqlalchemy import event as sa_event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from backend_client import messages as m

#: Bumped when the tables below change incompatibly; stored in `meta`.
SCHEMA_VERSION: Final = 1
KEY_BYTES: Final = 32  # AES-256
NONCE_BYTES: Final = 12  # the AES-GCM standard nonce
SALT_BYTES: Final = 16
SCRYPT_N: Final = 2**15
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
#: the `relay` row naming the epoch of the relay's log the cached seq counts in
_EPOCH: Final = "epoch"
# A chat message's status only moves forward; merging by rank makes event order irrelevant.
_CHAT_ORDER: Final[tuple[m.ChatStatus, ...]] = ("sent", "delivered", "read")


class CacheError(Exception):
    """Base of the errors the local cache raises."""


class MediaIntegrityError(CacheError):
    """Media bytes do not match their SHA-256, or their ciphertext fails authentication."""


class NoKeyAvailable(CacheError):
    """Neither the OS keyring nor a passphrase can supply the cache key."""


class CacheSchemaError(CacheError):
    """The cache file was written by a different version of Lookout."""


class RelayChanged(CacheError):
    """The cache file holds another relay's data (or data of no known relay)."""


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident as the cache knows it (there is no wire struct for one)."""

    incident_ref: str
    title: str
    opened_by: str
    opened_at: float


# ---------------------------------------------------------------- tables


class Base(DeclarativeBase):
    """The cache's own metadata; the relay's tables live in `relay.db.models`."""


class ReportRow(Base):
    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_status_created", "status", "created_at"),)
    report_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)  # seq of the event whose state `body` holds
    created_at: Mapped[float] = mapped_column(Float, index=True)
    status: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(40), index=True)
    priority: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)  # encoded messages.Report


class ChatRow(Base):
    """A chat message; `body` is NULL while only a status change for it has arrived."""

    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_report_sent", "report_id", "sent_at"),)
    message_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(128))
    posted_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    body: Mapped[str | None] = mapped_column(Text, nullable=True)  # encoded ChatMessage


class AlertRow(Base):
    __tablename__ = "alerts"
    alert_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[float] = mapped_column(Float, index=True)
    state: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)  # encoded messages.Alert


class IncidentRow(Base):
    __tablename__ = "incidents"
    incident_ref: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[float] = mapped_column(Float)


class MediaRow(Base):
    __tablename__ = "media"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    mime: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)  # plaintext bytes
    nonce: Mapped[bytes] = mapped_column(LargeBinary(NONCE_BYTES))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)  # AES-GCM output, tag appended


class ErasureRow(Base):
    """A report a citizen's erasure reached (`report.erased`): `kept` False, it is gone and
    no older event may bring it back; True, it is kept for an incident with a tombstone
    for a reporter. Ids and flags only: the report's content is what was purged."""

    __tablename__ = "erasures"
    report_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    kept: Mapped[bool] = mapped_column(Boolean)


class OpenedRow(Base):
    """A report an officer has opened in this console: unread means "not opened by me",
    the same on every sign-in, whether the report came from the cache or a replay."""

    __tablename__ = "opened"
    username: Mapped[str] = mapped_column(String(200), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(128), primary_key=True)


class RelayRow(Base):
    """Which relay this cache holds the data of (its identity: see `relay_identity`), and
    the epoch of that relay's log the cached seq counts in."""

    __tablename__ = "relay"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(400))


class MetaRow(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


# ---------------------------------------------------------------- the cache

_encoder = msgspec.json.Encoder()
_report_decoder = msgspec.json.Decoder(m.Report)
_chat_decoder = msgspec.json.Decoder(m.ChatMessage)
_alert_decoder = msgspec.json.Decoder(m.Alert)


class LocalCache:
    """Latest known state of everything an officer can read, in one encrypted-media file."""

    def __init__(self, path: Path, key: bytes, relay: str | None = None) -> None:
        """`relay` is the identity of the relay this console talks to (`relay_identity`):
        a file that holds another relay's data raises `RelayChanged`, never shows it."""
        if len(key) != KEY_BYTES:
            raise ValueError(f"the cache key must be {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self._write_lock = threading.Lock()  # one writer at a time; WAL lets readers on
        path.parent.mkdir(parents=True, exist_ok=True)
        # Create the file owner-only before SQLite does; its -wal and -shm inherit the mode.
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        self._engine = create_engine(
            f"sqlite:///{path.resolve()}",
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        sa_event.listen(self._engine, "connect", _sqlite_pragmas)
        sa_event.listen(self._engine, "begin", _sqlite_begin)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        try:
            self._check_layout(path)
            if relay is not None:
                self._check_relay(path, relay)
        except BaseException:
            self._engine.dispose()
            raise

    def _check_layout(self, path: Path) -> None:
        Base.metadata.create_all(self._engine)
        with self._write_lock, self._sessions.begin() as s:
            version = s.get(MetaRow, "schema_version")
            if version is None:
                s.add(MetaRow(key="schema_version", value=SCHEMA_VERSION))
            elif version.value != SCHEMA_VERSION:
                raise CacheSchemaError(
                    f"the cache at {path} has layout {version.value}, this Lookout reads "
                    f"layout {SCHEMA_VERSION}; delete the file and it will be refilled "
                    "from the relay"
                )

    def _check_relay(self, path: Path, relay: str) -> None:
        with self._write_lock, self._sessions.begin() as s:
            row = s.get(RelayRow, "identity")
            if row is not None and row.value == relay:
                return
            if row is None and s.get(MetaRow, "last_seq") is None:
                s.add(RelayRow(key="identity", value=relay))  # a new, empty cache
                return
        raise RelayChanged(
            f"the cache at {path} holds the data of another relay"
            if row is not None
            else f"the cache at {path} does not say which relay its data came from"
        )

    def relay(self) -> str | None:
        """The identity of the relay whose data this file holds."""
        with self._sessions() as s:
            row = s.get(RelayRow, "identity")
            return None if row is None else row.value

    # ------------------------------------------------------------ events

    def apply(self, event: m.OfficerEvent) -> None:
        """Store one event's effect; an event already applied (or older state) is a no-op."""
        self.apply_many((event,))

    def apply_many(self, events: Iterable[m.OfficerEvent]) -> None:
        """Apply a batch (e.g. a resume replay) in one transaction: all of it or none."""
        erased = False
        with self._write_lock:
            with self._sessions.begin() as s:
                top = -1
                for ev in events:
                    _apply(s, ev)
                    top = max(top, ev.seq)
                    erased = erased or isinstance(ev, m.ReportErased)
                if top >= 0:
                    row = s.get(MetaRow, "last_seq")
                    if row is None:
                        s.add(MetaRow(key="last_seq", value=top))
                    elif top > row.value:
                        row.value = top
            if erased:  # the erased pages (zeroed: secure_delete) leave the WAL now too
                _truncate_wal(self._engine)

    def last_seq(self) -> int:
        """The highest event seq applied, 0 if none: what to `subscribe` since."""
        with self._sessions() as s:
            row = s.get(MetaRow, "last_seq")
            return 0 if row is None else row.value

    def epoch(self) -> str | None:
        """The epoch of the relay's log `last_seq` counts in (None: not known yet)."""
        with self._sessions() as s:
            row = s.get(RelayRow, _EPOCH)
            return None if row is None else row.value

    def keep_epoch(self, epoch: str) -> None:
        """Remember the log's epoch the relay named in `subscribed`."""
        with self._write_lock, self._sessions.begin() as s:
            s.merge(RelayRow(key=_EPOCH, value=epoch[:400]))

    def start_over(self, epoch: str) -> None:
        """The relay lost the history this cache was built from: drop every item the
        events brought (reports, chat, alerts, incidents, erasure marks, their media) and
        the seq, and keep `epoch`, in one transaction, so what the next replay brings is
        all there is. An officer's opened marks stay: they name reports, not state."""
        with self._write_lock:
            with self._sessions.begin() as s:
                for table in (ReportRow, ChatRow, AlertRow, IncidentRow, ErasureRow, MediaRow):
                    s.execute(delete(table))
                s.execute(delete(MetaRow).where(MetaRow.key == "last_seq"))
                s.merge(RelayRow(key=_EPOCH, value=epoch[:400]))
            _truncate_wal(self._engine)

    # ------------------------------------------------------------ reads

    def reports(self, include_closed: bool = False) -> list[m.Report]:
        """Reports newest first; closed ones only when asked (they leave the working list)."""
        q = select(ReportRow.body)
        if not include_closed:
            q = q.where(ReportRow.status != "closed")
        q = q.order_by(ReportRow.created_at.desc(), ReportRow.report_id.desc())
        with self._sessions() as s:
            bodies = s.scalars(q).all()
        return [_report_decoder.decode(body) for body in bodies]

    def report(self, report_id: str) -> m.Report | None:
        with self._sessions() as s:
            row = s.get(ReportRow, report_id)
            return None if row is None else _report_decoder.decode(row.body)

    def chat(self, report_id: str) -> list[m.ChatMessage]:
        """A report's chat in the order the relay recorded it, each with its latest status."""
        q = (
            select(ChatRow.body)
            .where(ChatRow.report_id == report_id, ChatRow.body.is_not(None))
            .order_by(ChatRow.sent_at, ChatRow.posted_seq, ChatRow.message_id)
        )
        with self._sessions() as s:
            bodies = s.scalars(q).all()
        return [_chat_decoder.decode(body) for body in bodies if body is not None]

    def tombstoned(self) -> set[str]:
        """Kept reports whose citizen erased their data (the reporter is a tombstone)."""
        q = select(ErasureRow.report_id).where(ErasureRow.kept.is_(True))
        with self._sessions() as s:
            return set(s.scalars(q))

    def alerts(self) -> list[m.Alert]:
        """Every alert in any state, newest first."""
        q = select(AlertRow.body).order_by(AlertRow.sent_at.desc(), AlertRow.alert_id.desc())
        with self._sessions() as s:
            bodies = s.scalars(q).all()
        return [_alert_decoder.decode(body) for body in bodies]

    def incidents(self) -> list[Incident]:
        """Incidents newest first."""
        q = select(IncidentRow).order_by(IncidentRow.opened_at.desc())
        with self._sessions() as s:
            return [
                Incident(r.incident_ref, r.title, r.opened_by, r.opened_at) for r in s.scalars(q)
            ]

    # ------------------------------------------------------------ opened by an officer

    def opened_reports(self, username: str) -> set[str]:
        """The reports `username` has opened here (on any sign-in)."""
        q = select(OpenedRow.report_id).where(OpenedRow.username == username)
        with self._sessions() as s:
            return set(s.scalars(q))

    def mark_opened(self, username: str, report_ids: Iterable[str]) -> None:
        """Remember that `username` opened these reports (again is harmless)."""
        with self._write_lock, self._sessions.begin() as s:
            for report_id in dict.fromkeys(report_ids):
                s.merge(OpenedRow(username=username, report_id=report_id))

    # ------------------------------------------------------------ media

    def put_media(self, sha256: str, mime: str, data: bytes) -> None:
        """Store fetched media encrypted, if and only if `data` hashes to `sha256`."""
        sha256 = _check_sha256(sha256)
        actual = hashlib.sha256(data).hexdigest()
        if not secrets.compare_digest(actual, sha256):
            raise MediaIntegrityError(
                f"media {sha256[:12]}... was not stored: its bytes hash to {actual[:12]}...; "
                "fetch it again from the relay"
            )
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, data, _media_aad(sha256, mime))
        with self._write_lock, self._sessions.begin() as s:
            # Rewriting an existing entry is harmless (same bytes) and repairs a damaged one.
            s.merge(
                MediaRow(
                    sha256=sha256, mime=mime, size=len(data), nonce=nonce, ciphertext=ciphertext
                )
            )

    def get_media(self, sha256: str) -> tuple[str, bytes] | None:
        """`(mime, bytes)` of cached media, None if not cached; raises if it was altered."""
        sha256 = _check_sha256(sha256)
        with self._sessions() as s:
            row = s.get(MediaRow, sha256)
            if row is None:
                return None
            mime, size, nonce, ciphertext = row.mime, row.size, row.nonce, row.ciphertext
        try:
            data = self._aead.decrypt(nonce, ciphertext, _media_aad(sha256, mime))
        except InvalidTag:
            raise MediaIntegrityError(
                f"cached media {sha256[:12]}... cannot be read: the cache file was altered or "
                "this is not the key it was written with; fetch the media again from the relay"
            ) from None
        if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
            raise MediaIntegrityError(f"cached media {sha256[:12]}... does not match its hash")
        return mime, data

    # ------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Close every connection (the last one checkpoints and removes the WAL file)."""
        self._engine.dispose()

    def __enter__(self) -> LocalCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _apply(s: Session, ev: m.OfficerEvent) -> None:
    if isinstance(ev, m.ReportErased):
        _erase(s, ev)
        return
    if _erased(s, ev):
        return
    if isinstance(ev, m.ReportCreated | m.ReportUpdated):
        r = ev.report
        row = s.get(ReportRow, r.report_id)
        if row is None:
            s.add(
                ReportRow(
                    report_id=r.report_id,
                    seq=ev.seq,
                    created_at=r.created_at,
                    status=r.status,
                    category=r.category,
                    priority=r.priority,
                    body=_encoder.encode(r).decode(),
                )
            )
        elif ev.seq > row.seq:
            row.seq = ev.seq
            row.created_at = r.created_at
            row.status = r.status
            row.category = r.category
            row.priority = r.priority
            row.body = _encoder.encode(r).decode()
    elif isinstance(ev, m.ChatPosted):
        msg = ev.message
        chat = s.get(ChatRow, msg.message_id)
        if chat is None:
            chat = ChatRow(message_id=msg.message_id, report_id=msg.report_id, status=msg.status)
            s.add(chat)
        if chat.body is None:  # a message never changes after posting; only its status does
            status = _later_status(chat.status, msg.status)
            chat.report_id = msg.report_id
            chat.posted_seq = ev.seq
            chat.sent_at = msg.sent_at
            chat.status = status
            chat.body = _encoder.encode(msgspec.structs.replace(msg, status=status)).decode()
    elif isinstance(ev, m.ChatStatusChanged):
        chat = s.get(ChatRow, ev.message_id)
        if chat is None:  # status arrived before the message: keep it for when it does
            s.add(ChatRow(message_id=ev.message_id, report_id=ev.report_id, status=ev.status))
        else:
            status = _later_status(chat.status, ev.status)
            if status != chat.status:
                chat.status = status
                if chat.body is not None:
                    old = _chat_decoder.decode(chat.body)
                    chat.body = _encoder.encode(
                        msgspec.structs.replace(old, status=status)
                    ).decode()
    elif isinstance(ev, m.AlertChanged):
        a = ev.alert
        alert = s.get(AlertRow, a.alert_id)
        body = _encoder.encode(a).decode()
        if alert is None:
            s.add(
                AlertRow(
                    alert_id=a.alert_id, seq=ev.seq, sent_at=a.sent_at, state=a.state, body=body
                )
            )
        elif ev.seq > alert.seq:
            alert.seq, alert.sent_at, alert.state, alert.body = ev.seq, a.sent_at, a.state, body
    elif isinstance(ev, m.IncidentOpened):
        if s.get(IncidentRow, ev.incident_ref) is None:
            s.add(
                IncidentRow(
                    incident_ref=ev.incident_ref,
                    seq=ev.seq,
                    title=ev.title,
                    opened_by=ev.by,
                    opened_at=ev.at,
                )
            )
    elif isinstance(ev, m.PilotChanged):
        pass  # pilots are not cached: a pilots workspace asks `pilot.list`
    elif isinstance(ev, m.ReportNoted):
        pass  # internal notes are not cached: the Report dock asks `report.history`
    else:
        assert_never(ev)


def _erased(s: Session, ev: m.OfficerEvent) -> bool:
    """An event about a report a citizen had erased: ignored, whatever its seq (an
    overlapping replay must not bring the report, or its chat, back)."""
    if isinstance(ev, m.ReportCreated | m.ReportUpdated):
        report_id = ev.report.report_id
    elif isinstance(ev, m.ChatPosted):
        report_id = ev.message.report_id
    elif isinstance(ev, m.ChatStatusChanged):
        report_id = ev.report_id
    else:
        return False
    row = s.get(ErasureRow, report_id)
    return row is not None and not row.kept


def _erase(s: Session, ev: m.ReportErased) -> None:
    """Purge erased reports, their chat and their media (unless another report still
    declares the same file); remember them so no older event restores them."""
    ids = list(ev.report_ids)
    shas: set[str] = set()
    for body in s.scalars(select(ReportRow.body).where(ReportRow.report_id.in_(ids))):
        shas.update(x.sha256 for x in _report_decoder.decode(body).media)
    s.execute(delete(ChatRow).where(ChatRow.report_id.in_(ids)))
    s.execute(delete(OpenedRow).where(OpenedRow.report_id.in_(ids)))
    s.execute(delete(ReportRow).where(ReportRow.report_id.in_(ids)))
    for sha in shas:
        needle = f'%"sha256":"{sha}"%'  # a hex digest: nothing in it is a LIKE wildcard
        if s.scalar(select(ReportRow.report_id).where(ReportRow.body.like(needle)).limit(1)):
            continue
        s.execute(delete(MediaRow).where(MediaRow.sha256 == sha))
    for report_id, kept in [(i, False) for i in ids] + [(i, True) for i in ev.tombstoned]:
        row = s.get(ErasureRow, report_id)
        if row is None:
            s.add(ErasureRow(report_id=report_id, seq=ev.seq, kept=kept))
        elif ev.seq > row.seq:
            row.seq, row.kept = ev.seq, kept


def _truncate_wal(engine: Any) -> None:
    """Checkpoint the WAL into the file and empty it (deleted pages leave it too)."""
    raw = engine.raw_connection()  # no BEGIN: a checkpoint runs outside a transaction
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def _later_status(a: str, b: str) -> m.ChatStatus:
    rank = [_CHAT_ORDER.index(x) if x in _CHAT_ORDER else 0 for x in (a, b)]
    return _CHAT_ORDER[max(rank)]


def _check_sha256(sha256: str) -> str:
    lowered = sha256.lower()
    if not _SHA256_HEX.fullmatch(lowered):
        raise ValueError("a media hash is 64 hexadecimal characters (SHA-256)")
    return lowered


def _media_aad(sha256: str, mime: str) -> bytes:
    """Binds a ciphertext to its row: a blob moved to another hash or type fails to decrypt."""
    return f"lookout-media-v1\n{sha256}\n{mime}".encode()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL: a crash never corrupts; power loss may drop the last batches, which
    # the relay replays because `last_seq` is committed in the same transaction.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # a citizen's erasure purges rows: their bytes are overwritten, not left in free pages
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()
    dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below own transactions


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def relay_identity(url: str, pin_sha256: str | None, ca_file: Path | None) -> str:
    """What names a relay before connecting to it: its pinned certificate (a rebuilt relay
    makes a new one, and a changed pin is confirmed by a person), else the CA that vouches
    for it and its address, else its address alone."""
    if pin_sha256:
        return f"pin:{pin_sha256.upper()}"
    if ca_file is not None:
        try:
            digest = hashlib.sha256(Path(ca_file).read_bytes()).hexdigest()
        except OSError:
            digest = str(ca_file)
        return f"ca:{digest}@{url}"
    return f"url:{url}"


def set_aside(path: Path, why: str = "other-relay") -> Path | None:
    """Move a cache (or outbox) file and its WAL companions out of the way, kept beside
    it under a dated name, never deleted; the path it went to, or None if absent."""
    if not path.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.{why}-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.{why}-{stamp}-{n}")
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.replace(target.with_name(target.name + suffix))
    path.replace(target)
    return target


# ---------------------------------------------------------------- key management


def cache_key(
    service: str = "lookout",
    account: str | None = None,
    passphrase: str | None = None,
    salt_path: Path | None = None,
) -> bytes:
    """The 32-byte cache key: from the OS keyring if there is one, else from a passphrase.

    With a keyring, a random key is created on first use and stored (base64) under
    `service`/`account` (`account` defaults to the OS login name). Without one (a headless
    machine), the key is derived from `passphrase` with scrypt and a random salt kept in
    `salt_path`, beside the cache, created on first use. Losing the key or the salt makes
    cached media unreadable, nothing more: it can be fetched again from the relay.
    """
    keyring_problem = "no OS keyring is available"
    backend = keyring.get_keyring()
    if not isinstance(backend, keyring.backends.fail.Keyring | keyring.backends.null.Keyring):
        try:
            return _keyring_key(service, getpass.getuser() if account is None else account)
        except keyring.errors.NoKeyringError:
            pass
        except keyring.errors.KeyringError as exc:
            keyring_problem = f"the OS keyring failed ({exc})"
    if not passphrase:
        raise NoKeyAvailable(
            f"Cannot unlock the local cache: {keyring_problem}. Start the console with a "
            "cache passphrase (the same one every time on this machine), or install and "
            "unlock a keyring service."
        )
    if salt_path is None:
        raise ValueError("a passphrase-derived key needs salt_path, a file beside the cache")
    salt = _salt(salt_path)
    kdf = Scrypt(salt=salt, length=KEY_BYTES, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(passphrase.encode("utf-8"))


def _keyring_key(service: str, account: str) -> bytes:
    stored = keyring.get_password(service, account)
    if stored is None:
        keyring.set_password(service, account, base64.b64encode(os.urandom(KEY_BYTES)).decode())
        stored = keyring.get_password(service, account)  # re-read: another process may race
        if stored is None:
            raise keyring.errors.KeyringError("the key just stored could not be read back")
    try:
        key = base64.b64decode(stored, validate=True)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise NoKeyAvailable(
            f"The keyring entry {service!r}/{account!r} is not a Lookout cache key; "
            "remove it from the keyring and Lookout will create a new one."
        )
    return key


def _salt(salt_path: Path) -> bytes:
    """Read the salt, or create it once: written aside, then linked into place atomically,
    so a racing process sees either no salt or the whole salt, and both end up agreeing."""
    if not salt_path.exists():
        salt_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = salt_path.with_name(f".{salt_path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(os.urandom(SALT_BYTES))
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, salt_path)
        except FileExistsError:
            pass  # another process won; use its salt
        finally:
            tmp.unlink(missing_ok=True)
    salt = salt_path.read_bytes()
    if len(salt) != SALT_BYTES:
        raise NoKeyAvailable(
            f"The cache salt file {salt_path} is damaged; delete it and the cache beside it, "
            "then start again (cached data will be fetched from the relay)."
        )
    return salt
