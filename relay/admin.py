"""Offline administration on a relay's database: officers, audit verification, CAP export.

Used by the `lookout-relay` command and by tests and the demo; works with the relay
running (SQLite WAL) or stopped.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from backend_client import messages as m
from relay import accounts, alerts, audit, cap, passwords
from relay.db import models as db
from relay.db.engine import make_engine, migrate, private_dir, sqlite_url
from relay.db.uow import AUDIT_LOCK, lock_audit_head
from relay.secret_box import SecretBox, key_path, seal_plain_secrets

#: the secrets key of each engine `open_engine` opened (TOTP secrets are sealed with it)
_BOXES: weakref.WeakKeyDictionary[Engine, SecretBox] = weakref.WeakKeyDictionary()


def open_engine(
    data_dir: Path, database_url: str | None = None, secrets_key: Path | None = None
) -> Engine:
    """The relay's database, migrated, with its secrets key (data_dir/secrets.key unless
    `secrets_key` names the cluster's shared one) loaded for the officer commands."""
    private_dir(data_dir)
    engine = make_engine(database_url or sqlite_url(data_dir))
    migrate(engine)
    box = SecretBox.load_or_create(key_path(data_dir, secrets_key))
    seal_plain_secrets(engine, box)
    _BOXES[engine] = box
    return engine


def _box(engine: Engine) -> SecretBox:
    box = _BOXES.get(engine)
    if box is None:
        raise ValueError("open the database with admin.open_engine (it loads the secrets key)")
    return box


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
    weak = passwords.problem(password, username)
    if weak is not None:
        raise ValueError(weak)
    secret = accounts.new_totp_secret()
    with Session(engine) as s, s.begin():
        if s.scalar(select(db.Officer.id).where(db.Officer.username == username)) is not None:
            raise ValueError(f"officer {username!r} already exists")
        s.add(
            db.Officer(
                username=username,
                role=role,
                password_hash=accounts.hash_password(password),
                totp_secret=_box(engine).seal(secret, username),
                disabled=False,
                created_at=time.time(),
            )
        )
        audit_offline(s, "admin", "officer.add", username, role=role)
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
        audit_offline(s, "admin", "officer.disable", username)


def current_code(engine: Engine, username: str) -> str:
    """A code the relay will accept now, for rehearsals and machines without an
    authenticator app: the current step's, or the next step's if the current one was
    used already (codes are single-use). Whoever can run this holds the database and its
    key anyway; it is audited."""
    with Session(engine) as s, s.begin():
        o = s.scalar(select(db.Officer).where(db.Officer.username == username))
        if o is None:
            raise ValueError(f"no officer {username!r}")
        audit_offline(s, "admin", "officer.code", username)
        secret = _box(engine).open(o.totp_secret, o.username)
        step = accounts.time_step()
        if o.totp_last_step is not None and o.totp_last_step >= step:
            step = o.totp_last_step + 1
        if step > accounts.time_step() + 1:
            raise ValueError("every code of this minute was used: wait 30 s and ask again")
        return accounts.totp_at_step(secret, step)


def list_alerts(engine: Engine) -> list[m.Alert]:
    from relay import wire

    with Session(engine) as s:
        return [
            wire.alert_msg(a, alerts.EXACT)
            for a in s.scalars(select(db.Alert).order_by(db.Alert.id.desc()))
        ]


def verify_audit(engine: Engine) -> audit.Verdict:
    with Session(engine) as s:
        rows = s.execute(
            select(db.AuditLog).order_by(db.AuditLog.seq).execution_options(yield_per=1000)
        ).scalars()
        return audit.verify_chain(rows)


def export_cap(engine: Engine, identifier: str, issuer: cap.Issuer, *, current: bool) -> str:
    """A CAP message as it was sent (stored in alert_versions): with `current`,
    `identifier` is an alert id and the answer its latest message; else the message of
    that CAP identifier (`A-…` the original Alert, `A-….1` the next). Only versions older
    than stored CAP are rendered now, under `issuer`."""
    with Session(engine) as s:
        return alerts.export_cap(identifier, issuer, current=current)(s)


def audit_offline(s: Session, actor: str, action: str, subject: str, **detail: object) -> None:
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
