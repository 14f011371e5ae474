"""The relay's pilots as the Pilots pane shows them, and what an officer may do to each.
No Qt: the rows, the words of every confirmation and the rules are tested without a widget.

The relay is the one source: `pilot.list` fills the book and every `pilot.changed` event
replaces one pilot in it (created, ended, purged, a participant joined or left), so the
joined counts climb as phones join without anyone pressing Refresh. What may be done to a
pilot follows its state as the relay enforces it (`relay/pilots.py`): codes and the end for
a running pilot, the purge for an ended one; who may do it is `rules.PILOT_ROLES`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from backend_client import limits, rules
from backend_client import messages as m

#: what the pane calls a pilot's state: the relay's `active` is planned until it starts
Shown = Literal["planned", "running", "ended", "purged"]

#: the note beside every batch of codes: the relay keeps only their hashes
CODES_ONCE = (
    "The relay shows invite codes once only: keep this folder safe. A lost code cannot be "
    "shown again; issue new ones instead."
)


def may_run_pilots(role: str) -> bool:
    """Does this officer see the Pilots pane at all (the relay's own permission table)?"""
    return rules.may_send(role, m.PilotCreate)


def shown_state(info: m.PilotInfo, now: float) -> Shown:
    if info.state == "active":
        return "planned" if info.starts_at > now else "running"
    return info.state


def can_invite(info: m.PilotInfo) -> bool:
    return info.state == "active"


def can_end(info: m.PilotInfo) -> bool:
    return info.state == "active"


def can_purge(info: m.PilotInfo) -> bool:
    """Only after review: an ended pilot (a running one must be ended first; a purged one
    has nothing left)."""
    return info.state == "ended"


def _when(t: float, tz: dt.tzinfo | None) -> str:
    return dt.datetime.fromtimestamp(t, tz or dt.UTC).astimezone(tz).strftime("%d %b %Y %H:%M")


def dates_text(info: m.PilotInfo, tz: dt.tzinfo | None = None) -> str:
    """ "21 Nov 2026 09:00 – 23 Nov 2026 17:00" (start, then the end or the planned end)."""
    start = _when(info.starts_at, tz)
    if info.ended_at is not None:
        return f"{start} – ended {_when(info.ended_at, tz)}"
    if info.ends_at is not None:
        return f"{start} – {_when(info.ends_at, tz)}"
    return f"{start} – until ended"


@dataclass(frozen=True)
class GroupRow:
    name: str
    planned: int
    joined: int
    active: int


@dataclass(frozen=True)
class PilotRow:
    pilot_id: str
    title: str
    state: Shown
    dates: str
    created_by: str
    planned: int
    joined: int
    active: int
    groups: tuple[GroupRow, ...]
    can_invite: bool
    can_end: bool
    can_purge: bool


def row_of(info: m.PilotInfo, now: float, tz: dt.tzinfo | None = None) -> PilotRow:
    groups = tuple(GroupRow(g.name, g.planned, g.joined, g.active) for g in info.groups)
    return PilotRow(
        pilot_id=info.pilot_id,
        title=info.title,
        state=shown_state(info, now),
        dates=dates_text(info, tz),
        created_by=info.created_by,
        planned=sum(g.planned for g in groups),
        joined=sum(g.joined for g in groups),
        active=sum(g.active for g in groups),
        groups=groups,
        can_invite=can_invite(info),
        can_end=can_end(info),
        can_purge=can_purge(info),
    )


class PilotsBook:
    """The pilots the relay listed, kept current by its `pilot.changed` events."""

    def __init__(self) -> None:
        self._pilots: dict[str, m.PilotInfo] = {}

    def __len__(self) -> int:
        return len(self._pilots)

    def get(self, pilot_id: str) -> m.PilotInfo | None:
        return self._pilots.get(pilot_id)

    def replace(self, pilots: Iterable[m.PilotInfo]) -> None:
        """A fresh `pilot.listed`: exactly these pilots."""
        self._pilots = {p.pilot_id: p for p in pilots}

    def apply(self, info: m.PilotInfo) -> None:
        """One `pilot.changed`: the pilot as it is now (a new one joins the book)."""
        self._pilots[info.pilot_id] = info

    def infos(self) -> list[m.PilotInfo]:
        """Newest first, as the relay lists them."""
        return sorted(self._pilots.values(), key=lambda p: (p.created_at, p.pilot_id), reverse=True)

    def rows(self, now: float, tz: dt.tzinfo | None = None) -> list[PilotRow]:
        return [row_of(p, now, tz) for p in self.infos()]


# ---------------------------------------------------------------- the words of each action


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def end_question(info: m.PilotInfo) -> str:
    joined = sum(g.joined for g in info.groups)
    return (
        f"End the pilot “{info.title}” ({info.pilot_id})?\n\n"
        f"Its {_n(joined, 'participant')} become ordinary devices again: whatever they send "
        "from now on is live traffic, not exercise. Unused invite codes stop working. The "
        "pilot's reports, chat and alerts stay for review until you purge them."
    )


def purge_question(info: m.PilotInfo, counted: m.PilotPurged) -> str:
    """What a purge erases, from the relay's dry run, named before anything goes."""
    return (
        f"Purge the pilot “{info.title}” ({info.pilot_id})?\n\n"
        "This erases for good, on the relay:\n"
        f"• {_n(counted.reports, 'report')} and {_n(counted.chat, 'chat message')}\n"
        f"• {_n(counted.media, 'photo or video file', 'photo and video files')}\n"
        f"• {_n(counted.alerts, 'exercise alert')} with "
        f"{_n(counted.receipts, 'delivery receipt')}\n"
        f"• {_n(counted.participants, 'participant link')} and "
        f"{_n(counted.invites, 'invite code')}\n\n"
        "The audit log records the purge (who, when, these counts), never the erased content. "
        "It cannot be undone."
    )


def purged_text(done: m.PilotPurged) -> str:
    return (
        f"Pilot {done.pilot_id} purged: {_n(done.reports, 'report')}, "
        f"{_n(done.chat, 'chat message')}, {_n(done.media, 'media file')} and "
        f"{_n(done.alerts, 'alert')} erased. The audit log records the purge."
    )


def invite_problem(info: m.PilotInfo | None, group: str, count: int) -> str | None:
    """Why these codes cannot be asked for, in the inspector's words, or None."""
    if info is None:
        return "Choose a pilot first."
    if not can_invite(info):
        return f"The pilot {info.pilot_id} has {info.state}: it takes no new invite codes."
    if group not in {g.name for g in info.groups}:
        return "Choose one of the pilot's groups."
    if not 1 <= count <= limits.MAX_INVITES_PER_REQUEST:
        return f"Ask for 1 to {limits.MAX_INVITES_PER_REQUEST} codes at a time."
    return None


def invites_folder_name(pilot_id: str, group: str, at: float) -> str:
    """A new folder per batch, so a second batch never overwrites the first's cards."""
    stamp = dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y%m%d-%H%M%S")
    safe_group = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in group)[:64]
    return f"{pilot_id}-{safe_group}-{stamp}"


# ---------------------------------------------------------------- review

#: how Review… maps plan time, as the dialog offers it
ReviewMode = Literal["dates", "start", "run_log"]


def can_review(info: m.PilotInfo) -> bool:
    """Running or ended: a purged pilot has nothing left to review."""
    return info.state != "purged"


def review_folder_name(pilot_id: str, now: float) -> str:
    """A new folder per review, so an earlier review is never overwritten."""
    return f"{pilot_id}-review-{dt.datetime.fromtimestamp(now, dt.UTC):%Y%m%d-%H%M%S}"


def review_clock(
    mode: ReviewMode, started_at: float | None = None, run_log_clock: m.FromStartClock | None = None
) -> m.PlanTimeMap:
    """The `pilot.review` clock for the dialog's choice: the plan's dates; from a start
    time typed in (never paused); or a saved run's stretches (with its pauses)."""
    if mode == "dates":
        return m.DatesClock()
    if mode == "start":
        if started_at is None:
            raise ValueError("give the time plan time 0 was (when Start was pressed)")
        return m.FromStartClock(segments=[m.ClockSegment(at=started_at, t=0.0)])
    if run_log_clock is None:
        raise ValueError("choose a run log (lookout --run-pilot saves one per run)")
    return run_log_clock


def review_problem(info: m.PilotInfo | None) -> str | None:
    if info is None:
        return "Choose a pilot first."
    if not can_review(info):
        return f"Pilot {info.pilot_id} was purged: its data is erased, there is nothing to review."
    return None


def reviewed_text(pilot_id: str, folder: str, pages: int, metrics: dict[str, object]) -> str:
    met, missed = metrics.get("expected_actions_met"), metrics.get("expected_actions_missed")
    return (
        f"Review of {pilot_id} saved in {folder}: metrics.json, metrics.csv and report.pdf "
        f"({pages} page{'s' if pages != 1 else ''}). {metrics.get('reports')} reports, "
        f"{metrics.get('participants')} participants, {met} expected actions met, "
        f"{missed} missed."
    )
