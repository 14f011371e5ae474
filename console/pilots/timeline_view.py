"""The plan's timeline: a row per day, acts as bars, injects and deadlines as markers.

Drawn with QGraphicsView from `timeline_model.layout`, again after every edit (a plan has
tens of items, not thousands). Every text item is a `QGraphicsSimpleTextItem`, which has
no rich text, and tool tips are escaped, so a title like `<b>x</b>` shows as typed.
Clicking an inject's marker selects that inject in the editor; dragging it along its day
moves the inject (to the minute: `timeline_model.inject_at_s`), an edit like any other,
checked at once.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QMouseEvent,
    QPainter,
    QPen,
    QPolygonF,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPolygonItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
)

from console.pilots.records import PlanDocument
from console.pilots.text import plain_tip
from console.pilots.timeline_model import Layout, Marker, clock, inject_at_s, layout
from console.theme import current

LABEL_W = 150.0
TOP = 26.0
LANE_H = 34.0
ROW_PAD = 8.0
MARKER = 6.0
#: how far (px) a press must move to be a drag, not a click
DRAG_PX = 4.0
INJECT_COLOURS = {
    "report": "#58a6ff",
    "burst": "#a371f7",
    "prompt": "#3fb950",
    "alert": "#f0883e",
}
DEADLINE_COLOUR = "#e5534b"


class TimelineView(QGraphicsView):
    inject_clicked = Signal(int, int)  # act index, inject index
    deadline_clicked = Signal(int, int)  # act index, expectation index
    act_clicked = Signal(int)

    def __init__(self, document: PlanDocument) -> None:
        super().__init__()
        self.document = document
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setMinimumHeight(150)
        self.layout_: Layout = Layout()
        #: marker graphics by (kind, act, index), for tests and selection
        self.marker_items: dict[tuple[str, int, int], QGraphicsItem] = {}
        self._selected: tuple[str, int, int] | None = None
        document.changed.connect(self.redraw)
        self.redraw()

    # ------------------------------------------------------------ drawing

    def x_px(self, hours: float) -> float:
        lo, hi = self.layout_.x_min, self.layout_.x_max
        width = max(200.0, self.viewport().width() - LABEL_W - 16.0)
        return LABEL_W + (hours - lo) / max(hi - lo, 0.25) * width

    def hours_at(self, px: float) -> float:
        """The local clock hours at a scene x (the inverse of `x_px`)."""
        lo, hi = self.layout_.x_min, self.layout_.x_max
        width = max(200.0, self.viewport().width() - LABEL_W - 16.0)
        return lo + (px - LABEL_W) / width * max(hi - lo, 0.25)

    def move_inject(self, act: int, index: int, x_hours: float) -> None:
        """Drop inject `index` of act `act` at local clock `x_hours` (a drag's end)."""
        plan = self.document.edit.plan
        if plan is None:
            return
        at_s = inject_at_s(plan, act, x_hours)
        self._selected = ("inject", act, index)
        self.document.edit.set(("acts", act, "injects", index, "at_s"), at_s)
        self.inject_clicked.emit(act, index)

    def marker_pos(self, kind: str, act: int, index: int) -> QPointF | None:
        item = self.marker_items.get((kind, act, index))
        return None if item is None else item.sceneBoundingRect().center()

    def select(self, kind: str, act: int, index: int) -> None:
        self._selected = (kind, act, index)
        self.redraw()

    def redraw(self) -> None:
        c = current()
        scene = self.scene()
        scene.clear()
        self.marker_items = {}
        self.layout_ = lay = layout(self.document.edit.plan)
        text, muted, grid = QColor(c["text"]), QColor(c["muted"]), QColor(c["border"])
        bold = QFont(self.font())
        bold.setBold(True)
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() - 1))
        rows_y: dict[int, float] = {}
        y = TOP
        for row in lay.days:
            rows_y[row.day] = y
            y += row.lanes * LANE_H + 2 * ROW_PAD
        bottom = max(y, TOP + 40)
        # hour grid and its labels
        hour = int(lay.x_min)
        while hour <= lay.x_max:
            x = self.x_px(hour)
            scene.addLine(x, TOP - 4, x, bottom, QPen(grid, 1, Qt.PenStyle.DotLine))
            label = self._text(f"{hour:02d}:00", muted, small)
            label.setPos(x - label.boundingRect().width() / 2, 4)
            hour += 1
        if lay.note:
            note = self._text(lay.note, QColor(c["warning"]), self.font())
            note.setPos(LABEL_W, bottom + 4)
        for row in lay.days:
            top = rows_y[row.day]
            height = row.lanes * LANE_H + 2 * ROW_PAD
            day_label = self._text(row.label, text, bold)
            day_label.setPos(8, top + height / 2 - day_label.boundingRect().height() / 2)
            window = scene.addRect(
                QRectF(
                    self.x_px(row.x0), top + 2, self.x_px(row.x1) - self.x_px(row.x0), height - 4
                ),
                QPen(grid, 1),
                QBrush(QColor(c["base"])),
            )
            window.setToolTip(plain_tip(f"Day {row.day}: {clock(row.x0)}–{clock(row.x1)}"))
            window.setZValue(-1)
        for bar in lay.bars:
            top = rows_y[bar.day] + ROW_PAD + bar.lane * LANE_H
            x0, x1 = self.x_px(bar.x0), self.x_px(bar.x1)
            rect = _ActBar(QRectF(x0, top + 2, max(x1 - x0, 2.0), LANE_H - 4), bar.act, self)
            rect.setPen(QPen(QColor(c["highlight"]), 1))
            fill = QColor(c["highlight"])
            fill.setAlpha(60)
            rect.setBrush(QBrush(fill))
            rect.setToolTip(plain_tip(f"{bar.label}\n{clock(bar.x0)}–{clock(bar.x1)}"))
            scene.addItem(rect)
            title = self._text(bar.label, text, small)
            title.setParentItem(rect)
            title.setPos(x0 + 4, top + 3)  # the upper half: the markers sit on the lower
            # cut to the bar: a long title must not run over the next act
            rect.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape, True)
        for m in lay.markers:
            centre = QPointF(
                self.x_px(m.x), rows_y[m.day] + ROW_PAD + m.lane * LANE_H + LANE_H - 10
            )
            kind = str(self.document.edit.get(("acts", m.act, "injects", m.index, "kind"), ""))
            item = _MarkerItem(m, centre, kind, self)
            if self._selected == (m.kind, m.act, m.index):
                item.setPen(QPen(text, 2.5))
            scene.addItem(item)
            self.marker_items[(m.kind, m.act, m.index)] = item
        scene.setSceneRect(QRectF(0, 0, max(self.viewport().width() - 2, 400), bottom + 26))

    def _text(self, value: str, colour: QColor, font: QFont) -> QGraphicsSimpleTextItem:
        item = self.scene().addSimpleText(value, font)
        item.setBrush(QBrush(colour))
        return item

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self.redraw()

    def _clicked(self, kind: str, act: int, index: int) -> None:
        self.select(kind, act, index)
        if kind == "inject":
            self.inject_clicked.emit(act, index)
        elif kind == "deadline":
            self.deadline_clicked.emit(act, index)


def _inject_kind(kind: str) -> str:
    return kind if kind in INJECT_COLOURS else "report"


class _MarkerItem(QGraphicsPolygonItem):
    """A diamond for an inject (coloured by kind), a downward triangle for a deadline;
    hollow for a deadline that can only be placed at its latest."""

    def __init__(self, marker: Marker, centre: QPointF, kind: str, view: TimelineView) -> None:
        s = MARKER
        if marker.kind == "inject":
            shape = [QPointF(0, -s - 1), QPointF(s, 0), QPointF(0, s + 1), QPointF(-s, 0)]
            colour = QColor(INJECT_COLOURS[_inject_kind(kind)])
        else:
            shape = [QPointF(-s, -s), QPointF(s, -s), QPointF(0, s)]
            colour = QColor(DEADLINE_COLOUR)
        super().__init__(QPolygonF([centre + p for p in shape]))
        self.marker = marker
        self.view = view
        self.setPen(QPen(colour.darker(140), 1))
        self.setBrush(QBrush(Qt.BrushStyle.NoBrush if marker.latest else colour))
        if marker.latest:
            self.setPen(QPen(colour, 1.5))
        when = clock(marker.x)
        extra = " (at the latest: its trigger is a report)" if marker.latest else ""
        self.setToolTip(plain_tip(f"{when}{extra}\n{marker.label}"))
        self.setZValue(2)
        self.setCursor(
            Qt.CursorShape.SizeHorCursor
            if marker.kind == "inject"
            else Qt.CursorShape.PointingHandCursor
        )
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self._press_x = 0.0
        self._dragged = False

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802 - Qt naming
        self._press_x = event.scenePos().x()
        self._dragged = False
        event.accept()

    def mouseMoveEvent(self, event: Any) -> None:  # noqa: N802 - Qt naming
        """An inject follows the pointer along its day; a deadline stays (it follows from
        its trigger)."""
        if self.marker.kind != "inject":
            return
        dx = event.scenePos().x() - self._press_x
        if abs(dx) >= DRAG_PX or self._dragged:
            self._dragged = True
            self.setPos(dx, 0)
            self.setToolTip(plain_tip(clock(self.view.hours_at(self._centre_x() + dx))))

    def mouseReleaseEvent(self, event: Any) -> None:  # noqa: N802 - Qt naming
        m = self.marker
        if self._dragged:
            x = self._centre_x() + event.scenePos().x() - self._press_x
            self.view.move_inject(m.act, m.index, self.view.hours_at(x))
        else:
            self.view._clicked(m.kind, m.act, m.index)

    def _centre_x(self) -> float:
        return self.polygon().boundingRect().center().x()


class _ActBar(QGraphicsRectItem):
    def __init__(self, rect: QRectF, act: int, view: TimelineView) -> None:
        super().__init__(rect)
        self.act = act
        self.view = view
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # type: ignore[override]  # noqa: N802
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # type: ignore[override]  # noqa: N802
        self.view.act_clicked.emit(self.act)
