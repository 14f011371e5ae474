"""The map in context, on its real page in QtWebEngine: clicks that hold under load, the
legend, measuring, going to places, the feed's filters and the draft area.

Events go in through `ConsoleSession.dispatch` as in test_map.py; the page is queried
with `runJavaScript`, and clicks are real mouse events on the view.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt, QTimer
from PySide6.QtTest import QTest

from backend_client import messages as m
from backend_client.rules import category_label
from console.map.widget import MapWidget
from console.session import ConsoleSession
from console.settings import ConsoleSettings
from console.theme import CATEGORY_COLOURS, STATUS_COLOURS
from tests.support.console import close_map, js, offline_session, shown_map

pytestmark = pytest.mark.gui

PRESTON = (53.7590, -2.6990)
TARGET = (53.7700, -2.6800)


def report(rid: str, lat: float, lon: float, **changes: Any) -> m.Report:
    fields: dict[str, Any] = {
        "report_id": rid,
        "reporter": "walker",
        "category": "burglary",
        "text": f"report {rid}",
        "lat": lat,
        "lon": lon,
        "created_at": time.time(),
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


def view_at(qtbot: Any, w: MapWidget, lat: float, lon: float, zoom: int) -> None:
    js(qtbot, w, f"LookoutMap.map().setView([{lat}, {lon}], {zoom}, {{animate: false}}); 1")
    qtbot.waitUntil(lambda: js(qtbot, w, "LookoutMap.map().getZoom()") == zoom)


def marker_point(qtbot: Any, w: MapWidget, report_id: str) -> QPoint:
    where = (
        "JSON.stringify(LookoutMap.map().latLngToContainerPoint("
        f"LookoutMap.markerFor('{report_id}').getLatLng()))"
    )
    p = json.loads(js(qtbot, w, where))
    return QPoint(round(p["x"]), round(p["y"]))


def container_point(qtbot: Any, w: MapWidget, lat: float, lon: float) -> QPoint:
    where = f"JSON.stringify(LookoutMap.map().latLngToContainerPoint([{lat}, {lon}]))"
    p = json.loads(js(qtbot, w, where))
    return QPoint(round(p["x"]), round(p["y"]))


def add_overlays(qtbot: Any, w: MapWidget, session: ConsoleSession, which: set[str]) -> None:
    """What sits in the page above or beside the markers in a dispatcher's shift."""
    if "alert" in which:
        info = m.AlertInfo(
            categories=["burglary"],
            area=m.Circle(lat=53.765, lon=-2.69, radius_m=100.0),
            area_desc="Moor Lane",
            headline="Burglaries",
            expires_at=time.time() + 3600,
        )
        a = m.Alert(
            alert_id="a1",
            sender="dana",
            sent_at=time.time(),
            msg_type="Alert",
            state="active",
            info=info,
            recipients=1,
            delivered=0,
            read=0,
        )
        session.dispatch(m.AlertChanged(seq=1, at=time.time(), alert=a))
        qtbot.waitUntil(lambda: stats(qtbot, w)["alerts"] == 1)
    if "heat" in which:
        w.set_heat_map(True)
        qtbot.waitUntil(lambda: stats(qtbot, w)["heat"] is True)
    if "drawn" in which:
        draft(qtbot, w)


def draft(qtbot: Any, w: MapWidget) -> None:
    shape = "L.polygon([[53.760, -2.700], [53.761, -2.700], [53.761, -2.699]])"
    with qtbot.waitSignal(w.area_drawn, timeout=10_000):
        w.run_js(f"LookoutMap.map().fire(L.Draw.Event.CREATED, {{layer: {shape}, layerType: 'p'}})")
    assert stats(qtbot, w)["drawn"] == 1


@pytest.mark.parametrize("overlay", ["alert", "heat", "drawn"])
def test_an_area_heat_map_or_drawn_shape_does_not_swallow_marker_clicks(
    qtbot: Any, widget: MapWidget, session: ConsoleSession, overlay: str
) -> None:
    # each draws on a canvas of its own; one laid over the markers' took every click
    session.dispatch(created(report("target", *TARGET)))
    qtbot.waitUntil(lambda: stats(qtbot, widget)["clustered"] == 1, timeout=15_000)
    view_at(qtbot, widget, *TARGET, 16)
    add_overlays(qtbot, widget, session, {overlay})
    point = marker_point(qtbot, widget, "target")
    with qtbot.waitSignal(widget.report_selected, timeout=5_000) as got:
        QTest.mouseClick(
            widget.view.focusProxy(),
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
            point,
        )
    assert got.args == ["target"]


def test_a_single_marker_is_clickable_among_50000_while_batches_arrive(
    qtbot: Any, widget: MapWidget, session: ConsoleSession
) -> None:
    rng = random.Random(1)
    for i in range(50_000):
        lat, lon = PRESTON[0] + rng.gauss(0, 0.03), PRESTON[1] + rng.gauss(0, 0.05)
        session.dispatch(created(report(f"p{i}", lat, lon), seq=i + 1))
    session.dispatch(created(report("target", *TARGET), seq=50_001))
    qtbot.waitUntil(lambda: stats(qtbot, widget)["clustered"] == 50_001, timeout=120_000)
    view_at(qtbot, widget, *TARGET, 18)  # at 18 the target stands alone
    add_overlays(qtbot, widget, session, {"alert", "heat", "drawn"})
    # as the console wires it: a click selects the report, which selects it on the map
    widget.report_selected.connect(widget.select_report)
    seq = [50_001]

    def burst() -> None:  # 100 reports/s: new ones, and updates of old ones
        for _ in range(10):
            seq[0] += 1
            lat = PRESTON[0] + rng.uniform(-0.01, 0.01)
            lon = PRESTON[1] + rng.uniform(-0.015, 0.015)
            session.dispatch(created(report(f"x{seq[0]}", lat, lon), seq=seq[0]))
            old = f"p{rng.randrange(50_000)}"
            moved = report(old, lat, lon, status="claimed")
            session.dispatch(m.ReportUpdated(seq=seq[0], at=time.time(), report=moved, by="d"))
        # the target itself changes too (claimed, then back): its popup follows
        status = "claimed" if seq[0] % 20 else "new"
        target = report("target", *TARGET, status=status)
        session.dispatch(m.ReportUpdated(seq=seq[0], at=time.time(), report=target, by="d"))

    timer = QTimer()
    timer.timeout.connect(burst)
    timer.start(100)
    try:
        qtbot.waitUntil(lambda: stats(qtbot, widget)["received"] > 5, timeout=20_000)
        view = widget.view.focusProxy()
        point = marker_point(qtbot, widget, "target")
        got: list[str] = []
        widget.report_selected.connect(got.append)
        for _ in range(4):
            # a person's click lasts long enough for a batch to land between press and release
            QTest.mousePress(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
            qtbot.waitUntil(lambda: stats(qtbot, widget)["held"] is True, timeout=5_000)
            pressed = stats(qtbot, widget)
            qtbot.waitUntil(
                lambda p=pressed: stats(qtbot, widget)["received"] > p["received"],
                timeout=10_000,
            )
            # held: batches wait (one already being added may finish: 10 or 20 markers,
            # as the 100 ms timers fall), so the marker under the pointer cannot turn into
            # a cluster, or a cluster's icon be redrawn, between press and release
            held = stats(qtbot, widget)
            assert held["held"] and held["applied"] < held["received"], held
            assert held["clustered"] <= pressed["clustered"] + 20, (pressed, held)
            QTest.mouseRelease(
                view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point
            )
            qtbot.waitUntil(lambda: got == ["target"], timeout=5_000)
            got.clear()
            # the popup stays open while more batches arrive
            after = stats(qtbot, widget)["received"]
            qtbot.waitUntil(
                lambda a=after: stats(qtbot, widget)["received"] > a + 1, timeout=10_000
            )
            popup = "(document.querySelector('.leaflet-popup-content') || {}).textContent || ''"
            assert "report target" in js(qtbot, widget, popup)
            js(qtbot, widget, "LookoutMap.map().closePopup(); 1")
        assert stats(qtbot, widget)["selected"] == "target"
        grown = stats(qtbot, widget)["clustered"]  # released: adding goes on
        qtbot.waitUntil(lambda: stats(qtbot, widget)["clustered"] > grown, timeout=10_000)
    finally:
        timer.stop()
    assert widget.load_count == 1


def test_legend_names_every_colour_ring_size_and_mark(qtbot: Any, widget: MapWidget) -> None:
    texts = json.loads(js(qtbot, widget, "JSON.stringify(LookoutMap.legendTexts())"))
    for group in ("Fill: category", "Ring: status", "Size: priority", "Age", "Other"):
        assert group in texts
    for cat in CATEGORY_COLOURS:  # named as every other screen names them
        assert category_label(cat) in texts
    joined = " | ".join(texts).casefold()
    for status in STATUS_COLOURS:
        assert status.replace("_", " ") in joined
    for words in ("high", "low", "fades over two days", "exercise", "selected", "cluster"):
        assert words in joined
    # a Leaflet control, built as DOM (its colours are the markers' own)
    assert js(qtbot, widget, "document.querySelectorAll('.lk-legend .lk-legend-dot').length") > 10
    new_ring = (
        "Array.from(document.querySelectorAll('.lk-legend-row')).find("
        "r => r.textContent.startsWith('New')).firstChild.style.borderColor"
    )
    colour = js(qtbot, widget, new_ring)
    hex_colour = STATUS_COLOURS["new"].lstrip("#")
    rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (0, 2, 4))
    assert colour == f"rgb({rgb[0]}, {rgb[1]}, {rgb[2]})"


def metres(text: str) -> float:
    found = re.search(r"Distance ([\d.]+) (k?m)", text)
    assert found, text
    return float(found.group(1)) * (1000 if found.group(2) == "km" else 1)


def test_measure_gives_the_distance_and_area_of_clicked_points(
    qtbot: Any, widget: MapWidget
) -> None:
    view_at(qtbot, widget, 53.7640, -2.6990, 15)
    widget.measure(True)
    qtbot.waitUntil(lambda: stats(qtbot, widget)["measuring"] is True)
    view = widget.view.focusProxy()
    # the Flag Market and a point 0.01 degrees north of it: 1,112.6 m on the WGS84
    # ellipsoid at this latitude
    for lat, lon in ((53.7590, -2.6990), (53.7690, -2.6990)):
        point = container_point(qtbot, widget, lat, lon)
        QTest.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    qtbot.waitUntil(lambda: "Distance" in js(qtbot, widget, "LookoutMap.measureText()"))
    text = js(qtbot, widget, "LookoutMap.measureText()")
    # the click lands on a whole pixel (about 5 m at zoom 15): well within 1 %
    assert abs(metres(text) - 1112.6) / 1112.6 < 0.01, text
    assert "Area" not in text
    point = container_point(qtbot, widget, 53.7690, -2.6820)
    QTest.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    qtbot.waitUntil(lambda: "Area" in js(qtbot, widget, "LookoutMap.measureText()"))
    text = js(qtbot, widget, "LookoutMap.measureText()")
    # a right triangle of 1,112.6 m by about 1,120 m: about 62 ha
    found = re.search(r"Area ([\d.]+) ha", text)
    assert found and 59 < float(found.group(1)) < 66, text
    readout = "document.querySelector('.lk-measure-readout').textContent"
    assert js(qtbot, widget, readout) == text
    QTest.keyClick(view, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: stats(qtbot, widget)["measuring"] is False)
    # measuring has ended: a click is a click again (nothing is added)
    QTest.mouseClick(view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    assert js(qtbot, widget, "LookoutMap.measureText()") == text


def centre(qtbot: Any, w: MapWidget) -> tuple[float, float]:
    c = json.loads(js(qtbot, w, "JSON.stringify(LookoutMap.map().getCenter())"))
    return c["lat"], c["lng"]


def test_go_to_coordinates_and_to_a_named_place(qtbot: Any, widget: MapWidget) -> None:
    assert widget.go_to("53.7700, -2.6800")
    qtbot.waitUntil(lambda: centre(qtbot, widget) == pytest.approx((53.77, -2.68), abs=1e-4))
    assert js(qtbot, widget, "LookoutMap.map().getZoom()") == widget.GOTO_ZOOM

    # typed into the toolbar's box, as a dispatcher would, and in degrees and minutes
    widget.goto.setText("53°45'N 2°42'W")
    QTest.keyClick(widget.goto, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: centre(qtbot, widget) == pytest.approx((53.75, -2.70), abs=1e-4))

    foster = next(p for p in widget.places.places if p.name == "UCLan Foster Building")
    assert widget.go_to("foster building")
    want = (foster.lat, foster.lon)
    qtbot.waitUntil(lambda: centre(qtbot, widget) == pytest.approx(want, abs=1e-4))
    label = "(document.querySelector('.lk-goto') || {}).textContent"
    assert js(qtbot, widget, label) == "UCLan Foster Building"

    # nonsense: said on the toolbar, and the map stays where it is
    assert not widget.go_to("Narnia")
    assert "No place called 'Narnia'" in widget._message.text()
    assert not widget.go_to("95, -2.7")
    assert "out of range" in widget._message.text()
    assert centre(qtbot, widget) == pytest.approx(want, abs=1e-4)


def test_places_are_labelled_and_a_hint_shown_while_there_is_no_street_map(
    qtbot: Any, widget: MapWidget
) -> None:
    qtbot.waitUntil(lambda: stats(qtbot, widget)["places"] == len(widget.places))
    s = stats(qtbot, widget)
    assert s["placesShown"] and s["hint"] and s["tiles"] == ""
    hint = "document.querySelector('.lk-hint-text').textContent"
    assert "Background…" in js(qtbot, widget, hint)
    names = "Array.from(document.querySelectorAll('.lk-place')).map(n => n.textContent)"
    assert "the Flag Market" in json.loads(js(qtbot, widget, f"JSON.stringify({names})"))

    widget.set_tile_source("https://{s}.tiles.example.org/{z}/{x}/{y}.png")
    qtbot.waitUntil(lambda: stats(qtbot, widget)["tiles"] != "")
    s = stats(qtbot, widget)
    assert not s["placesShown"] and not s["hint"]
    widget.set_tile_source("")
    qtbot.waitUntil(lambda: stats(qtbot, widget)["placesShown"] is True)
    # dismissed, it stays away
    js(qtbot, widget, "document.querySelector('.lk-hint-close').click(); 1")
    assert stats(qtbot, widget)["hint"] is False


def test_the_feeds_filter_hides_and_shows_markers_and_holds_for_updates(
    qtbot: Any, widget: MapWidget, session: ConsoleSession
) -> None:
    cats = ("burglary", "vehicle", "drugs", "antisocial")
    for i in range(20):
        r = report(f"r{i}", PRESTON[0] + i * 0.001, PRESTON[1], category=cats[i % 4])
        session.dispatch(created(r, seq=i + 1))
    qtbot.waitUntil(lambda: stats(qtbot, widget)["clustered"] == 20, timeout=20_000)
    widget.set_report_filter(lambda r: r.category == "burglary")
    qtbot.waitUntil(lambda: stats(qtbot, widget)["clustered"] == 5)
    assert stats(qtbot, widget)["filtered"] == 15

    # a new report the filter rejects stays off; an update that makes one match shows it
    session.dispatch(created(report("v", *TARGET, category="vehicle"), seq=30))
    qtbot.waitUntil(lambda: stats(qtbot, widget)["markers"] == 21)
    qtbot.waitUntil(lambda: widget.settled)
    assert stats(qtbot, widget)["clustered"] == 5
    now_burglary = report("v", *TARGET, category="burglary")
    session.dispatch(m.ReportUpdated(seq=31, at=time.time(), report=now_burglary, by="d"))
    qtbot.waitUntil(lambda: stats(qtbot, widget)["clustered"] == 6)
    back = report("v", *TARGET, category="vehicle")
    session.dispatch(m.ReportUpdated(seq=32, at=time.time(), report=back, by="d"))
    qtbot.waitUntil(lambda: stats(qtbot, widget)["clustered"] == 5)

    # with "hide exercise" at once, and then no filter: everything shows
    widget.set_hide_exercise(True)
    widget.set_report_filter(None)
    qtbot.waitUntil(lambda: stats(qtbot, widget)["clustered"] == 21)
    assert widget.load_count == 1


def test_clear_draft_removes_the_drawn_shape_and_a_drawing_under_way(
    qtbot: Any, widget: MapWidget
) -> None:
    draft(qtbot, widget)
    widget.draw("polygon")
    qtbot.waitUntil(lambda: stats(qtbot, widget)["drawing"] is True)
    widget.clear_draft()
    qtbot.waitUntil(lambda: stats(qtbot, widget)["drawn"] == 0)
    assert stats(qtbot, widget)["drawing"] is False
