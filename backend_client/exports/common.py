"""What the three formats share: times, areas as rings, incident summaries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from backend_client import messages as m

Kind = Literal["reports", "alerts", "incidents"]

#: vertices of the polygon that stands for a circle (every format draws circles so)
CIRCLE_VERTICES = 64
_EARTH_RADIUS_M = 6_371_008.8
#: decimal places of a written position: RFC 7946 section 11.2's 6, about 10 cm, finer
#: than any phone's fix
PLACES = 6


@dataclass(frozen=True)
class IncidentSummary:
    """An incident as exported: its reference, title, when it was opened and its
    reports. Its geometry is the positions of those reports, nothing else."""

    incident_ref: str
    title: str
    opened_at: float  # unix seconds
    opened_by: str
    reports: Sequence[m.Report] = field(default_factory=tuple)
    exercise: bool = False


def pos(lon: float, lat: float) -> tuple[float, float]:
    """A position as every format writes it: `(lon, lat)` to `PLACES` decimals."""
    return (round(lon, PLACES), round(lat, PLACES))


def iso_utc(t: float | None) -> str:
    """ISO 8601 in UTC with a `Z`, to the second: `2026-12-02T02:58:00Z`."""
    if t is None:
        return ""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _signed_area(ring: Sequence[tuple[float, float]]) -> float:
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False))


def circle_ring(c: m.Circle, vertices: int = CIRCLE_VERTICES) -> list[tuple[float, float]]:
    """A circle as a closed ring of `(lon, lat)` points on the sphere, counter-clockwise."""
    lat1, lon1 = math.radians(c.lat), math.radians(c.lon)
    d = c.radius_m / _EARTH_RADIUS_M
    ring = []
    for i in range(vertices):
        # bearings taken clockwise from north, walked backwards: counter-clockwise
        b = -2.0 * math.pi * i / vertices
        lat2 = math.asin(math.sin(lat1) * math.cos(d) + math.cos(lat1) * math.sin(d) * math.cos(b))
        lon2 = lon1 + math.atan2(
            math.sin(b) * math.sin(d) * math.cos(lat1),
            math.cos(d) - math.sin(lat1) * math.sin(lat2),
        )
        ring.append(pos(math.degrees(lon2), math.degrees(lat2)))
    ring.append(ring[0])
    return ring


def area_ring(area: m.Area) -> list[tuple[float, float]]:
    """An alert's area as a closed, counter-clockwise (right-hand) ring of `(lon, lat)`."""
    if isinstance(area, m.Circle):
        return circle_ring(area)
    ring = [pos(lon, lat) for lon, lat in area.coordinates]
    if ring[0] != ring[-1]:
        ring.append(ring[0])
    if _signed_area(ring) < 0:
        ring.reverse()
    return ring


def report_fields(r: m.Report) -> dict[str, object]:
    """A report's exported fields (the reporter's pseudonym is left out: other forces
    and statistics teams get what was reported, not who by)."""
    return {
        "report_id": r.report_id,
        "created_at": iso_utc(r.created_at),
        "category": r.category,
        "status": r.status,
        "priority": r.priority,
        "text": r.text,
        "claimed_by": r.claimed_by or "",
        "incident_ref": r.incident_ref or "",
        "media_count": len(r.media),
        "close_reason": r.close_reason or "",
        "duplicate_of": r.duplicate_of or "",
        "exercise": r.exercise,
        "pilot_id": r.pilot_id or "",
    }


def alert_fields(a: m.Alert) -> dict[str, object]:
    i = a.info
    counted = a.fewer_than is None
    return {
        "alert_id": a.alert_id,
        "sent_at": iso_utc(a.sent_at),
        "expires_at": iso_utc(i.expires_at),
        "msg_type": a.msg_type,
        "state": a.state,
        "status": i.status,
        "headline": i.headline,
        "event": i.event,
        "description": i.description,
        "instruction": i.instruction,
        "categories": ";".join(i.categories),
        "area_desc": i.area_desc,
        "area_kind": "circle" if isinstance(i.area, m.Circle) else "polygon",
        "radius_m": i.area.radius_m if isinstance(i.area, m.Circle) else "",
        "urgency": i.urgency,
        "severity": i.severity,
        "certainty": i.certainty,
        "contact": i.contact,
        "incident_ref": i.incident_ref or "",
        "sender": a.sender,
        "recipients": a.recipients if counted else "",
        "delivered": a.delivered if counted else "",
        "read": a.read if counted else "",
        "exercise": i.status == "Exercise",
    }


def incident_fields(s: IncidentSummary) -> dict[str, object]:
    return {
        "incident_ref": s.incident_ref,
        "title": s.title,
        "opened_at": iso_utc(s.opened_at),
        "opened_by": s.opened_by,
        "report_count": len(s.reports),
        "report_ids": ";".join(r.report_id for r in s.reports),
        "exercise": s.exercise,
    }
