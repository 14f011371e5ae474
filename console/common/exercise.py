"""How every pane words exercise traffic (a pilot's reports, chat and alerts). No Qt.

Why one home: the feed, the map, the report pane, the chat and the alerts must all say
the same words, in text and not by colour alone, so that a rehearsal can never be taken
for a real incident whichever pane an officer looks at.
"""

from __future__ import annotations

from backend_client import messages as m

#: the badge every pane shows on exercise traffic
EXERCISE = "EXERCISE"
#: the map popup's short title badge
EXERCISE_SHORT = "EX"
#: the colour that goes with the words (never instead of them): yellow, dark text on it
EXERCISE_COLOUR = "#e3b341"
EXERCISE_TEXT_COLOUR = "#111111"


def pilot_words(pilot_id: str | None) -> str:
    """ "EXERCISE — pilot preston-2017" (or without a pilot, when none is known)."""
    return f"{EXERCISE} — pilot {pilot_id}" if pilot_id else EXERCISE


def report_banner(pilot_id: str | None) -> str:
    """The banner at the top of an exercise report and of its conversation."""
    return f"{pilot_words(pilot_id)}: not a real incident"


def is_exercise_report(report: m.Report) -> bool:
    return report.exercise or report.pilot_id is not None


def alert_rehearsal(info: m.AlertInfo) -> str | None:
    """What an alert that is not `Actual` is ("EXERCISE", "TEST", ...), or None."""
    if info.status == "Actual" and info.pilot_id is None:
        return None
    return EXERCISE if info.status == "Actual" else info.status.upper()


def alert_marking(info: m.AlertInfo) -> str | None:
    """ "EXERCISE — pilot preston-2017", "TEST", or None for a real alert."""
    kind = alert_rehearsal(info)
    if kind is None:
        return None
    return f"{kind} — pilot {info.pilot_id}" if info.pilot_id else kind
