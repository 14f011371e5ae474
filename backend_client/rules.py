"""Lookout's rules, written once: who may do what, how a report moves, what a category is
called. The relay enforces them per message; the console reads the same table to enable a
button or print a label, so a rule and its courtesy in the GUI can never drift apart.

Pure data and pure functions: no I/O, no Qt, no database (an import-linter contract holds
this module to the wire contract's layer).
"""

from __future__ import annotations

from typing import get_args

from backend_client import messages as m

# ---------------------------------------------------------------- roles

ROLES: tuple[m.Role, ...] = get_args(m.Role)
#: roles that work reports and send alerts (an analyst only reads)
WORKING_ROLES: frozenset[str] = frozenset(("dispatcher", "supervisor", "inspector", "admin"))
#: roles that may approve another officer's alert, force a claim, or move a report held by
#: someone else
SUPERVISING_ROLES: frozenset[str] = frozenset(("supervisor", "admin"))

_ANY: frozenset[str] = frozenset(ROLES)

#: message type -> roles allowed to send it once authenticated
PERMISSIONS: dict[type[m.Msg], frozenset[str]] = {
    m.Ping: _ANY,
    m.Refresh: _ANY,
    m.Logout: _ANY,
    m.Subscribe: _ANY,
    m.MediaGet: _ANY,
    m.AlertExport: _ANY,
    m.ReportClaim: WORKING_ROLES,
    m.ReportSetStatus: WORKING_ROLES,
    m.ReportAssign: WORKING_ROLES,
    m.ReportSetPriority: WORKING_ROLES,
    m.IncidentCreate: WORKING_ROLES,
    m.ReportLink: WORKING_ROLES,
    m.OfficerChatSend: WORKING_ROLES,
    m.OfficerChatRead: WORKING_ROLES,
    m.AlertPreview: WORKING_ROLES,
    m.AlertSend: WORKING_ROLES,
    m.AlertUpdate: WORKING_ROLES,
    m.AlertCancel: WORKING_ROLES,
    m.AlertApprove: SUPERVISING_ROLES,
}


def may_send(role: str, msg_type: type[m.Msg]) -> bool:
    """May an officer with `role` send a request of this type? Unknown types: no."""
    return role in PERMISSIONS.get(msg_type, frozenset())


def supervises(role: str) -> bool:
    return role in SUPERVISING_ROLES


def may_approve(role: str, username: str, sender: str) -> bool:
    """The two-person rule: a supervising role, and never the alert's own sender."""
    return supervises(role) and username != sender


# ---------------------------------------------------------------- report status

STATUSES: tuple[m.ReportStatus, ...] = get_args(m.ReportStatus)
#: status -> statuses an officer may move it to with report.set_status
MOVES: dict[str, frozenset[str]] = {
    "new": frozenset({"claimed"}),
    "claimed": frozenset({"in_progress", "closed", "new"}),
    "in_progress": frozenset({"closed", "claimed"}),
    "closed": frozenset({"claimed"}),
}
#: moves only the report's holder (or a supervisor) may make
HOLDER_MOVES: frozenset[str] = frozenset({"in_progress", "closed", "new"})


def can_move(current: str, target: str) -> bool:
    return target in MOVES.get(current, frozenset())


def may_move(
    current: str, target: str, *, claimed_by: str | None, username: str, role: str
) -> bool:
    """Would the relay accept this officer's set_status? (Staying put is always fine.)"""
    if current == target:
        return True
    if not can_move(current, target):
        return False
    return target not in HOLDER_MOVES or claimed_by == username or supervises(role)


def held_by_other(status: str, claimed_by: str | None, username: str) -> bool:
    """A claim by someone else that still counts (a closed report's claim lapses)."""
    return claimed_by not in (None, username) and status != "closed"


def may_claim(status: str, claimed_by: str | None, username: str, role: str, force: bool) -> bool:
    return not held_by_other(status, claimed_by, username) or (force and supervises(role))


def status_after_claim(status: str) -> str:
    """Claiming (or being assigned) a new or closed report makes it claimed; work in
    progress stays in progress."""
    return "claimed" if status in ("new", "closed") else status


# ---------------------------------------------------------------- categories

#: the order is the bit in the relay's category bitmask: append only, never reorder
CATEGORIES: tuple[m.Category, ...] = get_args(m.Category)
#: one display label per category, used by every screen (feed, filter, composer, detail);
#: none longer than "Missing person", so the feed's Category column never crowds the text
CATEGORY_LABELS: dict[str, str] = {
    "burglary": "Burglary",
    "vehicle": "Vehicle crime",
    "drugs": "Drugs",
    "missing_person": "Missing person",
    "fly_tipping": "Fly-tipping",
    "antisocial": "Anti-social",
    "rural": "Rural crime",
    "horse": "Horse watch",
    "canal": "Canal",
    "school": "School",
    "cycle": "Cycle theft",
    "business": "Business",
    "violence": "Violence",
    "other": "Other",
}
#: categories whose reports start at high priority
URGENT_CATEGORIES: frozenset[str] = frozenset({"missing_person", "violence"})


def category_label(category: str) -> str:
    """The one label a person sees for a category; an unknown name is shown as it came."""
    return CATEGORY_LABELS.get(category, category)


def initial_priority(category: str) -> m.Priority:
    return "high" if category in URGENT_CATEGORIES else "normal"
