"""A citizen's rights over their own data: subject access (`privacy.export`) and erasure
(`privacy.erase`). docs/privacy.md is the policy this module implements; keep them together.

Export reads everything keyed to one device (its row, its reports with their media
records, the chat on them both ways, the alerts chosen for it and its receipts) in pages
under `PRIVACY_PAGE_BYTES`, resumed by an opaque keyset cursor, so a device with years of
reports still gets frames well inside the frame limit.

Erasure is one write job, so it is all or nothing. A report an officer linked to an
incident is kept with its chat and media (GDPR 17(3)(b)/(e), DPA 2018 Part 3: it is part
of a police matter), still under the device's pseudonym, which is all that ties it to
anyone. Everything else of the device is deleted: reports, chat, media records, alert
deliveries, the officers' event-log frames that carry them, officers' stored idempotent
replies about them. The device row is deleted too, or, when something is kept, reduced to
a tombstone that holds the pseudonym and nothing else (its id and secret are replaced, so
the old credentials are refused). A `report.erased` event (ids only) tells the officers'
consoles, live and when they resume, to drop the erased reports with their chat and
media, and which kept reports now have a tombstone for a reporter. One `privacy.erase`
audit record names the report ids erased and kept and the counts: no text, position,
pseudonym or device id. Earlier audit records are never touched, so the chain still
verifies. Media files go after the commit (`remove_unused_media`), each only if no
report anywhere still declares its hash.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

import msgspec
from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.orm import Session

from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from relay import wire
from relay.db import models as db
from relay.db.uow import Tx
from relay.media import MediaStore

T = TypeVar("T")

#: the audit actor of a citizen's own erasure (citizens have no user name)
AUDIT_ACTOR = "citizen"
AUDIT_ACTION = "privacy.erase"
#: a tombstone device's id starts with this; its secret digest can match no secret
TOMBSTONE_PREFIX = "erased-"
_NO_SECRET = "erased"  # not 64 hex digits: no SHA-256 of any secret equals it
KEPT_REASON = (
    "linked by an officer to incident {ref}: kept as part of a police matter "
    "(GDPR art. 17(3)(e), Data Protection Act 2018 Part 3)"
)
#: export sections, in page order
SECTIONS = ("reports", "chat", "alerts")
_CURSOR = re.compile(r"(reports|chat|alerts):([0-9]{1,18})")
#: most items one page holds, whatever their size
_PAGE_ITEMS = 200
#: report ids per LIKE scan of the event log and idempotency table
_SCAN_CHUNK = 50


def _categories(mask: int) -> list[m.Category]:
    return [cast(m.Category, c) for i, c in enumerate(m.CATEGORIES) if mask >> i & 1]


# ---------------------------------------------------------------- subject access


def parse_cursor(cursor: str) -> tuple[str, int]:
    """(section, last id seen) of a `next_cursor`; "" is the start."""
    if cursor == "":
        return SECTIONS[0], 0
    found = _CURSOR.fullmatch(cursor)
    if found is None:
        raise ProtocolError(
            ErrorCode.INVALID,
            "that cursor is not one the relay gave: start again with no cursor",
        )
    return found.group(1), int(found.group(2))


def export_page(device_key: int, cursor: str) -> Callable[[Session], m.PrivacyData]:
    """One page of this device's data, from `cursor` on (raises INVALID for a bad cursor)."""
    section, after = parse_cursor(cursor)

    def query(s: Session) -> m.PrivacyData:
        d = s.get(db.Device, device_key)
        if d is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "this device is not registered any more")
        page = _Page()
        device = _device(d) if cursor == "" else None
        if device is not None:
            page.used += len(msgspec.json.encode(device))
        start = SECTIONS.index(section)
        for name in SECTIONS[start:]:
            last = after if name == section else 0
            stopped = _fill(s, device_key, name, last, page)
            if stopped is not None:
                return page.data(device, f"{name}:{stopped}")
        return page.data(device, None)

    return query


@dataclass
class _Page:
    used: int = 0
    items: int = 0
    reports: list[m.PrivacyReport] = field(default_factory=list)
    chat: list[m.ChatMessage] = field(default_factory=list)
    alerts: list[m.PrivacyAlert] = field(default_factory=list)

    def fits(self, item: msgspec.Struct) -> bool:
        """Take `item` if the page has room (a page always takes its first item)."""
        size = len(msgspec.json.encode(item))
        if self.items and (self.used + size > m.PRIVACY_PAGE_BYTES or self.items >= _PAGE_ITEMS):
            return False
        self.used += size
        self.items += 1
        return True

    def data(self, device: m.PrivacyDevice | None, next_cursor: str | None) -> m.PrivacyData:
        return m.PrivacyData(
            re="",
            device=device,
            reports=self.reports,
            chat=self.chat,
            alerts=self.alerts,
            next_cursor=next_cursor,
        )


def _device(d: db.Device) -> m.PrivacyDevice:
    location = None
    if d.lat is not None and d.lon is not None and d.fix_expires_at is not None:
        location = m.PrivacyLocation(lat=d.lat, lon=d.lon, expires_at=d.fix_expires_at)
    return m.PrivacyDevice(
        device_id=d.public_id,
        pseudonym=d.pseudonym,
        platform=d.platform,
        categories=_categories(d.category_mask),
        created_at=d.created_at,
        location=location,
    )


def _fill(s: Session, device_key: int, section: str, after: int, page: _Page) -> int | None:
    """Add `section`'s items after id `after`; the last id added if the page filled up."""
    last = after
    batch = _PAGE_ITEMS + 1
    while True:
        rows = _rows(s, device_key, section, last, batch)
        for key, item in rows:
            if not page.fits(item):
                return last
            if isinstance(item, m.PrivacyReport):
                page.reports.append(item)
            elif isinstance(item, m.ChatMessage):
                page.chat.append(item)
            else:
                page.alerts.append(cast(m.PrivacyAlert, item))
            last = key
        if len(rows) < batch:
            return None


def _rows(
    s: Session, device_key: int, section: str, after: int, limit: int
) -> list[tuple[int, msgspec.Struct]]:
    if section == "reports":
        reports = s.scalars(
            select(db.Report)
            .where(db.Report.device_id == device_key, db.Report.id > after)
            .order_by(db.Report.id)
            .limit(limit)
        ).all()
        return [(r.id, _report(s, r)) for r in reports]
    if section == "chat":
        chat = s.execute(
            select(db.ChatMessage, db.Report.public_id)
            .join(db.Report, db.Report.id == db.ChatMessage.report_id)
            .where(db.Report.device_id == device_key, db.ChatMessage.id > after)
            .order_by(db.ChatMessage.id)
            .limit(limit)
        ).all()
        return [(c.id, wire.chat_msg(c, rid)) for c, rid in chat]
    alerts = s.execute(
        select(db.Alert, db.AlertRecipient)
        .join(db.AlertRecipient, db.AlertRecipient.alert_id == db.Alert.id)
        .where(db.AlertRecipient.device_id == device_key, db.Alert.id > after)
        .order_by(db.Alert.id)
        .limit(limit)
    ).all()
    return [
        (
            a.id,
            m.PrivacyAlert(
                alert=wire.citizen_alert(wire.alert_msg(a, 0)),
                receipt=r.status,  # type: ignore[arg-type]
                cancel_seen=r.cancel_seen,
            ),
        )
        for a, r in alerts
    ]


def _report(s: Session, r: db.Report) -> m.PrivacyReport:
    full = wire.report_msg(s, r)
    return m.PrivacyReport(
        report_id=r.public_id,
        category=full.category,
        text=r.text,
        lat=r.lat,
        lon=r.lon,
        created_at=r.created_at,
        status=full.status,
        incident_ref=r.incident_ref,
        media=full.media,
    )


# ---------------------------------------------------------------- erasure


@dataclass(frozen=True)
class Erased:
    """What an erasure did: the reply, and the media files to remove after the commit."""

    reply: m.PrivacyErased
    media: list[tuple[int, str]]  # (report key, sha256) of every erased media record


def erase(device_key: int) -> Callable[[Tx], Erased]:
    def job(tx: Tx) -> Erased:
        s = tx.s
        d = s.get(db.Device, device_key)
        if d is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "this device is already erased")
        rows = s.scalars(
            select(db.Report).where(db.Report.device_id == device_key).order_by(db.Report.id)
        ).all()
        kept = [r for r in rows if r.incident_ref is not None]
        gone = [r for r in rows if r.incident_ref is None]
        gone_keys = [r.id for r in gone]
        gone_ids = [r.public_id for r in gone]
        media = [
            (int(k), str(sha))
            for k, sha in s.execute(
                select(db.ReportMedia.report_id, db.ReportMedia.sha256).where(
                    db.ReportMedia.report_id.in_(gone_keys)
                )
            )
        ]
        chat_erased = _count(s, db.ChatMessage, db.ChatMessage.report_id.in_(gone_keys))
        for chunk in _chunks(gone_keys, 500):
            # internal notes first (their foreign key names the report)
            s.execute(delete(db.ReportNote).where(db.ReportNote.report_id.in_(chunk)))
            s.execute(delete(db.ChatMessage).where(db.ChatMessage.report_id.in_(chunk)))
            s.execute(delete(db.ReportMedia).where(db.ReportMedia.report_id.in_(chunk)))
            s.execute(delete(db.Report).where(db.Report.id.in_(chunk)))
        _forget_copies(s, gone_ids)
        deliveries = _count(s, db.AlertRecipient, db.AlertRecipient.device_id == device_key)
        s.execute(delete(db.AlertRecipient).where(db.AlertRecipient.device_id == device_key))
        s.execute(delete(db.PilotParticipant).where(db.PilotParticipant.device_id == device_key))
        had_fix = d.lat is not None or d.fix_expires_at is not None
        categories = bin(d.category_mask).count("1")
        if kept:  # a tombstone: the pseudonym the kept reports were filed under, no more
            d.public_id = TOMBSTONE_PREFIX + secrets.token_hex(8)
            d.secret_hash = _NO_SECRET
            d.platform = ""
            d.category_mask = 0
            d.lat = d.lon = d.fix_expires_at = None
        else:
            s.delete(d)
        kept_info = [_kept(s, r) for r in kept[: m.PRIVACY_KEPT_LISTED]]
        _tell_consoles(tx, gone_ids, [r.public_id for r in kept])
        tx.audit(
            AUDIT_ACTOR,
            AUDIT_ACTION,
            "device",
            reports_erased=gone_ids,
            reports_kept=[r.public_id for r in kept],
            chat_erased=chat_erased,
            media_erased=len(media),
            alert_deliveries_erased=deliveries,
            location_erased=had_fix,
        )
        reply = m.PrivacyErased(
            re="",
            reports_erased=len(gone),
            chat_erased=chat_erased,
            media_erased=len(media),
            alert_deliveries_erased=deliveries,
            location_erased=had_fix,
            categories_erased=categories,
            reports_kept=len(kept),
            kept=kept_info,
            summary=summary(len(gone), chat_erased, len(media), len(kept)),
        )
        return Erased(reply, media)

    return job


def _tell_consoles(tx: Tx, erased: list[str], tombstoned: list[str]) -> None:
    """`report.erased` for the officers, in this transaction: it goes out after the commit
    and stays in the event log, so a console offline now drops the reports when it
    resumes. Emitted after `_forget_copies`, and it names no report as `"report_id"`, so
    that scan never deletes it. Ids only, in events under the frame limit."""
    n = m.ERASED_IDS_PER_EVENT
    for i in range(0, max(len(erased), len(tombstoned)), n):
        tx.emit(m.ReportErased, report_ids=erased[i : i + n], tombstoned=tombstoned[i : i + n])


def summary(reports: int, chat: int, media: int, kept: int) -> str:
    """The erasure in the citizen's words (docs/privacy.md says the same)."""
    said = (
        "This device is erased: its credentials no longer work, and its location, alert "
        f"categories and alert history are deleted. Deleted: {reports} report(s), "
        f"{chat} chat message(s) and {media} photo or video file(s)."
    )
    if not kept:
        return said + " Nothing was kept."
    return said + (
        f" Kept: {kept} report(s) an officer linked to an incident, with their chat and "
        "files, because they are part of a police matter (GDPR article 17(3)(e), Data "
        "Protection Act 2018 Part 3). They stay under your pseudonym only; the relay "
        "holds nothing else that says who sent them."
    )


def _kept(s: Session, r: db.Report) -> m.PrivacyKept:
    ref = r.incident_ref or ""
    return m.PrivacyKept(
        report_id=r.public_id,
        incident_ref=ref,
        chat=_count(s, db.ChatMessage, db.ChatMessage.report_id == r.id),
        media=_count(s, db.ReportMedia, db.ReportMedia.report_id == r.id),
        reason=KEPT_REASON.format(ref=ref),
    )


def _count(s: Session, model: type[db.Base], where: ColumnElement[bool]) -> int:
    return int(s.scalar(select(func.count()).select_from(model).where(where)) or 0)


def _forget_copies(s: Session, report_ids: list[str]) -> None:
    """The officers' event log and stored idempotent replies hold copies of reports and
    chat (every frame about a report names its `report_id`): delete those of erased ones."""
    for chunk in _chunks(report_ids, _SCAN_CHUNK):
        needles = [f'%"report_id":"{rid}"%' for rid in chunk]
        s.execute(delete(db.Event).where(or_(*(db.Event.frame.like(n) for n in needles))))
        s.execute(
            delete(db.Idempotency).where(or_(*(db.Idempotency.reply.like(n) for n in needles)))
        )


def _chunks(items: Sequence[T], n: int) -> Iterable[list[T]]:
    for i in range(0, len(items), n):
        yield list(items[i : i + n])


def remove_unused_media(
    store: MediaStore, sessions: Callable[[], Session], media: list[tuple[int, str]]
) -> int:
    """Delete erased reports' partial uploads, and each stored file that no report still
    declares (another device may have sent the same bytes). Returns files removed."""
    removed = 0
    for report_key, sha in media:
        owner = str(report_key)
        store.discard(sha, owner)
        store.clear_receipt(sha, owner)

        def unused(sha: str = sha) -> bool:
            with sessions() as s:
                found = s.scalar(
                    select(db.ReportMedia.id).where(db.ReportMedia.sha256 == sha).limit(1)
                )
                return found is None

        if store.remove_if(sha, unused):
            removed += 1
    return removed
