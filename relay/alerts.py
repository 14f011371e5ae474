"""Alerts: preview, send, approval, update, cancel, acknowledgements, expiry, CAP export.

Recipients are chosen on the event loop from the in-memory device index (exact geometry),
then the alert and one row per recipient are committed, and only then delivered: at once
to connected devices with one `websockets.broadcast`, later to the others when they
reconnect, until the alert expires.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec
import numpy as np
from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from backend_client import cap_profile, rules
from backend_client import messages as m
from backend_client.errors import ErrorCode, ProtocolError
from relay import cap, targeting, wire
from relay.db import models as db
from relay.db.uow import Tx
from relay.mail import store as mail_store
from relay.reports import Actor, new_public_id

#: counts for code that never shows them to an officer (a phone's copy, CAP, the operator)
EXACT = 0
#: the CAP issuer of an alert version made without a relay config (unit tests only: the
#: officer API refuses to send without a configured `cap_sender`, see `issuer`)
DEFAULT_ISSUER = cap.Issuer("lookout@localhost")


@dataclass(frozen=True, slots=True)
class Targets:
    """Whom an alert goes to (`keys`, exact) and the set its approval is decided on
    (`reach`, `DeviceIndex.reach`: the keys and the phones within a cell of the edge)."""

    keys: np.ndarray
    reach: np.ndarray
    #: the area they were chosen in, checked once by the request (the emails use it too)
    area: targeting.PreparedArea | None = None


def _alert_row(s: Session, alert_id: str) -> db.Alert:
    a = s.scalar(select(db.Alert).where(db.Alert.public_id == alert_id))
    if a is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no alert {alert_id!r}")
    return a


def _check_info(info: m.AlertInfo, now: float) -> None:
    """What the wire's types cannot refuse: a past expiry, a language given twice (one CAP
    `info` block per language) or a translation without a headline."""
    if info.expires_at <= now:
        raise ProtocolError(ErrorCode.INVALID, "the alert's expiry time is already past")
    problems = cap_profile.language_problems(info)
    if problems:
        raise ProtocolError(ErrorCode.INVALID, " ".join(problems))


def create(
    actor: Actor,
    msg: m.AlertSend,
    targets: Targets,
    threshold: int,
    floor: int,
    issuer: cap.Issuer = DEFAULT_ISSUER,
) -> Callable[[Tx], m.Alert]:
    """Store a new alert for `targets.keys`; pending approval when its reach is above
    `threshold`. Officers see its counts only from `floor` recipients up (`wire`)."""
    keys = targets.keys

    def job(tx: Tx) -> m.Alert:
        _check_info(msg.info, tx.now)
        s = tx.s
        needs_approval = rules.needs_approval(len(targets.reach), threshold)
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
            pilot_id=msg.info.pilot_id,
        )
        s.add(a)
        s.flush()
        _add_recipients(s, a.id, keys)
        _record_version(tx, a, issuer, targets.area)
        out = wire.alert_msg(a, floor)
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


def approve(
    actor: Actor, msg: m.AlertApprove, floor: int, issuer: cap.Issuer = DEFAULT_ISSUER
) -> Callable[[Tx], _Approved]:
    """Approve or reject a pending alert, or a pending update of an active one.

    Returns the alert as the approver's reply shows it, and what to deliver after commit:
    `("alert", alert)` for a new alert now active, `("update", original id)` for an update
    now applied to its original (re-sent to its old and new recipients), or None."""

    def job(tx: Tx) -> _Approved:
        s = tx.s
        a = _alert_row(s, msg.alert_id)
        if a.state != "pending_approval":
            raise ProtocolError(
                ErrorCode.CONFLICT, f"alert {a.public_id} is {a.state}, not pending"
            )
        if not rules.may_approve(actor.role, actor.username, a.sender):
            raise ProtocolError(
                ErrorCode.FORBIDDEN, "two-person rule: another supervisor must approve your alert"
            )
        original = _update_of(a)
        if msg.approve:
            _check_info(wire.alert_info(a), tx.now)
        if original is None:
            a.state = "active" if msg.approve else "rejected"
            a.approved_by = actor.username
            _record_version(tx, a, issuer)  # its CAP `sent` is now, the approval
            out = wire.alert_msg(a, floor)
            tx.emit(m.AlertChanged, alert=out)
            action = "alert.approve" if msg.approve else "alert.reject"
            tx.audit(actor.username, action, a.public_id)
            return out, ("alert", out) if msg.approve else None
        target = _alert_row(s, original)
        if msg.approve and target.state != "active":
            raise ProtocolError(
                ErrorCode.CONFLICT, f"alert {target.public_id} is {target.state}: not updated"
            )
        if msg.approve:  # a proposal stored before updates were refused a status change
            _check_same_status(wire.alert_info(target), wire.alert_info(a))
        keys = np.array(
            list(
                s.scalars(
                    select(db.AlertRecipient.device_id).where(db.AlertRecipient.alert_id == a.id)
                )
            ),
            dtype=np.int64,
        )
        s.execute(delete(db.AlertRecipient).where(db.AlertRecipient.alert_id == a.id))
        a.approved_by = actor.username
        if not msg.approve:
            a.state = "rejected"
            tx.emit(m.AlertChanged, alert=wire.alert_msg(a, floor))
            tx.audit(actor.username, "alert.reject", a.public_id, update_of=target.public_id)
            return wire.alert_msg(a, floor), None
        a.state = "expired"  # the proposal is spent: its content now lives in `target`
        tx.emit(m.AlertChanged, alert=wire.alert_msg(a, floor))
        _apply_update(tx, target, wire.alert_info(a), keys, approved_by=actor.username, floor=floor)
        _record_version(tx, target, issuer)
        out = wire.alert_msg(target, floor)
        tx.audit(actor.username, "alert.approve", target.public_id, update=a.public_id)
        return out, ("update", target.public_id)

    return job


#: what an approval leaves to do after commit (see `approve`)
_Approved = tuple[m.Alert, tuple[str, object] | None]


def revise(
    actor: Actor,
    msg: m.AlertUpdate,
    targets: Targets,
    threshold: int,
    floor: int,
    issuer: cap.Issuer = DEFAULT_ISSUER,
) -> Callable[[Tx], tuple[m.Alert, bool]]:
    """A CAP Update: new content, recipients = old ones plus any now in the (new) area.

    An update that changes the alert's reach or content while the alert (old recipients
    and new) is above `threshold` is not applied: it is stored as a proposal awaiting a
    second officer's approval (a pending alert whose `msg_type` is `Update`), and the
    alert stays active, unchanged, until then. Returns the alert in the reply and whether
    it was applied (so it must be re-sent). The threshold is compared with the old
    recipients joined with the new area's reach (see `Targets`)."""
    keys = targets.keys
    reach = targets.reach.tolist()

    def job(tx: Tx) -> tuple[m.Alert, bool]:
        _check_info(msg.info, tx.now)
        s = tx.s
        a = _alert_row(s, msg.alert_id)
        if a.state != "active" or _update_of(a) is not None:
            raise ProtocolError(
                ErrorCode.CONFLICT, f"only an active alert can be updated ({a.state})"
            )
        if wire.alert_info(a).pilot_id != msg.info.pilot_id:  # so Exercise stays Exercise
            raise ProtocolError(
                ErrorCode.CONFLICT,
                "an update cannot move an alert into or out of a pilot: cancel it and send "
                "a new alert",
            )
        _check_same_status(wire.alert_info(a), msg.info)
        old = set(
            s.scalars(select(db.AlertRecipient.device_id).where(db.AlertRecipient.alert_id == a.id))
        )
        union = len(old) + sum(1 for k in keys.tolist() if k not in old)
        reached = len(old) + sum(1 for k in reach if k not in old)
        changed = _reach_or_content(_info_dict(wire.alert_info(a))) != _reach_or_content(
            _info_dict(msg.info)
        )
        if not rules.update_needs_approval(changed, reached, threshold):
            _apply_update(tx, a, msg.info, keys, approved_by=a.approved_by, floor=floor)
            _record_version(tx, a, issuer, targets.area)
            out = wire.alert_msg(a, floor)
            tx.audit(actor.username, "alert.update", a.public_id, recipients=a.recipients)
            return out, True
        p = db.Alert(
            public_id=new_public_id("A"),
            sender=actor.username,
            sent_at=tx.now,
            msg_type="Update",
            state="pending_approval",
            info_json=json.dumps(_info_dict(msg.info)),
            expires_at=msg.info.expires_at,
            recipients=union,
            delivered=0,
            read=0,
            approved_by=None,
            references_json=json.dumps([[_UPDATE_OF, a.public_id]]),
            pilot_id=a.pilot_id,
        )
        s.add(p)
        s.flush()
        _add_recipients(s, p.id, np.array(sorted(set(keys.tolist()) | old), dtype=np.int64))
        out = wire.alert_msg(p, floor)
        tx.emit(m.AlertChanged, alert=out)
        tx.audit(
            actor.username,
            "alert.update",
            a.public_id,
            recipients=union,
            state=p.state,
            proposal=p.public_id,
            headline=msg.info.headline,
        )
        return out, False

    return job


def _check_same_status(old: m.AlertInfo, new: m.AlertInfo) -> None:
    """An Update keeps the CAP status of the alert it updates: a Test (Draft, System,
    Exercise) made Actual would publish an alert whose first message was never public,
    and an Actual made Test would withdraw a public alert without a Cancel."""
    if old.status != new.status:
        raise ProtocolError(
            ErrorCode.INVALID,
            f"an update cannot change the alert's CAP status ({old.status} to {new.status}): "
            "cancel it and send a new alert",
        )


#: the marker in a pending update's references naming the alert it would update
_UPDATE_OF = "update-of"


def _update_of(a: db.Alert) -> str | None:
    """The alert a pending update proposal would change, or None for an ordinary alert."""
    refs = wire.alert_references(a)
    if len(refs) == 1 and refs[0][0] == _UPDATE_OF:
        return refs[0][1]
    return None


def _reach_or_content(info: object) -> object:
    """Everything in an alert's info but its expiry: a change here needs approval."""
    assert isinstance(info, dict)
    return {k: v for k, v in info.items() if k != "expires_at"}


def _apply_update(
    tx: Tx, a: db.Alert, info: m.AlertInfo, keys: np.ndarray, approved_by: str | None, floor: int
) -> None:
    s = tx.s
    a.references_json = json.dumps(_referencing_previous(s, a))
    a.info_json = json.dumps(_info_dict(info))
    a.expires_at = info.expires_at
    a.msg_type = "Update"  # `sent_at` stays when the alert was first sent (its versions
    a.approved_by = approved_by  # keep each CAP message's own `sent`)
    old = set(
        s.scalars(select(db.AlertRecipient.device_id).where(db.AlertRecipient.alert_id == a.id))
    )
    new = np.array([k for k in keys.tolist() if k not in old], dtype=np.int64)
    s.execute(
        update(db.AlertRecipient)
        .where(db.AlertRecipient.alert_id == a.id)
        .values(status="pending", delivered_at=None, read_at=None)
    )
    _add_recipients(s, a.id, new)
    a.recipients = len(old) + len(new)
    a.delivered = 0
    a.read = 0
    tx.emit(m.AlertChanged, alert=wire.alert_msg(a, floor))


def cancel(
    actor: Actor, msg: m.AlertCancel, floor: int, issuer: cap.Issuer = DEFAULT_ISSUER
) -> Callable[[Tx], tuple[m.Alert, list[int]]]:
    """CAP Cancel. Returns the recipients to tell now; those offline are told when they next
    authenticate (`held_for`), whether or not they had acknowledged the alert: a phone
    that was sent it but whose acknowledgement was lost must not keep showing it. An alert
    still awaiting approval reached nobody, so nobody is told."""

    def job(tx: Tx) -> tuple[m.Alert, list[int]]:
        s = tx.s
        a = _alert_row(s, msg.alert_id)
        if a.state not in ("active", "pending_approval"):
            raise ProtocolError(ErrorCode.CONFLICT, f"alert {a.public_id} is already {a.state}")
        if _update_of(a) is not None:  # withdrawing a pending update: nobody to tell
            a.state = "cancelled"
            s.execute(delete(db.AlertRecipient).where(db.AlertRecipient.alert_id == a.id))
            out = wire.alert_msg(a, floor)
            tx.emit(m.AlertChanged, alert=out)
            tx.audit(actor.username, "alert.cancel", a.public_id)
            return out, []
        was_sent = a.state == "active"
        a.references_json = json.dumps(_referencing_previous(s, a))
        a.state = "cancelled"
        a.msg_type = "Cancel"
        if was_sent:
            got = list(
                s.scalars(
                    select(db.AlertRecipient.device_id).where(db.AlertRecipient.alert_id == a.id)
                )
            )
        else:  # never went out: no phone holds it
            s.execute(
                update(db.AlertRecipient)
                .where(db.AlertRecipient.alert_id == a.id)
                .values(cancel_seen=True)
            )
            got = []
        _record_version(tx, a, issuer)
        out = wire.alert_msg(a, floor)
        tx.emit(m.AlertChanged, alert=out)
        tx.audit(actor.username, "alert.cancel", a.public_id)
        for p in _pending_updates_of(s, a.public_id):  # nothing left for them to update
            p.state = "cancelled"
            s.execute(delete(db.AlertRecipient).where(db.AlertRecipient.alert_id == p.id))
            tx.emit(m.AlertChanged, alert=wire.alert_msg(p, floor))
        return out, got

    return job


def _record_version(
    tx: Tx, a: db.Alert, issuer: cap.Issuer, area: targeting.PreparedArea | None = None
) -> None:
    """Append the alert as it now stands to its versions (never rewritten), with its CAP;
    `area` is its area as the request checked it (None: read back from the alert)."""
    s = tx.s
    s.flush()
    n = s.scalar(select(func.max(db.AlertVersion.n)).where(db.AlertVersion.alert_id == a.id))
    refs = wire.alert_references(a)
    s.add(
        db.AlertVersion(
            alert_id=a.id,
            n=(n or 0) + 1,
            msg_type=a.msg_type,
            state=a.state,
            info_json=a.info_json,
            references_json=a.references_json or "[]",
            sent_at=tx.now,  # this message's CAP `sent`
            approved_by=a.approved_by,
            # the message exactly as it went out: export and the feed serve this text, so
            # a later Update, a new sender or base URL never changes an earlier message
            cap_xml=to_cap(
                msgspec.structs.replace(wire.alert_msg(a, EXACT), sent_at=tx.now), refs, issuer
            ),
            recorded_at=tx.now,
        )
    )
    if a.pilot_id is None:  # an exercise alert is never emailed (its pilot's phones only)
        mail_store.enqueue_alert(tx, a, (n or 0) + 1, area)  # its emails, in the same tx


def versions(alert_pk: int) -> Callable[[Session], list[db.AlertVersion]]:
    def query(s: Session) -> list[db.AlertVersion]:
        return list(
            s.scalars(
                select(db.AlertVersion)
                .where(db.AlertVersion.alert_id == alert_pk)
                .order_by(db.AlertVersion.n)
            )
        )

    return query


def _pending_updates_of(s: Session, alert_id: str) -> list[db.Alert]:
    marker = json.dumps([[_UPDATE_OF, alert_id]])
    return list(
        s.scalars(
            select(db.Alert).where(
                db.Alert.state == "pending_approval", db.Alert.references_json == marker
            )
        )
    )


def acknowledge(device_key: int, alert_id: str, status: str) -> Callable[[Tx], int | None]:
    """Record a device's delivered/read; returns the alert's row id when counts moved."""

    def job(tx: Tx) -> int | None:
        s = tx.s
        # Thousands of phones acknowledge one alert at once (a fan-out; a failover, when
        # the phones come back and are given it again), each a job in a few batches that
        # hold the shared log's lock: the alert is looked up once per batch, and the
        # changes are written at COMMIT in one go, not flushed before each next query.
        with s.no_autoflush:
            a = _alert_in_batch(s, alert_id)
            rec = None if a is None else s.get(db.AlertRecipient, (a.id, device_key))
        if a is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no alert {alert_id!r}")
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
        if a.pilot_id is not None:  # the pilot's time to read; live alerts keep no times
            if rec.delivered_at is None:  # a "read" first is delivered at the same time
                rec.delivered_at = tx.now
            if status == "read":
                rec.read_at = tx.now
        return a.id

    return job


def _alert_in_batch(s: Session, alert_id: str) -> db.Alert | None:
    """The stored alert `alert_id`, read once per writer batch (its session)."""
    found: dict[str, db.Alert] = s.info.setdefault("alerts_by_public_id", {})
    a = found.get(alert_id)
    if a is None:
        a = s.scalar(select(db.Alert).where(db.Alert.public_id == alert_id))
        if a is not None:
            found[alert_id] = a
    return a


def emit_counts(alert_pks: Sequence[int], floor: int) -> Callable[[Tx], None]:
    def job(tx: Tx) -> None:
        for pk in alert_pks:
            a = tx.s.get(db.Alert, pk)
            if a is not None:
                tx.emit(m.AlertChanged, alert=wire.alert_msg(a, floor))

    return job


def expire_due(floor: int) -> Callable[[Tx], int]:
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
            tx.emit(m.AlertChanged, alert=wire.alert_msg(a, floor))
        return len(due)

    return job


def held_for(device_key: int, now: float) -> Callable[[Session], list[m.Alert]]:
    """Unexpired alerts this device was chosen for and has not acknowledged (in their current
    version: an Update replaces what it missed), and the Cancel of any alert sent to it whose
    Cancel it has not acknowledged."""

    def query(s: Session) -> list[m.Alert]:
        rcpt = db.AlertRecipient
        unseen = and_(rcpt.status == "pending", db.Alert.state == "active")
        cancel_unseen = and_(db.Alert.state == "cancelled", rcpt.cancel_seen.is_(False))
        rows = s.scalars(
            select(db.Alert)
            .join(rcpt, rcpt.alert_id == db.Alert.id)
            .where(
                rcpt.device_id == device_key, db.Alert.expires_at > now, or_(unseen, cancel_unseen)
            )
            .order_by(db.Alert.id)
        )
        return [wire.alert_msg(a, EXACT) for a in rows]

    return query


def recipients_of(alert_id: str) -> Callable[[Session], list[int]]:
    def query(s: Session) -> list[int]:
        a = _alert_row(s, alert_id)
        return list(
            s.scalars(select(db.AlertRecipient.device_id).where(db.AlertRecipient.alert_id == a.id))
        )

    return query


def load(alert_id: str) -> Callable[[Session], tuple[m.Alert, list[tuple[str, str]]]]:
    """The alert's current CAP message (its `sent` that message's own) and references."""

    def query(s: Session) -> tuple[m.Alert, list[tuple[str, str]]]:
        a = _alert_row(s, alert_id)
        if _update_of(a) is not None:
            raise ProtocolError(
                ErrorCode.CONFLICT,
                f"{a.public_id} is a proposed update, not a CAP message: export the alert",
            )
        out = msgspec.structs.replace(wire.alert_msg(a, EXACT), sent_at=message_sent(s, a))
        return out, wire.alert_references(a)

    return query


def _add_recipients(s: Session, alert_pk: int, keys: np.ndarray) -> None:
    if len(keys) == 0:
        return
    s.execute(
        insert(db.AlertRecipient),
        [{"alert_id": alert_pk, "device_id": int(k), "status": "pending"} for k in keys.tolist()],
    )


def _info_dict(info: m.AlertInfo) -> object:
    return msgspec.to_builtins(info)


def cap_identifier(alert_id: str, references: Sequence[tuple[str, str]]) -> str:
    """The CAP identifier of an alert's current message: the first message is the alert id;
    each Update or Cancel gets its own (`A-….1`, `A-….2`) so receivers that de-duplicate on
    sender + identifier keep it, and it references the messages before it."""
    return alert_id if not references else f"{alert_id}.{len(references)}"


def to_cap(alert: m.Alert, references: Sequence[tuple[str, str]], issuer: cap.Issuer) -> str:
    return cap.alert_to_cap(
        alert,
        sender=issuer.sender,
        sender_name=issuer.name,  # the organisation, never the officer (`alert.sender`)
        references=references,
        identifier=cap_identifier(alert.alert_id, references),
        web=issuer.web(alert.alert_id),
    )


def issuer(sender: str, web_base: str = "", sender_name: str = "") -> cap.Issuer:
    """The relay's CAP issuer, or ProtocolError(INVALID) when no sender is configured: a
    relay never publishes or exports CAP under a made-up sender (`--cap-sender`).
    `sender_name` is config `cap_sender_name` (`--cap-sender-name`)."""
    if not sender:
        raise ProtocolError(
            ErrorCode.INVALID,
            "this relay has no CAP sender configured: start it with --cap-sender "
            "(cap_sender in the config file) before sending or exporting alerts",
        )
    return cap.Issuer(sender, web_base, sender_name)


def stored_cap(identifier: str, *, current: bool = False) -> Callable[[Session], str | None]:
    """The CAP message `identifier` exactly as it was sent: `A-…` is the first message (the
    Alert), `A-….1` the next... With `current`, `identifier` is an alert id and the answer
    its latest message. None when that version predates stored CAP (migration 0004's
    backfill: render it with `load`). ProtocolError(NOT_FOUND) for an unknown alert or
    message, CONFLICT for a proposed update (not a message of its own)."""

    def query(s: Session) -> str | None:
        alert_id = identifier if current else identifier.partition(".")[0]
        a = _alert_row(s, alert_id)
        if _update_of(a) is not None:
            raise ProtocolError(
                ErrorCode.CONFLICT,
                f"{a.public_id} is a proposed update, not a CAP message: export the alert",
            )
        rows = list(
            s.scalars(
                select(db.AlertVersion)
                .where(db.AlertVersion.alert_id == a.id)
                .order_by(db.AlertVersion.n.desc())
            )
        )
        if rows and current:
            return rows[0].cap_xml
        for v in rows:
            if v.cap_xml is not None and cap.message_identifier(v.cap_xml) == identifier:
                return v.cap_xml
        if rows and all(v.cap_xml is None for v in rows) and identifier == a.public_id:
            return None  # only backfilled versions: the caller renders the current one
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no CAP message {identifier!r}")

    return query


def export_cap(
    identifier: str, fallback: cap.Issuer, *, current: bool = False
) -> Callable[[Session], str]:
    """The stored CAP message `identifier` (see `stored_cap`); a version older than stored
    CAP is rendered now, under `fallback` (the relay's configured issuer)."""

    def query(s: Session) -> str:
        xml = stored_cap(identifier, current=current)(s)
        if xml is not None:
            return xml
        alert, refs = load(identifier.partition(".")[0])(s)
        return to_cap(alert, refs, fallback)

    return query


def export_cap_listed(
    identifier: str, fallback: cap.Issuer, *, current: bool = False
) -> Callable[[Session], tuple[str, list[str]]]:
    """`export_cap`, with the identifiers of every stored message of the alert, oldest
    first (those from before stored CAP are left out: they have no message of their own)."""
    one = export_cap(identifier, fallback, current=current)

    def query(s: Session) -> tuple[str, list[str]]:
        xml = one(s)
        a = _alert_row(s, identifier if current else identifier.partition(".")[0])
        stored = s.scalars(
            select(db.AlertVersion.cap_xml)
            .where(db.AlertVersion.alert_id == a.id, db.AlertVersion.cap_xml.is_not(None))
            .order_by(db.AlertVersion.n)
        )
        ids = [i for i in (cap.message_identifier(x or "") for x in stored) if i is not None]
        return xml, list(dict.fromkeys(ids))

    return query


def _referencing_previous(s: Session, a: db.Alert) -> list[tuple[str, str]]:
    """References for the next message: every earlier one plus the current one."""
    refs = wire.alert_references(a)
    return [*refs, (cap_identifier(a.public_id, refs), cap.cap_datetime(message_sent(s, a)))]


def message_sent(s: Session, a: db.Alert) -> float:
    """When the alert's current CAP message was sent: its latest version's `sent` (an
    approval, update or cancel is a message of its own), while `Alert.sent_at` stays when
    the alert was first sent."""
    s.flush()
    latest = s.scalar(
        select(db.AlertVersion.sent_at)
        .where(db.AlertVersion.alert_id == a.id)
        .order_by(db.AlertVersion.n.desc())
        .limit(1)
    )
    return a.sent_at if latest is None else latest


class PreviewLimiter:
    """Previews (and sends, which reveal a count too) per officer: a token bucket, so an
    honest dispatcher redrawing an area never notices and a bisection script is slowed to
    a crawl. In memory, per relay process: a restart refills every bucket."""

    def __init__(self, burst: int, rate_per_s: float) -> None:
        self.burst = float(max(burst, 1))
        self.rate = max(rate_per_s, 1e-9)
        self._buckets: dict[str, tuple[float, float]] = {}  # officer -> (tokens, at)

    def take(self, officer: str, now: float) -> float | None:
        """Spend one token; None if granted, else the seconds until one is available."""
        tokens, at = self._buckets.get(officer, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[officer] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[officer] = (tokens - 1.0, now)
        return None


def preview_audit(
    actor: Actor, area: m.Area, categories: Sequence[str], shown: str
) -> Callable[[Tx], None]:
    """Audit a preview with the officer's own drawing and the count they were shown (never
    a device position)."""

    def job(tx: Tx) -> None:
        tx.audit(
            actor.username,
            "alert.preview",
            actor.username,
            area=msgspec.to_builtins(area),
            categories=list(categories),
            count=shown,
        )

    return job


#: most entries an `alert.history` answer carries (a long-lived alert updated every few
#: minutes stays far below it; the oldest are kept, with the latest appended last)
MAX_HISTORY = 200


def history(alert_id: str, now: float) -> Callable[[Session], list[m.AlertHistoryEntry]]:
    """An alert's life from the audit log (read by subject), oldest first: sent or sent
    for approval, approved or rejected by whom, updated (or an update proposed and judged),
    cancelled; and expired, which nobody does, from the alert itself. Counts are left out:
    the audit holds exact ones, and an officer sees only coarsened counts."""

    def query(s: Session) -> list[m.AlertHistoryEntry]:
        a = _alert_row(s, alert_id)
        rows = list(
            s.scalars(
                select(db.AuditLog)
                .where(db.AuditLog.subject == a.public_id, db.AuditLog.action.in_(_STEPS))
                .order_by(db.AuditLog.seq)
            )
        )
        proposals = {
            str(d["proposal"])
            for d in (json.loads(r.detail) for r in rows if r.action == "alert.update")
            if "proposal" in d
        }
        if proposals:  # a proposed update's own rejection or withdrawal is audited on it
            rows += s.scalars(
                select(db.AuditLog).where(
                    db.AuditLog.subject.in_(sorted(proposals)),
                    db.AuditLog.action.in_(("alert.reject", "alert.cancel")),
                )
            )
            rows.sort(key=lambda r: r.seq)
        out = [e for e in (_history_entry(r, proposals) for r in rows) if e is not None]
        if shown_expired(a, now):
            out.append(m.AlertHistoryEntry(action="expired", by=None, at=a.expires_at))
        if len(out) > MAX_HISTORY:
            out = [*out[: MAX_HISTORY - 1], out[-1]]
        return out

    return query


#: the audit actions an alert's history shows (`_history_entry`); the rest under its id
#: (every officer's CAP exports, unbounded) are not read at all
_STEPS = ("alert.send", "alert.approve", "alert.reject", "alert.update", "alert.cancel")


def shown_expired(a: db.Alert, now: float) -> bool:
    """Expired by the relay's chore, or past its expiry while still active (the chore runs
    lazily); a proposal spent by its approval is marked expired too, but never was."""
    return (a.state == "expired" and _update_of(a) is None) or (
        a.state == "active" and a.expires_at <= now
    )


def _history_entry(r: db.AuditLog, proposals: set[str]) -> m.AlertHistoryEntry | None:
    detail = json.loads(r.detail)
    on_proposal = r.subject in proposals
    action: m.AlertHistoryAction
    note = ""
    if r.action == "alert.send":
        action = "approval requested" if detail.get("state") == "pending_approval" else "sent"
    elif r.action == "alert.approve":
        action, note = "approved", ("the update" if "update" in detail else "")
    elif r.action == "alert.reject":
        action, note = "rejected", ("the proposed update" if on_proposal else "")
    elif r.action == "alert.update":
        action = "update proposed" if "proposal" in detail else "updated"
        note = "waits for a supervisor's approval" if "proposal" in detail else ""
    elif r.action == "alert.cancel":
        action, note = "cancelled", ("the proposed update, withdrawn" if on_proposal else "")
    else:  # exports and the like are in the audit log, not the alert's story
        return None
    return m.AlertHistoryEntry(action=action, by=r.actor, at=r.at, note=note)
