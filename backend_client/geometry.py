"""Plane and sphere arithmetic the plan and scenario files share, with no I/O.

`polygon_problem` states the relay's own validity rules for a drawn polygon (see
`relay/targeting.py`: corners on the map, no antimeridian crossing, three distinct
corners, some area, no self-intersection) in the words the relay uses, so a pilot plan
whose area the relay would refuse fails when the inspector loads it, not on the day.
Coordinates are `[lon, lat]` pairs treated as a plane in degrees, as the map draws them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import shapely

from backend_client import limits

__all__ = ["EARTH_RADIUS_M", "covers", "distance_m", "polygon_problem", "shape"]

EARTH_RADIUS_M = 6_371_000.0

Ring = Sequence[tuple[float, float]]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def polygon_problem(ring: Ring) -> str | None:
    """Why the relay would refuse this ring of `[lon, lat]` corners, or None if it is fine."""
    if len(ring) > limits.MAX_POLYGON_POINTS:
        return (
            f"the polygon has {len(ring)} corners; at most {limits.MAX_POLYGON_POINTS} "
            "are allowed. Simplify the shape"
        )
    if not all(math.isfinite(v) for p in ring for v in p):
        return "the polygon has a corner whose coordinates are not finite numbers"
    if any(abs(lon) > 180.0 or abs(lat) > 90.0 for lon, lat in ring):
        return (
            "the polygon has a corner off the map (longitude must be within -180..180 "
            "and latitude within -90..90); corners are [lon, lat], longitude first"
        )
    lons = [lon for lon, _ in ring]
    if lons and max(lons) - min(lons) > 180.0:
        return (
            "the polygon crosses the antimeridian (longitude 180): its corners span more "
            "than 180 degrees of longitude"
        )
    distinct = len(set(ring))
    if distinct < 3:
        return f"the polygon has fewer than 3 distinct corners ({distinct})"
    polygon = shape(ring)
    if shapely.MultiPoint(list(ring)).convex_hull.area == 0.0:
        return "the polygon has zero area (all its corners lie on one line)"
    if not polygon.is_valid:
        return (
            "the polygon is self-intersecting: its edges cross or touch each other; "
            "list the corners in order round the edge"
        )
    return None


def shape(ring: Ring) -> shapely.Polygon:
    """The shapely polygon of a ring (closed automatically), as the relay builds it."""
    return shapely.Polygon(list(ring))


def covers(ring: Ring, lat: float, lon: float) -> bool:
    """Whether the point is inside the polygon or on its edge (the relay's rule)."""
    return bool(shape(ring).covers(shapely.Point(lon, lat)))
