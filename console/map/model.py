"""What crosses the bridge to the map page, and what comes back from it.

Reports and alerts go to the page as small JSON-ready dicts; an area drawn in the page
comes back as GeoJSON and leaves here only as a validated `m.Polygon` or `m.Circle`, so a
broken shape never reaches the alert composer. Plain Python: no Qt.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from backend_client import geometry, limits
from backend_client import messages as m
from console.common.erasure import reporter_text
from console.common.exercise import is_exercise_report, pilot_words

#: popups show a preview; the full text is in the report pane
POPUP_TEXT_CHARS = 280


Bounds = tuple[float, float, float, float]  # west, south, east, north (degrees)


def view_bounds(text: str) -> Bounds | None:
    """The map's visible bounds as the page reports them (JSON [west, south, east, north]),
    or None when unreadable. Longitudes past the antimeridian (a world view) become the
    whole range, so nothing on the map is left out of "what the map shows"."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, list) or len(raw) != 4:
        return None
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in raw):
        return None
    west, south, east, north = (float(v) for v in raw)
    if south > north or west > east:
        return None
    if west < -180.0 or east > 180.0:
        west, east = -180.0, 180.0
    return west, max(south, -90.0), east, min(north, 90.0)


def area_bounds(area: m.Area) -> Bounds:
    """An alert area's bounding box (a circle's from its radius on the sphere)."""
    if isinstance(area, m.Circle):
        dlat = math.degrees(area.radius_m / geometry.EARTH_RADIUS_M)
        dlon = dlat / max(math.cos(math.radians(area.lat)), 1e-6)
        return area.lon - dlon, area.lat - dlat, area.lon + dlon, area.lat + dlat
    lons = [p[0] for p in area.coordinates]
    lats = [p[1] for p in area.coordinates]
    return min(lons), min(lats), max(lons), max(lats)


def overlaps(a: Bounds, b: Bounds) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


class AreaError(ValueError):
    """A drawn area the relay would refuse; the message is for the dispatcher."""


def report_payload(report: m.Report, tombstoned: bool = False) -> dict[str, Any]:
    text = report.text
    if len(text) > POPUP_TEXT_CHARS:
        text = text[: POPUP_TEXT_CHARS - 1] + "…"
    return {
        "id": report.report_id,
        "lat": report.lat,
        "lon": report.lon,
        "cat": report.category,
        "status": report.status,
        "prio": report.priority,
        "text": text,
        "who": reporter_text(report.reporter, tombstoned),
        "t": report.created_at,
        "inc": report.incident_ref or "",
        # exercise traffic: the page rings the marker and titles its popup in words
        "ex": is_exercise_report(report),
        "exLabel": pilot_words(report.pilot_id) if is_exercise_report(report) else "",
    }


def alert_label(alert: m.Alert) -> str:
    if alert.fewer_than is not None:
        return f"reaches fewer than {alert.fewer_than} phones"
    return f"delivered {alert.delivered} / read {alert.read} of {alert.recipients}"


def _shape(area: m.Area) -> dict[str, Any]:
    if isinstance(area, m.Circle):
        return {"kind": "circle", "lat": area.lat, "lon": area.lon, "r": area.radius_m}
    return {"kind": "polygon", "ring": [[lat, lon] for lon, lat in area.coordinates]}


def version_label(n: int, version: m.Alert) -> str:
    sent = time.strftime("%Y-%m-%d %H:%M", time.localtime(version.sent_at))
    return f"v{n} {version.msg_type} · sent {sent}"


def alert_payload(alert: m.Alert, versions: Sequence[m.Alert] = ()) -> dict[str, Any]:
    """The alert as it stands now; with `versions` (every message it went through, oldest
    first, the last being the current one) the earlier ones ride along as `superseded`."""
    payload = {
        "id": alert.alert_id,
        "state": alert.state,
        "headline": alert.info.headline,
        "label": alert_label(alert),
        **_shape(alert.info.area),
    }
    if len(versions) > 1:
        payload["superseded"] = [
            {
                "n": n,
                "label": version_label(n, v),
                "headline": v.info.headline,
                **_shape(v.info.area),
            }
            for n, v in enumerate(versions[:-1], 1)
        ]
    return payload


def outline_payload(
    outline_id: str, area: m.Polygon, title: str, label: str, *, dashed: bool = False
) -> dict[str, Any]:
    """A named area that is not an alert (a pilot plan's area or one of its zones), drawn
    like an alert's: solid, or dashed for a part of it; its title and label are text."""
    return {
        "id": outline_id,
        "state": "pending_approval" if dashed else "active",
        "headline": title,
        "label": label,
        **_shape(area),
    }


def alert_visible(alert: m.Alert) -> bool:
    """Only alerts still reaching people stay on the map unless asked for."""
    return alert.state in ("active", "pending_approval")


def area_from_geojson(feature: Any) -> m.Polygon | m.Circle:
    """A Leaflet.draw GeoJSON feature -> the wire shape, or `AreaError` saying why not.

    Polygons arrive as a GeoJSON Polygon (outer ring, closed). Circles arrive as a Point
    with `properties.radius` in metres (Leaflet's `L.Circle.getRadius()`).
    """
    if not isinstance(feature, dict):
        raise AreaError("The map sent an area the console could not read; draw it again.")
    geometry = feature.get("geometry") or {}
    kind = geometry.get("type")
    try:
        if kind == "Polygon":
            return _polygon(geometry.get("coordinates"))
        if kind == "Point":
            radius = (feature.get("properties") or {}).get("radius")
            return _circle(geometry.get("coordinates"), radius)
    except (TypeError, ValueError, IndexError, msgspec.ValidationError) as exc:
        if isinstance(exc, AreaError):
            raise
        raise AreaError(f"That area cannot be used for an alert ({exc}); draw it again.") from exc
    raise AreaError("Only polygons and circles can be used for an alert.")


def _polygon(coordinates: Any) -> m.Polygon:
    ring = [(float(p[0]), float(p[1])) for p in coordinates[0]]
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring.pop()  # the relay closes the ring itself
    fault = geometry.polygon_fault(ring)  # the relay's own rules, in its words
    if fault is not None:
        raise AreaError(fault.message)
    return msgspec.convert({"type": "polygon", "coordinates": ring}, m.Polygon)


def _circle(coordinates: Any, radius: Any) -> m.Circle:
    lon, lat = float(coordinates[0]), float(coordinates[1])
    radius_m = float(radius)
    if not math.isfinite(radius_m) or radius_m <= 0:
        raise AreaError("The circle has no radius; draw it again.")
    if radius_m > limits.MAX_RADIUS_M:
        raise AreaError(
            f"The circle's radius is {radius_m / 1000:.1f} km; "
            f"at most {limits.MAX_RADIUS_M / 1000:.0f} km is allowed."
        )
    return msgspec.convert(
        {"type": "circle", "lat": lat, "lon": lon, "radius_m": radius_m}, m.Circle
    )
