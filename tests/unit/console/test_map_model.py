"""The map's Qt-free model: what crosses the bridge to the page and what a drawn area
must be before it reaches the composer."""

from __future__ import annotations

import time
from typing import Any

import pytest

from backend_client import messages as m
from console.map.model import (
    POPUP_TEXT_CHARS,
    AreaError,
    alert_payload,
    alert_visible,
    area_bounds,
    area_from_geojson,
    overlaps,
    report_payload,
    view_bounds,
)


def report(text: str = "Two men trying door handles") -> m.Report:
    return m.Report(
        report_id="r-1",
        reporter="kestrel-1",
        category="burglary",
        text=text,
        lat=53.759,
        lon=-2.699,
        created_at=1_700_000_000.0,
        status="new",
        priority="normal",
        claimed_by=None,
        incident_ref=None,
        media=[],
    )


def alert(area: m.Polygon | m.Circle, state: str = "active") -> m.Alert:
    return m.Alert(
        alert_id="alr_1",
        sender="dana",
        sent_at=time.time(),
        msg_type="Alert",
        state=state,  # type: ignore[arg-type]
        info=m.AlertInfo(
            categories=["burglary"],
            area=area,
            area_desc="Elm Road",
            headline="Burglaries",
            expires_at=time.time() + 3600,
        ),
        recipients=40,
        delivered=12,
        read=3,
    )


def test_a_report_marker_carries_a_bounded_text() -> None:
    payload = report_payload(report("x" * 1000))
    assert payload["id"] == "r-1" and payload["cat"] == "burglary"
    assert (payload["lat"], payload["lon"]) == (53.759, -2.699)
    assert len(payload["text"]) == POPUP_TEXT_CHARS and payload["text"].endswith("…")
    assert report_payload(report("short"))["text"] == "short"
    assert payload["inc"] == ""


def test_an_alert_area_goes_to_the_page_as_lat_lon() -> None:
    square = m.Polygon(coordinates=[(-2.70, 53.75), (-2.69, 53.75), (-2.69, 53.76)])
    shape = alert_payload(alert(square))
    assert shape["kind"] == "polygon"
    assert shape["ring"][0] == [53.75, -2.70]  # Leaflet's order, not GeoJSON's
    assert shape["label"] == "delivered 12 / read 3 of 40"
    circle = alert_payload(alert(m.Circle(lat=53.7, lon=-2.6, radius_m=500)))
    assert (circle["kind"], circle["lat"], circle["lon"], circle["r"]) == (
        "circle",
        53.7,
        -2.6,
        500,
    )


@pytest.mark.parametrize(
    ("state", "shown"),
    [("active", True), ("pending_approval", True), ("cancelled", False), ("expired", False)],
)
def test_only_alerts_still_reaching_people_stay_on_the_map(state: str, shown: bool) -> None:
    area = m.Circle(lat=53.7, lon=-2.6, radius_m=500)
    assert alert_visible(alert(area, state)) is shown


def test_drawn_shapes_become_wire_areas() -> None:
    ring = [[-2.70, 53.75], [-2.69, 53.75], [-2.69, 53.76], [-2.70, 53.75]]
    polygon = area_from_geojson({"geometry": {"type": "Polygon", "coordinates": [ring]}})
    assert isinstance(polygon, m.Polygon)
    assert len(polygon.coordinates) == 3  # the closing point is the relay's to add
    circle = area_from_geojson(
        {
            "geometry": {"type": "Point", "coordinates": [-2.7, 53.7]},
            "properties": {"radius": 800},
        }
    )
    assert circle == m.Circle(lat=53.7, lon=-2.7, radius_m=800.0)


@pytest.mark.parametrize(
    ("feature", "words"),
    [
        (
            {
                "geometry": {"type": "Point", "coordinates": [-2.7, 53.7]},
                "properties": {"radius": 9e5},
            },
            "km",
        ),
        (
            {"geometry": {"type": "Point", "coordinates": [-2.7, 53.7]}, "properties": {}},
            "draw it again",
        ),
        (
            {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}},
            "three different corners",
        ),
        (
            {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 95], [2, 0]]]}},
            "off the map",  # the relay's own words, from the shared rules
        ),
        (
            {"geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}},
            "polygons and circles",
        ),
    ],
)
def test_unusable_areas_are_refused_with_a_reason(feature: dict[str, Any], words: str) -> None:
    with pytest.raises(AreaError, match=words):
        area_from_geojson(feature)


def test_a_polygon_across_the_antimeridian_is_refused_with_a_clear_message() -> None:
    ring = [[179.5, -1.0], [-179.5, -1.0], [-179.5, 1.0], [179.5, 1.0], [179.5, -1.0]]
    with pytest.raises(AreaError, match="antimeridian"):
        area_from_geojson({"geometry": {"type": "Polygon", "coordinates": [ring]}})


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("[-2.8, 53.7, -2.6, 53.8]", (-2.8, 53.7, -2.6, 53.8)),
        ("[-200, -95, 200, 95]", (-180.0, -90.0, 180.0, 90.0)),  # a world view, wrapped
        ("[1, 2, 3]", None),
        ('["a", 1, 2, 3]', None),
        ("[3, 1, 2, 4]", None),  # west east of east
        ("[NaN, 1, 2, 3]", None),
        ("not json", None),
        ('{"west": 1}', None),
    ],
)
def test_the_view_the_page_reports_is_read_strictly(text: str, bounds: object) -> None:
    assert view_bounds(text) == bounds


def test_an_alert_overlaps_the_view_by_its_area_circles_too() -> None:
    view = (-2.72, 53.75, -2.68, 53.77)
    square = m.Polygon(coordinates=[(-2.71, 53.76), (-2.70, 53.76), (-2.70, 53.765)])
    assert overlaps(area_bounds(square), view)
    far = m.Polygon(coordinates=[(-1.0, 52.0), (-0.9, 52.0), (-0.9, 52.1)])
    assert not overlaps(area_bounds(far), view)
    # a circle centred outside the view whose radius reaches into it (1 km east of it)
    near = m.Circle(lat=53.76, lon=-2.665, radius_m=1500)
    west, south, east, north = area_bounds(near)
    assert west < -2.68 < east and south < 53.76 < north
    assert overlaps(area_bounds(near), view)
    assert not overlaps(area_bounds(m.Circle(lat=53.76, lon=-2.6, radius_m=500)), view)
