"""The dashboard: reports per 5 minutes by category, time to first response, and alert
delivery curves.

Session signals only feed `DashboardStats` (cheap, no drawing) and mark the view dirty; a
QTimer redraws at most every `interval_ms` and only when something changed and the view is
visible, so a burst of 500 messages a second costs one redraw, not 500. Every label is
plain text built from category names, counts and times: never a citizen's words.
"""

from __future__ import annotations

import time

# pyqtgraph ships no type information; `unused-ignore` keeps this line right if pyproject
# one day lists it under ignore_missing_imports instead
import pyqtgraph as pg  # type: ignore[import-untyped, unused-ignore]
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QVBoxLayout, QWidget

from backend_client import messages as m
from backend_client import rules
from console.common.labels import plain_label
from console.dashboard.model import (
    DashboardStats,
    count_top,
    curve_label,
    median_text,
    response_labels,
)
from console.session import ConsoleSession
from console.theme import CATEGORY_COLOURS, current

#: redraw at least this often while visible, so the time axis moves on in a quiet period
IDLE_REDRAW_S = 60.0
#: delivery curves shorter than this many minutes are drawn in seconds
SECONDS_BELOW_MIN = 2.0
_TITLE_ROW_PX = 18
_CURVE_COLOURS = ("#2f81f7", "#e5534b", "#57ab5a", "#d29922", "#b083f0")


def _legend_brush(base: str) -> QColor:
    colour = QColor(base)
    colour.setAlpha(200)
    return colour


class CountAxis(pg.AxisItem):  # type: ignore[misc]  # pyqtgraph is untyped, so Any
    """An axis of counts: ticks on whole numbers only (never 0.2, 0.4 … for one report)."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:  # noqa: N802, N803 - pyqtgraph naming
        levels = super().tickSpacing(minVal, maxVal, size)
        whole = [(s, o) for s, o in levels if s >= 1 and float(s).is_integer()]
        return whole or [(1.0, 0.0)]


#: legend rows beside a chart before it takes another column (the charts are short)
_LEGEND_ROWS = 3


def _side_legend(plot: pg.PlotWidget) -> pg.LegendItem:
    """A legend beside the plot area, not over it: in the plot item's own layout, right of
    the data. Registered as the plot's legend, so curves given a `name` join it."""
    item = plot.getPlotItem()
    legend = pg.LegendItem(offset=None, labelTextSize="8pt", verSpacing=-6, horSpacing=4)
    legend.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)  # no stretching
    item.layout.addItem(legend, 2, 3)
    item.layout.setAlignment(legend, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft)
    item.legend = legend
    return legend


def _fit_legend(legend: pg.LegendItem) -> None:
    legend.setColumnCount(max(1, -(-len(legend.items) // _LEGEND_ROWS)))


class DashboardWidget(QWidget):
    def __init__(
        self,
        session: ConsoleSession,
        interval_ms: int = 2000,
        stats: DashboardStats | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.stats = stats or DashboardStats()
        self.redraws = 0
        self._drawn_version = -1
        self._last_redraw = 0.0
        self._bins_total = 0

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.summary = plain_label(selectable=False, wrap=False, shrink=False)
        lay.addWidget(self.summary)
        plots = QHBoxLayout()
        lay.addLayout(plots, 1)
        self._colours: dict[str, str] = {}

        self.reports_plot = pg.PlotWidget(
            axisItems={"bottom": pg.DateAxisItem(), "left": CountAxis("left")}
        )
        self.reports_plot.setLabel("left", "reports")
        self.reports_plot.setMouseEnabled(x=False, y=False)
        self._reports_legend = _side_legend(self.reports_plot)

        self.response_plot = pg.PlotWidget(axisItems={"left": CountAxis("left")})
        self.response_plot.setLabel("left", "reports")
        self.response_plot.setMouseEnabled(x=False, y=False)
        labels = response_labels()
        self.response_plot.getAxis("bottom").setTicks([list(enumerate(labels))])

        self.delivery_plot = pg.PlotWidget(axisItems={"left": CountAxis("left")})
        self.delivery_plot.setLabel("left", "phones")
        # we pick minutes or seconds ourselves: pyqtgraph would say "(x0.001)"
        self.delivery_plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.delivery_plot.setLabel("bottom", "minutes since sent")
        self._delivery_legend = _side_legend(self.delivery_plot)
        self._titles = {
            self.reports_plot: "Reports per 5 minutes, last 2 hours",
            self.response_plot: "Time to first response (minutes)",
            self.delivery_plot: "Alert delivery (solid) and read (dashed)",
        }
        for plot in self._titles:
            plot.showGrid(x=False, y=True, alpha=0.2)
            plot.hideButtons()
            plots.addWidget(plot, 1)
        self._restyle()

        for report in session.reports.values():
            self.stats.observe_report(report, time.time())
        for thread in session.chats.values():
            for msg in thread:
                self._chat(msg)
        for alert in session.alerts.values():
            if self.stats.counts_alert(alert):
                self.stats.alert_progress(alert, time.time())
        # live events carry who acted and when (exact first-response times, also on replay)
        session.event_received.connect(self.stats.ingest)
        session.history_lost.connect(self._history_lost)

        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    # ------------------------------------------------------------ theme

    def _restyle(self) -> None:
        """Plot colours from the current theme (pyqtgraph ignores the Qt palette)."""
        colours = current()
        if colours == self._colours:
            return
        self._colours = colours
        for plot, title in self._titles.items():
            plot.setBackground(colours["base"])
            plot.setTitle(title, color=colours["text"], size="9pt")
            # the title row is 30 px by default: a lot of a chart in a short dock
            plot.getPlotItem().layout.setRowFixedHeight(0, _TITLE_ROW_PX)
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setPen(colours["border"])
                plot.getAxis(axis).setTextPen(colours["muted"])
        for legend in (self._reports_legend, self._delivery_legend):
            legend.setBrush(_legend_brush(colours["base"]))
            legend.setLabelTextColor(colours["text"])
            for _sample, label in legend.items:
                label.setText(label.text)  # setLabelTextColor only takes effect on new text

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_titles"):
            self._restyle()  # the theme was switched
        super().changeEvent(event)

    # ------------------------------------------------------------ events: ingest only

    def _history_lost(self, _alert_ids: frozenset[str]) -> None:
        self.stats.clear()

    def _chat(self, msg: m.ChatMessage) -> None:
        if msg.sender == "officer" and self.stats.counts_chat(msg):
            self.stats.officer_action(msg.report_id, msg.sent_at)

    @property
    def dirty(self) -> bool:
        return self.stats.version != self._drawn_version

    # ------------------------------------------------------------ drawing, throttled

    def _tick(self) -> None:
        if not self.isVisible():
            return  # drawn when shown again (showEvent)
        if self.dirty or time.time() - self._last_redraw >= IDLE_REDRAW_S:
            self.redraw()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        if self.dirty or self.redraws == 0:
            QTimer.singleShot(0, self._tick)

    def redraw(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.stats.prune(now)
        self._drawn_version = self.stats.version
        self._last_redraw = time.time()
        self.redraws += 1
        self._draw_reports(now)
        self._draw_responses(now)
        self._draw_delivery(now)

    def _draw_reports(self, now: float) -> None:
        bins = self.stats.report_bins(now)
        plot = self.reports_plot
        plot.clear()
        self._reports_legend.clear()
        width = self.stats.bin_s
        xs = [s + width / 2 for s in bins.starts]
        bottom = [0] * len(xs)
        for cat, counts in bins.counts.items():
            if not any(counts):
                continue
            colour = CATEGORY_COLOURS.get(cat, "#adbac7")
            bar = pg.BarGraphItem(
                x=xs, height=counts, y0=bottom, width=width * 0.85, brush=colour, pen=None
            )
            plot.addItem(bar)
            self._reports_legend.addItem(bar, rules.category_label(cat))
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        _fit_legend(self._reports_legend)
        plot.setXRange(bins.starts[0], bins.starts[-1] + width, padding=0.01)
        plot.setYRange(0, count_top(max(bottom, default=0)), padding=0)
        self._bins_total = bins.total()

    def _draw_responses(self, now: float) -> None:
        hist = self.stats.response_histogram(now)
        plot = self.response_plot
        plot.clear()
        plot.addItem(
            pg.BarGraphItem(
                x=list(range(len(hist))), height=hist, width=0.8, brush="#2f81f7", pen=None
            )
        )
        plot.setXRange(-0.6, len(hist) - 0.4, padding=0)
        plot.setYRange(0, count_top(max(hist, default=0)), padding=0)
        median = self.stats.median_response(now)
        waiting = self.stats.awaiting_response(now)
        n = sum(hist)
        first = (
            f"median first response {median_text(median, n)} (n={n})"
            if median is not None
            else "no first responses yet"
        )
        text = (
            f"Last 2 hours: {self._bins_total} reports · {first} · "
            f"{waiting} awaiting a first response"
        )
        exercise = self.stats.exercise_reports
        if exercise:
            noun = "report" if exercise == 1 else "reports"
            text += f" · {exercise} exercise {noun} not counted"
        self.summary.setText(text)

    def _draw_delivery(self, now: float) -> None:
        plot = self.delivery_plot
        plot.clear()
        curves = []
        for curve in self.stats.delivery_curves(now):
            # carry the last point to now, so a curve that stopped climbing reads as flat
            xs = [*curve.minutes]
            if curve.state in ("active", "pending_approval"):
                xs.append(max(xs[-1], (now - curve.sent_at) / 60.0))
            curves.append((curve, xs))
        span = max((xs[-1] for _, xs in curves), default=0.0)
        seconds = span < SECONDS_BELOW_MIN
        axis_label = "seconds since sent" if seconds else "minutes since sent"
        if plot.getAxis("bottom").labelText != axis_label:
            plot.setLabel("bottom", axis_label)
        scale = 60.0 if seconds else 1.0
        for i, (curve, xs) in enumerate(curves):
            colour = _CURVE_COLOURS[i % len(_CURVE_COLOURS)]
            label = curve_label(curve.alert_id, curve.categories)
            d = [*curve.delivered, curve.delivered[-1]][: len(xs)]
            r = [*curve.read, curve.read[-1]][: len(xs)]
            xs = [x * scale for x in xs]
            plot.plot(xs, d, pen=pg.mkPen(colour, width=2), name=label)
            plot.plot(xs, r, pen=pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine))
        _fit_legend(self._delivery_legend)
