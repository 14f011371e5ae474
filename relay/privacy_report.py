"""`lookout-relay privacy report`: what personal data the relay holds, how much, for how long.

For the operator's records of processing (GDPR art. 30) and a storage-limitation check
(art. 5(1)(e)). Counts, byte totals and dates only: nothing here reads a text, a position,
a pseudonym or an address, so the output can be pasted into a ticket. Each kind says
when it is purged as the relay actually does it (relay/server.py's chores); a kind the
relay never purges says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session

from backend_client.limits import LOCATION_TTL_S
from relay import privacy
from relay.config import RelayConfig
from relay.db import models as db

NEVER = "never purged by the relay"


@dataclass(frozen=True)
class Kind:
    name: str
    what: str
    count: int
    bytes: int | None
    oldest: float | None  # unix seconds of the oldest item, None when there is none
    retention: str


def build(engine: Engine, config: RelayConfig) -> list[Kind]:
    """Every kind of personal (or person-linked) data, in the order the report prints."""
    with Session(engine) as s:
        kinds = [
            *_devices(s, config),
            *_reports(s, config),
            *_chat(s),
            _simple(
                s,
                "alert_deliveries",
                "which device each alert was sent to, and its receipt",
                db.AlertRecipient,
                None,
                NEVER + " (deleted with the device when it erases itself)",
            ),
            _simple(
                s,
                "event_log",
                "the officers' event log: copies of every report and chat message as "
                "consoles received them (resume by seq)",
                db.Event,
                db.Event.at,
                NEVER + " (frames of reports a citizen erases are deleted with them)",
                size=func.coalesce(func.sum(func.length(db.Event.frame)), 0),
            ),
            _simple(
                s,
                "internal_notes",
                "officers' internal notes on reports (officer-only, never sent to a citizen)",
                db.ReportNote,
                db.ReportNote.at,
                NEVER + " (deleted with their report: erasure, pilot purge)",
                size=func.coalesce(func.sum(func.length(db.ReportNote.text)), 0),
            ),
            _simple(
                s,
                "officer_replies",
                "officers' stored idempotent replies (may quote chat they sent)",
                db.Idempotency,
                db.Idempotency.at,
                NEVER,
            ),
            _simple(
                s,
                "officers",
                "officer accounts: user name, role, password hash, sealed TOTP secret",
                db.Officer,
                db.Officer.created_at,
                NEVER + " (disable an account with `lookout-relay officer disable`)",
            ),
            _simple(
                s,
                "officer_sessions",
                "officer session token digests",
                db.OfficerSession,
                db.OfficerSession.started_at,
                f"each lapses after {config.token_ttl_s:g} s unless refreshed and at most "
                f"{config.session_lifetime_s:g} s after login; lapsed rows are deleted at the "
                "next login",
            ),
            _simple(
                s,
                "audit_log",
                "the hash-chained audit log: officer names and actions, report ids; no "
                "citizen text or position",
                db.AuditLog,
                db.AuditLog.at,
                NEVER + ", by design: deleting records would break the chain",
            ),
        ]
        kinds += _mail_tables(engine, s)
    kinds.append(_partials(config))
    return kinds


def _devices(s: Session, config: RelayConfig) -> list[Kind]:
    tomb = db.Device.public_id.like(privacy.TOMBSTONE_PREFIX + "%")
    live = s.execute(select(func.count(), func.min(db.Device.created_at)).where(~tomb)).one()
    tombs = s.execute(select(func.count(), func.min(db.Device.created_at)).where(tomb)).one()
    fixes = s.execute(
        select(func.count(), func.min(db.Device.fix_expires_at)).where(
            db.Device.fix_expires_at.is_not(None)
        )
    ).one()
    oldest_fix = None if fixes[1] is None else float(fixes[1]) - LOCATION_TTL_S
    return [
        Kind(
            "devices",
            "registered devices: pseudonym, platform, alert categories, secret digest",
            int(live[0]),
            None,
            _f(live[1]),
            NEVER + " while the device exists (no inactivity expiry); a device erases "
            "itself with privacy.erase",
        ),
        Kind(
            "erased_devices",
            "tombstones of erased devices that filed reports kept for an incident: the "
            "pseudonym only",
            int(tombs[0]),
            None,
            _f(tombs[1]),
            NEVER + " (kept as long as the reports they stand behind)",
        ),
        Kind(
            "location_fixes",
            "each device's latest position (one per device at most)",
            int(fixes[0]),
            None,
            oldest_fix,
            f"forgotten {LOCATION_TTL_S} s after it was sent (LOCATION_TTL_S), swept every "
            f"{config.expiry_every_s:g} s; the SQLite WAL is emptied after each sweep and "
            f"every {config.wal_checkpoint_every_s:g} s; deleted at once on erasure",
        ),
    ]


def _reports(s: Session, config: RelayConfig) -> list[Kind]:
    rep = s.execute(
        select(
            func.count(),
            func.min(db.Report.created_at),
            func.coalesce(func.sum(func.length(db.Report.text)), 0),
        )
    ).one()
    linked = int(s.scalar(select(func.count()).where(db.Report.incident_ref.is_not(None))) or 0)
    media = s.execute(
        select(
            func.count(),
            func.coalesce(func.sum(db.ReportMedia.size), 0),
            func.min(db.Report.created_at),
        )
        .select_from(db.ReportMedia)
        .join(db.Report, db.Report.id == db.ReportMedia.report_id)
        .where(db.ReportMedia.stored.is_(True))
    ).one()
    store = config.data_dir / "media"
    on_disk = files = 0
    for path in _stored_files(store):
        files += 1
        on_disk += path.stat().st_size
    return [
        Kind(
            "reports",
            f"citizens' reports: text, category, position, times ({linked} linked to an incident)",
            int(rep[0]),
            int(rep[2]),
            _f(rep[1]),
            NEVER + "; erasure deletes a device's reports not linked to an incident",
        ),
        Kind(
            "media_records",
            "photos and videos attached to reports, as recorded (bytes declared)",
            int(media[0]),
            int(media[1]),
            _f(media[2]),
            NEVER + "; erasure deletes those of erased reports",
        ),
        Kind(
            "media_files",
            "verified media files in the store (one copy per distinct SHA-256)",
            files,
            on_disk,
            None,
            NEVER + "; erasure deletes a file once no report declares it",
        ),
    ]


def _stored_files(store: Path) -> list[Path]:
    found: list[Path] = []
    if not store.is_dir():
        return found
    for top in store.iterdir():
        if len(top.name) != 2 or not top.is_dir():
            continue  # partial/, receipts/
        for sub in top.iterdir():
            if sub.is_dir():
                found.extend(p for p in sub.iterdir() if p.is_file())
    return found


def _chat(s: Session) -> list[Kind]:
    out = []
    for sender in ("citizen", "officer"):
        row = s.execute(
            select(
                func.count(),
                func.min(db.ChatMessage.sent_at),
                func.coalesce(func.sum(func.length(db.ChatMessage.text)), 0),
            ).where(db.ChatMessage.sender == sender)
        ).one()
        out.append(
            Kind(
                f"chat_{sender}",
                f"chat messages sent by {sender}s about reports",
                int(row[0]),
                int(row[2]),
                _f(row[1]),
                NEVER + "; erasure deletes the chat of erased reports, both ways",
            )
        )
    return out


def _simple(
    s: Session,
    name: str,
    what: str,
    model: type[db.Base],
    at: Any,
    retention: str,
    size: Any = None,
) -> Kind:
    cols: list[Any] = [func.count()]
    cols.append(func.min(at) if at is not None else func.count())
    if size is not None:
        cols.append(size)
    row = s.execute(select(*cols).select_from(model)).one()
    return Kind(
        name,
        what,
        int(row[0]),
        int(row[2]) if size is not None else None,
        _f(row[1]) if at is not None else None,
        retention,
    )


def _mail_tables(engine: Engine, s: Session) -> list[Kind]:
    """Email sign-ups live in tables another part of the relay adds (migration 0005):
    found by name, counted, never read."""
    out = []
    for table in sorted(inspect(engine).get_table_names()):
        if not any(w in table for w in ("subscri", "mail")):
            continue
        cols = {c["name"] for c in inspect(engine).get_columns(table)}
        when = next((c for c in ("created_at", "confirmed_at", "at") if c in cols), None)
        q = f'SELECT COUNT(*){f", MIN({when})" if when else ""} FROM "{table}"'
        row = s.execute(text(q)).one()
        out.append(
            Kind(
                table,
                "email alert sign-ups and their queue (table found in the database)",
                int(row[0]),
                None,
                _f(row[1]) if when else None,
                "not known to this report: check that table's own purge",
            )
        )
    return out


def _partials(config: RelayConfig) -> Kind:
    part = config.data_dir / "media" / "partial"
    files = [p for p in part.glob("*.part")] if part.is_dir() else []
    stats = [p.stat() for p in files]
    return Kind(
        "partial_uploads",
        "media uploads not finished yet",
        len(files),
        sum(st.st_size for st in stats),
        min((st.st_mtime for st in stats), default=None),
        f"deleted when untouched for {config.partial_upload_ttl_s:g} s, swept every "
        f"{config.partial_sweep_every_s:g} s; an erased report's at once",
    )


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def settings(config: RelayConfig) -> dict[str, float]:
    """The retention settings in force (RelayConfig, and the protocol's fix lifetime)."""
    return {
        "location_ttl_s": float(LOCATION_TTL_S),
        "expiry_every_s": config.expiry_every_s,
        "wal_checkpoint_every_s": config.wal_checkpoint_every_s,
        "partial_upload_ttl_s": config.partial_upload_ttl_s,
        "partial_sweep_every_s": config.partial_sweep_every_s,
        "token_ttl_s": config.token_ttl_s,
        "session_lifetime_s": config.session_lifetime_s,
        "checkpoint_every_s": config.checkpoint_every_s,
    }


def as_json(kinds: list[Kind], config: RelayConfig) -> dict[str, Any]:
    cfg = settings(config)
    return {
        "generated_at": _iso(dt.datetime.now(dt.UTC).timestamp()),
        "retention_settings": cfg,
        "kinds": [{**asdict(k), "oldest": _iso(k.oldest)} for k in kinds],
    }


def as_text(kinds: list[Kind], config: RelayConfig) -> str:
    cfg = settings(config)
    lines = ["Personal data held by this relay (counts and dates only)", ""]
    for k in kinds:
        size = "" if k.bytes is None else f", {k.bytes} bytes"
        oldest = "" if k.oldest is None else f", oldest {_iso(k.oldest)}"
        lines.append(f"{k.name}: {k.count}{size}{oldest}")
        lines.append(f"  {k.what}")
        lines.append(f"  purged: {k.retention}")
    lines += ["", "Retention settings:"]
    lines += [f"  {name} = {value:g}" for name, value in cfg.items()]
    return "\n".join(lines)


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
