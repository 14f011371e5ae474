"""Turn stored rows into wire messages (the only place that knows both shapes)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend_client import messages as m
from relay.db import models as db

#: rows per IN (...) list: well under SQLite's and PostgreSQL's parameter limits
_CHUNK = 500


def report_msg(s: Session, r: db.Report) -> m.Report:
    return report_msgs(s, [r])[0]


def report_msgs(s: Session, rows: Sequence[db.Report]) -> list[m.Report]:
    """Many reports at once (exports, evidence): two queries per 500 rows, not two per row."""
    pseudonyms: dict[int, str] = {}
    media: dict[int, list[m.MediaInfo]] = {}
    for at in range(0, len(rows), _CHUNK):
        chunk = rows[at : at + _CHUNK]
        devices = {r.device_id for r in chunk}
        pseudonyms.update(
            (row.id, row.pseudonym)
            for row in s.execute(
                select(db.Device.id, db.Device.pseudonym).where(db.Device.id.in_(devices))
            )
        )
        for x in s.scalars(
            select(db.ReportMedia)
            .where(db.ReportMedia.report_id.in_([r.id for r in chunk]))
            .order_by(db.ReportMedia.id)
        ):
            media.setdefault(x.report_id, []).append(
                m.MediaInfo(sha256=x.sha256, mime=x.mime, size=x.size, stored=x.stored)  # type: ignore[arg-type]
            )
    return [_report(r, pseudonyms.get(r.device_id) or "?", media.get(r.id, [])) for r in rows]


def _report(r: db.Report, pseudonym: str, media: list[m.MediaInfo]) -> m.Report:
    return m.Report(
        report_id=r.public_id,
        reporter=pseudonym,
        category=r.category,  # type: ignore[arg-type]
        text=r.text,
        lat=r.lat,
        lon=r.lon,
        created_at=r.created_at,
        status=r.status,  # type: ignore[arg-type]
        priority=r.priority,  # type: ignore[arg-type]
        claimed_by=r.claimed_by,
        incident_ref=r.incident_ref,
        media=media,
        pilot_id=r.pilot_id,
        exercise=r.pilot_id is not None,
        close_reason=r.close_reason,
        duplicate_of=r.duplicate_of,
    )


def chat_msg(
    c: db.ChatMessage, report_public_id: str, pilot_id: str | None = None
) -> m.ChatMessage:
    """`pilot_id`: the report's (chat on an exercise report is exercise too)."""
    return m.ChatMessage(
        message_id=c.public_id,
        report_id=report_public_id,
        sender=c.sender,  # type: ignore[arg-type]
        author=c.author,
        text=c.text,
        sent_at=c.sent_at,
        status=c.status,  # type: ignore[arg-type]
        pilot_id=pilot_id,
        exercise=pilot_id is not None,
    )


def alert_info(a: db.Alert) -> m.AlertInfo:
    return msgspec.json.decode(a.info_json, type=m.AlertInfo)


def alert_msg(a: db.Alert, floor: int) -> m.Alert:
    """The alert as an officer sees it: below `floor` recipients its counts are withheld
    (`fewer_than`), so sending to a small area cannot tell one phone from none."""
    emails = _email_counts(a, floor)
    if a.recipients < floor:
        return _alert_msg(a, recipients=0, delivered=0, read=0, fewer_than=floor, **emails)
    return _alert_msg(a, recipients=a.recipients, delivered=a.delivered, read=a.read, **emails)


def _email_counts(a: db.Alert, floor: int) -> dict[str, int | None]:
    """The email counts under the same floor as phones: a few emails would place a
    subscriber as surely as a few phones."""
    if (a.emails or 0) < floor:
        return {"emails": 0, "emails_sent": 0, "emails_failed": 0, "emails_fewer_than": floor}
    return {
        "emails": a.emails,
        "emails_sent": a.emails_sent,
        "emails_failed": a.emails_failed,
        "emails_fewer_than": None,
    }


def _alert_msg(
    a: db.Alert,
    *,
    recipients: int,
    delivered: int,
    read: int,
    fewer_than: int | None = None,
    emails: int | None = 0,
    emails_sent: int | None = 0,
    emails_failed: int | None = 0,
    emails_fewer_than: int | None = None,
) -> m.Alert:
    return m.Alert(
        emails=emails or 0,
        emails_sent=emails_sent or 0,
        emails_failed=emails_failed or 0,
        emails_fewer_than=emails_fewer_than,
        alert_id=a.public_id,
        sender=a.sender,
        sent_at=a.sent_at,
        msg_type=a.msg_type,  # type: ignore[arg-type]
        state=a.state,  # type: ignore[arg-type]
        info=alert_info(a),
        recipients=recipients,
        delivered=delivered,
        read=read,
        fewer_than=fewer_than,
        approved_by=a.approved_by,
    )


def citizen_alert(a: m.Alert) -> m.CitizenAlert:
    i = a.info
    return m.CitizenAlert(
        alert_id=a.alert_id,
        msg_type=a.msg_type,
        headline=i.headline,
        description=i.description,
        instruction=i.instruction,
        contact=i.contact,
        incident_ref=i.incident_ref,
        category=i.cap_category,
        severity=i.severity,
        urgency=i.urgency,
        sent_at=a.sent_at,
        expires_at=i.expires_at,
        area_desc=i.area_desc,
        status=i.status,
        language=i.language,
        translations=list(i.translations),
    )


def alert_references(a: db.Alert) -> list[tuple[str, str]]:
    return [(str(x[0]), str(x[1])) for x in json.loads(a.references_json or "[]")]
