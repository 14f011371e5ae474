"""Lookout's rules, written once: who may do what, how a report moves, what a category is
called. The relay enforces them per message; the console reads the same table to enable a
button or print a label, so a rule and its courtesy in the GUI can never drift apart.

Pure data and pure functions: no I/O, no Qt, no database (an import-linter contract holds
this module to the wire contract's layer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

from backend_client import messages as m

# ---------------------------------------------------------------- roles

ROLES: tuple[m.Role, ...] = get_args(m.Role)
#: roles that work reports and send alerts (an analyst only reads)
WORKING_ROLES: frozenset[str] = frozenset(("dispatcher", "supervisor", "inspector", "admin"))
#: roles that may approve another officer's alert, force a claim, or move a report held by
#: someone else
SUPERVISING_ROLES: frozenset[str] = frozenset(("supervisor", "admin"))

#: roles that may export a signed evidence package (and fetch its bytes)
EVIDENCE_ROLES: frozenset[str] = frozenset(("analyst", "supervisor", "admin"))

#: roles that run pilots: create them, issue invite codes, end and purge them
PILOT_ROLES: frozenset[str] = frozenset(("inspector", "supervisor", "admin"))

_ANY: frozenset[str] = frozenset(ROLES)

#: message type -> roles allowed to send it once authenticated
PERMISSIONS: dict[type[m.Msg], frozenset[str]] = {
    m.Ping: _ANY,
    m.Refresh: _ANY,
    m.Logout: _ANY,
    m.PasswordChange: _ANY,
    m.Subscribe: _ANY,
    m.MediaGet: _ANY,
    m.AlertExport: _ANY,
    m.AlertHistory: _ANY,
    m.ReportClaim: WORKING_ROLES,
    m.ReportSetStatus: WORKING_ROLES,
    m.ReportAssign: WORKING_ROLES,
    m.ReportSetPriority: WORKING_ROLES,
    m.IncidentCreate: WORKING_ROLES,
    m.ReportLink: WORKING_ROLES,
    # incidents and the team (issue 13): linking is triage; a merge closes duplicates,
    # so a duplicate someone else holds also needs `may_close_as_duplicate`
    m.ReportUnlink: WORKING_ROLES,
    m.ReportMerge: WORKING_ROLES,
    m.TeamList: _ANY,
    m.OfficerChatSend: WORKING_ROLES,
    m.OfficerChatRead: WORKING_ROLES,
    m.AlertPreview: WORKING_ROLES,
    m.AlertSend: WORKING_ROLES,
    m.AlertUpdate: WORKING_ROLES,
    m.AlertCancel: WORKING_ROLES,
    m.AlertApprove: SUPERVISING_ROLES,
    m.EvidenceExport: EVIDENCE_ROLES,
    m.EvidenceGet: EVIDENCE_ROLES,
    m.PilotCreate: PILOT_ROLES,
    # a dispatcher sends a pilot's exercise alerts (the composer lists the pilots to name
    # one) and sees its traffic marked; only the pilot roles run pilots
    m.PilotList: WORKING_ROLES,
    m.PilotInvite: PILOT_ROLES,
    m.PilotEnd: PILOT_ROLES,
    m.PilotPurge: PILOT_ROLES,
    m.PilotReview: PILOT_ROLES,
    # a report's history and internal notes (issue 13): every officer reads, workers write
    m.ReportHistoryGet: _ANY,
    m.ReportNoteAdd: WORKING_ROLES,
    # console exports (issue 14): whoever sees the data may export what they see; every
    # export is audited first (relay/exports.py audit_console)
    m.ExportAudit: _ANY,
}


def may_send(role: str, msg_type: type[m.Msg]) -> bool:
    """May an officer with `role` send a request of this type? Unknown types: no."""
    return role in PERMISSIONS.get(msg_type, frozenset())


def supervises(role: str) -> bool:
    return role in SUPERVISING_ROLES


def may_approve(role: str, username: str, sender: str) -> bool:
    """The two-person rule: a supervising role, and never the alert's own sender."""
    return supervises(role) and username != sender


def needs_approval(recipients: int, threshold: int) -> bool:
    """An alert reaching more than `threshold` phones needs a second officer's approval,
    whatever its sender's role: no role approves its own large alert."""
    return recipients > threshold


def update_needs_approval(changes_reach_or_content: bool, recipients: int, threshold: int) -> bool:
    """An update goes back for approval when it changes what the alert says or whom it
    reaches and the alert (old recipients and new) is above the threshold. An update
    that only moves the expiry does not."""
    return changes_reach_or_content and needs_approval(recipients, threshold)


# ---------------------------------------------------------------- pilots: exercise traffic


def alert_pilot_problem(status: str, pilot_id: str | None) -> str | None:
    """Why an alert's CAP status and pilot do not go together, in the officer's words, or
    None. An exercise alert names its pilot (it reaches only that pilot's participants);
    a real one names none (it must never be filtered out as an exercise)."""
    if status == "Exercise" and pilot_id is None:
        return "an exercise alert needs a pilot: choose the pilot it belongs to"
    if status != "Exercise" and pilot_id is not None:
        return (
            f"a {status} alert cannot belong to a pilot: send it with status Exercise, "
            "or without the pilot"
        )
    return None


def event_pilot(event: m.Msg) -> str | None:
    """The pilot an officer event belongs to (exercise traffic), or None for live traffic.
    The relay tags its event log with it; a console filters on it."""
    if isinstance(event, m.ReportCreated | m.ReportUpdated):
        return event.report.pilot_id
    if isinstance(event, m.ChatPosted):
        return event.message.pilot_id
    if isinstance(event, m.ChatStatusChanged):
        return event.pilot_id
    if isinstance(event, m.AlertChanged):
        return event.alert.info.pilot_id
    if isinstance(event, m.PilotChanged):
        return event.pilot.pilot_id
    if isinstance(event, m.ReportNoted):
        return event.note.pilot_id
    if isinstance(event, m.IncidentOpened):
        return event.pilot_id
    return None


#: invite codes are written with these: no 0/O, 1/I/L or U/V pairs to misread on paper
INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
#: characters of a code (log2(29) * 12 = 58 bits), printed in groups of four
INVITE_CODE_LENGTH = 12


def normalise_invite_code(text: str) -> str:
    """A code as typed (any case, spaces and dashes anywhere) in its one stored form."""
    return "".join(ch for ch in text.upper() if ch not in " -\t")


def format_invite_code(code: str) -> str:
    """`ABCD-EFGH-JKMN`, as printed on an invitation."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


# ---------------------------------------------------------------- report status

STATUSES: tuple[m.ReportStatus, ...] = get_args(m.ReportStatus)

#: Every move `report.set_status` may make, and who may make it (docs/protocol.md shows
#: the same table). "anyone" is any working role; "holder" is the officer holding the
#: report's claim, or a supervising role forcing it. A report someone holds (claimed or in
#: progress) is changed by its holder only, by every path: set_status, claim (without
#: `force`) and assign. A closed report's claim has lapsed, so anyone may reopen it as
#: claimed (taking it); reopening it straight back into progress (an undone close) keeps
#: the claim it had, so only that officer, or a supervising role, may do it.
#:
#: | from        | to          | who    | why                                        |
#: |-------------|-------------|--------|--------------------------------------------|
#: | new         | claimed     | anyone | take an unheld report                      |
#: | claimed     | in_progress | holder | start work                                 |
#: | claimed     | closed      | holder | finish without working it                  |
#: | claimed     | new         | holder | release the claim                          |
#: | in_progress | closed      | holder | finish                                     |
#: | in_progress | claimed     | holder | pause work, keep the claim                 |
#: | closed      | claimed     | anyone | reopen (the reopener holds it)             |
#: | closed      | in_progress | holder | reopen where it was (undo a close)         |
MOVE_TABLE: dict[tuple[str, str], str] = {
    ("new", "claimed"): "anyone",
    ("claimed", "in_progress"): "holder",
    ("claimed", "closed"): "holder",
    ("claimed", "new"): "holder",
    ("in_progress", "closed"): "holder",
    ("in_progress", "claimed"): "holder",
    ("closed", "claimed"): "anyone",
    ("closed", "in_progress"): "holder",
}
#: status -> statuses it may move to (read from MOVE_TABLE)
MOVES: dict[str, frozenset[str]] = {
    s: frozenset(t for (f, t) in MOVE_TABLE if f == s) for s in get_args(m.ReportStatus)
}


def can_move(current: str, target: str) -> bool:
    return (current, target) in MOVE_TABLE


def may_move(
    current: str, target: str, *, claimed_by: str | None, username: str, role: str
) -> bool:
    """Would the relay accept this officer's set_status? (Staying put is always fine.)"""
    if current == target:
        return True
    who = MOVE_TABLE.get((current, target))
    if who is None:
        return False
    if held_by_other(current, claimed_by, username) and not supervises(role):
        return False  # whatever the move, someone else's claim is theirs to change
    return who == "anyone" or claimed_by == username or supervises(role)


def reopen_target(claimed_by: str | None, username: str, role: str) -> str:
    """Where Reopen takes a closed report: back into progress for the officer who held it
    (or a supervisor), otherwise claimed by whoever reopens it."""
    if may_move("closed", "in_progress", claimed_by=claimed_by, username=username, role=role):
        return "in_progress"
    return "claimed"


#: the reasons a dispatcher picks from when closing a report (free text is allowed too)
CLOSE_REASONS: tuple[str, ...] = (
    "Resolved",
    "Duplicate",
    "No police action",
    "Passed to 999/101",
    "Hoax/malicious",
)


def held_by_other(status: str, claimed_by: str | None, username: str) -> bool:
    """A claim by someone else that still counts (a closed report's claim lapses)."""
    return claimed_by not in (None, username) and status != "closed"


def may_claim(status: str, claimed_by: str | None, username: str, role: str, force: bool) -> bool:
    return not held_by_other(status, claimed_by, username) or (force and supervises(role))


def may_assign(status: str, claimed_by: str | None, username: str, role: str) -> bool:
    """Assigning moves the claim: only its holder, or a supervising role, may hand it on."""
    return not held_by_other(status, claimed_by, username) or supervises(role)


def may_close_as_duplicate(status: str, claimed_by: str | None, username: str, role: str) -> bool:
    """A merge closes its duplicates: only a report nobody else holds, or a supervisor's
    merge (the same rule as closing it by hand)."""
    return not held_by_other(status, claimed_by, username) or supervises(role)


def duplicate_reason(primary_id: str) -> str:
    """The close reason a merged duplicate carries, in one wording everywhere."""
    return f"Duplicate of {primary_id}"


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


# ---------------------------------------------------------------- pseudonyms

#: what officers call a phone: `Citizen-` and five of these. No vowels, so no word (and no
#: rude one: "FUCKN" was dealt out in a demo) can be spelt; no 0/O, 1/I/L look-alikes.
PSEUDONYM_PREFIX = "Citizen-"
PSEUDONYM_ALPHABET = "BCDFGHJKMNPQRSTVWXZ23456789"
PSEUDONYM_LENGTH = 5


def new_pseudonym(choice: Callable[[str], str]) -> str:
    """A phone's pseudonym, each character drawn by `choice` (`secrets.choice` on the
    relay; a seeded `random.Random().choice` for a reproducible demo)."""
    return PSEUDONYM_PREFIX + "".join(choice(PSEUDONYM_ALPHABET) for _ in range(PSEUDONYM_LENGTH))
