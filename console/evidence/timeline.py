"""Reports, chat, alerts and audit actions over time, one row each (pyqtgraph).

Zoom with the wheel or by dragging a box (time only: the rows stay put); the mouse over a
point names it; clicking a point that belongs to a report opens that report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# pyqtgraph ships no type information; `unused-ignore` keeps this line right if it does
import pyqtgraph as pg  # type: ignore[import-untyped, unused-ignore]
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from console.evidence.model import LANES, TimelineEvent
from console.theme import current

_LANE_TITLES = {"report": "Reports", "chat": "Chat", "alert": "Alerts", "audit": "Officer actions"}
_LANE_COLOURS = {"report": "#e5534b", "chat": "#6cb6ff", "alert": "#d29922", "audit": "#8ddb8c"}


class TimelineWidget(QWidget):
    report_selected = Signal(str)
    #: (start, end) unix seconds while the brush is on, None when it is taken away
    range_brushed = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.events: list[TimelineEvent] = []
        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.getViewBox().setMouseMode(pg.ViewBox.RectMode)
        self.plot.showGrid(x=True, y=False, alpha=0.2)
        left = self.plot.getAxis("left")
        left.setTicks([[(-i, _LANE_TITLES[lane]) for i, lane in enumerate(LANES)]])
        self.plot.setYRange(-len(LANES) + 0.5, 0.5, padding=0.05)
        self.hover = QLabel("")
        self.hover.setTextFormat(Qt.TextFormat.PlainText)  # citizens' text, never markup
        self.count = QLabel("")
        self.brush_button = QPushButton("Brush")
        self.brush_button.setCheckable(True)
        self.brush_button.setToolTip(
            "Select a time range: the reports list shows only the reports made in it"
        )
        self.brush_button.toggled.connect(self._brush_toggled)
        self.brush: Any = None
        fit = QPushButton("Show all")
        fit.setToolTip("Zoom out to the whole package (zoom in: wheel, or drag a box)")
        fit.clicked.connect(self.show_all)
        bar = QHBoxLayout()
        bar.addWidget(self.count)
        bar.addWidget(self.hover, 1)
        bar.addWidget(self.brush_button)
        bar.addWidget(fit)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.plot, 1)
        self._scatters: list[Any] = []
        self._restyle()

    def set_events(self, events: Sequence[TimelineEvent]) -> None:
        self.events = list(events)
        for item in self._scatters:
            self.plot.removeItem(item)
        self._scatters = []
        for i, lane in enumerate(LANES):
            mine = [e for e in self.events if e.lane == lane]
            if not mine:
                continue
            scatter = pg.ScatterPlotItem(
                x=[e.at for e in mine],
                y=[-i] * len(mine),
                data=mine,
                size=10,
                symbol="o" if lane != "alert" else "t",
                brush=pg.mkBrush(_LANE_COLOURS[lane]),
                pen=pg.mkPen(None),
                hoverable=True,
                tip=None,
            )
            scatter.sigClicked.connect(self._clicked)
            scatter.sigHovered.connect(self._hovered)
            self.plot.addItem(scatter)
            self._scatters.append(scatter)
        counts = {lane: sum(1 for e in self.events if e.lane == lane) for lane in LANES}
        self.count.setText(
            ", ".join(f"{counts[lane]} {_LANE_TITLES[lane].lower()}" for lane in LANES)
        )
        self.show_all()

    def show_all(self) -> None:
        if not self.events:
            return
        first, last = self.events[0].at, self.events[-1].at
        margin = max((last - first) * 0.05, 30.0)
        self.plot.setXRange(first - margin, last + margin, padding=0)

    def x_range(self) -> tuple[float, float]:
        low, high = self.plot.getViewBox().viewRange()[0]
        return float(low), float(high)

    def brush_range(self) -> tuple[float, float] | None:
        if self.brush is None:
            return None
        low, high = self.brush.getRegion()
        return float(low), float(high)

    def set_brush(self, start: float, end: float) -> None:
        """Brush [start, end] (turning the brush on if it is off)."""
        self.brush_button.setChecked(True)
        self.brush.setRegion((start, end))
        self._brushed()

    def clear_brush(self) -> None:
        """Take the brush away (`range_brushed` says None), as unchecking its button does."""
        self.brush_button.setChecked(False)

    def _brush_toggled(self, on: bool) -> None:
        if on and self.brush is None:
            low, high = self.x_range()
            quarter = (high - low) / 4
            self.brush = pg.LinearRegionItem(
                values=(low + quarter, high - quarter), brush=pg.mkBrush(47, 129, 247, 50)
            )
            self.brush.sigRegionChangeFinished.connect(self._brushed)
            self.plot.addItem(self.brush)
            self._brushed()
        elif not on and self.brush is not None:
            self.plot.removeItem(self.brush)
            self.brush = None
            self.range_brushed.emit(None)

    def _brushed(self, *_: Any) -> None:
        self.range_brushed.emit(self.brush_range())

    def _clicked(self, _scatter: Any, points: Any, *_: Any) -> None:
        for point in points:
            event = point.data()
            if isinstance(event, TimelineEvent) and event.report_id:
                self.report_selected.emit(event.report_id)
                return

    def _hovered(self, _scatter: Any, points: Any, *_: Any) -> None:
        if len(points):
            event = points[0].data()
            if isinstance(event, TimelineEvent):
                self.hover.setText(event.label)

    def _restyle(self) -> None:
        colours = current()
        self.plot.setBackground(colours["base"])
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setTextPen(colours["text"])
            axis.setPen(colours["border"])
