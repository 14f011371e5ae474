"""What each feed cell says, as plain functions of a report: no Qt, so it is tested alone.

Citizen text is data: every string here is shown as plain text. The tooltip is the one
place Qt guesses rich text, so `plain_tooltip` escapes and wraps it to render literally.
"""

from __future__ import annotations

import html
import re
import time

from backend_client import messages as m
from backend_client import rules
from console.common.exercise import EXERCISE, is_exercise_report, pilot_words

COLUMNS: tuple[str, ...] = (
    "priority",
    "age",
    "time",
    "id",
    "category",
    "status",
    "reporter",
    "text",
    "media",
)
COL = {name: i for i, name in enumerate(COLUMNS)}
HEADERS = {
    "priority": "Pri",
    "age": "Age",
    "time": "Time",
    "id": "Report",
    "category": "Category",
    "status": "Status",
    "reporter": "Reporter",
    "text": "Text",
    "media": "",  # a narrow column: the table gives its header a file icon instead
}
HEADER_TIPS = {
    "priority": "Priority (blank: normal)",
    "age": "How long ago the report was made (it ticks)",
    "time": "When the report was made, local time (with the date if not today)",
    "id": "The report's id: quote it to colleagues, search for it",
    "media": "Photos and videos attached",
}
STATUS_LABELS = {
    "new": "New",
    "claimed": "Claimed",
    "in_progress": "In progress",
    "closed": "Closed",
}
#: normal is the usual case and says nothing: its cell stays blank so HIGH stands out
PRIORITY_LABELS = {"high": "HIGH", "normal": "", "low": "low"}
#: every citizen pseudonym starts with this; the feed shows only the part after it
PSEUDONYM_PREFIX = rules.PSEUDONYM_PREFIX
TEXT_CELL_CHARS = 200  # a cell shows the first line, cut here (the view elides further)
TOOLTIP_CHARS = 2000
#: what an exercise report's text cell starts with: the delegate paints it as a badge, and
#: anything reading the model (a screen reader, a copy, a test) reads the word
EXERCISE_PREFIX = f"{EXERCISE} · "
_FIRST_LINE = re.compile(r"[^\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]*")


def reporter_short(pseudonym: str) -> str:
    """The part of a pseudonym that tells reporters apart ("Citizen-CZ8RM" -> "CZ8RM")."""
    if pseudonym.startswith(PSEUDONYM_PREFIX) and len(pseudonym) > len(PSEUDONYM_PREFIX):
        return pseudonym[len(PSEUDONYM_PREFIX) :]
    return pseudonym


def age_text(seconds: float) -> str:
    """How long ago, the way a dispatcher says it: "7 s", "40 s", "3 min", "2 h", "4 d".
    Seconds tick too: a report is never "now" for longer than the moment it arrives."""
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def time_text(created_at: float, now: float) -> str:
    """The local time a report was made: "14:03:22" today, its date ("1 Dec") on another
    day (the tooltip has both; the age says how long ago)."""
    made = time.localtime(created_at)
    today = time.localtime(now)
    if made[:3] == today[:3]:
        return time.strftime("%H:%M:%S", made)
    return f"{made.tm_mday} {time.strftime('%b', made)}"


def media_kinds(r: m.Report) -> tuple[int, int]:
    """(photos, videos) a report carries; any other file counts as a photo (an image)."""
    videos = sum(1 for x in r.media if x.mime.startswith("video/"))
    return len(r.media) - videos, videos


def media_text(r: m.Report) -> str:
    """The media cell in words ("2 photos · 1 video"): the delegate draws it as glyphs."""
    photos, videos = media_kinds(r)
    parts = []
    if photos:
        parts.append(f"{photos} photo" + ("s" if photos > 1 else ""))
    if videos:
        parts.append(f"{videos} video" + ("s" if videos > 1 else ""))
    return " · ".join(parts)


def first_line(text: str) -> str:
    line = _FIRST_LINE.match(text)
    out = line.group(0) if line else ""
    if len(out) > TEXT_CELL_CHARS:
        return out[: TEXT_CELL_CHARS - 1] + "…"
    if not out and text:
        return "…"
    return out


def plain_tooltip(text: str) -> str:
    """A tooltip that shows `text` literally: Qt renders tooltips that look like HTML."""
    if len(text) > TOOLTIP_CHARS:
        text = text[:TOOLTIP_CHARS] + "…"
    body = html.escape(text, quote=False).replace("\n", "<br>")
    return f"<qt><p style='white-space:pre-wrap'>{body}</p></qt>"


def cell_text(r: m.Report, col: str, now: float) -> str:
    """The text a column shows for a report, `now` being the feed's clock (for the age)."""
    if col == "text":
        line = first_line(r.text)
        return EXERCISE_PREFIX + line if is_exercise_report(r) else line
    if col == "age":
        return age_text(now - r.created_at)
    if col == "time":
        return time_text(r.created_at, now)
    if col == "id":
        return r.report_id
    if col == "priority":
        return PRIORITY_LABELS[r.priority]
    if col == "status":
        label = STATUS_LABELS[r.status]
        if r.status == "closed":  # a closed report's claim has lapsed: say why it closed
            return f"{label} · {r.close_reason}" if r.close_reason else label
        return f"{label} · {r.claimed_by}" if r.claimed_by and r.status != "new" else label
    if col == "category":
        return rules.category_label(r.category)
    if col == "reporter":
        return reporter_short(r.reporter)
    if col == "media":
        return media_text(r)
    return ""


def text_tooltip(r: m.Report) -> str:
    """The report text's tooltip: the whole text, literally, after the exercise marking
    (with its pilot) when the report is a pilot's, and after the facts a narrow feed hides."""
    # what a narrow feed's hidden columns say (report id, time, reporter, media) comes first
    made = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created_at))
    facts = " · ".join(x for x in (r.report_id, made, r.reporter, media_text(r)) if x)
    if is_exercise_report(r):
        return plain_tooltip(f"{pilot_words(r.pilot_id)}: not a real incident\n{facts}\n\n{r.text}")
    return plain_tooltip(f"{facts}\n\n{r.text}")
