"""CSV: UTF-8 (a BOM on request, for Excel), ISO 8601 UTC times, one row per item, the
columns in `COLUMNS` (docs/interop.md lists them).

A text cell that a spreadsheet would take for a formula (it begins, after any leading
whitespace, with `=`, `+`, `-`, `@`, a tab or a carriage return) is written with a leading
apostrophe, so Excel and LibreOffice show it as text and never evaluate it (OWASP, "CSV
injection"). Every text cell is quoted, numbers are not: an Excel that splits on `;` (the
list separator of many European locales) keeps `"x;=HYPERLINK(...)"` one cell instead of
starting a new one at the formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from backend_client import messages as m
from backend_client.exports import common
from backend_client.exports.common import IncidentSummary, Kind

COLUMNS: dict[Kind, tuple[str, ...]] = {
    "reports": (
        "report_id",
        "created_at",
        "category",
        "status",
        "priority",
        "lat",
        "lon",
        "text",
        "claimed_by",
        "incident_ref",
        "media_count",
        "close_reason",
        "duplicate_of",
        "exercise",
        "pilot_id",
    ),
    "alerts": (
        "alert_id",
        "sent_at",
        "expires_at",
        "msg_type",
        "state",
        "status",
        "headline",
        "event",
        "description",
        "instruction",
        "categories",
        "area_desc",
        "area_kind",
        "radius_m",
        "area_wkt",
        "urgency",
        "severity",
        "certainty",
        "contact",
        "incident_ref",
        "sender",
        "recipients",
        "delivered",
        "read",
        "exercise",
    ),
    "incidents": (
        "incident_ref",
        "title",
        "opened_at",
        "opened_by",
        "report_count",
        "report_ids",
        "exercise",
    ),
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str | int | float:
    """A cell: numbers as they are (written unquoted), booleans as `true`/`false`, other
    text behind `'` when it looks like a formula, leading whitespace or not."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    text = str(value)
    looks = text.startswith(_FORMULA_START) or text.lstrip().startswith(_FORMULA_START)
    return "'" + text if looks else text


def _wkt(ring: Sequence[tuple[float, float]]) -> str:
    return "POLYGON((" + ", ".join(f"{lon!r} {lat!r}" for lon, lat in ring) + "))"


def _rows(
    kind: Kind,
    reports: Sequence[m.Report],
    alerts: Sequence[m.Alert],
    incidents: Sequence[IncidentSummary],
) -> Iterable[dict[str, object]]:
    if kind == "reports":
        for r in reports:
            lon, lat = common.pos(r.lon, r.lat)
            yield {**common.report_fields(r), "lat": lat, "lon": lon}
    elif kind == "alerts":
        for a in alerts:
            yield {**common.alert_fields(a), "area_wkt": _wkt(common.area_ring(a.info.area))}
    else:
        for s in incidents:
            yield common.incident_fields(s)


def to_csv(
    kind: Kind,
    reports: Sequence[m.Report] = (),
    alerts: Sequence[m.Alert] = (),
    incidents: Sequence[IncidentSummary] = (),
    *,
    bom: bool = False,
) -> bytes:
    """One kind of item as CSV (a header row, then one row per item), UTF-8 bytes."""
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
    cols = COLUMNS[kind]
    w.writerow(cols)
    for row in _rows(kind, reports, alerts, incidents):
        w.writerow([safe_cell(row[c]) for c in cols])
    return ("\ufeff" if bom else "").encode("utf-8") + out.getvalue().encode("utf-8")
