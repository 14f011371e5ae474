"""The export writers (backend_client/exports), each read back by an independent reader:
GeoJSON by two RFC 7946 validators (geojson-validator, python-geojson) and shapely for
ring orientation; KML against the OGC KML 2.2 schema (the XSD fastkml ships) with lxml;
CSV by the standard library's csv module. Hostile words must come back as the same words.
"""

from __future__ import annotations

import csv
import html
import io
import json
from importlib import resources

import geojson
import geojson_validator
import pytest
import shapely
from lxml import etree

from backend_client import geometry
from backend_client import messages as m
from backend_client.exports import COLUMNS, IncidentSummary, to_csv, to_geojson, to_kml
from backend_client.exports.common import area_ring, circle_ring, pos

geojson_validator.configure_logging(enabled=False)

HOSTILE = [
    "<script>alert(1)</script>",
    "<b>bold</b> & <a href='javascript:x'>link</a>",
    "end of CDATA ]]> and <![CDATA[ start",
    "\u202eRTL override \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "line one\nline two\r\nline three",
    'commas, and "quotes", and ;semicolons;',
    '=HYPERLINK("http://evil.example","click")',
    "+SUM(1,2)",
    "-2+3",
    "@cmd",
    "</description></Placemark><Placemark><name>forged</name>",
]
KML = "{http://www.opengis.net/kml/2.2}"


def report(i: int, text: str, lat: float = 53.76, lon: float = -2.70) -> m.Report:
    return m.Report(
        report_id=f"r{i}",
        reporter="pseudonym-must-not-leak",
        category=m.CATEGORIES[i % len(m.CATEGORIES)],
        text=text,
        lat=lat + i * 0.001,
        lon=lon - i * 0.001,
        created_at=1_764_633_600.0 + i,  # 2025-12-02T00:00:00Z + i s
        status="new",
        priority="normal",
        claimed_by=None,
        incident_ref=None,
        media=[],
    )


def alert(aid: str, area: m.Area, text: str = "Lock sheds") -> m.Alert:
    return m.Alert(
        alert_id=aid,
        sender="pc.smith",
        sent_at=1_764_633_600.0,
        msg_type="Alert",
        state="active",
        info=m.AlertInfo(
            categories=["burglary", "rural"],
            area=area,
            area_desc=text,
            headline=text,
            description=text,
            instruction=text,
            expires_at=1_764_640_800.0,
        ),
        recipients=0,
        delivered=0,
        read=0,
        fewer_than=5,
    )


# clockwise as given (the writer must turn it round)
CLOCKWISE = m.Polygon(coordinates=[(-2.71, 53.75), (-2.71, 53.77), (-2.69, 53.77), (-2.69, 53.75)])
CIRCLE = m.Circle(lat=53.76, lon=-2.70, radius_m=500.0)

REPORTS = [report(i, t) for i, t in enumerate(HOSTILE)]
ALERTS = [alert("a-poly", CLOCKWISE, HOSTILE[0]), alert("a-circle", CIRCLE, HOSTILE[2])]
INCIDENTS = [
    IncidentSummary("INC-1", HOSTILE[6], 1_764_633_700.0, "sgt.jones", REPORTS[:3]),
    IncidentSummary("INC-2", "no reports yet", 1_764_633_800.0, "sgt.jones", ()),
]


# ------------------------------------------------------------------ geometry shared by all


def test_rings_are_closed_and_counter_clockwise() -> None:
    for area in (CLOCKWISE, CIRCLE):
        ring = area_ring(area)
        assert ring[0] == ring[-1]
        assert shapely.LinearRing(ring).is_ccw
    already_ccw = m.Polygon(coordinates=list(reversed(CLOCKWISE.coordinates)))
    assert shapely.LinearRing(area_ring(already_ccw)).is_ccw


def test_circle_polygon_keeps_its_radius() -> None:
    ring = circle_ring(CIRCLE)
    assert len(ring) == 65
    for lon, lat in ring:
        assert abs(geometry.distance_m(CIRCLE.lat, CIRCLE.lon, lat, lon) - 500.0) < 0.5


# ------------------------------------------------------------------ GeoJSON


def test_geojson_is_valid_rfc7946() -> None:
    data = to_geojson(REPORTS, ALERTS, INCIDENTS)
    doc = json.loads(data.decode("utf-8"))
    assert geojson_validator.validate_structure(doc, check_crs=True) == {}
    result = geojson_validator.validate_geometries(doc)
    assert result["invalid"] == {}, result
    assert result["problematic"] == {}, result
    obj = geojson.loads(data.decode("utf-8"))
    assert obj.is_valid, obj.errors()
    assert "crs" not in doc
    assert len(doc["features"]) == len(REPORTS) + len(ALERTS) + len(INCIDENTS)


def test_geojson_positions_are_lon_lat_of_reports_only() -> None:
    doc = json.loads(to_geojson(REPORTS, (), INCIDENTS))
    points = {
        tuple(c)
        for f in doc["features"]
        if f["geometry"]
        for c in (
            [f["geometry"]["coordinates"]]
            if f["geometry"]["type"] == "Point"
            else f["geometry"]["coordinates"]
        )
    }
    assert points == {pos(r.lon, r.lat) for r in REPORTS}
    assert "pseudonym-must-not-leak" not in json.dumps(doc)
    first = doc["features"][0]
    assert first["geometry"]["coordinates"] == [-2.7, 53.76]
    assert first["properties"]["created_at"] == "2025-12-02T00:00:00Z"


def test_geojson_alert_rings_right_hand() -> None:
    doc = json.loads(to_geojson((), ALERTS))
    for f in doc["features"]:
        (ring,) = f["geometry"]["coordinates"]
        assert shapely.Polygon(ring).exterior.is_ccw
        assert shapely.Polygon(ring).is_valid
    circle = shapely.Polygon(doc["features"][1]["geometry"]["coordinates"][0])
    assert circle.contains(shapely.Point(CIRCLE.lon, CIRCLE.lat))


def test_geojson_hostile_text_round_trips() -> None:
    doc = json.loads(to_geojson(REPORTS, ALERTS, INCIDENTS))
    texts = [f["properties"]["text"] for f in doc["features"][: len(REPORTS)]]
    assert texts == HOSTILE
    assert doc["features"][len(REPORTS)]["properties"]["headline"] == HOSTILE[0]


# ------------------------------------------------------------------ KML


@pytest.fixture(scope="module")
def kml_schema() -> etree.XMLSchema:
    xsd = resources.files("fastkml") / "schema" / "ogckml22.xsd"
    with resources.as_file(xsd) as path:
        return etree.XMLSchema(etree.parse(str(path)))


def test_kml_schema_rejects_a_broken_document(kml_schema: etree.XMLSchema) -> None:
    """The check can fail: a Placemark with two geometries is not KML 2.2."""
    root = etree.fromstring(to_kml(REPORTS[:1]))
    pm = root.find(f".//{KML}Placemark")
    assert pm is not None
    etree.SubElement(pm, KML + "Point")
    etree.SubElement(pm, KML + "bogus")
    assert not kml_schema.validate(root)


def test_kml_is_valid_against_ogc_schema(kml_schema: etree.XMLSchema) -> None:
    data = to_kml(REPORTS, ALERTS, INCIDENTS)
    root = etree.fromstring(data)
    assert kml_schema.validate(root), kml_schema.error_log
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    placemarks = root.findall(f".//{KML}Placemark")
    assert len(placemarks) == len(REPORTS) + len(ALERTS) + len(INCIDENTS)
    assert b"pseudonym-must-not-leak" not in data


def test_kml_styles_per_category_and_polygons(kml_schema: etree.XMLSchema) -> None:
    root = etree.fromstring(to_kml(REPORTS, ALERTS))
    styles = {s.get("id") for s in root.iter(KML + "Style")}
    assert {f"cat-{c}" for c in m.CATEGORIES} <= styles
    for pm in root.iter(KML + "Placemark"):
        url = pm.findtext(KML + "styleUrl")
        assert url is not None and url[1:] in styles
    polys = root.findall(f".//{KML}Polygon//{KML}coordinates")
    assert len(polys) == 2
    for coords in polys:
        assert coords.text is not None
        ring = [tuple(map(float, p.split(","))) for p in coords.text.split()]
        assert ring[0] == ring[-1] and shapely.LinearRing(ring).is_ccw
    point = root.find(f".//{KML}Point/{KML}coordinates")
    assert point is not None and point.text == "-2.7,53.76"


def test_kml_hostile_text_stays_text() -> None:
    root = etree.fromstring(to_kml(REPORTS, ALERTS, INCIDENTS))
    names = [n.text for n in root.iter(KML + "name")]
    assert "forged" not in names
    for pm, words in zip(root.iter(KML + "Placemark"), HOSTILE, strict=False):
        desc = pm.findtext(KML + "description")
        assert desc is not None
        # a viewer that renders it as HTML sees no markup, only the words
        assert "<" not in desc and ">" not in desc
        assert html.unescape(desc) == words
        value = pm.find(f"{KML}ExtendedData/{KML}Data[@name='text']/{KML}value")
        assert value is not None and value.text == words


# ------------------------------------------------------------------ CSV


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def test_csv_reports_one_row_each_with_documented_columns() -> None:
    data = to_csv("reports", REPORTS)
    assert not data.startswith(b"\xef\xbb\xbf")
    header = next(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert tuple(header) == COLUMNS["reports"]
    rows = read_csv(data)
    assert [r["report_id"] for r in rows] == [r.report_id for r in REPORTS]
    assert rows[0]["created_at"] == "2025-12-02T00:00:00Z"
    assert (float(rows[1]["lon"]), float(rows[1]["lat"])) == (-2.701, 53.761)
    assert b"pseudonym-must-not-leak" not in data


def test_csv_hostile_text_and_formula_injection() -> None:
    rows = read_csv(to_csv("reports", REPORTS))
    for row, words in zip(rows, HOSTILE, strict=True):
        if words[0] in "=+-@":
            assert row["text"] == "'" + words
        else:
            assert row["text"] == words
    # a negative longitude is a number, not a formula
    assert rows[0]["lon"].startswith("-")


def test_csv_bom_for_excel() -> None:
    data = to_csv("alerts", alerts=ALERTS, bom=True)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert [r["alert_id"] for r in rows] == ["a-poly", "a-circle"]
    assert rows[1]["area_kind"] == "circle" and rows[1]["radius_m"] == "500.0"
    assert shapely.from_wkt(rows[1]["area_wkt"]).exterior.is_ccw
    assert rows[0]["recipients"] == ""  # under the minimum: not given
    assert rows[0]["sent_at"] == "2025-12-02T00:00:00Z"


def test_csv_incidents() -> None:
    rows = read_csv(to_csv("incidents", incidents=INCIDENTS))
    assert rows[0]["title"] == "'" + HOSTILE[6]
    assert rows[0]["report_ids"] == "r0;r1;r2" and rows[0]["report_count"] == "3"
    assert rows[1]["report_count"] == "0"


def test_docs_list_the_csv_columns() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "interop.md").read_text()
    for kind, cols in COLUMNS.items():
        line = next(x for x in doc.splitlines() if x.startswith(f"{kind}: "))
        assert tuple(line.removeprefix(f"{kind}: ").split(", ")) == cols


def test_characters_xml_cannot_hold_stay_in_place() -> None:
    words = "bell\x07 and nul\x00 here"
    root = etree.fromstring(to_kml([report(0, words)]))
    value = root.find(f".//{KML}Data[@name='text']/{KML}value")
    assert value is not None and value.text == "bell\ufffd and nul\ufffd here"
    assert read_csv(to_csv("reports", [report(0, "a\nb")]))[0]["text"] == "a\nb"


def test_kml_balloons_show_only_the_escaped_description(kml_schema: etree.XMLSchema) -> None:
    """Google Earth and ArcGIS put ExtendedData into the default balloon as HTML: every
    style's balloon is the description alone, so the exact words in ExtendedData (data
    for GIS) are never rendered."""
    root = etree.fromstring(to_kml(REPORTS, ALERTS, INCIDENTS))
    assert kml_schema.validate(root), kml_schema.error_log
    balloons = {
        s.get("id"): s.findtext(f"{KML}BalloonStyle/{KML}text") for s in root.iter(KML + "Style")
    }
    assert balloons and set(balloons.values()) == {"$[description]"}
    for pm in root.iter(KML + "Placemark"):
        url = pm.findtext(KML + "styleUrl")
        assert url is not None and balloons[url[1:]] == "$[description]"
        assert pm.find(KML + "Style") is None and pm.find(KML + "StyleMap") is None


def excel_split(line: str, sep: str) -> list[str]:
    """A line split into cells as Excel does with its list separator: `sep` starts a new
    cell only outside quotes, and every `"` turns quoting on or off."""
    cells, cell, quoted = [], "", False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            cells.append(cell)
            cell = ""
        else:
            cell += ch
    return [*cells, cell]


def test_csv_quotes_every_text_cell_so_a_semicolon_excel_keeps_it_whole() -> None:
    """Excel in a ';' locale splits unquoted cells on ';': `x;=HYPERLINK(...)` would start
    a new cell with a live formula. Quoted, it stays one cell however the line is split."""
    hostile = ['x;=HYPERLINK("http://evil.example","click")', " =1+1", "\n@cmd", "x;=1+2"]
    data = to_csv("reports", [report(i, t) for i, t in enumerate(hostile)])
    lines = data.decode("utf-8").split("\r\n")
    for line in lines[1:]:
        for piece in excel_split(line, ";"):
            assert not piece.lstrip('" ').startswith(("=", "+", "-", "@")), piece
    rows = read_csv(data)
    assert [r["text"] for r in rows] == [hostile[0], "' =1+1", "'\n@cmd", "x;=1+2"]
    # text quoted, numbers not: a reader that types by quoting gets numbers back
    typed = list(
        csv.reader(io.StringIO(data.decode("utf-8"), newline=""), quoting=csv.QUOTE_NONNUMERIC)
    )
    cols = COLUMNS["reports"]
    first = dict(zip(cols, typed[1], strict=True))
    assert isinstance(first["lat"], float) and isinstance(first["media_count"], float)
    assert first["report_id"] == "r0" and first["exercise"] == "false"
    assert '"r0"' in lines[1] and ",53.76," in lines[1]
