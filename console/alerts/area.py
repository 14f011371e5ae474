"""Plain-words descriptions of a drawn alert area (the CAP `areaDesc` default)."""

from __future__ import annotations

from backend_client import messages as m


def distinct_points(area: m.Polygon) -> int:
    """Points in the ring, not counting a closing point equal to the first."""
    pts = list(area.coordinates)
    if len(pts) > 1 and tuple(pts[0]) == tuple(pts[-1]):
        pts = pts[:-1]
    return len(pts)


def format_radius(radius_m: float) -> str:
    if radius_m < 1000:
        return f"{radius_m:.0f} m"
    km = radius_m / 1000
    return f"{km:.1f} km" if km < 10 else f"{km:.0f} km"


def centre(area: m.Area) -> tuple[float, float]:
    """(lat, lon) of a circle's centre or a polygon's vertex average (good enough to name it)."""
    if isinstance(area, m.Circle):
        return area.lat, area.lon
    ring = list(area.coordinates)
    n = distinct_points(area)
    ring = ring[:n]
    return sum(p[1] for p in ring) / n, sum(p[0] for p in ring) / n


def describe_area(area: m.Area) -> str:
    lat, lon = centre(area)
    if isinstance(area, m.Circle):
        return f"{format_radius(area.radius_m)} radius around {lat:.4f}, {lon:.4f}"
    return f"Polygon, {distinct_points(area)} points, centred near {lat:.4f}, {lon:.4f}"
