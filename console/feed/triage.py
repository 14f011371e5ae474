"""What the feed offers an officer for one report, read from the shared rules. No Qt.

The relay enforces `backend_client.rules` per message; the feed asks the same functions
before it enables a button or sends a request, so a button is never offered for a move the
relay would refuse (except a new report's, below) and no move table is written twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend_client import messages as m
from backend_client import rules


def may_send(role: str, request: type[m.Msg]) -> bool:
    """May this role send the request? A role not known yet (a session opened before its
    login's answer) bars nothing here: the outbox holds the request and the relay judges
    it on delivery, as it judges everything."""
    return role not in rules.ROLES or rules.may_send(role, request)


@dataclass(frozen=True)
class Offer:
    """Which triage actions make sense for the selected report (all off without one)."""

    claim: bool = False
    progress: bool = False
    close: bool = False
    assign: bool = False
    priority: bool = False
    reopen: bool = False


def may_move_to(report: m.Report, target: str, username: str, role: str) -> bool:
    """May this officer move the report to `target` now?

    A new report nobody else holds is judged as the claim would leave it (claimed by this
    officer): the feed changes only when the relay's event comes back, so right after "C"
    the report still reads new here, and "C" then "P" is one gesture that must not wait for
    a round trip. The outbox sends the claim first, so the relay sees the move it allows.
    """
    if report.status == target or not may_send(role, m.ReportSetStatus):
        return False
    status: str = report.status
    holder = report.claimed_by
    if status == "new" and not rules.held_by_other(status, holder, username):
        status, holder = rules.status_after_claim(status), username
    return rules.may_move(status, target, claimed_by=holder, username=username, role=role)


def claim_would_change(report: m.Report, username: str) -> bool:
    """A claim of an open report this officer already holds changes nothing."""
    return report.claimed_by != username or report.status == "closed"


def may_claim(report: m.Report, username: str, role: str) -> bool:
    """Would the relay accept this officer's claim (forced, if they supervise)?"""
    return may_send(role, m.ReportClaim) and rules.may_claim(
        report.status, report.claimed_by, username, role, force=True
    )


def must_force(report: m.Report, username: str) -> bool:
    """Taking a report someone else holds needs `force` (and a supervising role)."""
    return rules.held_by_other(report.status, report.claimed_by, username)


def offer(report: m.Report | None, username: str, role: str) -> Offer:
    if report is None:
        return Offer()
    is_open = report.status != "closed"
    return Offer(
        claim=may_claim(report, username, role) and claim_would_change(report, username),
        progress=is_open and may_move_to(report, "in_progress", username, role),
        close=may_move_to(report, "closed", username, role),
        assign=is_open and may_send(role, m.ReportAssign),
        priority=is_open and may_send(role, m.ReportSetPriority),
        reopen=not is_open
        and may_move_to(report, reopen_target(report, username, role), username, role),
    )


def reopen_target(report: m.Report, username: str, role: str) -> str:
    """Where Reopen takes this closed report (see `rules.reopen_target`)."""
    return rules.reopen_target(report.claimed_by, username, role)
