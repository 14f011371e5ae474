"""Plane and sphere arithmetic the plan and scenario files share, with no I/O.

`polygon_fault` is the one statement of the rules for a drawn polygon (corners on the
map, no antimeridian crossing, three distinct corners, some area, no self-intersection)
that the relay enforces, the console's map checks before sending, and a pilot plan is
checked against on load, so a plan whose area the relay would refuse fails when the
inspector loads it, not on the day.
Coordinates are `[lon, lat]` pairs treated as a plane in degrees, as the map draws them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import shapely
from shapely.validation import explain_validity

from backend_client import limits

__all__ = [
    "EARTH_RADIUS_M",
    "Fault",
    "covers",
    "distance_m",
    "polygon_fault",
    "polygon_problem",
    "shape",
]

EARTH_RADIUS_M = 6_371_000.0

Ring = Sequence[tuple[float, float]]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class Fault:
    """Why a polygon is refused: a sentence saying what is wrong and how to draw it right,
    and where (lon, lat) the shape goes wrong, when that is one point (a crossing)."""

    message: str
    where: tuple[float, float] | None = None


_VALIDITY = re.compile(r"^(?P<reason>[^\[]*)(\[(?P<x>\S+) (?P<y>\S+)\])?")


def polygon_fault(ring: Ring) -> Fault | None:
    """The relay's rules for a drawn polygon of `[lon, lat]` corners, in its words: the
    relay (relay/targeting.py), the console's map and the pilot plan checks all ask here,
    so what one accepts the others do. None: the polygon is fine."""
    if len(ring) > limits.MAX_POLYGON_POINTS:
        return Fault(
            f"The polygon has {len(ring)} corners; at most {limits.MAX_POLYGON_POINTS} "
            "are allowed. Simplify the shape."
        )
    if not all(math.isfinite(v) for p in ring for v in p):
        return Fault(
            "The polygon has a corner whose coordinates are not finite numbers; redraw it."
        )
    if any(abs(lon) > 180.0 or abs(lat) > 90.0 for lon, lat in ring):
        return Fault(
            "The polygon has a corner off the map (longitude must be within -180..180 "
            "and latitude within -90..90); redraw it."
        )
    lons = [lon for lon, _ in ring]
    if lons and max(lons) - min(lons) > 180.0:
        return Fault(
            "The polygon crosses the antimeridian (longitude 180): its corners span more "
            "than 180 degrees of longitude, so it would cover the rest of the world "
            "instead. Draw one area on each side of the 180th meridian."
        )
    distinct = len(set(ring))
    if distinct < 3:
        return Fault(
            f"The polygon has fewer than 3 distinct points ({distinct}); "
            "draw at least three different corners."
        )
    if shapely.MultiPoint(list(ring)).convex_hull.area == 0.0:
        return Fault(
            "The polygon has zero area (all its corners lie on one line); "
            "draw a shape that encloses some ground."
        )
    polygon = shape(ring)
    if not polygon.is_valid:
        reason = explain_validity(polygon)
        match = _VALIDITY.match(reason)
        where: tuple[float, float] | None = None
        if match and match.group("x") is not None:
            try:
                where = (float(match.group("x")), float(match.group("y")))
            except ValueError:
                where = None
        if "self-intersection" in reason.lower():
            return Fault(
                "The polygon is self-intersecting: its edges cross or touch each other. "
                "Redraw it so that no two edges meet except at neighbouring corners.",
                where,
            )
        return Fault(f"The polygon is not a valid shape ({reason}); redraw it.", where)
    return None


def polygon_problem(ring: Ring) -> str | None:
    """`polygon_fault`'s sentence, or None."""
    fault = polygon_fault(ring)
    return None if fault is None else fault.message


def shape(ring: Ring) -> shapely.Polygon:
    """The shapely polygon of a ring (closed automatically), as the relay builds it."""
    return shapely.Polygon(list(ring))


def covers(ring: Ring, lat: float, lon: float) -> bool:
    """Whether the point is inside the polygon or on its edge (the relay's rule)."""
    return bool(shape(ring).covers(shapely.Point(lon, lat)))
