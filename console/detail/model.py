"""How the detail pane words times, sizes and places (pure, no Qt)."""

from __future__ import annotations

import time
from datetime import datetime

from backend_client import messages as m

STATUS_WORDS = {
    "new": "New",
    "claimed": "Claimed",
    "in_progress": "In progress",
    "closed": "Closed",
}


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            return f"{value:.1f} {unit}"
    return f"{n} B"  # pragma: no cover - the loop always returns


def absolute_time(ts: float) -> str:
    """Local wall-clock time with the zone, as a control-room log would write it."""
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def relative_time(ts: float, now: float | None = None) -> str:
    delta = (time.time() if now is None else now) - ts
    if delta < -60:
        return "in the future (clock skew)"
    delta = max(0.0, delta)
    if delta < 45:
        return "just now"
    minutes = round(delta / 60)
    if minutes < 60:
        return f"{minutes} min ago"
    hours = delta / 3600
    if hours < 24:
        return f"{hours:.0f} h ago" if hours >= 10 else f"{hours:.1f} h ago".replace(".0 ", " ")
    days = delta / 86400
    return f"{days:.0f} day{'s' if round(days) != 1 else ''} ago"


def play_clock(ms: int) -> str:
    """A player position or length: "m:ss" (minutes keep counting past an hour)."""
    s = max(0, ms) // 1000
    return f"{s // 60}:{s % 60:02d}"


def coordinates(lat: float, lon: float) -> str:
    ns = "N" if lat >= 0 else "S"
    ew = "E" if lon >= 0 else "W"
    return f"{abs(lat):.5f}° {ns}, {abs(lon):.5f}° {ew}  ({lat:.5f}, {lon:.5f})"


def words(value: str) -> str:
    """A machine word ('in_progress') as an officer reads it ('In progress'). Categories
    have their own labels (`backend_client.rules.category_label`)."""
    return value.replace("_", " ").capitalize()


# ---------------------------------------------------------------- history and notes


def short_time(ts: float, now: float | None = None) -> str:
    """A history time: the clock today, the date and clock before."""
    when = datetime.fromtimestamp(ts).astimezone()
    today = datetime.fromtimestamp(time.time() if now is None else now).astimezone().date()
    return when.strftime("%H:%M:%S" if when.date() == today else "%Y-%m-%d %H:%M")


def history_row(e: m.HistoryEntry, now: float | None = None) -> tuple[str, str, str]:
    """(when, who, what) of one history entry, as the History tab shows it."""
    return short_time(e.at, now), e.by, e.detail


def note_heading(n: m.Note) -> str:
    return f"{n.author} · {absolute_time(n.at)}"


def note_problem(text: str) -> str | None:
    """Why this (stripped) text cannot be saved as a note, or None."""
    if not text:
        return "Write the note first"
    if len(text) > m.NOTE_MAX_CHARS:
        return f"A note holds at most {m.NOTE_MAX_CHARS} characters ({len(text)} now)"
    return None
