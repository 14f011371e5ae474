"""The inspector's workspace on the real map page (QtWebEngine, headless): open Preston,
edit it, see the timeline and the problems follow, save, reload; a new plan; an area drawn
through the map's own drawing; hostile titles shown as typed."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt, QTime
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QGraphicsSimpleTextItem, QMessageBox

from backend_client.pilots import DEFAULT_DIR, load
from console.inspector_window import AREA_ID, InspectorWindow, open_or_new
from console.settings import ConsoleSettings
from tests.support.console import close_map, js

pytestmark = pytest.mark.gui

PRESTON = DEFAULT_DIR / "preston-2017.toml"
Button = QMessageBox.StandardButton


@pytest.fixture
def open_window(qtbot: Any, tmp_path: Path) -> Iterator[Callable[[Path], InspectorWindow]]:
    windows: list[InspectorWindow] = []

    def go(path: Path) -> InspectorWindow:
        settings = ConsoleSettings(
            "inspector", QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
        )
        w = InspectorWindow(open_or_new(path), settings, map_cache_dir=tmp_path / "cache")
        qtbot.addWidget(w)
        windows.append(w)
        w.asked: list[str] = []  # type: ignore[misc]
        w.answer = Button.Cancel  # type: ignore[attr-defined]

        def ask(title: str, text: str, buttons: Any, default: Any) -> Any:
            w.asked.append(title)  # type: ignore[attr-defined]
            return w.answer  # type: ignore[attr-defined]

        w.ask = ask  # type: ignore[method-assign]
        w.resize(1500, 900)
        w.show()
        qtbot.waitUntil(lambda: w.map.ready and w.map.loaded, timeout=30_000)
        return w

    yield go
    for w in windows:
        w.close_without_asking()
        close_map(w.map)
        w.session.client.outbox.close()


def _preston(tmp_path: Path) -> Path:
    return Path(shutil.copy(PRESTON, tmp_path / "preston-2017.toml"))


def _set(model: Any, row: int, key: str, value: Any) -> None:
    assert model.setData(model.index(row, model.column_of(key)), value)


def test_edit_preston_see_the_timeline_and_problems_follow_save_and_reload(
    qtbot: Any, open_window: Any, tmp_path: Path
) -> None:
    path = _preston(tmp_path)
    w = open_window(path)
    ws = w.workspace
    assert not w.edit.dirty and ws.problems.list.count() == 0
    # no problems: the pane itself says so
    assert ws.problems.body.currentWidget() is ws.problems.ready
    assert ws.problems.ready.text() == "No problems: the plan is ready to rehearse."
    # a group's count
    groups = ws.groups.model
    students = next(r for r, g in enumerate(w.edit.rows(("groups",))) if g["name"] == "students")
    _set(groups, students, "count", 40)
    assert w.edit.dirty and w.windowTitle().endswith("•")
    # an inject's time, through the injects table of the burglary act: the marker moves
    burglary = next(r for r, a in enumerate(w.edit.rows(("acts",))) if a["id"] == "burglary")
    ws.acts.select(burglary)
    assert ws.injects.model.table == ("acts", burglary, "injects")
    before = ws.timeline.marker_pos("inject", burglary, 0)
    assert before is not None
    _set(ws.injects.model, 0, "at_s", QTime(14, 20))  # was 14:05
    assert w.edit.get(("acts", burglary, "injects", 0, "at_s")) == 1200.0
    after = ws.timeline.marker_pos("inject", burglary, 0)
    assert after is not None and after.x() > before.x() + 10
    assert after.y() == before.y()
    # clicking the marker selects the inject in the editor
    ws.injects.select(1)
    view = ws.timeline
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(after))
    assert ws.injects.current_row() == 0 and ws.acts.current_row() == burglary

    # a count below zero: listed, and Save warns first (answered Cancel: nothing written)
    _set(groups, students, "count", -5)
    assert ws.problems.list.count() == 1
    assert ws.problems.body.currentWidget() is ws.problems.list
    assert ws.problems.list.item(0).text().startswith(f"Group {students + 1} (students), Count: ")
    assert "0 or more" in ws.problems.list.item(0).text()
    assert f"groups[{students}] (students).count" in ws.problems.list.item(0).toolTip()
    assert not w.save()
    assert w.asked == ["Save a plan with problems?"]
    assert load(path) == load(PRESTON)
    # choosing the problem goes to its row and field
    ws.tabs.setCurrentIndex(0)
    ws.problems.list.itemClicked.emit(ws.problems.list.item(0))
    assert ws.tabs.currentWidget() is ws.groups
    index = ws.groups.view.currentIndex()
    assert (index.row(), index.column()) == (students, groups.column_of("count"))

    # a name against the file's rules: Save is refused outright
    name = ws.form.fields["name"]
    name.setFocus()
    name.selectAll()  # type: ignore[attr-defined]
    QTest.keyClicks(name, "Preston 2017")
    assert not w.edit.can_save
    assert "lower-case" in ws.problems.list.item(0).text()
    assert not w.save() and w.asked[-1] == "The plan cannot be saved"

    # fixed: saved, reloaded, equal
    name.selectAll()  # type: ignore[attr-defined]
    QTest.keyClicks(name, "preston-2017")
    _set(groups, students, "count", 40)
    assert ws.problems.list.count() == 0
    assert w.save() and not w.edit.dirty
    reloaded = load(path)
    assert reloaded == w.edit.plan
    assert next(g.count for g in reloaded.groups if g.name == "students") == 40
    assert reloaded.act("burglary").injects[0].at_s == 1200.0


def test_the_workspace_reads_right_for_a_one_of_everything_plan(
    qtbot: Any, open_window: Any, tmp_path: Path
) -> None:
    """The review's findings: "1 days"; headers cut off with room to spare; a circle and a
    heat map offered on a plan's map."""
    w = open_window(tmp_path / "new-pilot.toml")
    ws = w.workspace
    assert ws.form.summary.text() == "1 day · 1 group, 20 participants · 1 act · 1 inject"
    for table in (ws.acts, ws.expect, ws.injects, ws.groups, ws.days):
        header = table.view.horizontalHeader()
        for n, column in enumerate(table.model.columns[:-1]):  # the last one stretches
            assert table.view.columnWidth(n) >= header.sectionSizeHint(n), column.header
    within = ws.expect.model.column_of("within_s")
    assert ws.expect.view.columnWidth(within) >= ws.expect.view.fontMetrics().horizontalAdvance(
        "Within (min)"
    )
    tools = {a.text(): a.isVisible() for a in w.map.findChildren(QAction)}
    assert tools["Draw area"] and not tools["Draw circle"] and not tools["Heat map"]


def test_a_missing_path_starts_a_new_plan_that_saves_there(
    open_window: Any, tmp_path: Path
) -> None:
    path = tmp_path / "campus-week.toml"
    w = open_window(path)
    assert w.edit.dirty and w.edit.problems == []
    assert w.workspace.form.fields["name"].text() == "campus-week"  # type: ignore[attr-defined]
    assert len(w.workspace.timeline.layout_.bars) == 1
    w.workspace.days.add_button.click()
    assert w.save()
    plan = load(path)
    assert len(plan.days) == 2 and plan.days[1].date - plan.days[0].date == dt.timedelta(days=1)
    assert [g.role for g in plan.groups] == ["citizen"] and len(plan.acts) == 1


def test_the_area_drawn_on_the_map_page_becomes_the_plans(
    qtbot: Any, open_window: Any, tmp_path: Path
) -> None:
    w = open_window(_preston(tmp_path))
    qtbot.waitUntil(lambda: js(qtbot, w.map, "LookoutMap.stats().alerts") == 3, timeout=15_000)
    ring = [[-2.725, 53.745], [-2.688, 53.745], [-2.688, 53.776], [-2.725, 53.776]]
    latlngs = [[lat, lon] for lon, lat in ring]
    w.workspace.form.draw_button.click()  # the map's own drawing tool, as the composer's
    fire = (
        "LookoutMap.map().fire(L.Draw.Event.CREATED, "
        f"{{layer: L.polygon({latlngs}), layerType: 'polygon'}})"
    )
    with qtbot.waitSignal(w.workspace.document.changed, timeout=10_000):
        w.map.run_js(fire)
    assert w.edit.get(("area", "coordinates")) == ring
    assert w.edit.problems == [] and w.edit.dirty
    assert "4 corners" in w.workspace.form.area_label.text()
    # the outline on the page follows the plan, and the drawn shape is taken off it
    polygons = (
        "Object.values(LookoutMap.map()._layers).filter(l => l instanceof L.Polygon)"
        ".map(l => l.getBounds().getWest().toFixed(3))"
    )
    qtbot.waitUntil(
        lambda: js(qtbot, w.map, f"{polygons}.join()").count("-2.725") == 1, timeout=10_000
    )
    assert js(qtbot, w.map, f"{polygons}.length") == 3  # the area and its two zones
    # a shape the relay refuses does not become the area
    bowtie = [[53.75, -2.70], [53.76, -2.69], [53.75, -2.69], [53.76, -2.70]]
    w.map.run_js(
        "LookoutMap.map().fire(L.Draw.Event.CREATED, "
        f"{{layer: L.polygon({bowtie}), layerType: 'polygon'}})"
    )
    qtbot.waitUntil(lambda: "cross" in w.map._message.text(), timeout=10_000)
    assert w.edit.get(("area", "coordinates")) == ring
    assert AREA_ID == "plan-area"


def test_hostile_titles_stay_plain_text(qtbot: Any, open_window: Any, tmp_path: Path) -> None:
    w = open_window(_preston(tmp_path))
    ws = w.workspace
    hostile = "<b>x</b>"
    ws.form.fields["title"].setText("")  # type: ignore[attr-defined]
    QTest.keyClicks(ws.form.fields["title"], hostile)
    assert w.edit.get(("title",)) == hostile
    _set(ws.acts.model, 0, "title", hostile)
    assert ws.acts.model.index(0, ws.acts.model.column_of("title")).data() == hostile
    texts = [
        i.text() for i in ws.timeline.scene().items() if isinstance(i, QGraphicsSimpleTextItem)
    ]
    assert hostile in texts
    tips = [i.toolTip() for i in ws.timeline.scene().items() if hostile[:3] in i.toolTip()]
    assert tips == []  # escaped: "&lt;b&gt;", never a tag Qt would render
    assert any("&lt;b&gt;x&lt;/b&gt;" in i.toolTip() for i in ws.timeline.scene().items())
    assert ws.act_heading.textFormat() == Qt.TextFormat.PlainText
    assert hostile in ws.act_heading.text()


def test_dragging_an_inject_on_the_timeline_moves_it(
    qtbot: Any, open_window: Any, tmp_path: Path
) -> None:
    """A diamond dragged along its day moves its inject to the minute under the pointer
    (an edit like any other: dirty, checked, the table follows); past its act's end it is
    a problem named at once; a click without a drag only selects."""
    w = open_window(_preston(tmp_path))
    ws, view = w.workspace, w.workspace.timeline
    acts = [r["id"] for r in w.edit.rows(("acts",))]
    burglary = acts.index("burglary")
    before = w.edit.get(("acts", burglary, "injects", 0, "at_s"))
    start = view.marker_pos("inject", burglary, 0)
    assert start is not None

    def drag(to_hours: float) -> None:
        press = view.mapFromScene(view.marker_pos("inject", burglary, 0))
        end = view.mapFromScene(view.x_px(to_hours), start.y())
        QTest.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=press)
        for k in range(1, 6):  # a pointer moves in steps
            QTest.mouseMove(view.viewport(), press + (end - press) * (k / 5))
        QTest.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=end)

    drag(14.75)  # the burglary act opens at 14:00 on day 1 (14:30 holds another inject)
    assert w.edit.get(("acts", burglary, "injects", 0, "at_s")) == 2700.0 != before
    assert w.edit.dirty and ws.problems.list.count() == 0
    moved = view.marker_pos("inject", burglary, 0)
    assert moved is not None and abs(moved.x() - view.x_px(14.75)) < 1.0
    drag(16.75)  # after the act's end (16:00): the plan's checks say so
    assert w.edit.get(("acts", burglary, "injects", 0, "at_s")) == 2.75 * 3600
    assert any(
        "outside act" in ws.problems.list.item(i).text() for i in range(ws.problems.list.count())
    )
    # a click is not a drag
    here = view.mapFromScene(view.marker_pos("inject", burglary, 0))
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=here)
    assert w.edit.get(("acts", burglary, "injects", 0, "at_s")) == 2.75 * 3600
