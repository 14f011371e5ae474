"""What the status bar says, worked out without Qt: the link's state, queued actions and
banners in a dispatcher's words.

Reasons and refusals come from the network, so a tooltip (which Qt renders as HTML when
it looks like HTML) gets them escaped.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Iterable

from backend_client import messages as m
from backend_client import rules
from backend_client.state import ConnectionStatus, State

#: longest network text a tooltip shows
TIP_CHARS = 2000


def plain_tip(text: str) -> str:
    """Qt renders a tooltip that looks like HTML; reasons and refusals come from the network."""
    return f"<qt>{html.escape(text[:TIP_CHARS], quote=False)}</qt>"


def actions_text(n: int) -> str:
    return f"{n} action queued" if n == 1 else f"{n} actions queued"


def queued_text(n: int) -> str:
    return actions_text(n) if n else "Outbox empty"


def connection_text(status: ConnectionStatus, now: float | None = None) -> str:
    """What the link is doing, as a dispatcher would say it."""
    now = time.time() if now is None else now
    state = status.state
    if state == State.LIVE:
        return "Live"
    if state == State.CONNECTING:
        return "Connecting…"
    if state == State.AUTHENTICATING:
        return "Signing in…"
    if state == State.BACKING_OFF:
        if status.next_attempt_at is None:
            return "Reconnecting…"
        left = math.ceil(status.next_attempt_at - now)
        return f"Reconnecting in {left} s" if left > 0 else "Reconnecting…"
    if state == State.FATAL:
        return f"Connection failed: {status.reason or 'see the log'}"
    return f"Offline — {actions_text(status.queued)}" if status.queued else "Offline"


def rtt_text(status: ConnectionStatus) -> str:
    if status.state == State.LIVE and status.rtt_ms is not None:
        return f"RTT {status.rtt_ms:.0f} ms"
    return "RTT —"


def action_name(message: m.Msg) -> str:
    """The officer's name for an outbox action, for "… refused" banners."""
    if isinstance(message, m.ReportClaim):
        return "Claim"
    if isinstance(message, m.ReportSetStatus):
        return {"closed": "Close", "in_progress": "In progress"}.get(
            message.status, "Status change"
        )
    if isinstance(message, m.ReportAssign):
        return "Assign"
    if isinstance(message, m.ReportSetPriority):
        return "Priority change"
    return type(message).__name__


def refusal_text(message: m.Msg, reason: str) -> str:
    return f"{action_name(message)} refused: {reason}"


def high_priority_text(report: m.Report) -> str:
    """The banner for a high-priority report: its category (the shared label), id and the
    first line of what the citizen wrote."""
    first = report.text.split("\n", 1)[0][:120]
    label = rules.category_label(report.category)
    return f"HIGH PRIORITY {label} report {report.report_id}: {first}"


# ---------------------------------------------------------------- attention


class HighQueue:
    """HIGH reports this officer has not acknowledged yet, in arrival order.

    A report joins when it arrives HIGH and open and this officer has not opened it; it
    leaves when the officer acknowledges it, opens it, or it stops being HIGH or closes.
    The banner names the newest and a click opens that one: the count says more wait.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, m.Report] = {}
        #: acknowledged or opened this sign-in: never queued again (a replay of its
        #: later changes is not news)
        self._done: set[str] = set()

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, report_id: object) -> bool:
        return report_id in self._waiting

    @staticmethod
    def alarming(report: m.Report) -> bool:
        return report.priority == "high" and report.status != "closed"

    def offer(self, report: m.Report) -> bool:
        """A HIGH report arrived; True if it joined the queue."""
        if (
            not self.alarming(report)
            or report.report_id in self._waiting
            or report.report_id in self._done
        ):
            return False
        self._waiting[report.report_id] = report
        return True

    def changed(self, report: m.Report) -> bool:
        """A report changed on the relay; True if the queue changed (it left, or the newest
        one's text is now different)."""
        if report.report_id not in self._waiting:
            return False
        if not self.alarming(report):
            del self._waiting[report.report_id]
            return True
        self._waiting[report.report_id] = report
        return True

    def discard(self, report_id: str) -> bool:
        """Acknowledged or opened: it no longer waits, and does not come back. True if it
        was waiting."""
        self._done.add(report_id)
        return self._waiting.pop(report_id, None) is not None

    def newest(self) -> m.Report | None:
        return next(reversed(self._waiting.values()), None)

    def oldest(self) -> m.Report | None:
        return next(iter(self._waiting.values()), None)

    def ids(self) -> list[str]:
        """Oldest first."""
        return list(self._waiting)


def high_queue_text(queue: HighQueue) -> str:
    """The banner over the queue: one report as before, several with their count."""
    newest = queue.newest()
    if newest is None:
        return ""
    if len(queue) == 1:
        return high_priority_text(newest)
    first = newest.text.split("\n", 1)[0][:120]
    label = rules.category_label(newest.category)
    return f"{len(queue)} HIGH reports waiting — newest: {label} report {newest.report_id}: {first}"


def link_banner_text(status: ConnectionStatus, now: float | None = None) -> str | None:
    """The bar across the window while the link is down; None while it is up (or was
    never started, or was stopped on purpose)."""
    now = time.time() if now is None else now
    state = status.state
    if state == State.BACKING_OFF:
        if status.next_attempt_at is not None:
            left = math.ceil(status.next_attempt_at - now)
            if left > 0:
                return f"Link to the relay lost — retrying in {left} s"
        return "Link to the relay lost — retrying now…"
    if state in (State.CONNECTING, State.AUTHENTICATING) and status.attempt > 0:
        return "Link to the relay lost — reconnecting…"
    if state == State.FATAL:
        return f"Link to the relay lost: {status.reason or 'see the log'}"
    return None


def can_reconnect_now(status: ConnectionStatus) -> bool:
    """'Reconnect now' helps only while a retry is being waited for."""
    return status.state == State.BACKING_OFF


def waiting_approval(alerts: Iterable[m.Alert], username: str) -> str | None:
    """The alert a supervisor's approval notice leads to: the newest one waiting for
    approval that someone else sent (the two-person rule: never one's own)."""
    waiting = [a for a in alerts if a.state == "pending_approval" and a.sender != username]
    if not waiting:
        return None
    return max(waiting, key=lambda a: a.sent_at).alert_id
