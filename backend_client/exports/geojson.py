"""GeoJSON (RFC 7946): a FeatureCollection, positions `[lon, lat]`, exterior rings
counter-clockwise, no `crs` member (WGS 84 is implied), circles as polygons."""

from __future__ import annotations

import json
from collections.abc import Sequence

from backend_client import messages as m
from backend_client.exports import common
from backend_client.exports.common import IncidentSummary


def _feature(fid: str, geometry: dict[str, object], props: dict[str, object]) -> dict[str, object]:
    return {"type": "Feature", "id": fid, "geometry": geometry, "properties": props}


def _point(r: m.Report) -> dict[str, object]:
    return {"type": "Point", "coordinates": list(common.pos(r.lon, r.lat))}


def report_feature(r: m.Report) -> dict[str, object]:
    return _feature(r.report_id, _point(r), common.report_fields(r))


def alert_feature(a: m.Alert) -> dict[str, object]:
    ring = [[lon, lat] for lon, lat in common.area_ring(a.info.area)]
    geometry: dict[str, object] = {"type": "Polygon", "coordinates": [ring]}
    return _feature(a.alert_id, geometry, common.alert_fields(a))


def incident_feature(s: IncidentSummary) -> dict[str, object]:
    geometry: dict[str, object] | None = {
        "type": "MultiPoint",
        "coordinates": [list(common.pos(r.lon, r.lat)) for r in s.reports],
    }
    if not s.reports:
        geometry = None  # RFC 7946 3.2: an unlocated feature has a null geometry
    return {
        "type": "Feature",
        "id": s.incident_ref,
        "geometry": geometry,
        "properties": common.incident_fields(s),
    }


def to_geojson(
    reports: Sequence[m.Report] = (),
    alerts: Sequence[m.Alert] = (),
    incidents: Sequence[IncidentSummary] = (),
) -> bytes:
    """A FeatureCollection of the given items, UTF-8 JSON."""
    features = (
        [report_feature(r) for r in reports]
        + [alert_feature(a) for a in alerts]
        + [incident_feature(s) for s in incidents]
    )
    doc = {"type": "FeatureCollection", "features": features}
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")
