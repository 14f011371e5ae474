"""What the status bar says, worked out without Qt: the link's state, queued actions and
banners in a dispatcher's words.

Reasons and refusals come from the network, so a tooltip (which Qt renders as HTML when
it looks like HTML) gets them escaped.
"""

from __future__ import annotations

import html
import math
import time

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
