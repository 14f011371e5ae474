"""The map widget on its real page in QtWebEngine (headless), driven through a real session.

Events go in through `ConsoleSession.dispatch`, the path the relay's events take; the page
is queried with `runJavaScript`. Nothing is faked: a RelayClient that is never started
stands behind the session.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtTest import QTest

from backend_client import messages as m
from console.map.tiles import parse_tile_source
from console.map.widget import MapWidget
from console.session import ConsoleSession
from console.settings import ConsoleSettings
from console.theme import STATUS_COLOURS
from tests.support.console import close_map, js, offline_session, shown_map

pytestmark = pytest.mark.gui

HOSTILE = "<img src=x onerror=window.__pwned=1>"
PRESTON = (53.7590, -2.6990)


def report(i: int, **changes: Any) -> m.Report:
    fields: dict[str, Any] = {
        "report_id": f"r{i}",
        "reporter": f"walker-{i % 7}",
        "category": ("burglary", "vehicle", "drugs", "antisocial")[i % 4],
        "text": f"report number {i}",
        "lat": PRESTON[0] + (i % 30) * 0.0007,
        "lon": PRESTON[1] + (i // 30) * 0.0007,
        "created_at": time.time() - i * 60,
        "status": "new",
        "priority": "normal",
        "claimed_by": None,
        "incident_ref": None,
        "media": [],
    }
    fields.update(changes)
    return m.Report(**fields)


def created(r: m.Report, seq: int = 1) -> m.ReportCreated:
    return m.ReportCreated(seq=seq, at=time.time(), report=r)


def alert(delivered: int, read: int, recipients: int = 40, state: str = "active") -> m.Alert:
    info = m.AlertInfo(
        categories=["burglary"],
        area=m.Circle(lat=PRESTON[0], lon=PRESTON[1], radius_m=400.0),
        area_desc="Fishergate",
        headline="Burglaries around Fishergate",
        expires_at=time.time() + 3600,
    )
    return m.Alert(
        alert_id="a1",
        sender="dana",
        sent_at=time.time(),
        msg_type="Alert",
        state=state,  # type: ignore[arg-type]
        info=info,
        recipients=recipients,
        delivered=delivered,
        read=read,
    )


@pytest.fixture
def session(tmp_path: Path) -> ConsoleSession:
    return offline_session(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> ConsoleSettings:
    return ConsoleSettings("tester", QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def widget(
    qtbot: Any, session: ConsoleSession, settings: ConsoleSettings, tmp_path: Path
) -> Iterator[MapWidget]:
    w = shown_map(qtbot, session, settings, tmp_path / "cache", (1000, 700))
    yield w
    close_map(w)


def stats(qtbot: Any, w: MapWidget) -> dict[str, Any]:
    return json.loads(js(qtbot, w, "JSON.stringify(LookoutMap.stats())"))


def remote(urls: list[str]) -> list[str]:
    return [u for u in urls if not u.startswith(("file:", "qrc:", "data:", "blob:"))]


def test_page_loads_with_no_network_request(qtbot: Any, widget: MapWidget) -> None:
    assert widget.loaded and widget.load_count == 1
    urls = widget.requests
    assert any(u.endswith("/index.html") for u in urls)
    assert any(u.endswith("/leaflet.js") for u in urls)  # the guard does see requests
    assert "qrc:///qtwebchannel/qwebchannel.js" in urls
    assert remote(urls) == []
    assert list(widget.guard.blocked) == []
    # every library the page uses is really there
    loaded = js(
        qtbot,
        widget,
        "[typeof L, typeof L.markerClusterGroup, typeof L.Draw.Polygon, typeof L.heatLayer]"
        ".join(',')",
    )
    assert loaded == "object,function,function,function"


def test_reports_become_clustered_markers_in_one_batch(
    qtbot: Any, widget: MapWidget, session: ConsoleSession
) -> None:
    for i in range(300):
        session.dispatch(created(report(i), seq=i + 1))
    qtbot.waitUntil(lambda: stats(qtbot, widget)["clustered"] == 300, timeout=20_000)
    assert stats(qtbot, widget)["applied"] == 1  # 300 signals, one call into the page

    session.dispatch(
        m.ReportUpdated(seq=301, at=time.time(), report=report(7, status="claimed"), by="dana")
    )
    colour = "LookoutMap.markerFor('r7').options.color"
    qtbot.waitUntil(lambda: js(qtbot, widget, colour) == STATUS_COLOURS["claimed"])
    assert stats(qtbot, widget)["markers"] == 300
    assert widget.load_count == 1  # updated in place, never re-rendered


def test_drawn_polygon_and_circle_reach_python(qtbot: Any, widget: MapWidget) -> None:
    ring = [[-2.70, 53.758], [-2.69, 53.758], [-2.69, 53.762], [-2.70, 53.762]]
    latlngs = json.dumps([[lat, lon] for lon, lat in ring])
    # the event Leaflet.draw fires when a shape is finished, so our handler does the rest
    polygon = (
        "LookoutMap.map().fire(L.Draw.Event.CREATED, "
        f"{{layer: L.polygon({latlngs}), layerType: 'polygon'}})"
    )
    with qtbot.waitSignal(widget.area_drawn, timeout=10_000) as got:
        widget.run_js(polygon)
    area = got.args[0]
    assert isinstance(area, m.Polygon)
    assert [list(p) for p in area.coordinates] == ring

    circle = (
        "LookoutMap.map().fire(L.Draw.Event.CREATED, "
        "{layer: L.circle([53.7601, -2.7012], {radius: 750}), layerType: 'circle'})"
    )
    with qtbot.waitSignal(widget.area_drawn, timeout=10_000) as got:
        widget.run_js(circle)
    assert got.args[0] == m.Circle(lat=53.7601, lon=-2.7012, radius_m=750.0)

    # the function the handler calls, with a shape the relay would refuse: no signal
    bowtie = {
        "type": "Feature",
        "properties": {},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[-2.70, 53.75], [-2.69, 53.76], [-2.69, 53.75], [-2.70, 53.76]]],
        },
    }
    with qtbot.assertNotEmitted(widget.area_drawn, wait=500):
        widget.run_js(f"LookoutMap.areaDrawn({json.dumps(bowtie)})")
    assert "cross" in widget._message.text()


def test_hostile_report_text_shows_literally_in_popup(
    qtbot: Any, widget: MapWidget, session: ConsoleSession
) -> None:
    session.dispatch(created(report(1, text=HOSTILE)))
    widget.focus_report("r1")
    popup = "(document.querySelector('.leaflet-popup-content') || {}).textContent || ''"
    qtbot.waitUntil(lambda: HOSTILE in js(qtbot, widget, popup), timeout=15_000)
    assert js(qtbot, widget, "typeof window.__pwned") == "undefined"
    assert js(qtbot, widget, "document.querySelectorAll('.leaflet-popup-content img').length") == 0
    assert not [u for u in widget.requests if u.endswith("/x")]  # no <img src=x> was made


def test_clicking_a_marker_selects_its_report(
    qtbot: Any, widget: MapWidget, session: ConsoleSession
) -> None:
    session.dispatch(created(report(5, lat=53.7700, lon=-2.6800)))
    qtbot.waitUntil(lambda: stats(qtbot, widget)["clustered"] == 1, timeout=15_000)
    js(qtbot, widget, "LookoutMap.map().setView([53.77, -2.68], 17, {animate: false}); 1")
    where = (
        "JSON.stringify(LookoutMap.map().latLngToContainerPoint("
        "LookoutMap.markerFor('r5').getLatLng()))"
    )
    qtbot.waitUntil(lambda: js(qtbot, widget, "LookoutMap.map().getZoom()") == 17)
    point = json.loads(js(qtbot, widget, where))
    target = widget.view.focusProxy()
    with qtbot.waitSignal(widget.report_selected, timeout=10_000) as got:
        QTest.mouseClick(
            target,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
            QPoint(round(point["x"]), round(point["y"])),
        )
    assert got.args == ["r5"]
    assert stats(qtbot, widget)["selected"] == "r5"


def test_selecting_from_python_highlights_without_echo(
    qtbot: Any, widget: MapWidget, session: ConsoleSession
) -> None:
    session.dispatch(created(report(2)))
    with qtbot.assertNotEmitted(widget.report_selected, wait=300):
        widget.select_report("r2")
        qtbot.waitUntil(lambda: stats(qtbot, widget)["selected"] == "r2", timeout=10_000)
    assert js(qtbot, widget, "LookoutMap.markerFor('r2').options.color") == "#ffffff"


def test_alert_area_label_follows_delivery_counts(
    qtbot: Any, widget: MapWidget, session: ConsoleSession
) -> None:
    session.dispatch(m.AlertChanged(seq=1, at=time.time(), alert=alert(3, 1)))
    label = "LookoutMap.alertLabelText('a1')"
    qtbot.waitUntil(lambda: "delivered 3 / read 1 of 40" in (js(qtbot, widget, label) or ""))
    session.dispatch(m.AlertChanged(seq=2, at=time.time(), alert=alert(25, 9)))
    qtbot.waitUntil(lambda: "delivered 25 / read 9 of 40" in (js(qtbot, widget, label) or ""))
    assert stats(qtbot, widget)["alerts"] == 1
    session.dispatch(m.AlertChanged(seq=3, at=time.time(), alert=alert(25, 9, state="expired")))
    qtbot.waitUntil(lambda: stats(qtbot, widget)["alerts"] == 0)
    widget.show_alert_area(alert(25, 9, state="expired"))  # asked for: shown anyway
    qtbot.waitUntil(lambda: stats(qtbot, widget)["alerts"] == 1)


def test_alert_label_sits_on_the_area_top_edge_not_over_it(
    qtbot: Any, widget: MapWidget, session: ConsoleSession
) -> None:
    session.dispatch(m.AlertChanged(seq=1, at=time.time(), alert=alert(3, 1)))
    label = "LookoutMap.alertLabelText('a1')"
    qtbot.waitUntil(lambda: "delivered 3 / read 1 of 40" in (js(qtbot, widget, label) or ""))
    where = """JSON.stringify((function () {
        const map = LookoutMap.map();
        const box = map.getContainer().getBoundingClientRect();
        const tag = document.querySelector('.lk-alert-label').getBoundingClientRect();
        let area = null;
        map.eachLayer(function (l) { if (l instanceof L.Circle) area = l; });
        const b = area.getBounds();
        const y = (ll) => map.latLngToContainerPoint(ll).y + box.top;
        const x = (ll) => map.latLngToContainerPoint(ll).x + box.left;
        return {bottom: tag.bottom, top: tag.top, left: tag.left, right: tag.right,
                edge: y([b.getNorth(), b.getCenter().lng]), centre: x(b.getCenter())};
    })())"""
    place = json.loads(js(qtbot, widget, where))
    assert place["bottom"] > place["top"]  # drawn
    assert place["bottom"] <= place["edge"] + 1  # above the area, not covering its markers
    assert place["left"] < place["centre"] < place["right"]  # centred on the edge


def test_heat_map_toggles(qtbot: Any, widget: MapWidget, session: ConsoleSession) -> None:
    for i in range(20):
        session.dispatch(created(report(i)))
    widget.set_heat_map(True)
    qtbot.waitUntil(lambda: stats(qtbot, widget)["heat"] is True)
    widget.set_heat_map(False)
    qtbot.waitUntil(lambda: stats(qtbot, widget)["heat"] is False)


def _mbtiles(path: Path, z: int, x: int, y: int, png: bytes) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        db.execute(
            "CREATE TABLE tiles (zoom_level INT, tile_column INT, tile_row INT, tile_data BLOB)"
        )
        db.execute("INSERT INTO metadata VALUES ('format', 'png')")
        db.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, (1 << z) - 1 - y, png))


def test_mbtiles_pack_is_served_locally_with_tms_rows_flipped(
    qtbot: Any, widget: MapWidget, tmp_path: Path
) -> None:
    from PySide6.QtCore import QBuffer, QIODevice
    from PySide6.QtGui import QImage

    image = QImage(256, 256, QImage.Format.Format_RGB32)
    image.fill(0x3366AA)
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    png = bytes(buf.data().data())
    # the XYZ tile holding Preston at zoom 14 (the page opens there)
    z = 14
    x = int((PRESTON[1] + 180) / 360 * (1 << z))
    lat = math.radians(PRESTON[0])
    y = int((1 - math.asinh(math.tan(lat)) / math.pi) / 2 * (1 << z))
    pack = tmp_path / "preston.mbtiles"
    _mbtiles(pack, z, x, y, png)

    widget.set_tile_source(str(pack))
    assert widget.tile_handler.tile(z, x, y) == png
    assert widget.tile_handler.tile(z, x, (1 << z) - 1 - y) is None
    qtbot.waitUntil(
        lambda: any(u.startswith(f"lookout-tiles://pack/{z}/{x}/{y}") for u in widget.requests),
        timeout=15_000,
    )
    assert remote([u for u in widget.requests if not u.startswith("lookout-tiles:")]) == []
    assert widget.settings.tile_source() == str(pack)


def test_guard_lets_out_only_the_configured_tile_host(widget: MapWidget) -> None:
    guard = widget.guard
    assert not guard.allowed("https", "tile.openstreetmap.org")
    widget.set_tile_source("https://{s}.tiles.example.org/{z}/{x}/{y}.png")
    assert guard.allowed("https", "b.tiles.example.org")
    assert not guard.allowed("https", "tiles.example.org.evil.net")
    assert not guard.allowed("http", "example.com")
    assert guard.allowed("file", "")
    widget.set_tile_source("")
    assert not guard.allowed("https", "b.tiles.example.org")


def test_tile_source_text_is_checked() -> None:
    assert parse_tile_source("").kind == "none"
    assert parse_tile_source("https://t.example/{z}/{x}/{y}.png").kind == "xyz"
    assert "{z}" in parse_tile_source("https://t.example/tiles.png").problem
    assert "not found" in parse_tile_source("/nowhere/area.mbtiles").problem


def test_tile_dialog_refuses_an_unusable_source(qtbot: Any) -> None:
    from console.map.dialog import TileSourceDialog

    dialog = TileSourceDialog("https://t.example/{z}/{x}/{y}.png")
    qtbot.addWidget(dialog)
    assert dialog.xyz.isChecked() and dialog.value() == "https://t.example/{z}/{x}/{y}.png"
    dialog.url.setText("https://t.example/tiles.png")
    with qtbot.assertNotEmitted(dialog.accepted):
        dialog._accept()
    assert "{z}" in dialog.problem.text()
    dialog.none.setChecked(True)
    with qtbot.waitSignal(dialog.accepted, timeout=1_000):
        dialog._accept()
    assert dialog.value() == ""


def _version(a: m.Alert, msg_type: str, at: float, radius: float, headline: str) -> m.Alert:
    area = m.Circle(lat=PRESTON[0], lon=PRESTON[1], radius_m=radius)
    info = msgspec.structs.replace(a.info, area=area, headline=headline)
    return msgspec.structs.replace(a, msg_type=msg_type, sent_at=at, info=info)  # type: ignore[arg-type]


def test_an_alert_shown_with_its_versions_draws_the_earlier_ones_as_superseded(
    qtbot: Any, widget: MapWidget, session: ConsoleSession
) -> None:
    now = alert(25, 9)
    versions = [
        _version(now, "Alert", now.sent_at - 7200, 200.0, "Burglary on Fishergate"),
        _version(now, "Update", now.sent_at - 3600, 300.0, HOSTILE),
        now,
    ]
    session.dispatch(m.AlertChanged(seq=1, at=time.time(), alert=now))  # the live path: none
    qtbot.waitUntil(lambda: stats(qtbot, widget)["alerts"] == 1)
    assert stats(qtbot, widget)["superseded"] == 0
    widget.show_alert_area(now, versions)
    qtbot.waitUntil(lambda: stats(qtbot, widget)["superseded"] == 2)
    labels = json.loads(js(qtbot, widget, "JSON.stringify(LookoutMap.supersededLabels('a1'))"))
    assert labels[0].startswith("v1 Alert · sent ") and "Burglary on Fishergate" in labels[0]
    assert labels[1].startswith("v2 Update · sent ") and HOSTILE in labels[1]  # as text
    assert js(qtbot, widget, "window.__pwned === undefined") is True
    styles = """JSON.stringify((function () {
        const out = [];
        LookoutMap.map().eachLayer(function (l) {
            if (l instanceof L.Circle) out.push([l.options.dashArray, l.options.opacity]);
        });
        return out;
    })())"""
    drawn = sorted(json.loads(js(qtbot, widget, styles)), key=str)
    assert drawn == [["3 6", 0.55], ["3 6", 0.55], [None, 1]], drawn  # dashed, fainter
    # a later change of the alert (counts) keeps its history on the map
    session.dispatch(m.AlertChanged(seq=2, at=time.time(), alert=alert(30, 12)))
    qtbot.waitUntil(lambda: "delivered 30" in js(qtbot, widget, "LookoutMap.alertLabelText('a1')"))
    assert stats(qtbot, widget)["superseded"] == 2


def _boxes_inside(boxes: list[dict[str, Any]]) -> bool:
    return all(
        b["left"] >= 0 and b["top"] >= 0 and b["right"] <= b["width"] and b["bottom"] <= b["height"]
        for b in boxes
    )


def _overlaps(boxes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (a["id"], b["id"])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    ]


def test_alert_labels_stay_inside_the_view_and_do_not_cover_each_other(
    qtbot: Any, widget: MapWidget, session: ConsoleSession
) -> None:
    west = alert(3, 1)
    east_area = m.Circle(lat=PRESTON[0], lon=PRESTON[1] + 0.014, radius_m=400.0)
    east = msgspec.structs.replace(
        west, alert_id="a2", info=msgspec.structs.replace(west.info, area=east_area)
    )
    session.dispatch(m.AlertChanged(seq=1, at=time.time(), alert=east))
    session.dispatch(m.AlertChanged(seq=2, at=time.time(), alert=west))
    qtbot.waitUntil(lambda: widget.settled and stats(qtbot, widget)["alerts"] == 2)
    # markercluster slides every marker icon (the labels' too) after a zoom, and a page
    # that is not painted never finishes the slide: read where the labels are put
    still = "const s = document.createElement('style'); s.textContent = "
    still += "'.leaflet-marker-icon { transition: none !important; }'; "
    js(qtbot, widget, still + "document.head.appendChild(s); 1")
    boxes = "JSON.stringify(LookoutMap.labelBoxes())"
    # fitted to the west area (without animation: the map then stays where it is put), then
    # its top edge 10 px under the view's: where a label sitting above the edge is cut off
    edge_near_top = f"""(function () {{
        const map = LookoutMap.map();
        let west = null;
        map.eachLayer(function (l) {{
            if (l instanceof L.Circle && Math.abs(l.getLatLng().lng - {PRESTON[1]}) < 1e-6) west = l;
        }});
        map.fitBounds(west.getBounds(), {{padding: [40, 40], animate: false}});
        const b = west.getBounds();
        const edge = map.latLngToContainerPoint([b.getNorth(), b.getCenter().lng]).y;
        map.panBy([0, edge - 10], {{animate: false}});
        return Math.round(map.latLngToContainerPoint([b.getNorth(), b.getCenter().lng]).y);
    }})()"""
    assert js(qtbot, widget, edge_near_top) == 10

    fitted = json.loads(js(qtbot, widget, boxes))
    assert len(fitted) == 2 and _boxes_inside(fitted), fitted
    # one step out: the two labels' places on their top edges now overlap
    out = json.loads(js(qtbot, widget, f"LookoutMap.map().zoomOut(1, {{animate: false}}); {boxes}"))
    assert len(out) == 2 and not _overlaps(out) and _boxes_inside(out), out


def test_show_only_keeps_just_those_markers_and_holds_new_reports_to_it(
    qtbot: Any, widget: MapWidget, session: ConsoleSession
) -> None:
    for i in range(20):
        session.dispatch(created(report(i), seq=i + 1))
    qtbot.waitUntil(lambda: stats(qtbot, widget)["clustered"] == 20, timeout=20_000)
    widget.show_only({"r1", "r2", "r3"})
    qtbot.waitUntil(lambda: stats(qtbot, widget)["clustered"] == 3)
    session.dispatch(created(report(40), seq=41))  # not in the narrowing: kept off the map
    qtbot.waitUntil(lambda: stats(qtbot, widget)["markers"] == 21)
    qtbot.waitUntil(lambda: widget.settled)
    assert stats(qtbot, widget)["clustered"] == 3
    widget.show_only(None)
    qtbot.waitUntil(lambda: stats(qtbot, widget)["clustered"] == 21)
