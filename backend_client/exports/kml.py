"""KML 2.2 (OGC 07-147r2): one folder per kind, a style per report category, alert
areas (circles too) as polygons.

Every element is built with lxml, so text is escaped by the XML library. Viewers such
as Google Earth render `<description>` as HTML, so words are HTML-escaped before they
go in (a reader shows `<script>` as those characters, never runs it). The same words
stand exact in `<ExtendedData>`, data for GIS tools; Google Earth and ArcGIS would put
its names and values into the default balloon's HTML, so every style carries a
`<BalloonStyle>` whose text is `$[description]` alone, and no balloon renders them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from lxml import etree

from backend_client import messages as m
from backend_client.exports import common
from backend_client.exports.common import IncidentSummary

NS = "http://www.opengis.net/kml/2.2"
#: every style's balloon: the placemark's description, the one HTML-escaped field
BALLOON_TEXT = "$[description]"
_K = f"{{{NS}}}"

#: KML colours are aabbggrr; one per category, distinct at a glance
_CATEGORY_COLOURS: dict[str, str] = {
    "burglary": "ff0000e6",
    "vehicle": "ff00a5ff",
    "drugs": "ff800080",
    "missing_person": "ffff00ff",
    "fly_tipping": "ff2f6b55",
    "antisocial": "ff0080ff",
    "rural": "ff228b22",
    "horse": "ff13458b",
    "canal": "ffe16941",
    "school": "ff00d7ff",
    "cycle": "ffd1ce00",
    "business": "ff808080",
    "violence": "ff00008b",
    "other": "ffa9a9a9",
}
# XML 1.0 forbids these characters; a word containing one keeps its place as U+FFFD
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _clean(text: object) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def _sub(parent: etree._Element, tag: str, text: object | None = None) -> etree._Element:
    el = etree.SubElement(parent, _K + tag)
    if text is not None:
        el.text = _clean(text)
    return el


def _style(doc: etree._Element, sid: str, colour: str, poly: bool) -> None:
    style = _sub(doc, "Style")
    style.set("id", sid)
    if poly:
        line = _sub(style, "LineStyle")
        _sub(line, "color", colour)
        _sub(line, "width", "2")
        fill = _sub(style, "PolyStyle")
        _sub(fill, "color", "40" + colour[2:])  # translucent fill
    else:
        icon = _sub(style, "IconStyle")
        _sub(icon, "color", colour)
    # the balloon shows the (HTML-escaped) description and nothing else: the default
    # balloon would also render each ExtendedData name and value as HTML
    _sub(_sub(style, "BalloonStyle"), "text", BALLOON_TEXT)


def _placemark(
    folder: etree._Element,
    pid: str,
    name: str,
    description: str,
    when: float | None,
    style: str,
    fields: dict[str, object],
) -> etree._Element:
    pm = _sub(folder, "Placemark")
    pm.set("id", "p-" + re.sub(r"[^A-Za-z0-9_.-]", "_", pid))
    _sub(pm, "name", name)
    _sub(pm, "description", html.escape(_clean(description)))
    if when is not None:
        _sub(_sub(pm, "TimeStamp"), "when", common.iso_utc(when))
    _sub(pm, "styleUrl", "#" + style)
    data = _sub(pm, "ExtendedData")
    for key, value in fields.items():
        d = _sub(data, "Data")
        d.set("name", key)
        _sub(d, "value", str(value).lower() if isinstance(value, bool) else value)
    return pm


def _coords(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{lon!r},{lat!r}" for lon, lat in points)


def to_kml(
    reports: Sequence[m.Report] = (),
    alerts: Sequence[m.Alert] = (),
    incidents: Sequence[IncidentSummary] = (),
    name: str = "Lookout export",
) -> bytes:
    """A KML 2.2 document of the given items, UTF-8."""
    root = etree.Element(_K + "kml", nsmap={None: NS})
    doc = _sub(root, "Document")
    _sub(doc, "name", name)
    for cat, colour in _CATEGORY_COLOURS.items():
        _style(doc, "cat-" + cat, colour, poly=False)
    _style(doc, "alert", "ff0000ff", poly=True)
    _style(doc, "incident", "ffff0000", poly=False)
    if reports:
        folder = _sub(doc, "Folder")
        _sub(folder, "name", "Reports")
        for r in reports:
            title = f"{r.category} {r.report_id}"
            pm = _placemark(
                folder,
                r.report_id,
                title,
                r.text,
                r.created_at,
                "cat-" + r.category,
                common.report_fields(r),
            )
            _sub(_sub(pm, "Point"), "coordinates", _coords([common.pos(r.lon, r.lat)]))
    if alerts:
        folder = _sub(doc, "Folder")
        _sub(folder, "name", "Alerts")
        for a in alerts:
            text = "\n\n".join(t for t in (a.info.description, a.info.instruction) if t)
            pm = _placemark(
                folder,
                a.alert_id,
                a.info.headline,
                text,
                a.sent_at,
                "alert",
                common.alert_fields(a),
            )
            ring = _sub(_sub(_sub(pm, "Polygon"), "outerBoundaryIs"), "LinearRing")
            _sub(ring, "coordinates", _coords(common.area_ring(a.info.area)))
    if incidents:
        folder = _sub(doc, "Folder")
        _sub(folder, "name", "Incidents")
        for s in incidents:
            pm = _placemark(
                folder,
                s.incident_ref,
                f"{s.incident_ref} {s.title}",
                s.title,
                s.opened_at,
                "incident",
                common.incident_fields(s),
            )
            if s.reports:
                multi = _sub(pm, "MultiGeometry")
                for r in s.reports:
                    _sub(_sub(multi, "Point"), "coordinates", _coords([common.pos(r.lon, r.lat)]))
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return out
