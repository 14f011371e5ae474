"""Sample contract objects for the console's tests, one builder per shape, shared by the
Qt-free model tests (tests/unit/console) and the widget tests (tests/gui) that look at the
same data. Pure data: no Qt, no I/O. Override any field by keyword."""

from __future__ import annotations

import time
from typing import Any

from backend_client import messages as m

#: a fixed clock for tests that compare times
T0 = 1_700_000_000.0
#: a multiple of 300 s, so the dashboard's 5-minute bins start on it
BIN_T0 = 1_767_262_200.0
#: a small square on Elm Road, Preston, as the map would draw it (closed ring)
ELM_ROAD = m.Polygon(
    coordinates=[(-2.70, 53.75), (-2.69, 53.75), (-2.69, 53.76), (-2.70, 53.76), (-2.70, 53.75)]
)


class Clock:
    """A clock a test sets by hand (`clock.now = ...`)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def numbered_report(n: int, **changes: object) -> m.Report:
    """Report number `n`: ids, reporters and times that sort and filter predictably."""
    fields: dict[str, object] = dict(
        report_id=f"R-{n:04d}",
        reporter=f"citizen-{n % 7}",
        category="burglary",
        text=f"report number {n}\nsecond line",
        lat=53.76,
        lon=-2.70,
        created_at=T0 + n,
        status="new",
        priority="normal",
        claimed_by=None,
        incident_ref=None,
        media=[],
    )
    fields.update(changes)
    return m.Report(**fields)  # type: ignore[arg-type]


def timed_report(rid: str, created_at: float, category: str = "burglary", **kw: Any) -> m.Report:
    """A report made at `created_at`, for the dashboard's bins and response times."""
    fields: dict[str, Any] = dict(
        report_id=rid,
        reporter="Kestrel-1",
        category=category,
        text="Two men trying door handles",
        lat=53.759,
        lon=-2.699,
        created_at=created_at,
        status="new",
        priority="normal",
        claimed_by=None,
        incident_ref=None,
        media=[],
    )
    fields.update(kw)
    return m.Report(**fields)


def timed_chat(rid: str, sender: str, at: float, mid: str = "m1") -> m.ChatMessage:
    """A chat message on report `rid` at `at`, from the citizen or the officer."""
    return m.ChatMessage(
        message_id=mid,
        report_id=rid,
        sender=sender,  # type: ignore[arg-type]
        author="dana" if sender == "officer" else "Kestrel-1",
        text="hello",
        sent_at=at,
        status="sent",
    )


def timed_alert(sent_at: float, delivered: int = 0, read: int = 0, **kw: Any) -> m.Alert:
    """An active alert sent at `sent_at` to 50 phones, with its delivered and read counts."""
    fields: dict[str, Any] = dict(
        alert_id="alr_1",
        sender="dana",
        sent_at=sent_at,
        msg_type="Alert",
        state="active",
        info=m.AlertInfo(
            categories=["burglary", "vehicle"],
            area=m.Circle(lat=53.759, lon=-2.699, radius_m=800),
            area_desc="Elm Road",
            headline="Burglaries",
            expires_at=sent_at + 3600,
        ),
        recipients=50,
        delivered=delivered,
        read=read,
    )
    fields.update(kw)
    return m.Alert(**fields)


def chat_message(
    mid: str,
    text: str = "hello",
    *,
    report: str = "r-1",
    sender: str = "citizen",
    author: str = "quiet-heron-42",
    at: float = T0,
    status: str = "sent",
) -> m.ChatMessage:
    return m.ChatMessage(
        message_id=mid,
        report_id=report,
        sender=sender,  # type: ignore[arg-type]
        author=author,
        text=text,
        sent_at=at,
        status=status,  # type: ignore[arg-type]
    )


def elm_road_info(**kw: Any) -> m.AlertInfo:
    """A burglary alert's info for Elm Road, valid for an hour from now."""
    fields: dict[str, Any] = dict(
        categories=["burglary"],
        area=ELM_ROAD,
        area_desc="Elm Road",
        headline="Burglaries on Elm Road",
        expires_at=time.time() + 3600,
    )
    fields.update(kw)
    return m.AlertInfo(**fields)


def elm_road_alert(alert_id: str = "alr_1", **kw: Any) -> m.Alert:
    """That alert, active, sent a minute ago to 100 phones."""
    fields: dict[str, Any] = dict(
        alert_id=alert_id,
        sender="dana",
        sent_at=time.time() - 60,
        msg_type="Alert",
        state="active",
        info=elm_road_info(),
        recipients=100,
        delivered=0,
        read=0,
    )
    fields.update(kw)
    return m.Alert(**fields)


#: the pilot the exercise samples belong to
PILOT = "preston-2017"


def exercise_report(n: int, pilot_id: str = PILOT, **changes: object) -> m.Report:
    """Report number `n` (as `numbered_report`), sent by a participant of a pilot: exercise
    traffic, as the relay marks it."""
    return numbered_report(n, pilot_id=pilot_id, exercise=True, **changes)
