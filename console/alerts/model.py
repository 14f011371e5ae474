"""The alerts the console knows about, as plain data (no Qt), and the rules for acting on them.

`AlertBook` keeps alerts in a stable order (newest first by when they were first seen, so a
row does not jump when its counts climb) and says where an `alert.changed` landed, which is
all a Qt table needs to emit the right signals. The permission helpers read the relay's own
rules (`backend_client.rules`) only to grey out buttons: the relay decides, per message.
A refusal from the relay is put in the dispatcher's words here too.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from dataclasses import dataclass

from backend_client import cap_profile, rules
from backend_client import messages as m
from console.alerts.area import describe_area
from console.common.exercise import alert_marking, alert_rehearsal

STATE_LABELS = {
    "pending_approval": "Awaiting approval",
    "active": "Active",
    "cancelled": "Cancelled",
    "expired": "Expired",
    "rejected": "Rejected",
}


#: what the relay's error codes mean for an alert action, in a dispatcher's words
_REFUSALS = {
    "forbidden": "You are not allowed to do that: approving needs a supervisor other than "
    "the sender, and some actions need a supervisor.",
    "conflict": "The alert has changed in the meantime (it may already be approved, "
    "cancelled or expired); check its state and try again if needed.",
    "not_found": "The relay does not know this alert any more.",
    "invalid_geometry": "The relay cannot use the drawn area (it may cross itself or be too "
    "large); draw it again.",
    "invalid": "The relay refused a value in the alert (often an expiry time that has "
    "passed); open it again and check the fields.",
    "needs_approval": "This alert needs a supervisor's approval first.",
    "token_expired": "Your session has expired; log in again and retry.",
}
_ACTIONS = {
    "alert.send": "Sending the alert",
    "alert.approve": "The approval",
    "alert.update": "The update",
    "alert.cancel": "Cancelling the alert",
}


def refusal_text(entry_type: str, error: m.Error) -> str:
    what = _ACTIONS.get(entry_type, "The action")
    why = _REFUSALS.get(error.code, error.message)
    return f"{what} was refused. {why}"


def phones(recipients: int, fewer_than: int | None) -> str:
    """ "312 phones", "1 phone", or "fewer than 5 phones": the relay never gives a count
    below its minimum (a count of one would locate a phone), for previews and alerts."""
    if fewer_than is not None:
        return f"fewer than {fewer_than} phones"
    return f"{recipients:,} phone{'' if recipients == 1 else 's'}"


def reach_text(count: m.AlertCount) -> str:
    """What the composer says a preview reaches."""
    return f"Reaches {phones(count.recipients, count.fewer_than)}"


def email_reach_text(count: m.AlertCount) -> str:
    """What the composer says a preview reaches by email, apart from phones (coarsened
    the same way); `emails` None: the relay has no SMTP server."""
    if count.emails is None:
        return "Email alerts off (this relay has no mail server set)"
    if count.emails_fewer_than is not None:
        return f"and fewer than {count.emails_fewer_than} email subscribers"
    return f"and {count.emails} email subscriber{'' if count.emails == 1 else 's'}"


def emails_text(row: AlertRow) -> str:
    """The alert list's Emails cell: accepted by the mail server of those queued, and
    the failures. "–" when none were queued or the relay withholds a small count."""
    if row.emails_fewer_than is not None or row.emails == 0:
        return "–"
    failed = f", {row.emails_failed} failed" if row.emails_failed else ""
    return f"{row.emails_sent} / {row.emails}{failed}"


def emails_tooltip(row: AlertRow) -> str:
    if row.emails_fewer_than is not None:
        return (
            f"Emailed to fewer than {row.emails_fewer_than} subscribers: the relay does not "
            "count so few"
        )
    if row.emails == 0:
        return "No emails: nobody signed up for email in this area, or email alerts are off"
    return (
        f"{row.emails_sent} of {row.emails} emails accepted by the mail server and not "
        f"bounced since, {row.emails_failed} failed (refused, bounced at once or later, or "
        "given up after retries)"
    )


def when(ts: float, now: float) -> str:
    """Clock time today, else day and time (local time)."""
    t, today = time.localtime(ts), time.localtime(now)
    if t[:3] == today[:3]:
        return time.strftime("%H:%M", t)
    return time.strftime("%d %b %H:%M", t).lstrip("0")


def fraction(part: int, whole: int) -> float:
    """Share of `whole` reached, clamped to 0..1 (0 when nobody was targeted)."""
    if whole <= 0:
        return 0.0
    return min(1.0, max(0.0, part / whole))


def shown_state(alert: m.Alert, now: float) -> str:
    """The relay marks expiry lazily; an active alert past `expires_at` is shown expired."""
    if alert.state == "active" and alert.info.expires_at <= now:
        return "expired"
    return alert.state


def can_approve(alert: m.Alert, role: str, username: str) -> bool:
    """Two-person rule: a supervising role, not the sender, on a pending alert."""
    return alert.state == "pending_approval" and rules.may_approve(role, username, alert.sender)


def review_lines(alert: m.Alert, now: float) -> list[tuple[str, str]]:
    """What an approver reads before Approve is offered: the whole message, who it reaches,
    until when, and where (the area itself is put on the map beside it)."""
    info = alert.info
    return [
        ("Headline", info.headline),
        ("Description", info.description or "(none)"),
        ("Instruction", info.instruction or "(none)"),
        ("Categories", ", ".join(rules.category_label(c) for c in info.categories)),
        ("Area", f"{info.area_desc}: {describe_area(info.area)}"),
        ("Reaches", phones(alert.recipients, alert.fewer_than)),
        ("Expires", when(info.expires_at, now)),
        ("Sent by", alert.sender),
    ]


def ready_to_approve(
    alert: m.Alert, role: str, username: str, reviewed: frozenset[str] | set[str]
) -> bool:
    """Approve is offered only once the approver has had the alert's text and area in front
    of them (`reviewed`: alert ids shown in the review panel and on the map)."""
    return can_approve(alert, role, username) and alert.alert_id in reviewed


def approval_waiting_text(alert: m.Alert) -> str:
    return (
        f"Approval waiting: “{alert.info.headline}” from {alert.sender} reaches "
        f"{phones(alert.recipients, alert.fewer_than)}. Open Alerts to review it."
    )


def can_update(alert: m.Alert, now: float) -> bool:
    return shown_state(alert, now) == "active"


def can_cancel(alert: m.Alert, now: float) -> bool:
    return shown_state(alert, now) in ("active", "pending_approval")


@dataclass(frozen=True)
class AlertRow:
    alert_id: str
    headline: str
    state: str  # as shown (see shown_state)
    state_label: str
    msg_type: str
    sender: str
    approved_by: str | None
    sent_at: float
    expires_at: float
    recipients: int
    delivered: int
    read: int
    delivered_fraction: float
    read_fraction: float
    fewer_than: int | None = None  # counts withheld by the relay (see `phones`)
    emails: int = 0  # queued, all versions
    emails_sent: int = 0
    emails_failed: int = 0
    emails_fewer_than: int | None = None  # email counts withheld, as `fewer_than`
    #: "EXERCISE" / "TEST" for an alert that is not `Actual` (a rehearsal), else None
    rehearsal: str | None = None
    #: "EXERCISE — pilot preston-2017", "TEST", or None (see `console.common.exercise`)
    marking: str | None = None

    @staticmethod
    def of(alert: m.Alert, now: float) -> AlertRow:
        state = shown_state(alert, now)
        return AlertRow(
            alert_id=alert.alert_id,
            headline=alert.info.headline,
            state=state,
            state_label=STATE_LABELS.get(state, state),
            msg_type=alert.msg_type,
            sender=alert.sender,
            approved_by=alert.approved_by,
            sent_at=alert.sent_at,
            expires_at=alert.info.expires_at,
            recipients=alert.recipients,
            delivered=alert.delivered,
            read=alert.read,
            delivered_fraction=fraction(alert.delivered, alert.recipients),
            read_fraction=fraction(alert.read, alert.recipients),
            fewer_than=alert.fewer_than,
            emails=alert.emails,
            emails_sent=alert.emails_sent,
            emails_failed=alert.emails_failed,
            emails_fewer_than=alert.emails_fewer_than,
            rehearsal=alert_rehearsal(alert.info),
            marking=alert_marking(alert.info),
        )


class AlertBook:
    """Alerts by id, ordered newest first by the time each was first seen."""

    def __init__(self) -> None:
        self._alerts: dict[str, m.Alert] = {}
        self._keys: list[tuple[float, str]] = []  # (-first sent_at, alert_id), sorted

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._alerts

    def place(self, alert: m.Alert) -> tuple[int, bool]:
        """Where `upsert` would put the alert, and whether that row would be new."""
        if alert.alert_id in self._alerts:
            return self.index(alert.alert_id), False
        return bisect.bisect_left(self._keys, (-alert.sent_at, alert.alert_id)), True

    def upsert(self, alert: m.Alert) -> tuple[int, bool]:
        """Store the alert; returns its row and whether the row is new."""
        if alert.alert_id in self._alerts:
            self._alerts[alert.alert_id] = alert
            return self.index(alert.alert_id), False
        key = (-alert.sent_at, alert.alert_id)
        row = bisect.bisect_left(self._keys, key)
        self._keys.insert(row, key)
        self._alerts[alert.alert_id] = alert
        return row, True

    def index(self, alert_id: str) -> int:
        for i, (_, aid) in enumerate(self._keys):
            if aid == alert_id:
                return i
        raise KeyError(alert_id)

    def at(self, row: int) -> m.Alert:
        return self._alerts[self._keys[row][1]]

    def get(self, alert_id: str) -> m.Alert | None:
        return self._alerts.get(alert_id)

    def row(self, row: int, now: float | None = None) -> AlertRow:
        return AlertRow.of(self.at(row), time.time() if now is None else now)

    def rows(self, now: float | None = None) -> list[AlertRow]:
        t = time.time() if now is None else now
        return [AlertRow.of(self._alerts[aid], t) for _, aid in self._keys]


# ---------------------------------------------------------------- the send preview

#: from this many phones a send is "large" even below the approval threshold: the preview
#: warns and asks for a deliberate confirmation
LARGE_REACH = 1000


def in_words(seconds: float) -> str:
    """A duration from now as a dispatcher says it: "in 45 min", "in 2 h", "in 2 h 30 min",
    "in 3 days"; "already past" when it is not in the future."""
    if seconds <= 0:
        return "already past"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"in {max(minutes, 1)} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"in {hours} h" + (f" {rest} min" if rest else "")
    return f"in {round(hours / 24)} days"


def expiry_text(expires_at: float, now: float) -> str:
    """ "Tue 2 Dec 2026 14:30 (in 2 h)": the absolute time and how long from now."""
    absolute = time.strftime("%a %d %b %Y %H:%M", time.localtime(expires_at))
    return f"{absolute.replace(' 0', ' ', 1)} ({in_words(expires_at - now)})"


def reach_warning(count: m.AlertCount, update: bool = False) -> str | None:
    """The preview's loud warning, or None: an alert that reaches no phone now (a send that
    does nothing is a mistake more often than not), or a large one (`LARGE_REACH` phones,
    or above the relay's approval threshold)."""
    reached = count.recipients if count.fewer_than is None else None
    if reached == 0:
        if update:
            return "This update reaches no phone in the new area now (only those it reached)."
        return "This alert will reach no phone now."
    if reached is not None and (reached >= LARGE_REACH or count.approval_required):
        return f"This will reach {phones(reached, None)}."
    if count.approval_required:  # a coarsened count above a threshold of 0 or so
        return f"This will reach {phones(count.recipients, count.fewer_than)}."
    return None


def approval_words(count: m.AlertCount | None) -> str:
    if count is None:
        return "Unknown until the relay counts the phones"
    if count.approval_required:
        return "Yes: a supervisor other than you must approve it before it goes out"
    return "No: it goes out as soon as you send it"


def status_words(info: m.AlertInfo) -> str:
    if info.status == "Actual":
        return "Actual (a real alert, to the public)"
    if info.status == "Exercise":
        pilot = f" of pilot {info.pilot_id}" if info.pilot_id else ""
        return f"Exercise{pilot} (its participants only)"
    return f"{info.status} (not a real incident)"


def area_words(info: m.AlertInfo) -> str:
    """The area's description and, when the officer wrote their own, its shape too."""
    shape = describe_area(info.area)
    return shape if info.area_desc in ("", shape) else f"{info.area_desc}: {shape}"


def categories_words(categories: Sequence[str]) -> str:
    return ", ".join(rules.category_label(c) for c in categories) or "(none)"


def preview_lines(
    info: m.AlertInfo, count: m.AlertCount | None, now: float, web: bool = True
) -> list[tuple[str, str]]:
    """What the send preview shows, caption and plain text, in reading order."""
    reach = "Counting…"
    if count is not None:
        reach = phones(count.recipients, count.fewer_than)
        if count.emails is not None:
            reach += " " + email_reach_text(count)
    lines = [
        ("Headline", info.headline),
        ("Description", info.description or "(none)"),
        ("Instruction", info.instruction or "(none)"),
    ]
    for t in info.translations:  # each language as it will go out, after the first
        lines += [
            (f"Headline ({t.language})", t.headline),
            (f"Description ({t.language})", t.description or "(none)"),
            (f"Instruction ({t.language})", t.instruction or "(none)"),
        ]
    return lines + [
        ("Response", response_words(info.response_type)),
        ("Area", area_words(info)),
        ("Categories", categories_words(info.categories)),
        ("Expires", expiry_text(info.expires_at, now)),
        ("Status", status_words(info)),
        ("Incident", info.incident_ref or "(none)"),
        ("Reaches", reach),
        ("Approval", approval_words(count)),
        ("Google profile", profile_words(info, now, web)),
    ]


#: CAP 1.2 `responseType` in a dispatcher's words (what the alert asks people to do)
RESPONSE_WORDS = {
    "Shelter": "Shelter: take shelter in place",
    "Evacuate": "Evacuate: leave the area",
    "Prepare": "Prepare: make preparations",
    "Execute": "Execute: do what the instruction says",
    "Avoid": "Avoid: keep away from the area",
    "Monitor": "Monitor: keep an eye on news and updates",
    "Assess": "Assess: weigh up the information",
    "AllClear": "All clear: the danger has passed",
    "None": "None: no action needed",
}


def response_words(response_type: str) -> str:
    return RESPONSE_WORDS.get(response_type, response_type)


def profile_words(info: m.AlertInfo, now: float, web: bool = True) -> str:
    """What Google Public Alerts' CAP profile would say of `info` (`cap_profile.check`);
    `web`: the relay writes `<web>` (AuthOk.cap_web)."""
    problems = cap_profile.check(info, web=web, now=now)
    return cap_profile.summary(problems) if problems else "Meets it"


def message_choices(identifiers: Sequence[str]) -> dict[str, str]:
    """An alert's CAP messages (identifiers oldest first, as `alert.cap` lists them) as
    choices, newest first: label -> identifier."""
    out: dict[str, str] = {}
    last = len(identifiers) - 1
    for n, ident in reversed(list(enumerate(identifiers))):
        if n == last:
            label = f"{ident}: the current message"
        elif n == 0:
            label = f"{ident}: the original Alert"
        else:
            label = f"{ident}: an earlier message"
        out[label] = ident
    return out


# ---------------------------------------------------------------- history


def history_lines(entries: Sequence[m.AlertHistoryEntry], now: float) -> list[str]:
    """ "14:02  approved by sam", one line per step, oldest first (times as in the list)."""
    out = []
    for e in entries:
        who = f" by {e.by}" if e.by else ""
        note = f" ({e.note})" if e.note else ""
        action = e.action[0].upper() + e.action[1:]
        out.append(f"{when(e.at, now)}  {action}{who}{note}")
    return out
