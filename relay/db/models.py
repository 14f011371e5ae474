"""Relay tables. Portable SQL only: the relay runs on SQLite (default) and PostgreSQL.

Times are unix seconds (float). JSON payloads are stored as text so both engines read
them the same way. Tokens and device secrets are stored as SHA-256 digests, never raw.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Officer(Base):
    __tablename__ = "officers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(400))
    #: sealed with the relay's secrets key (relay/secret_box.py), never plain base32
    totp_secret: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)
    #: the newest TOTP time step accepted: a code of this step or an older one is refused
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class OfficerSession(Base):
    __tablename__ = "officer_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    expires_at: Mapped[float] = mapped_column(Float)
    #: when the password + TOTP login that began this session happened; refreshes keep it,
    #: and no token of the session outlives started_at + session_lifetime_s
    started_at: Mapped[float] = mapped_column(Float, server_default="0")


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    pseudonym: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(200))
    category_mask: Mapped[int] = mapped_column(BigInteger, default=0)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    fix_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


class Incident(Base):
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[float] = mapped_column(Float)
    #: the pilot whose reports it was opened with or first given (0011): it stays that
    #: pilot's (never takes live reports, even emptied) and goes with its purge
    pilot_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("device_id", "client_ref"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    client_ref: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="new")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    #: indexed (0009): the team's holdings and an incident's reports are read by these,
    #: and without them each read scanned every report (about 90 ms at 1,000,000)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    incident_ref: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    #: the pilot whose participant sent it (exercise traffic), fixed when it was stored
    pilot_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    #: why an officer closed it (a quick pick or their words); cleared when reopened
    close_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: the report this one repeats, merged under the same incident (issue 13)
    duplicate_of: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)


class ReportNote(Base):
    """An officer-only internal note on a report: never sent to the citizen, audited,
    erased with the report."""

    __tablename__ = "report_notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[float] = mapped_column(Float)


class ReportMedia(Base):
    __tablename__ = "report_media"
    __table_args__ = (UniqueConstraint("report_id", "sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    mime: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(BigInteger)
    stored: Mapped[bool] = mapped_column(Boolean, default=False)


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    sender: Mapped[str] = mapped_column(String(10))  # citizen | officer
    author: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(10), default="sent")
    client_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    sender: Mapped[str] = mapped_column(String(200))
    sent_at: Mapped[float] = mapped_column(Float)
    msg_type: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20))
    info_json: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[float] = mapped_column(Float)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    read: Mapped[int] = mapped_column(Integer, default=0)
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    references_json: Mapped[str] = mapped_column(Text, default="[]")
    #: emails queued for this alert (every version), and how many the SMTP server accepted
    #: or were given up on (relay/mail); shown to officers under the same floor as phones
    emails: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    emails_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    emails_failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: an exercise alert's pilot (also in info_json): purging the pilot finds it by this
    pilot_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class AlertVersion(Base):
    """Every message an alert went through, append-only: an update or a cancel changes the
    `alerts` row, never a row here. Written in the transaction that made the change
    (relay/alerts.py); evidence packages (relay/evidence.py) export them all.

    `cap_xml` is the CAP document as `alerts.to_cap` produced it then; NULL only for a
    version backfilled by migration 0004 from an alert older than this table.
    """

    __tablename__ = "alert_versions"
    __table_args__ = (UniqueConstraint("alert_id", "n"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    n: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per alert, in order
    msg_type: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20))
    info_json: Mapped[str] = mapped_column(Text)
    references_json: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[float] = mapped_column(Float)
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cap_xml: Mapped[str | None] = mapped_column(Text, nullable=True)
    recorded_at: Mapped[float] = mapped_column(Float)


class AlertRecipient(Base):
    __tablename__ = "alert_recipients"
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending|delivered|read
    #: the device acknowledged the Cancel of an alert it had received (so stop re-sending it)
    cancel_seen: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: when the device acknowledged delivery and reading (relay clock), of a pilot's
    #: exercise alerts only: the pilot's time-to-read metric. Live alerts keep none (a
    #: phone's reading times are personal data no live operation needs); erased with the
    #: pilot (`pilots.purge`) or the device (`privacy.erase`). Reset by an Update.
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    read_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    __table_args__ = (Index("ix_alert_recipients_device_status", "device_id", "status"),)


class Event(Base):
    """The officers' ordered event log: `seq` is the resume cursor."""

    __tablename__ = "events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    frame: Mapped[str] = mapped_column(Text)  # the encoded event message, as sent
    #: the pilot of an exercise event (`rules.event_pilot`): filtered out by
    #: `subscribe` with `exclude_exercise`, erased with the pilot's data
    pilot_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class Idempotency(Base):
    __tablename__ = "idempotency"
    officer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    reply: Mapped[str] = mapped_column(Text)
    at: Mapped[float] = mapped_column(Float)
    #: SHA-256 of the request (its `id` left out): the key reused for another request is
    #: refused instead of answered with the first one's reply (0010; None before it)
    request_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditLog(Base):
    __tablename__ = "audit_log"
    #: a report's or an alert's history is read by subject (issue 13)
    __table_args__ = (Index("ix_audit_log_subject", "subject"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Counter(Base):
    """Named sequences for human references (incident numbers), portable across engines;
    also the audit lock's row, and the markers `lookout-relay mail bounce` leaves for the
    running relay (relay/mail/bounces.py)."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class EmailSubscription(Base):
    """A resident's email alerts (relay/mail): a place, a radius, categories.

    The address is never stored in the clear: `address_sealed` is AES-GCM under a key
    derived from the relay's secrets key (outside the database), `address_hmac` a keyed
    hash of the normalised address for de-duplication. The confirmation token is stored
    as its SHA-256 only; the unsubscribe token is derived from the key and `unsub_salt`
    and stored as its SHA-256 for lookup. Unsubscribing erases address and place."""

    __tablename__ = "email_subscriptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: pending (awaiting the confirmation link) | confirmed | unsubscribed | bounced
    state: Mapped[str] = mapped_column(String(20), index=True)
    address_hmac: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    address_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    radius_m: Mapped[float] = mapped_column(Float)
    category_mask: Mapped[int] = mapped_column(BigInteger)
    confirm_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    confirm_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    unsub_salt: Mapped[str] = mapped_column(String(64))
    unsub_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float)
    confirmed_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class EmailOutbox(Base):
    """One email to send, written in the transaction that made it due (the alert
    version, or the sign-up) and marked sent only after the SMTP server accepted it.

    `message_id` is fixed at enqueue, so a resend in the one window that allows it (the
    server accepted, the relay died before the mark committed) carries the same
    Message-ID. `lease_owner`/`lease_until`: the relay node sending it now."""

    __tablename__ = "email_outbox"
    __table_args__ = (
        UniqueConstraint("subscription_id", "alert_id", "version_n"),
        Index("ix_email_outbox_due", "state", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("email_subscriptions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # confirm | alert
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), nullable=True, index=True)
    version_n: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message_id: Mapped[str] = mapped_column(String(120), unique=True)
    #: queued | sent | failed (permanently refused or given up) | dropped (moot by then)
    state: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    lease_owner: Mapped[str | None] = mapped_column(String(40), nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: a confirmation's token, sealed, until it is sent (then erased)
    secret_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: the SMTP reply of the last failure (a code and the server's text: no address)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Pilot(Base):
    """A community pilot (issue 12): everything its participants send is exercise traffic.
    The row outlives a purge (state `purged`), so the audit trail still names it and its
    id is never reused for another pilot."""

    __tablename__ = "pilots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    area_json: Mapped[str] = mapped_column(Text)  # the Polygon, as on the wire
    state: Mapped[str] = mapped_column(String(10))  # active | ended | purged
    starts_at: Mapped[float] = mapped_column(Float)
    ends_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    purged_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class PilotGroup(Base):
    __tablename__ = "pilot_groups"
    __table_args__ = (UniqueConstraint("pilot_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilots.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    planned: Mapped[int] = mapped_column(Integer)


class PilotInvite(Base):
    """One invite code, stored only as its SHA-256 (the code is shown once, at issue).
    Used once: `used_at` is set by the join that took it."""

    __tablename__ = "pilot_invites"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilots.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("pilot_groups.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class PilotParticipant(Base):
    """A device's link to a pilot: the device stays pseudonymous; its group is kept. A
    device holds at most one link that has not been left (`left_at`) at a time."""

    __tablename__ = "pilot_participants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pilot_id: Mapped[int] = mapped_column(ForeignKey("pilots.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("pilot_groups.id"), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    joined_at: Mapped[float] = mapped_column(Float)
    left_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: joined, reported or chatted (active: within PILOT_ACTIVE_WINDOW_S)
    last_active_at: Mapped[float] = mapped_column(Float)


class NodeNote(Base):
    """What one relay tells the others sharing this database (docs/scaling.md): a phone's
    index entry changed, an alert is to be delivered, a device connected anew, a chat mark
    for a phone. Written in the transaction of the change, read by every node in `seq`
    order (relay/cluster.py); never shown to officers. Kept for `node_notes.KEEP_S`: a
    node that was away longer reloads what it keeps in memory instead."""

    __tablename__ = "node_notes"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[float] = mapped_column(Float, index=True)
    node: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    #: the device concerned (no foreign key: a note may outlive an erased device)
    device_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: an alert's or a chat message's public id
    ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    mask: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: a fix's expiry; for a chat mark, unused
    expires: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: a chat mark's status
    status: Mapped[str | None] = mapped_column(String(16), nullable=True)


class LoginFailure(Base):
    """One failed officer login (or password change), shared by every relay on this
    database so that N relays do not give a guesser N times the tries (relay/signin.py).

    A row is written before the password is checked (the attempt counts until it is
    known to be right) and deleted if it was; a success marks the pair's earlier rows
    `cleared_at` (they no longer count for that user at that address, still for the
    address and the user). Never a password; the user name and the address as the login
    limits key them. Rows older than the longest memory of the limits are pruned."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(200), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    cleared_at: Mapped[float | None] = mapped_column(Float, nullable=True)
