"""Exports of what Lookout shows, for other forces, CAD, GIS and statistics: GeoJSON
(RFC 7946), KML 2.2 and CSV (docs/interop.md).

Pure writers: they take the wire structs (`m.Report`, `m.Alert`) and `IncidentSummary`
and return bytes, so the console (what the feed, map or incident view shows) and
`lookout-relay export` (from the relay's database) write the same files. Only a
report's own position ever appears, never a device's: these structs carry no other.
"""

from collections.abc import Sequence
from typing import Literal

from backend_client import messages as m
from backend_client.exports.common import IncidentSummary, Kind
from backend_client.exports.csvfile import COLUMNS, to_csv
from backend_client.exports.geojson import to_geojson
from backend_client.exports.kml import to_kml

Format = Literal["geojson", "kml", "csv"]
FORMATS: tuple[Format, ...] = ("geojson", "kml", "csv")
KINDS: tuple[Kind, ...] = ("reports", "alerts", "incidents")
#: the file name ending of each format
SUFFIXES: dict[Format, str] = {"geojson": ".geojson", "kml": ".kml", "csv": ".csv"}


def render(
    kind: Kind,
    fmt: Format,
    reports: Sequence[m.Report] = (),
    alerts: Sequence[m.Alert] = (),
    incidents: Sequence[IncidentSummary] = (),
    *,
    bom: bool = False,
) -> bytes:
    """One kind of item in one format: what the CLI and the console both write."""
    if fmt == "geojson":
        return to_geojson(reports, alerts, incidents)
    if fmt == "kml":
        return to_kml(reports, alerts, incidents, name=f"Lookout {kind}")
    return to_csv(kind, reports, alerts, incidents, bom=bom)


__all__ = [
    "COLUMNS",
    "FORMATS",
    "KINDS",
    "SUFFIXES",
    "Format",
    "IncidentSummary",
    "Kind",
    "render",
    "to_csv",
    "to_geojson",
    "to_kml",
]
