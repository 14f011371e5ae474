"""Alerts: preview, send, approval, update, cancel, acknowledgements, expiry, CAP export.

Recipients are chosen on the event loop from the in-memory device index (exact geometry),
then the alert and one row per recipient are committed, and only then delivered: at once
to connected devices with one `websockets.broadcast`, later to the others when they
reconnect, until the alert expires.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import numpy as np
from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from backend_client import messages as m
from backend_client import rules
from backend_client.errors import ErrorCode, ProtocolError
from relay import cap, wire
from relay.db import models as db
from relay.db.uow import Tx
from relay.reports import Actor, new_public_id


def _alert_row(s: Session, alert_id: str) -> db.Alert:
    a = s.scalar(select(db.Alert).where(db.Alert.public_id == alert_id))
    if a is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no alert {alert_id!r}")
    return a


def _check_expiry(info: m.AlertInfo, now: float) -> None:
    if info.expires_at <= now:
        raise ProtocolError(ErrorCode.INVALID, "the alert's expiry time is already past")


def create(
    actor: Actor, msg: m.AlertSend, keys: np.ndarray, threshold: int
) -> Callable[[Tx], m.Alert]:
    """Store a new alert for `keys`; pending approval above `threshold` recipients."""

    def job(tx: Tx) -> m.Alert:
        _check_expiry(msg.info, tx.now)
        s = tx.s
        needs_approval = len(keys) > threshold and not rules.supervises(actor.role)
        a = db.Alert(
            public_id=new_public_id("A"),
            sender=actor.username,
            sent_at=tx.now,
            msg_type="Alert",
            state="pending_approval" if needs_approval else "active",
            info_json=json.dumps(_info_dict(msg.info)),
            expires_at=msg.info.expires_at,
            recipients=len(keys),
            delivered=0,
            read=0,
            approved_by=None if needs_approval else actor.username,
            references_json="[]",
        )
        s.add(a)
        s.flush()
        _add_recipients(s, a.id, keys)
        out = wire.alert_msg(a)
        tx.emit(m.AlertChanged, alert=out)
        tx.audit(
            actor.username,
            "alert.send",
            a.public_id,
            recipients=len(keys),
            state=a.state,
            headline=msg.info.headline,
        )
        return out

    return job


def approve(actor: Actor, msg: m.AlertApprove) -> Callable[[Tx], m.Alert]:
    def job(tx: Tx) -> m.Alert:
        a = _alert_row(tx.s, msg.alert_id)
        if a.state != "pending_approval":
            raise ProtocolError(
                ErrorCode.CONFLICT, f"alert {a.public_id} is {a.state}, not pending"
            )
        if a.sender == actor.username:
            raise ProtocolError(
                ErrorCode.FORBIDDEN, "two-person rule: another supervisor must approve your alert"
            )
        if msg.approve:
            _check_expiry(wire.alert_info(a), tx.now)
        a.state = "active" if msg.approve else "rejected"
        a.approved_by = actor.username
        if msg.approve:
            a.sent_at = tx.now
        out = wire.alert_msg(a)
        tx.emit(m.AlertChanged, alert=out)
        tx.audit(actor.username, "alert.approve" if msg.approve else "alert.reject", a.public_id)
        return out

    return job


def revise(actor: Actor, msg: m.AlertUpdate, keys: np.ndarray) -> Callable[[Tx], m.Alert]:
    """A CAP Update: new content, recipients = old ones plus any now in the (new) area."""

    def job(tx: Tx) -> m.Alert:
        _check_expiry(msg.info, tx.now)
        s = tx.s
        a = _alert_row(s, msg.alert_id)
        if a.state != "active":
            raise ProtocolError(
                ErrorCode.CONFLICT, f"only an active alert can be updated ({a.state})"
            )
        a.references_json = json.dumps(_referencing_previous(a))
        a.info_json = json.dumps(_info_dict(msg.info))
        a.expires_at = msg.info.expires_at
        a.msg_type = "Update"
        a.sent_at = tx.now
        old = set(
            s.scalars(select(db.AlertRecipient.device_id).where(db.AlertRecipient.alert_id == a.id))
        )
        new = np.array([k for k in keys.tolist() if k not in old], dtype=np.int64)
        s.execute(
            update(db.AlertRecipient)
            .where(db.AlertRecipient.alert_id == a.id)
            .values(status="pending")
        )
        _add_recipients(s, a.id, new)
        a.recipients = len(old) + len(new)
        a.delivered = 0
        a.read = 0
        out = wire.alert_msg(a)
        tx.emit(m.AlertChanged, alert=out)
        tx.audit(actor.username, "alert.update", a.public_id, recipients=a.recipients)
        return out

    return job


def cancel(actor: Actor, msg: m.AlertCancel) -> Callable[[Tx], tuple[m.Alert, list[int]]]:
    """CAP Cancel. Returns every recipient; those connected now are told it is cancelled
    (a device offline at this moment never shows a cancelled alert it had not received)."""

    def job(tx: Tx) -> tuple[m.Alert, list[int]]:
        s = tx.s
        a = _alert_row(s, msg.alert_id)
        if a.state not in ("active", "pending_approval"):
            raise ProtocolError(ErrorCode.CONFLICT, f"alert {a.public_id} is already {a.state}")
        a.references_json = json.dumps(_referencing_previous(a))
        a.state = "cancelled"
        a.msg_type = "Cancel"
        a.sent_at = tx.now
        got = list(
            s.scalars(select(db.AlertRecipient.device_id).where(db.AlertRecipient.alert_id == a.id))
        )
        out = wire.alert_msg(a)
        tx.emit(m.AlertChanged, alert=out)
        tx.audit(actor.username, "alert.cancel", a.public_id)
        return out, got

    return job


def acknowledge(device_key: int, alert_id: str, status: str) -> Callable[[Tx], int | None]:
    """Record a device's delivered/read; returns the alert's row id when counts moved."""

    def job(tx: Tx) -> int | None:
        s = tx.s
        a = s.scalar(select(db.Alert).where(db.Alert.public_id == alert_id))
        if a is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no alert {alert_id!r}")
        rec = s.get(db.AlertRecipient, (a.id, device_key))
        if rec is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "this alert was not sent to this device")
        if a.state == "cancelled":  # the device has seen the Cancel: stop holding it
            rec.cancel_seen = True
            return None
        if rec.status == "read" or rec.status == status:
            return None
        if rec.status == "pending":
            a.delivered += 1
        if status == "read":
            a.read += 1
        rec.status = status
        return a.id

    return job


def emit_counts(alert_pks: Sequence[int]) -> Callable[[Tx], None]:
    def job(tx: Tx) -> None:
        for pk in alert_pks:
            a = tx.s.get(db.Alert, pk)
            if a is not None:
                tx.emit(m.AlertChanged, alert=wire.alert_msg(a))

    return job


def expire_due() -> Callable[[Tx], int]:
    def job(tx: Tx) -> int:
        due = list(
            tx.s.scalars(
                select(db.Alert).where(
                    db.Alert.state.in_(("active", "pending_approval")),
                    db.Alert.expires_at <= tx.now,
                )
            )
        )
        for a in due:
            a.state = "expired"
            tx.emit(m.AlertChanged, alert=wire.alert_msg(a))
        return len(due)

    return job


def held_for(device_key: int, now: float) -> Callable[[Session], list[m.Alert]]:
    """Unexpired alerts this device was chosen for and has not yet received, and the Cancel
    of any alert it had received but has not yet seen cancelled."""

    def query(s: Session) -> list[m.Alert]:
        rcpt = db.AlertRecipient
        unseen = and_(rcpt.status == "pending", db.Alert.state == "active")
        cancel_unseen = and_(
            rcpt.status != "pending", db.Alert.state == "cancelled", rcpt.cancel_seen.is_(False)
        )
        rows = s.scalars(
            select(db.Alert)
            .join(rcpt, rcpt.alert_id == db.Alert.id)
            .where(
                rcpt.device_id == device_key, db.Alert.expires_at > now, or_(unseen, cancel_unseen)
            )
            .order_by(db.Alert.id)
        )
        return [wire.alert_msg(a) for a in rows]

    return query


def recipients_of(alert_id: str) -> Callable[[Session], list[int]]:
    def query(s: Session) -> list[int]:
        a = _alert_row(s, alert_id)
        return list(
            s.scalars(select(db.AlertRecipient.device_id).where(db.AlertRecipient.alert_id == a.id))
        )

    return query


def load(alert_id: str) -> Callable[[Session], tuple[m.Alert, list[tuple[str, str]]]]:
    def query(s: Session) -> tuple[m.Alert, list[tuple[str, str]]]:
        a = _alert_row(s, alert_id)
        return wire.alert_msg(a), wire.alert_references(a)

    return query


def _add_recipients(s: Session, alert_pk: int, keys: np.ndarray) -> None:
    if len(keys) == 0:
        return
    s.execute(
        insert(db.AlertRecipient),
        [{"alert_id": alert_pk, "device_id": int(k), "status": "pending"} for k in keys.tolist()],
    )


def _info_dict(info: m.AlertInfo) -> object:
    import msgspec

    return msgspec.to_builtins(info)


def cap_identifier(alert_id: str, references: Sequence[tuple[str, str]]) -> str:
    """The CAP identifier of an alert's current message: the first message is the alert id;
    each Update or Cancel gets its own (`A-….1`, `A-….2`) so receivers that de-duplicate on
    sender + identifier keep it, and it references the messages before it."""
    return alert_id if not references else f"{alert_id}.{len(references)}"


def to_cap(alert: m.Alert, references: Sequence[tuple[str, str]], sender: str) -> str:
    return cap.alert_to_cap(
        alert,
        sender=sender,
        references=references,
        identifier=cap_identifier(alert.alert_id, references),
    )


def _referencing_previous(a: db.Alert) -> list[tuple[str, str]]:
    """References for the next message: every earlier one plus the current one."""
    refs = wire.alert_references(a)
    return [*refs, (cap_identifier(a.public_id, refs), cap.cap_datetime(a.sent_at))]
