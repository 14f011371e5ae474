"""The after-action report's plots, drawn with pyqtgraph (as the console's dashboard and
the analyst's statistics are) into images the report's PDF writer places.

One plot, `model.Plot`, is grouped horizontal bars: a row per category (a day, an act, an
alert: their names are long, so they read across, not rotated), a bar per series in each
row, its figure at its end, a legend when there is more than one series. Every label is
pyqtgraph's plain text (`TextItem`, axis ticks), never markup: act titles and alert
headlines come from the plan.

pyqtgraph's items are QGraphicsWidgets, so `render` runs on the thread that owns the
QApplication. `report.write_pdf` may run on a worker (the console prints off the GUI
thread): its caller renders the images first, here, and hands them over.
"""

from __future__ import annotations

import threading

import pyqtgraph as pg  # type: ignore[import-untyped, unused-ignore]
from PySide6.QtGui import QFont, QImage
from PySide6.QtWidgets import QApplication

from console.common.printed import as_typed
from console.pilots import model

#: one colour per series, in the order a plot lists them (as the dashboard's)
SERIES_COLOURS = ("#1f5fa8", "#e08a1e", "#2e8b57", "#8e44ad")
#: the image's size in pixels; the report scales it to the text width
WIDTH = 1400
ROW_PX = 64
MIN_HEIGHT = 300
LABEL_CHARS = 48


def render_all(sections: list[model.Section]) -> dict[str, QImage]:
    """Every plot of a report's sections, by name."""
    return {s.name: render(s) for s in sections if isinstance(s, model.Plot)}


def render(plot: model.Plot) -> QImage:
    """`plot` as an image (white background, for paper)."""
    app = QApplication.instance()
    if (
        not isinstance(app, QApplication)
        or threading.current_thread() is not threading.main_thread()
    ):
        raise RuntimeError("the report's plots are drawn on the Qt application's own thread")
    rows = max(1, len(plot.categories))
    height = max(MIN_HEIGHT, 90 + ROW_PX * rows)
    widget = pg.PlotWidget(background="w")  # never shown: grab() renders it offscreen
    try:
        widget.resize(WIDTH, height)
        _draw(widget.getPlotItem(), plot)
        image: QImage = widget.grab().toImage()
    finally:
        widget.deleteLater()
    return image


def _draw(item: pg.PlotItem, plot: model.Plot) -> None:
    font = QFont()
    font.setPixelSize(18)
    series = list(plot.series.items())
    n = len(series)
    rows = len(plot.categories)
    thick = 0.8 / max(1, n)
    top = max((v for _, vs in series for v in vs if v is not None), default=0.0) or 1.0
    item.getViewBox().setBackgroundColor("w")
    item.setMenuEnabled(False)
    item.hideButtons()
    item.showGrid(x=True, y=False, alpha=0.25)
    if n > 1:
        legend = item.addLegend(offset=(-10, 10), labelTextColor="#111111", labelTextSize="12pt")
        legend.setBrush(pg.mkBrush(255, 255, 255, 230))
    for k, (label, values) in enumerate(series):
        colour = SERIES_COLOURS[k % len(SERIES_COLOURS)]
        ys, widths = [], []
        for i, value in enumerate(values[:rows]):
            if value is None:
                continue
            # the first category at the top, its series in the order listed
            ys.append(rows - 1 - i + (n - 1 - 2 * k) * thick / 2)
            widths.append(float(value))
            text = pg.TextItem(_short(float(value)), color="#111111", anchor=(0, 0.5))
            text.setFont(font)
            text.setPos(float(value) + top * 0.01, ys[-1])
            item.addItem(text)
        bars = pg.BarGraphItem(
            x0=[0.0] * len(ys), y=ys, width=widths, height=thick * 0.9, brush=colour, pen=None
        )
        item.addItem(bars)
        if n > 1:  # a legend entry (the bars themselves have no name)
            item.legend.addItem(bars, as_typed(label))
    left = item.getAxis("left")
    left.setTicks([[(rows - 1 - i, _label(c)) for i, c in enumerate(plot.categories)], []])
    left.setWidth(min(520, 12 + 10 * max((len(_label(c)) for c in plot.categories), default=4)))
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setTickFont(font)
        axis.setTextPen("#333333")
        axis.setPen("#888888")
    if plot.unit:
        item.setLabel("bottom", as_typed(plot.unit), color="#333333", size="16pt")
    # room at the right for the figures, and above the longest bars for the legend
    item.setXRange(0, top * (1.4 if n > 1 else 1.12), padding=0)
    item.setYRange(-0.5, rows - 0.5, padding=0)
    item.getViewBox().setMouseEnabled(False, False)


def _label(category: str) -> str:
    text = as_typed(category)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _short(value: float) -> str:
    """A bar's figure: whole numbers from 10 up, else up to 3 decimals."""
    return model.num(round(value) if value >= 10 else value)
