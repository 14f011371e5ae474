"""Reports, incidents and chat: the write jobs behind citizen and officer requests.

Each public function here runs inside the writer thread as a job (`fn(tx)`): it checks
first, then writes, emits officer events and audit records in the same transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from backend_client import messages as m
from backend_client import rules
from backend_client.errors import ErrorCode, ProtocolError
from backend_client.limits import REPLAY_BATCH
from relay import pilots, wire
from relay.db import models as db
from relay.db.uow import Tx


@dataclass(frozen=True)
class Actor:
    """An authenticated officer, as every officer job sees them."""

    officer_id: int
    username: str
    role: str


def new_public_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(5).upper()}"


def report_by_public_id(s: Session, report_id: str) -> db.Report:
    r = s.scalar(select(db.Report).where(db.Report.public_id == report_id))
    if r is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no report {report_id!r}")
    return r


# ---------------------------------------------------------------- citizen side


_R = cast(Table, db.Report.__table__)
_EXISTING = select(_R.c.id, _R.c.public_id).where(
    _R.c.device_id == bindparam("d"), _R.c.client_ref == bindparam("r")
)
_RM = cast(Table, db.ReportMedia.__table__)
_PENDING_MEDIA = select(_RM.c.sha256).where(
    _RM.c.report_id == bindparam("r"), _RM.c.stored.is_(False)
)
_INSERT_REPORT = insert(_R)


def submit_report(
    device_key: int, pseudonym: str, msg: m.ReportSubmit
) -> Callable[[Tx], m.ReportAccepted]:
    """Store a citizen's report. Hot path (thousands per second): Core statements, and the
    officer event is built from what is in hand instead of being read back.

    Every declared file starts not stored and is `missing` until this report's device has
    uploaded it, whatever the media store already holds: asking whether a hash is stored
    would tell a device that knows only a hash that someone else's photo exists.

    A device taking part in a running pilot files exercise reports: the pilot's id is
    stored with the report (read in this transaction, so a report racing `pilot.end`
    is marked by whichever committed first) and the participant counts as active."""

    def job(tx: Tx) -> m.ReportAccepted:
        conn = tx.s.connection()  # Core on prepared statements: no ORM work per report
        existing = conn.execute(_EXISTING, {"d": device_key, "r": msg.client_ref}).first()
        if existing is not None:  # a resubmission after a lost acknowledgement
            pending = list(conn.execute(_PENDING_MEDIA, {"r": existing[0]}).scalars())
            return m.ReportAccepted(re=msg.id, report_id=existing[1], missing=pending)
        public_id = new_public_id("R")
        priority = rules.initial_priority(msg.category)
        link = pilots.active_link(conn, device_key)
        pilot_id = None
        if link is not None:
            pilot_id = link[0]
            pilots.touch(conn, link[1], tx.now)
        pk = conn.execute(
            _INSERT_REPORT,
            {
                "public_id": public_id,
                "device_id": device_key,
                "client_ref": msg.client_ref,
                "category": msg.category,
                "text": msg.text,
                "lat": msg.lat,
                "lon": msg.lon,
                "created_at": tx.now,
                "status": "new",
                "priority": priority,
                "claimed_by": None,
                "incident_ref": None,
                "pilot_id": pilot_id,
            },
        ).inserted_primary_key
        assert pk is not None
        media: list[m.MediaInfo] = []
        seen: set[str] = set()
        for decl in msg.media:
            if decl.sha256 not in seen:
                seen.add(decl.sha256)
                media.append(m.MediaInfo(decl.sha256, decl.mime, decl.size, False))
        if media:
            conn.execute(
                insert(_RM),
                [
                    {
                        "report_id": pk[0],
                        "sha256": x.sha256,
                        "mime": x.mime,
                        "size": x.size,
                        "stored": x.stored,
                    }
                    for x in media
                ],
            )
        report = m.Report(
            report_id=public_id,
            reporter=pseudonym,
            category=msg.category,
            text=msg.text,
            lat=msg.lat,
            lon=msg.lon,
            created_at=tx.now,
            status="new",
            priority=priority,
            claimed_by=None,
            incident_ref=None,
            media=media,
            pilot_id=pilot_id,
            exercise=pilot_id is not None,
        )
        tx.emit(m.ReportCreated, report=report)
        missing = [x.sha256 for x in media if not x.stored]
        return m.ReportAccepted(re=msg.id, report_id=public_id, missing=missing)

    return job


@dataclass(frozen=True)
class DeclaredMedia:
    """A file a device announced with one of its reports, and whether it has arrived."""

    mime: str
    size: int
    report_key: int  # the report's primary key: names the device's own upload
    stored: bool


def media_declared(
    device_key: int, report_id: str, sha256: str
) -> Callable[[Session], DeclaredMedia | None]:
    """The file this device announced with this report, else None."""

    def query(s: Session) -> DeclaredMedia | None:
        row = s.execute(
            select(
                db.ReportMedia.mime,
                db.ReportMedia.size,
                db.ReportMedia.report_id,
                db.ReportMedia.stored,
            )
            .join(db.Report, db.Report.id == db.ReportMedia.report_id)
            .where(
                db.Report.public_id == report_id,
                db.Report.device_id == device_key,
                db.ReportMedia.sha256 == sha256,
            )
        ).first()
        return DeclaredMedia(str(row[0]), int(row[1]), int(row[2]), bool(row[3])) if row else None

    return query


def pending_media(report_key: int, sha256: str) -> Callable[[Session], tuple[str, int] | None]:
    """(mime, size) of a declared file of this report not yet recorded as stored."""

    def query(s: Session) -> tuple[str, int] | None:
        row = s.execute(
            select(db.ReportMedia.mime, db.ReportMedia.size).where(
                db.ReportMedia.report_id == report_key,
                db.ReportMedia.sha256 == sha256,
                db.ReportMedia.stored.is_(False),
            )
        ).first()
        return (str(row[0]), int(row[1])) if row else None

    return query


def media_stored(report_key: int, sha256: str) -> Callable[[Tx], bool]:
    """This report's own upload of `sha256` is verified and stored: mark it, tell officers.

    Only that report: another report declaring the same hash waits for its own device's
    upload. Idempotent (a resend or the start-up reconciliation); True if it changed."""

    def job(tx: Tx) -> bool:
        s = tx.s
        row = s.scalar(
            select(db.ReportMedia).where(
                db.ReportMedia.report_id == report_key,
                db.ReportMedia.sha256 == sha256,
                db.ReportMedia.stored.is_(False),
            )
        )
        if row is None:
            return False
        row.stored = True
        s.flush()
        r = s.get(db.Report, report_key)
        if r is not None:
            tx.emit(m.ReportUpdated, report=wire.report_msg(s, r), by=None)
        return True

    return job


def citizen_chat(
    device_key: int, pseudonym: str, msg: m.CitizenChatSend
) -> Callable[[Tx], m.ChatMessage]:
    def job(tx: Tx) -> m.ChatMessage:
        s = tx.s
        r = report_by_public_id(s, msg.report_id)
        if r.device_id != device_key:
            raise ProtocolError(ErrorCode.FORBIDDEN, "you can only chat about your own reports")
        old = s.scalar(
            select(db.ChatMessage).where(
                db.ChatMessage.report_id == r.id,
                db.ChatMessage.sender == "citizen",
                db.ChatMessage.client_ref == msg.client_ref,
            )
        )
        if old is not None:
            return wire.chat_msg(old, r.public_id, r.pilot_id)
        if r.pilot_id is not None:
            link = pilots.active_link(s.connection(), device_key)
            if link is not None and link[0] == r.pilot_id:
                pilots.touch(s.connection(), link[1], tx.now)
        c = db.ChatMessage(
            public_id=new_public_id("M"),
            report_id=r.id,
            sender="citizen",
            author=pseudonym,
            text=msg.text,
            sent_at=tx.now,
            status="sent",
            client_ref=msg.client_ref,
        )
        s.add(c)
        s.flush()
        out = wire.chat_msg(c, r.public_id, r.pilot_id)
        tx.emit(m.ChatPosted, message=out)
        return out

    return job


def chat_receipts(
    ids: list[str], status: str, *, by_device: int | None, actor: Actor | None
) -> Callable[[Tx], list[tuple[int, m.ChatMessage]]]:
    """Move messages to delivered/read. A device acknowledges officer messages on its own
    reports; an officer acknowledges citizen messages. Returns (device key, message) moved."""
    rank = {"sent": 0, "delivered": 1, "read": 2}

    def job(tx: Tx) -> list[tuple[int, m.ChatMessage]]:
        s = tx.s
        moved: list[tuple[int, m.ChatMessage]] = []
        rows = s.execute(
            select(db.ChatMessage, db.Report)
            .join(db.Report, db.Report.id == db.ChatMessage.report_id)
            .where(db.ChatMessage.public_id.in_(ids))
        ).all()
        for c, r in rows:
            if by_device is not None and (r.device_id != by_device or c.sender != "officer"):
                continue
            if by_device is None and c.sender != "citizen":
                continue
            if rank[status] <= rank.get(c.status, 0):
                continue
            c.status = status
            out = wire.chat_msg(c, r.public_id, r.pilot_id)
            tx.emit(
                m.ChatStatusChanged,
                message_id=c.public_id,
                report_id=r.public_id,
                status=status,
                pilot_id=r.pilot_id,
            )
            if actor is not None:
                tx.audit(actor.username, "chat.read", c.public_id)
            moved.append((r.device_id, out))
        return moved

    return job


def undelivered_chat(device_key: int) -> Callable[[Session], list[m.ChatMessage]]:
    def query(s: Session) -> list[m.ChatMessage]:
        rows = s.execute(
            select(db.ChatMessage, db.Report.public_id)
            .join(db.Report, db.Report.id == db.ChatMessage.report_id)
            .where(
                db.Report.device_id == device_key,
                db.ChatMessage.sender == "officer",
                db.ChatMessage.status == "sent",
            )
            .order_by(db.ChatMessage.id)
        ).all()
        return [wire.chat_msg(c, rid) for c, rid in rows]

    return query


#: how far back a reconnecting device is told its messages' marks (`chat_marks_for`)
CHAT_MARKS_RESENT_S = 7 * 24 * 3600.0
#: and at most this many of its newest messages (a phone shows recent conversations)
CHAT_MARKS_RESENT_MAX = 200


def chat_marks_for(device_key: int, now: float) -> Callable[[Session], list[tuple[str, str]]]:
    """(message_id, status) of this device's own messages that reached a console or were
    read there: pushed as `chat.status` after each authentication, because a mark that moved
    while the device was offline is pushed to no one. Bounded (the newest
    CHAT_MARKS_RESENT_MAX sent in the last CHAT_MARKS_RESENT_S), oldest first; `sent`
    needs no push (the device's `chat.sent` said so)."""

    def query(s: Session) -> list[tuple[str, str]]:
        rows = s.execute(
            select(db.ChatMessage.public_id, db.ChatMessage.status)
            .join(db.Report, db.Report.id == db.ChatMessage.report_id)
            .where(
                db.Report.device_id == device_key,
                db.ChatMessage.sender == "citizen",
                db.ChatMessage.status.in_(("delivered", "read")),
                db.ChatMessage.sent_at >= now - CHAT_MARKS_RESENT_S,
            )
            .order_by(db.ChatMessage.id.desc())
            .limit(CHAT_MARKS_RESENT_MAX)
        ).all()
        return [(mid, status) for mid, status in reversed(rows)]

    return query


# ---------------------------------------------------------------- officer side


def claim(actor: Actor, msg: m.ReportClaim) -> Callable[[Tx], m.Ack]:
    def job(tx: Tx) -> m.Ack:
        r = report_by_public_id(tx.s, msg.report_id)
        if not rules.may_claim(r.status, r.claimed_by, actor.username, actor.role, msg.force):
            raise ProtocolError(
                ErrorCode.CONFLICT, f"report {r.public_id} is already claimed by {r.claimed_by}"
            )
        r.claimed_by = actor.username
        _move(r, rules.status_after_claim(r.status))
        _changed(tx, r, actor, "report.claim", force=msg.force)
        return m.Ack(re=msg.id)

    return job


def set_status(actor: Actor, msg: m.ReportSetStatus) -> Callable[[Tx], m.Ack]:
    def job(tx: Tx) -> m.Ack:
        r = report_by_public_id(tx.s, msg.report_id)
        if msg.status == r.status:
            return m.Ack(re=msg.id)
        if not rules.can_move(r.status, msg.status):
            raise ProtocolError(
                ErrorCode.CONFLICT, f"a {r.status} report cannot move to {msg.status}"
            )
        if not rules.may_move(
            r.status, msg.status, claimed_by=r.claimed_by, username=actor.username, role=actor.role
        ):
            if rules.held_by_other(r.status, r.claimed_by, actor.username):
                raise ProtocolError(
                    ErrorCode.CONFLICT,
                    f"report {r.public_id} is held by {r.claimed_by}: only they, or a "
                    "supervisor, may change it",
                )
            raise ProtocolError(
                ErrorCode.CONFLICT,
                f"claim report {r.public_id} first (it is held by {r.claimed_by or 'nobody'})",
            )
        if msg.status == "claimed":
            r.claimed_by = actor.username
        if msg.status == "new":
            r.claimed_by = None
        was = r.status
        _move(r, msg.status, msg.reason)
        detail: dict[str, object] = {"status": msg.status, "from": was}
        if msg.status == "closed" and r.close_reason:
            detail["reason"] = r.close_reason
        _changed(tx, r, actor, "report.status", **detail)
        return m.Ack(re=msg.id)

    return job


def assign(actor: Actor, msg: m.ReportAssign) -> Callable[[Tx], m.Ack]:
    def job(tx: Tx) -> m.Ack:
        r = report_by_public_id(tx.s, msg.report_id)
        target = tx.s.scalar(select(db.Officer).where(db.Officer.username == msg.officer))
        if target is None or target.disabled:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no active officer {msg.officer!r}")
        if not rules.may_assign(r.status, r.claimed_by, actor.username, actor.role):
            raise ProtocolError(
                ErrorCode.CONFLICT,
                f"report {r.public_id} is held by {r.claimed_by}: only they, or a "
                "supervisor, may assign it",
            )
        r.claimed_by = target.username
        _move(r, rules.status_after_claim(r.status))
        _changed(tx, r, actor, "report.assign", officer=target.username)
        return m.Ack(re=msg.id)

    return job


def set_priority(actor: Actor, msg: m.ReportSetPriority) -> Callable[[Tx], m.Ack]:
    def job(tx: Tx) -> m.Ack:
        r = report_by_public_id(tx.s, msg.report_id)
        r.priority = msg.priority
        _changed(tx, r, actor, "report.priority", priority=msg.priority)
        return m.Ack(re=msg.id)

    return job


def officer_chat(actor: Actor, msg: m.OfficerChatSend) -> Callable[[Tx], tuple[int, m.ChatMessage]]:
    def job(tx: Tx) -> tuple[int, m.ChatMessage]:
        s = tx.s
        r = report_by_public_id(s, msg.report_id)
        c = db.ChatMessage(
            public_id=new_public_id("M"),
            report_id=r.id,
            sender="officer",
            author=actor.username,
            text=msg.text,
            sent_at=tx.now,
            status="sent",
        )
        s.add(c)
        s.flush()
        out = wire.chat_msg(c, r.public_id, r.pilot_id)
        tx.emit(m.ChatPosted, message=out)
        tx.audit(actor.username, "chat.reply", r.public_id, message=c.public_id)
        return r.device_id, out

    return job


def _move(r: db.Report, status: str, reason: str | None = None) -> None:
    """Set a report's status: closing keeps its reason (blank: none), and any move out of
    closed (reopen, claim, assign) clears it, so a reason always belongs to a live close."""
    if status == "closed" and r.status != "closed":
        r.close_reason = (reason or "").strip() or None
    elif status != "closed":
        r.close_reason = None
    r.status = status


def _changed(tx: Tx, r: db.Report, actor: Actor, action: str, **detail: object) -> None:
    tx.s.flush()
    tx.emit(m.ReportUpdated, report=wire.report_msg(tx.s, r), by=actor.username)
    tx.audit(actor.username, action, r.public_id, **detail)


def citizen_chat_awaiting_officers() -> Callable[[Session], list[str]]:
    """Citizen messages no console has received yet (sent while none was live)."""

    def query(s: Session) -> list[str]:
        return list(
            s.scalars(
                select(db.ChatMessage.public_id)
                .where(db.ChatMessage.sender == "citizen", db.ChatMessage.status == "sent")
                .limit(REPLAY_BATCH)  # the rest on the next console's catch-up
            )
        )

    return query


def mark_chat_delivered_to_officers(
    ids: list[str],
) -> Callable[[Tx], list[tuple[int, m.ChatMessage]]]:
    return chat_receipts(ids, "delivered", by_device=None, actor=None)
