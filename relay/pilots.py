"""Pilots on the relay: participants, invite codes, and the isolation of exercise traffic.

A pilot (issue 12) is a rehearsal on the production relay. Its participants are ordinary
pseudonymous devices that joined with a one-use invite code; while the pilot is active
everything they send is marked with the pilot's id (`reports.pilot_id`, the event log's
`pilot_id`), and an alert of the pilot (CAP status `Exercise`) is chosen only among its
participants inside its area and is never emailed. Ending a pilot turns its devices back
into ordinary ones (a real report after the pilot must never be filtered out as an
exercise); purging it erases what it left, after review, and the audit chain keeps a
record of the purge, never of the erased content.

Invite codes are `rules.INVITE_CODE_LENGTH` characters of `rules.INVITE_ALPHABET` (about
58 bits) from `secrets`, returned once and stored only as their SHA-256. A join costs the
same whichever way it fails (one indexed lookup of the digest, never a comparison that
stops early), and every attempt is charged to the device's and the address's join
allowance by the citizen endpoint; nothing here logs a code or a position.

Each public function is a write job (`fn(tx)`) or a read query (`fn(session)`), as in
relay/reports.py.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, cast

import msgspec
import numpy as np
from sqlalchemy import Table, bindparam, case, delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from backend_client import limits, rules
from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from relay.db import models as db
from relay.db.uow import Tx


class Actor(Protocol):
    """The officer a job acts for (relay.reports.Actor; only the name is needed here)."""

    @property
    def username(self) -> str: ...


#: ids per IN (...) list when purging, well under every engine's parameter limit
_CHUNK = 500


def code_digest(code: str) -> str:
    """What the relay stores of an invite code: the SHA-256 of its normalised form."""
    return hashlib.sha256(rules.normalise_invite_code(code).encode()).hexdigest()


def new_code() -> str:
    return "".join(secrets.choice(rules.INVITE_ALPHABET) for _ in range(rules.INVITE_CODE_LENGTH))


def _pilot_row(s: Session, pilot_id: str) -> db.Pilot:
    p = s.scalar(select(db.Pilot).where(db.Pilot.public_id == pilot_id))
    if p is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no pilot {pilot_id!r}")
    return p


def _area(p: db.Pilot) -> m.Polygon:
    return msgspec.json.decode(p.area_json, type=m.Polygon)


def pilot_info(s: Session, p: db.Pilot, now: float) -> m.PilotInfo:
    """The pilot as officers see it, with joined and active counts per group."""
    pp = db.PilotParticipant
    since = now - limits.PILOT_ACTIVE_WINDOW_S
    counts = {
        int(g): (int(joined), int(active or 0))
        for g, joined, active in s.execute(
            select(
                pp.group_id,
                func.count(),
                func.sum(case((pp.last_active_at >= since, 1), else_=0)),
            )
            .where(pp.pilot_id == p.id, pp.left_at.is_(None))
            .group_by(pp.group_id)
        )
    }
    groups = [
        m.PilotGroup(
            name=g.name,
            planned=g.planned,
            joined=counts.get(g.id, (0, 0))[0],
            active=counts.get(g.id, (0, 0))[1],
        )
        for g in s.scalars(
            select(db.PilotGroup).where(db.PilotGroup.pilot_id == p.id).order_by(db.PilotGroup.id)
        )
    ]
    return m.PilotInfo(
        pilot_id=p.public_id,
        title=p.title,
        state=cast(m.PilotState, p.state),
        area=_area(p),
        starts_at=p.starts_at,
        ends_at=p.ends_at,
        created_by=p.created_by,
        created_at=p.created_at,
        ended_at=p.ended_at,
        groups=groups,
    )


def _changed(tx: Tx, p: db.Pilot) -> m.PilotInfo:
    tx.s.flush()
    info = pilot_info(tx.s, p, tx.now)
    tx.emit(m.PilotChanged, pilot=info)
    return info


# ---------------------------------------------------------------- officer side


def create(actor: Actor, msg: m.PilotCreate) -> Callable[[Tx], m.Msg]:
    names = [g.name for g in msg.groups]
    if len(set(names)) != len(names):
        raise ProtocolError(ErrorCode.INVALID, "two groups have the same name: rename one")
    if msg.ends_at is not None and msg.ends_at <= (msg.starts_at or 0.0):
        raise ProtocolError(ErrorCode.INVALID, "the pilot must end after it starts")

    def job(tx: Tx) -> m.Msg:
        s = tx.s
        if s.scalar(select(db.Pilot.id).where(db.Pilot.public_id == msg.pilot_id)) is not None:
            raise ProtocolError(
                ErrorCode.CONFLICT, f"pilot id {msg.pilot_id!r} is taken: choose another"
            )
        if msg.ends_at is not None and msg.ends_at <= tx.now:
            raise ProtocolError(ErrorCode.INVALID, "the pilot's end is already past")
        p = db.Pilot(
            public_id=msg.pilot_id,
            title=msg.title,
            area_json=msgspec.json.encode(msg.area).decode(),
            state="active",
            starts_at=tx.now if msg.starts_at is None else msg.starts_at,
            ends_at=msg.ends_at,
            created_by=actor.username,
            created_at=tx.now,
        )
        s.add(p)
        s.flush()
        for g in msg.groups:
            s.add(db.PilotGroup(pilot_id=p.id, name=g.name, planned=g.count))
        info = _changed(tx, p)
        tx.audit(
            actor.username,
            "pilot.create",
            p.public_id,
            title=msg.title,
            groups={g.name: g.count for g in msg.groups},
        )
        return m.PilotAccepted(re=msg.id, pilot=info)

    return job


def listing(include_purged: bool, now: float) -> Callable[[Session], list[m.PilotInfo]]:
    def query(s: Session) -> list[m.PilotInfo]:
        q = select(db.Pilot).order_by(db.Pilot.created_at.desc(), db.Pilot.id.desc())
        if not include_purged:
            q = q.where(db.Pilot.state != "purged")
        return [pilot_info(s, p, now) for p in s.scalars(q)]

    return query


def invite(actor: Actor, msg: m.PilotInvite) -> Callable[[Tx], m.PilotInvites]:
    """New codes for a group of an active pilot. The reply holds the codes; the database,
    the audit record and the log never do."""

    def job(tx: Tx) -> m.PilotInvites:
        s = tx.s
        p = _pilot_row(s, msg.pilot_id)
        if p.state != "active":
            raise ProtocolError(
                ErrorCode.CONFLICT, f"pilot {p.public_id} has {p.state}: it takes no new codes"
            )
        group = s.scalar(
            select(db.PilotGroup).where(
                db.PilotGroup.pilot_id == p.id, db.PilotGroup.name == msg.group
            )
        )
        if group is None:
            raise ProtocolError(
                ErrorCode.NOT_FOUND, f"pilot {p.public_id} has no group of that name"
            )
        expires = tx.now + msg.valid_s
        codes = [new_code() for _ in range(msg.count)]
        for code in codes:
            s.add(
                db.PilotInvite(
                    pilot_id=p.id,
                    group_id=group.id,
                    code_hash=code_digest(code),
                    created_at=tx.now,
                    expires_at=expires,
                )
            )
        tx.audit(
            actor.username,
            "pilot.invite",
            p.public_id,
            group=group.name,
            codes=len(codes),
            expires_at=expires,
        )
        return m.PilotInvites(
            re=msg.id,
            pilot_id=p.public_id,
            group=group.name,
            codes=[rules.format_invite_code(c) for c in codes],
            expires_at=expires,
        )

    return job


def end(actor: Actor, msg: m.PilotEnd) -> Callable[[Tx], m.Msg]:
    def job(tx: Tx) -> m.Msg:
        p = _pilot_row(tx.s, msg.pilot_id)
        if p.state != "active":
            raise ProtocolError(ErrorCode.CONFLICT, f"pilot {p.public_id} has {p.state} already")
        p.state = "ended"
        p.ended_at = tx.now
        info = _changed(tx, p)
        tx.audit(actor.username, "pilot.end", p.public_id)
        return m.PilotAccepted(re=msg.id, pilot=info)

    return job


@dataclass(frozen=True)
class Purged:
    """A purge's reply, and the media files to remove from the store after the commit."""

    reply: m.PilotPurged
    media: list[tuple[int, str]]  # (report key, sha256) of every erased media record


def purge(actor: Actor, msg: m.PilotPurge) -> Callable[[Tx], Purged]:
    """Count (dry run) or erase everything a reviewed pilot left. An active pilot is
    refused: end it first, so nothing new arrives while it is erased."""

    def job(tx: Tx) -> Purged:
        s = tx.s
        p = _pilot_row(s, msg.pilot_id)
        if p.state == "active":
            raise ProtocolError(
                ErrorCode.CONFLICT,
                f"pilot {p.public_id} is still running: end it (pilot.end) and review it first",
            )
        slug = p.public_id
        reports = list(
            s.execute(select(db.Report.id, db.Report.public_id).where(db.Report.pilot_id == slug))
        )
        report_keys = [int(k) for k, _ in reports]
        alert_keys = list(s.scalars(select(db.Alert.id).where(db.Alert.pilot_id == slug)))
        media = [
            (int(k), str(sha))
            for chunk in _chunks(report_keys)
            for k, sha in s.execute(
                select(db.ReportMedia.report_id, db.ReportMedia.sha256).where(
                    db.ReportMedia.report_id.in_(chunk)
                )
            )
        ]
        chat = sum(
            _count(s, db.ChatMessage, db.ChatMessage.report_id.in_(c)) for c in _chunks(report_keys)
        )
        receipts = sum(
            _count(s, db.AlertRecipient, db.AlertRecipient.alert_id.in_(c))
            for c in _chunks(alert_keys)
        )
        participants = _count(s, db.PilotParticipant, db.PilotParticipant.pilot_id == p.id)
        invites = _count(s, db.PilotInvite, db.PilotInvite.pilot_id == p.id)
        reply = m.PilotPurged(
            re=msg.id,
            pilot_id=slug,
            dry_run=not msg.confirm,
            reports=len(report_keys),
            chat=chat,
            media=len(media),
            alerts=len(alert_keys),
            receipts=receipts,
            participants=participants,
            invites=invites,
        )
        if not msg.confirm:
            return Purged(reply, [])
        incident_refs = _exercise_incidents(s, slug, report_keys)
        for chunk in _chunks(report_keys):
            # internal notes first (their foreign key names the report)
            s.execute(delete(db.ReportNote).where(db.ReportNote.report_id.in_(chunk)))
            s.execute(delete(db.ChatMessage).where(db.ChatMessage.report_id.in_(chunk)))
            s.execute(delete(db.ReportMedia).where(db.ReportMedia.report_id.in_(chunk)))
            s.execute(delete(db.Report).where(db.Report.id.in_(chunk)))
        for chunk in _chunks(alert_keys):
            s.execute(delete(db.AlertRecipient).where(db.AlertRecipient.alert_id.in_(chunk)))
            s.execute(delete(db.AlertVersion).where(db.AlertVersion.alert_id.in_(chunk)))
            s.execute(delete(db.EmailOutbox).where(db.EmailOutbox.alert_id.in_(chunk)))
            s.execute(delete(db.Alert).where(db.Alert.id.in_(chunk)))
        _drop_empty_incidents(s, incident_refs)
        s.execute(delete(db.PilotParticipant).where(db.PilotParticipant.pilot_id == p.id))
        s.execute(delete(db.PilotInvite).where(db.PilotInvite.pilot_id == p.id))
        # the copies: the event log's frames of the pilot, and replies kept for retries
        s.execute(delete(db.Event).where(db.Event.pilot_id == slug))
        s.execute(delete(db.Idempotency).where(db.Idempotency.reply.like(f'%"pilot_id":"{slug}"%')))
        p.state = "purged"
        p.purged_at = tx.now
        ids = [str(r) for _, r in reports]
        for i in range(0, len(ids), m.ERASED_IDS_PER_EVENT):
            tx.emit(m.ReportErased, report_ids=ids[i : i + m.ERASED_IDS_PER_EVENT])
        _changed(tx, p)
        tx.audit(
            actor.username,
            "pilot.purge",
            slug,
            reports=reply.reports,
            chat=chat,
            media=len(media),
            alerts=reply.alerts,
            receipts=receipts,
            participants=participants,
            invites=invites,
        )
        return Purged(reply, media)

    return job


def _exercise_incidents(s: Session, slug: str, report_keys: list[int]) -> set[str]:
    """The incidents of a pilot: opened with or given its reports (a merge titles one with
    a report's text, and its `incident.opened` is exercise traffic) or holding them now."""
    refs = {str(r) for r in s.scalars(select(db.Incident.ref).where(db.Incident.pilot_id == slug))}
    for chunk in _chunks(report_keys):
        refs.update(
            str(ref)
            for ref in s.scalars(
                select(db.Report.incident_ref).where(
                    db.Report.id.in_(chunk), db.Report.incident_ref.is_not(None)
                )
            )
        )
    return refs


def _drop_empty_incidents(s: Session, refs: set[str]) -> None:
    """Delete those of `refs` no report is linked to any more (the purge took theirs)."""
    for chunk in _chunks(sorted(refs)):
        still = set(
            s.scalars(select(db.Report.incident_ref).where(db.Report.incident_ref.in_(chunk)))
        )
        gone = [ref for ref in chunk if ref not in still]
        if gone:
            s.execute(delete(db.Incident).where(db.Incident.ref.in_(gone)))


@dataclass(frozen=True)
class Target:
    """Whom an exercise alert of a pilot may reach: its current participants (device
    keys), inside its area."""

    area: m.Polygon
    keys: np.ndarray


def target(pilot_id: str) -> Callable[[Session], Target]:
    def query(s: Session) -> Target:
        p = _pilot_row(s, pilot_id)
        if p.state != "active":
            raise ProtocolError(
                ErrorCode.CONFLICT,
                f"pilot {p.public_id} has {p.state}: it takes no more exercise alerts",
            )
        keys = s.scalars(
            select(db.PilotParticipant.device_id).where(
                db.PilotParticipant.pilot_id == p.id, db.PilotParticipant.left_at.is_(None)
            )
        )
        return Target(_area(p), np.fromiter(keys, dtype=np.int64))

    return query


# ---------------------------------------------------------------- citizen side

_PP = cast(Table, db.PilotParticipant.__table__)
_PILOTS = cast(Table, db.Pilot.__table__)
#: the device's link to a pilot that is running now (at most one): the hot path of every
#: report, so a Core statement on two indexed columns
_ACTIVE_LINK = (
    select(_PILOTS.c.public_id, _PP.c.id)
    .join(_PILOTS, _PILOTS.c.id == _PP.c.pilot_id)
    .where(_PP.c.device_id == bindparam("d"), _PP.c.left_at.is_(None), _PILOTS.c.state == "active")
    .limit(1)
)
_TOUCH = update(_PP).where(_PP.c.id == bindparam("link")).values(last_active_at=bindparam("now"))


def active_link(conn: Connection, device_key: int) -> tuple[str, int] | None:
    """(pilot id, link) of the running pilot this device takes part in, else None."""
    row = conn.execute(_ACTIVE_LINK, {"d": device_key}).first()
    return (str(row[0]), int(row[1])) if row else None


def touch(conn: Connection, link: int, now: float) -> None:
    """The participant was active now (it reported or chatted)."""
    conn.execute(_TOUCH, {"link": link, "now": now})


#: why a code was refused, in the citizen's words; every reason is `not_found`
WRONG_CODE = "this invite code is not known: check it (letters and digits, no O, I or L)"
USED_CODE = "this invite code has been used already: ask the pilot's organisers for a new one"
EXPIRED_CODE = "this invite code has expired: ask the pilot's organisers for a new one"
ENDED = "this pilot has ended: the code no longer works"


def join(device_key: int, code: str, rid: str) -> Callable[[Tx], m.PilotJoined]:
    """Take one code and link the device to its pilot and group. Refusals undo nothing
    (they write nothing)."""
    digest = code_digest(code)

    def job(tx: Tx) -> m.PilotJoined:
        s = tx.s
        held = active_link(s.connection(), device_key)
        if held is not None:
            raise ProtocolError(
                ErrorCode.CONFLICT,
                f"this device already takes part in pilot {held[0]}: leave it first",
            )
        row = s.execute(
            select(db.PilotInvite, db.Pilot, db.PilotGroup)
            .join(db.Pilot, db.Pilot.id == db.PilotInvite.pilot_id)
            .join(db.PilotGroup, db.PilotGroup.id == db.PilotInvite.group_id)
            .where(db.PilotInvite.code_hash == digest)
        ).first()
        if row is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, WRONG_CODE)
        inv, p, group = row
        if inv.used_at is not None:
            raise ProtocolError(ErrorCode.NOT_FOUND, USED_CODE)
        if p.state != "active":
            raise ProtocolError(ErrorCode.NOT_FOUND, ENDED)
        if inv.expires_at <= tx.now:
            raise ProtocolError(ErrorCode.NOT_FOUND, EXPIRED_CODE)
        # taken in this statement, so two devices racing with one code cannot both win
        taken = s.execute(
            update(db.PilotInvite)
            .where(db.PilotInvite.id == inv.id, db.PilotInvite.used_at.is_(None))
            .values(used_at=tx.now)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise ProtocolError(ErrorCode.NOT_FOUND, USED_CODE)
        s.add(
            db.PilotParticipant(
                pilot_id=p.id,
                group_id=group.id,
                device_id=device_key,
                joined_at=tx.now,
                last_active_at=tx.now,
            )
        )
        _changed(tx, p)
        return m.PilotJoined(
            re=rid,
            pilot_id=p.public_id,
            title=p.title,
            group=group.name,
            starts_at=p.starts_at,
            ends_at=p.ends_at,
        )

    return job


def leave(device_key: int) -> Callable[[Tx], str]:
    """End the device's participation (of any pilot it has not left); the pilot's id."""

    def job(tx: Tx) -> str:
        s = tx.s
        links = list(
            s.scalars(
                select(db.PilotParticipant).where(
                    db.PilotParticipant.device_id == device_key,
                    db.PilotParticipant.left_at.is_(None),
                )
            )
        )
        if not links:
            raise ProtocolError(ErrorCode.NOT_FOUND, "this device takes part in no pilot")
        left = ""
        for link in links:
            link.left_at = tx.now
            p = s.get(db.Pilot, link.pilot_id)
            if p is not None and p.state != "purged":
                _changed(tx, p)
                left = p.public_id
        return left

    return job


# ---------------------------------------------------------------- helpers


_K = TypeVar("_K")


def _chunks(keys: Sequence[_K]) -> list[list[_K]]:
    return [list(keys[i : i + _CHUNK]) for i in range(0, len(keys), _CHUNK)]


def _count(s: Session, model: type[db.Base], where: object) -> int:
    return int(s.scalar(select(func.count()).select_from(model).where(where)) or 0)  # type: ignore[arg-type]
