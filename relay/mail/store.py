"""The database side of email alerts: jobs for the writer (`Tx`) and reads (`Session`).

The outbox is written in the transaction of whatever makes an email due: the sign-up for
a confirmation, the alert version for an alert, update or cancel (`enqueue_alert`, called
by `alerts._record_version`). So an alert committed is an email queued, and nothing is
sent before its row is durable. A sender claims due rows with a lease, and marks each one
sent only after the SMTP server accepted it.
"""

from __future__ import annotations

import dataclasses
import math
import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import msgspec
import numpy as np
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from backend_client import messages as m
from relay import targeting
from relay.db import models as db
from relay.db.uow import Tx
from relay.mail import keys as k
from relay.mail.signup import MAX_RADIUS_M, SignUp

_M_PER_DEG = math.pi * targeting.EARTH_RADIUS_M / 180.0


# ----------------------------------------------------------------------- subscriptions


def subscribe(
    mk: k.MailKeys, sign: SignUp, confirm_ttl_s: float, resend_after_s: float
) -> Callable[[Tx], bool]:
    """A pending subscription and its confirmation email. Signing up again replaces a
    pending one (the newest link wins) but never touches a confirmed one until the new one
    is confirmed, so nobody can switch off someone else's alerts by signing them up. At
    most one confirmation per address per `resend_after_s`: True when one was queued."""
    lookup = mk.lookup_hash(sign.normalised)

    def job(tx: Tx) -> bool:
        s = tx.s
        pending = list(
            s.scalars(
                select(db.EmailSubscription).where(
                    db.EmailSubscription.address_hmac == lookup,
                    db.EmailSubscription.state == "pending",
                )
            )
        )
        if any(p.created_at > tx.now - resend_after_s for p in pending):
            return False
        for p in pending:
            _erase(s, p, "lapsed")
        token, salt = k.new_token(), k.new_salt()
        sub = db.EmailSubscription(
            state="pending",
            address_hmac=lookup,
            address_sealed=mk.seal(sign.address, lookup),
            lat=sign.lat,
            lon=sign.lon,
            radius_m=sign.radius_m,
            category_mask=sign.mask,
            confirm_hash=k.token_hash(token),
            confirm_expires_at=tx.now + confirm_ttl_s,
            unsub_salt=salt,
            unsub_hash=k.token_hash(mk.unsubscribe_token(salt)),
            created_at=tx.now,
        )
        s.add(sub)
        s.flush()
        s.add(
            db.EmailOutbox(
                subscription_id=sub.id,
                kind="confirm",
                message_id=f"confirm.{secrets.token_hex(12)}",
                state="queued",
                attempts=0,
                next_attempt_at=tx.now,
                secret_sealed=mk.seal_token(token),
                created_at=tx.now,
            )
        )
        tx.audit("email", "email.subscribe", f"S{sub.id}")  # no address, no place
        return True

    return job


def confirm(token: str) -> Callable[[Tx], bool]:
    """Confirm a pending subscription; it replaces any earlier one of the same address."""
    digest = k.token_hash(token)

    def job(tx: Tx) -> bool:
        s = tx.s
        sub = s.scalar(
            select(db.EmailSubscription).where(
                db.EmailSubscription.confirm_hash == digest,
                db.EmailSubscription.state == "pending",
            )
        )
        if sub is None or (sub.confirm_expires_at or 0.0) <= tx.now:
            return False
        for old in s.scalars(
            select(db.EmailSubscription).where(
                db.EmailSubscription.address_hmac == sub.address_hmac,
                db.EmailSubscription.id != sub.id,
            )
        ):
            _erase(s, old, "replaced")
        sub.state = "confirmed"
        sub.confirm_hash = None
        sub.confirm_expires_at = None
        sub.confirmed_at = tx.now
        tx.audit("email", "email.confirm", f"S{sub.id}")
        return True

    return job


def unsubscribe(token: str) -> Callable[[Tx], bool]:
    """Erase the subscription the token names (address, place, unsent emails). True for a
    token that names one, unsubscribed already or not (one-click clients retry)."""
    digest = k.token_hash(token)

    def job(tx: Tx) -> bool:
        sub = tx.s.scalar(
            select(db.EmailSubscription).where(db.EmailSubscription.unsub_hash == digest)
        )
        if sub is None:
            return False
        if sub.address_sealed is not None:
            _erase(tx.s, sub, "unsubscribed")
            tx.audit("email", "email.unsubscribe", f"S{sub.id}")
        return True

    return job


def lapse_unconfirmed() -> Callable[[Tx], int]:
    """Sign-ups never confirmed in time: forget the address and place."""

    def job(tx: Tx) -> int:
        due = list(
            tx.s.scalars(
                select(db.EmailSubscription).where(
                    db.EmailSubscription.state == "pending",
                    db.EmailSubscription.confirm_expires_at <= tx.now,
                )
            )
        )
        for sub in due:
            _erase(tx.s, sub, "lapsed")
        return len(due)

    return job


def _erase(s: Session, sub: db.EmailSubscription, state: str) -> None:
    sub.state = state
    sub.address_hmac = sub.address_sealed = sub.lat = sub.lon = None
    sub.confirm_hash = sub.confirm_expires_at = None
    s.execute(
        update(db.EmailOutbox)
        .where(db.EmailOutbox.subscription_id == sub.id, db.EmailOutbox.state == "queued")
        .values(state="dropped", secret_sealed=None, lease_owner=None, lease_until=None)
    )


# ----------------------------------------------------------------------- matching


def _lat_band(area: targeting.PreparedArea) -> tuple[float, float]:
    reach = MAX_RADIUS_M / _M_PER_DEG + 1e-6
    low, high = area.lat_band
    return low - reach, high + reach


def _candidates(
    s: Session, area: targeting.PreparedArea, mask: int
) -> list[tuple[int, float, float, float]]:
    lo, hi = _lat_band(area)
    sub = db.EmailSubscription
    rows = s.execute(
        select(sub.id, sub.lat, sub.lon, sub.radius_m).where(
            sub.state == "confirmed",
            sub.category_mask.op("&")(mask) != 0,
            sub.lat >= lo,
            sub.lat <= hi,
        )
    ).all()
    return [(int(a), float(b or 0.0), float(c or 0.0), float(d)) for a, b, c, d in rows]


def _reached(
    area: targeting.PreparedArea, rows: Sequence[tuple[int, float, float, float]], snap: bool
) -> list[int]:
    """Subscriptions whose circle (place, radius) the area reaches: boundary included."""
    if not rows:
        return []
    cols = list(zip(*rows, strict=True))
    lats = np.array(cols[1], dtype=np.float64)
    lons = np.array(cols[2], dtype=np.float64)
    if snap:
        lats, lons = targeting.snap(lats, lons)
    near = targeting.distances_m(area, lats, lons) <= np.array(cols[3], dtype=np.float64)
    return [int(i) for i, hit in zip(cols[0], near.tolist(), strict=True) if hit]


def count_matching(area: targeting.AnyArea, mask: int) -> Callable[[Session], int]:
    """Confirmed subscriptions an alert to `area` would email, each place taken at the
    centre of its ~100 m cell as for phones (`DeviceIndex.coarse_count`)."""
    prepared = targeting.prepare_area(area)

    def query(s: Session) -> int:
        return len(_reached(prepared, _candidates(s, prepared, mask), snap=True))

    return query


def enqueue_alert(tx: Tx, a: db.Alert, n: int, area: targeting.PreparedArea | None = None) -> int:
    """Queue version `n` of alert `a` for its email recipients, in the version's own
    transaction: an Alert or Update that is active goes to the confirmed subscriptions it
    reaches now plus those emailed an earlier version (as phones get an update); a Cancel
    goes to those emailed before. `area` is the version's area as its request checked it
    (None: checked here). Returns how many were queued."""
    s = tx.s
    emailed = set(
        s.scalars(
            select(db.EmailOutbox.subscription_id)
            .join(db.EmailSubscription, db.EmailSubscription.id == db.EmailOutbox.subscription_id)
            .where(
                db.EmailOutbox.alert_id == a.id,
                db.EmailOutbox.kind == "alert",
                db.EmailOutbox.state != "dropped",
                db.EmailSubscription.state == "confirmed",
            )
        )
    )
    if a.state == "active" and a.msg_type in ("Alert", "Update"):
        info = msgspec.json.decode(a.info_json, type=m.AlertInfo)
        mask = targeting.category_mask(info.categories)
        where = targeting.prepare_area(info.area if area is None else area)
        to = emailed | set(_reached(where, _candidates(s, where, mask), snap=False))
    elif a.state == "cancelled" and a.msg_type == "Cancel":
        to = emailed
    else:
        return 0
    if not to:
        return 0
    s.execute(
        insert(db.EmailOutbox),
        [
            {
                "subscription_id": sid,
                "kind": "alert",
                "alert_id": a.id,
                "version_n": n,
                "message_id": f"{a.public_id}.{n}.{secrets.token_hex(8)}",
                "state": "queued",
                "attempts": 0,
                "next_attempt_at": tx.now,
                "created_at": tx.now,
            }
            for sid in sorted(to)
        ],
    )
    a.emails = (a.emails or 0) + len(to)
    return len(to)


# ----------------------------------------------------------------------- the sender's side


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Everything one email needs, read under its lease (plain data, no ORM)."""

    id: int
    kind: Literal["confirm", "alert"]
    message_id: str
    to: str
    unsubscribe_token: str
    radius_m: float
    categories: tuple[str, ...]
    confirm_token: str | None = None
    alert_pk: int | None = None
    alert_id: str = ""
    msg_type: str = ""
    info: m.AlertInfo | None = None
    sent_at: float = 0.0
    #: metres from the subscriber's place to the alert's area (0: inside)
    distance_m: float = 0.0
    version_n: int = 0
    subscription_id: int = 0


def _with_distances(
    out: list[Outgoing],
    subs: dict[int, db.EmailSubscription],
    versions: dict[tuple[int, int], tuple[m.AlertInfo, str, db.AlertVersion]],
) -> list[Outgoing]:
    """Each alert email's distance from the place to the area: one vectorised call per
    alert version in the batch, not one geometry per email."""
    by_version: dict[tuple[int, int], list[int]] = {}
    for i, o in enumerate(out):
        if o.kind == "alert" and o.alert_pk is not None:
            by_version.setdefault((o.alert_pk, o.version_n), []).append(i)
    for key, idx in by_version.items():
        places = [subs[out[i].subscription_id] for i in idx]
        lats = np.array([p.lat or 0.0 for p in places], dtype=np.float64)
        lons = np.array([p.lon or 0.0 for p in places], dtype=np.float64)
        d = targeting.distances_m(versions[key][0].area, lats, lons).tolist()
        for i, dist in zip(idx, d, strict=True):
            out[i] = dataclasses.replace(out[i], distance_m=float(dist))
    return out


def release_leases(owner: str) -> Callable[[Tx], int]:
    """At start-up: rows this node had claimed when it stopped are due again now."""

    def job(tx: Tx) -> int:
        res = tx.s.execute(
            update(db.EmailOutbox)
            .where(db.EmailOutbox.lease_owner == owner, db.EmailOutbox.state == "queued")
            .values(lease_owner=None, lease_until=None)
        )
        return int(getattr(res, "rowcount", 0) or 0)

    return job


def renew(owner: str, ids: Sequence[int], lease_s: float) -> Callable[[Tx], set[int]]:
    """Extend this node's lease on the rows of a batch it is still sending. Returns the
    ids it still holds: a row marked since, or taken by another node after the lease
    lapsed anyway (a stalled writer), is not this node's to send any more."""

    def job(tx: Tx) -> set[int]:
        box = db.EmailOutbox
        held = set(
            tx.s.scalars(
                select(box.id).where(
                    box.id.in_(list(ids)), box.lease_owner == owner, box.state == "queued"
                )
            )
        )
        if held:
            tx.s.execute(
                update(box).where(box.id.in_(list(held))).values(lease_until=tx.now + lease_s)
            )
        return held

    return job


def claim(mk: k.MailKeys, owner: str, limit: int, lease_s: float) -> Callable[[Tx], list[Outgoing]]:
    """Lease up to `limit` due emails to this node. An email that became moot (its alert
    expired, its subscription was erased or bounced) is dropped here, unsent."""

    def job(tx: Tx) -> list[Outgoing]:
        s, now = tx.s, tx.now
        box = db.EmailOutbox
        rows = list(
            s.scalars(
                select(box)
                .where(
                    box.state == "queued",
                    box.next_attempt_at <= now,
                    or_(box.lease_until.is_(None), box.lease_until < now),
                )
                .order_by(box.next_attempt_at, box.id)
                .limit(limit)
            )
        )
        out: list[Outgoing] = []
        versions: dict[tuple[int, int], tuple[m.AlertInfo, str, db.AlertVersion]] = {}
        subs = {
            x.id: x
            for x in s.scalars(
                select(db.EmailSubscription).where(
                    db.EmailSubscription.id.in_({r.subscription_id for r in rows})
                )
            )
        }
        for row in rows:
            sub = subs.get(row.subscription_id)
            item = _outgoing(s, mk, row, sub, versions, now)
            if item is None:
                row.state = "dropped"
                row.secret_sealed = None
                if row.alert_id is not None:
                    _count(s, row.alert_id, failed=1)
                continue
            row.lease_owner, row.lease_until = owner, now + lease_s
            out.append(item)
        return _with_distances(out, subs, versions)

    return job


def _outgoing(
    s: Session,
    mk: k.MailKeys,
    row: db.EmailOutbox,
    sub: db.EmailSubscription | None,
    versions: dict[tuple[int, int], tuple[m.AlertInfo, str, db.AlertVersion]],
    now: float,
) -> Outgoing | None:
    if sub is None or sub.address_sealed is None or sub.address_hmac is None:
        return None
    wanted = "pending" if row.kind == "confirm" else "confirmed"
    if sub.state != wanted:
        return None
    to = mk.open(sub.address_sealed, sub.address_hmac)
    common = {
        "id": row.id,
        "message_id": row.message_id,
        "to": to,
        "unsubscribe_token": mk.unsubscribe_token(sub.unsub_salt),
        "radius_m": sub.radius_m,
        "categories": tuple(c for i, c in enumerate(m.CATEGORIES) if sub.category_mask >> i & 1),
    }
    if row.kind == "confirm":
        if row.secret_sealed is None or (sub.confirm_expires_at or 0.0) <= now:
            return None
        return Outgoing(kind="confirm", confirm_token=mk.open_token(row.secret_sealed), **common)  # type: ignore[arg-type]
    assert row.alert_id is not None and row.version_n is not None
    key = (row.alert_id, row.version_n)
    if key not in versions:
        v = s.scalar(
            select(db.AlertVersion).where(
                db.AlertVersion.alert_id == row.alert_id, db.AlertVersion.n == row.version_n
            )
        )
        a = s.get(db.Alert, row.alert_id)
        if v is None or a is None:
            return None
        versions[key] = (msgspec.json.decode(v.info_json, type=m.AlertInfo), a.public_id, v)
    info, public_id, v = versions[key]
    if info.expires_at <= now:
        return None
    return Outgoing(
        kind="alert",
        alert_pk=row.alert_id,
        alert_id=public_id,
        msg_type=v.msg_type,
        info=info,
        sent_at=v.sent_at,
        version_n=row.version_n,
        subscription_id=sub.id,
        **common,  # type: ignore[arg-type]
    )


#: what became of one attempt: sent, retry (transient), failed (permanent), bounced
#: (the server refused the recipient: the subscription is stopped)
Outcome = Literal["sent", "retry", "failed", "bounced"]


@dataclass(frozen=True, slots=True)
class Result:
    id: int
    outcome: Outcome
    error: str = ""


def mark(
    results: Sequence[Result], backoff_s: float, backoff_max_s: float, max_attempts: int
) -> Callable[[Tx], tuple[list[int], int]]:
    """Record attempts. Returns the alerts whose email counts moved, and how many retries
    ran out (counted failed)."""

    def job(tx: Tx) -> tuple[list[int], int]:
        s, now = tx.s, tx.now
        moved: set[int] = set()
        gave_up = 0
        for r in results:
            row = s.get(db.EmailOutbox, r.id)
            if row is None or row.state != "queued":
                continue
            row.attempts += 1
            row.lease_owner = row.lease_until = None
            outcome = r.outcome
            if outcome == "retry" and row.attempts >= max_attempts:
                outcome, gave_up = "failed", gave_up + 1
            if outcome == "sent":
                row.state, row.sent_at, row.secret_sealed, row.last_error = "sent", now, None, None
                if row.alert_id is not None:
                    _count(s, row.alert_id, sent=1)
                    moved.add(row.alert_id)
                continue
            row.last_error = r.error[:200]
            if outcome == "retry":
                delay = min(backoff_max_s, backoff_s * 2 ** (row.attempts - 1))
                row.next_attempt_at = now + delay * random.uniform(0.8, 1.2)
                continue
            undelivered(s, row, bounced=outcome == "bounced")
            if row.alert_id is not None:
                moved.add(row.alert_id)
        return sorted(moved), gave_up

    return job


def undelivered(s: Session, row: db.EmailOutbox, *, bounced: bool) -> None:
    """The email will not be delivered: it counts failed for its alert (one the server had
    accepted, so counted sent, moves from sent to failed). A bounce also stops the
    subscription, erased as an unsubscribe is (state `bounced`). The one path for both a
    refusal in the SMTP dialogue (`mark`) and a DSN that comes back later (`bounces`)."""
    was_sent = row.state == "sent"
    row.state, row.secret_sealed = "failed", None
    if row.alert_id is not None:
        _count(s, row.alert_id, sent=-1 if was_sent else 0, failed=1)
    if bounced:
        sub = s.get(db.EmailSubscription, row.subscription_id)
        if sub is not None and sub.state in ("confirmed", "pending"):
            _erase(s, sub, "bounced")


def _count(s: Session, alert_pk: int, sent: int = 0, failed: int = 0) -> None:
    s.execute(
        update(db.Alert)
        .where(db.Alert.id == alert_pk)
        .values(
            emails_sent=db.Alert.emails_sent + sent, emails_failed=db.Alert.emails_failed + failed
        )
    )


def next_due(s: Session, now: float) -> float | None:
    """When a queued row can next be claimed: its next attempt, or, while another sender
    holds its lease, when that lease ends (so an idle node does not spin on a row that a
    busy one is still sending)."""
    box = db.EmailOutbox
    free = s.scalar(
        select(func.min(box.next_attempt_at)).where(
            box.state == "queued", or_(box.lease_until.is_(None), box.lease_until < now)
        )
    )
    leased = s.scalar(
        select(func.min(box.lease_until)).where(box.state == "queued", box.lease_until >= now)
    )
    found = [t for t in (free, leased) if t is not None]
    return min(found) if found else None


def queued_count(s: Session) -> int:
    return int(s.scalar(select(func.count()).where(db.EmailOutbox.state == "queued")) or 0)
