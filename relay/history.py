"""A report's history and its officer-only internal notes (issue 13, deliverable 4).

History is read from the audit log, not kept twice: every officer action on a report is
audited with the report's id as subject (claim, assign, status and close reason,
priority, incident link, chat replies, notes), a media view with the file's SHA-256 and a
chat receipt with the message's id, so the query names the report, its files and its
messages (`ix_audit_log_subject`). The newest `HISTORY_MAX_ENTRIES` are sent, oldest
first, each with its action in words.

Notes live in `report_notes`. A note is audited by its id, length and SHA-256, never its
text: the audit log goes into evidence packages and disclosures, and the text's hash is
enough to prove a note unchanged. A `report.noted` event tells the other consoles (it
stays in the event log for those that resume, and is exercise traffic for a pilot's
report). Nothing here is ever sent to a citizen: the citizen endpoint has no message that
reads notes, `report.mine` and `privacy.export` leave them out (docs/privacy.md), and
they are erased with their report (`privacy.erase`, `pilot.purge`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import msgspec
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from backend_client import codec
from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from relay.db import models as db
from relay.db.uow import Tx
from relay.reports import Actor, new_public_id, report_by_public_id

#: the audit action of a note
NOTE_ACTION = "report.note"
#: most of a report's chat messages whose receipts the history looks up (the newest)
_CHAT_SUBJECTS = 500
#: an entry's words are cut here (a close reason or an incident title can be long)
_DETAIL_CHARS = 300


def add_note(actor: Actor, msg: m.ReportNoteAdd) -> Callable[[Tx], m.ReportNoteAdded]:
    """Store a note, audit it (no text), tell the officers. Idempotent through `_once`."""

    def job(tx: Tx) -> m.ReportNoteAdded:
        text = msg.text.strip()
        if not text:
            raise ProtocolError(ErrorCode.INVALID, "a note needs some text")
        r = report_by_public_id(tx.s, msg.report_id)
        row = db.ReportNote(
            public_id=new_public_id("N"),
            report_id=r.id,
            author=actor.username,
            text=text,
            at=tx.now,
        )
        tx.s.add(row)
        tx.s.flush()
        note = _note(row, r)
        tx.emit(m.ReportNoted, note=note)
        tx.audit(
            actor.username,
            NOTE_ACTION,
            r.public_id,
            note=row.public_id,
            chars=len(text),
            sha256=hashlib.sha256(text.encode()).hexdigest(),
        )
        return m.ReportNoteAdded(re=msg.id, note=note)

    return job


def history(msg: m.ReportHistoryGet) -> Callable[[Session], m.ReportHistory]:
    def q(s: Session) -> m.ReportHistory:
        r = report_by_public_id(s, msg.report_id)
        media = list(
            s.scalars(select(db.ReportMedia.sha256).where(db.ReportMedia.report_id == r.id))
        )
        chat = list(
            s.scalars(
                select(db.ChatMessage.public_id)
                .where(db.ChatMessage.report_id == r.id)
                .order_by(db.ChatMessage.id.desc())
                .limit(_CHAT_SUBJECTS)
            )
        )
        rows = list(
            s.scalars(
                select(db.AuditLog)
                .where(_about(r.public_id, media, chat))
                .order_by(db.AuditLog.seq.desc())
                .limit(m.HISTORY_MAX_ENTRIES + 1)
            )
        )
        omitted = 0
        if len(rows) > m.HISTORY_MAX_ENTRIES:
            rows = rows[: m.HISTORY_MAX_ENTRIES]
            omitted = _older_count(s, r.public_id, media, chat, rows[-1].seq)
        entries = [_entry(a) for a in reversed(rows)]
        if not omitted:  # the whole history: it starts with the citizen's report
            entries.insert(0, m.HistoryEntry(r.created_at, "citizen", "report.created", "reported"))
        notes_rows = list(
            s.scalars(
                select(db.ReportNote)
                .where(db.ReportNote.report_id == r.id)
                .order_by(db.ReportNote.id.desc())
                .limit(m.HISTORY_MAX_NOTES + 1)
            )
        )
        notes_omitted = 0
        if len(notes_rows) > m.HISTORY_MAX_NOTES:
            notes_rows = notes_rows[: m.HISTORY_MAX_NOTES]
            notes_omitted = _count_notes(s, r.id) - m.HISTORY_MAX_NOTES
        reply = m.ReportHistory(
            re=msg.id,
            report_id=r.public_id,
            entries=entries,
            notes=[_note(n, r) for n in reversed(notes_rows)],
            omitted=omitted,
            notes_omitted=notes_omitted,
        )
        return fit(reply)

    return q


def fit(reply: m.ReportHistory) -> m.ReportHistory:
    """Leave out the oldest entries, then the oldest notes, until the reply's JSON fits
    `HISTORY_MAX_BYTES` (whatever the texts hold: escapes can take 6 bytes a character)."""
    while len(codec.encode(reply)) > m.HISTORY_MAX_BYTES and (reply.entries or reply.notes):
        if len(reply.entries) > 1:
            cut = max(1, len(reply.entries) // 4)
            reply = msgspec.structs.replace(
                reply, entries=reply.entries[cut:], omitted=reply.omitted + cut
            )
        else:
            cut = max(1, len(reply.notes) // 4)
            reply = msgspec.structs.replace(
                reply, notes=reply.notes[cut:], notes_omitted=reply.notes_omitted + cut
            )
    return reply


def _note(row: db.ReportNote, r: db.Report) -> m.Note:
    return m.Note(
        note_id=row.public_id,
        report_id=r.public_id,
        author=row.author,
        text=row.text,
        at=row.at,
        pilot_id=r.pilot_id,
    )


def _older_count(s: Session, report_id: str, media: list[str], chat: list[str], below: int) -> int:
    return int(
        s.scalar(
            select(func.count())
            .select_from(db.AuditLog)
            .where(_about(report_id, media, chat), db.AuditLog.seq < below)
        )
        or 0
    )


def _about(report_id: str, media: list[str], chat: list[str]) -> ColumnElement[bool]:
    """The audit records about this report: the report actions and chat replies with its
    id as subject, views of its files, reads of its chat messages. By action as well as
    subject: a subject is not always an id the relay made (a failed login's is the user
    name it was sent, chosen by whoever connects, and a citizen knows its report's id)."""
    a = db.AuditLog
    return or_(
        and_(a.subject == report_id, or_(a.action.like("report.%"), a.action.like("chat.%"))),
        and_(a.subject.in_(media), a.action == "media.view"),
        and_(a.subject.in_(chat), a.action.like("chat.%")),
    )


def _count_notes(s: Session, report_key: int) -> int:
    return int(
        s.scalar(
            select(func.count())
            .select_from(db.ReportNote)
            .where(db.ReportNote.report_id == report_key)
        )
        or 0
    )


def _entry(a: db.AuditLog) -> m.HistoryEntry:
    try:
        detail = json.loads(a.detail) if a.detail else {}
    except ValueError:
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    words = describe(a.action, detail)
    if len(words) > _DETAIL_CHARS:
        words = words[: _DETAIL_CHARS - 1] + "…"
    return m.HistoryEntry(at=a.at, by=a.actor, action=a.action, detail=words)


_STATUS = {"new": "New", "claimed": "Claimed", "in_progress": "In progress", "closed": "Closed"}


def describe(action: str, detail: dict[str, object]) -> str:
    """An audit record about a report, in an officer's words. Unknown actions (another
    feature's) read as their name and details, so nothing in the log is hidden."""
    d = detail
    if action == "report.claim":
        return "took over the claim" if d.get("force") else "claimed it"
    if action == "report.assign":
        return f"assigned it to {d.get('officer', '?')}"
    if action == "report.status":
        status = _STATUS.get(str(d.get("status")), str(d.get("status", "?")))
        words = f"set the status to {status}"
        reason = d.get("reason") or d.get("close_reason")
        return f"{words} (reason: {reason})" if reason else words
    if action == "report.priority":
        return f"set the priority to {str(d.get('priority', '?')).capitalize()}"
    if action == "report.link":
        return f"linked it to incident {d.get('incident', d.get('incident_ref', '?'))}"
    if action == "chat.reply":
        return "replied in chat"
    if action == "chat.read":
        return "read the reporter's chat message"
    if action == "media.view":
        return "opened a photo or video"
    if action == NOTE_ACTION:
        return f"added an internal note ({d.get('chars', '?')} characters)"
    name = action.split(".", 1)[-1].replace("_", " ")
    extra = ", ".join(f"{k}: {v}" for k, v in sorted(d.items()) if not isinstance(v, dict | list))
    return f"{name} ({extra})" if extra else name
