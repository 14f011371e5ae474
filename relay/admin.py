"""Offline administration on a relay's database: officers, audit verification, CAP export.

Used by the `lookout-relay` command and by tests and the demo; works with the relay
running (SQLite WAL) or stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from backend_client import messages as m
from relay import accounts, alerts, audit
from relay.db import models as db
from relay.db.engine import make_engine, migrate, sqlite_url
from relay.db.uow import AUDIT_LOCK, lock_audit_head


def open_engine(data_dir: Path, database_url: str | None = None) -> Engine:
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(database_url or sqlite_url(data_dir))
    migrate(engine)
    return engine


@dataclass(frozen=True)
class NewOfficer:
    username: str
    role: str
    totp_secret: str
    otpauth_uri: str


def add_officer(engine: Engine, username: str, role: str, password: str) -> NewOfficer:
    if role not in accounts.ROLES:
        raise ValueError(f"role must be one of {', '.join(accounts.ROLES)}")
    if not username or len(username) > 200:
        raise ValueError("user name must be 1 to 200 characters")
    if len(password) < 8:
        raise ValueError("password must be at least 8 characters")
    secret = accounts.new_totp_secret()
    with Session(engine) as s, s.begin():
        if s.scalar(select(db.Officer.id).where(db.Officer.username == username)) is not None:
            raise ValueError(f"officer {username!r} already exists")
        s.add(
            db.Officer(
                username=username,
                role=role,
                password_hash=accounts.hash_password(password),
                totp_secret=secret,
                disabled=False,
                created_at=time.time(),
            )
        )
        _audit(s, "admin", "officer.add", username, role=role)
    return NewOfficer(username, role, secret, accounts.otpauth_uri(secret, username))


def list_officers(engine: Engine) -> list[tuple[str, str, bool]]:
    with Session(engine) as s:
        return [
            (o.username, o.role, o.disabled)
            for o in s.scalars(select(db.Officer).order_by(db.Officer.username))
        ]


def disable_officer(engine: Engine, username: str) -> None:
    with Session(engine) as s, s.begin():
        o = s.scalar(select(db.Officer).where(db.Officer.username == username))
        if o is None:
            raise ValueError(f"no officer {username!r}")
        o.disabled = True
        s.execute(delete(db.OfficerSession).where(db.OfficerSession.officer_id == o.id))
        _audit(s, "admin", "officer.disable", username)


def current_code(engine: Engine, username: str) -> str:
    """The officer's current TOTP code, for rehearsals and machines without an authenticator
    app. Whoever can run this can read the database anyway; it is audited."""
    with Session(engine) as s, s.begin():
        o = s.scalar(select(db.Officer).where(db.Officer.username == username))
        if o is None:
            raise ValueError(f"no officer {username!r}")
        _audit(s, "admin", "officer.code", username)
        return accounts.totp_now(o.totp_secret)


def list_alerts(engine: Engine) -> list[m.Alert]:
    from relay import wire

    with Session(engine) as s:
        return [wire.alert_msg(a) for a in s.scalars(select(db.Alert).order_by(db.Alert.id.desc()))]


def verify_audit(engine: Engine) -> audit.Verdict:
    with Session(engine) as s:
        rows = s.execute(
            select(db.AuditLog).order_by(db.AuditLog.seq).execution_options(yield_per=1000)
        ).scalars()
        return audit.verify_chain(rows)


def export_cap(engine: Engine, alert_id: str, sender: str = "lookout@localhost") -> str:
    with Session(engine) as s:
        alert, refs = alerts.load(alert_id)(s)
    return alerts.to_cap(alert, refs, sender)


def _audit(s: Session, actor: str, action: str, subject: str, **detail: object) -> None:
    """Append to the chain from outside the relay's writer (offline admin commands).

    It takes the same lock as the relay's writer before reading the chain's head."""
    if s.get(db.Counter, AUDIT_LOCK) is None:
        s.add(db.Counter(name=AUDIT_LOCK, value=0))
        s.flush()
    seq, prev = lock_audit_head(s)
    now = time.time()
    detail_text = audit.canonical_detail(detail)
    s.add(
        db.AuditLog(
            seq=seq + 1,
            at=now,
            actor=actor,
            action=action,
            subject=subject,
            detail=detail_text,
            prev_hash=prev,
            hash=audit.record_hash(prev, seq + 1, now, actor, action, subject, detail_text),
        )
    )
