"""Exports of what Lookout shows, for other forces, CAD, GIS and statistics: GeoJSON
(RFC 7946), KML 2.2 and CSV (docs/interop.md).

Pure writers: they take the wire structs (`m.Report`, `m.Alert`) and `IncidentSummary`
and return bytes, so the console (what the feed, map or incident view shows) and
`lookout-relay export` (from the relay's database) write the same files. Only a
report's own position ever appears, never a device's: these structs carry no other.
"""

from backend_client.exports.common import IncidentSummary, Kind
from backend_client.exports.csvfile import COLUMNS, to_csv
from backend_client.exports.geojson import to_geojson
from backend_client.exports.kml import to_kml

__all__ = ["COLUMNS", "IncidentSummary", "Kind", "to_csv", "to_geojson", "to_kml"]
