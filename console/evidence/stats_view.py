"""The Statistics pane: the figures of `evidence.stats` over the reports in view (the
reports list's current filter and timeline brush), as pyqtgraph bars, and "Export CSV…"
writing `stats.tables` as `lookout-evidence stats --csv` does. The numbers are computed
by `evidence.stats` alone, so the pane, the CLI and a third party agree."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

# pyqtgraph ships no type information; `unused-ignore` keeps this line right if it does
import pyqtgraph as pg  # type: ignore[import-untyped, unused-ignore]
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.theme import current
from evidence import stats

_BAR = "#6cb6ff"


def _fmt_s(seconds: float | int | None) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class StatisticsWidget(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.content: stats.Content | None = None
        self.figures: stats.Figures | None = None
        #: the first-response plot's unit: seconds per bar unit, and its name
        self.response_unit: tuple[float, str] = (60.0, "minutes")
        self.summary = QLabel("Statistics appear once the package is read.")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._choose_folder)
        self.plots = {
            name: self._plot(title)
            for name, title in (
                ("category", "Reports by category"),
                ("hour", "By hour of day (UTC)"),
                ("weekday", "By day of week (UTC)"),
                ("response", "First response (sorted; line: median)"),
            )
        }
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.export_button)
        grid = QGridLayout()
        for i, plot in enumerate(self.plots.values()):
            grid.addWidget(plot, i // 2, i % 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addLayout(grid, 1)

    def _plot(self, title: str) -> pg.PlotWidget:
        plot = pg.PlotWidget(title=title)
        plot.setBackground(current()["base"])
        plot.setMouseEnabled(x=False, y=False)
        plot.setMenuEnabled(False)
        plot.setMinimumHeight(110)
        return plot

    def set_content(self, content: stats.Content) -> None:
        self.content = content
        self.show_reports(None)

    def show_error(self, text: str) -> None:
        self.summary.setText(f"Statistics unavailable: {text}")

    def show_reports(self, report_ids: set[str] | None) -> None:
        """Figures over these reports (None: every report in the package)."""
        if self.content is None:
            return
        reports = self.content.reports
        if report_ids is not None:
            reports = [r for r in reports if str(r.get("report_id")) in report_ids]
        fig = stats.compute(stats.Content(reports, self.content.chat, self.content.audit))
        self.figures = fig
        self.export_button.setEnabled(True)
        cats = sorted(fig.by_category.items())
        self._bars("category", [c for c, _ in cats], [n for _, n in cats])
        self._bars("hour", [str(h) for h in range(24)], fig.by_hour, every=3)
        self._bars("weekday", list(stats.WEEKDAYS), fig.by_weekday)
        answered = sorted(s for s in fig.response_s.values() if s is not None)
        summary = fig.response_summary()
        longest = answered[-1] if answered else 0.0
        per, unit = (1.0, "seconds") if longest < 120 else (60.0, "minutes")
        if longest >= 7200:
            per, unit = 3600.0, "hours"
        self.response_unit = (per, unit)
        self._bars(
            "response",
            [str(i + 1) for i in range(len(answered))],
            [s / per for s in answered],
            every=max(1, len(answered) // 8),
            counts=False,
        )
        self.plots["response"].setTitle(
            f"First response, {unit}: {len(answered)} answered report(s), sorted; line: median"
        )
        median = summary["median_s"]
        if median is not None:
            line = pg.InfiniteLine(
                float(median) / per, angle=0, pen=pg.mkPen(current()["warning"], width=2)
            )
            self.plots["response"].addItem(line)
        scope = (
            "all reports"
            if report_ids is None
            else "the reports in view (list filter and timeline brush)"
        )
        self.summary.setText(
            f"{fig.reports} report(s): {scope}. First response: {summary['answered']} answered, "
            f"{summary['unanswered']} unanswered, median {_fmt_s(median)}, "
            f"90th percentile {_fmt_s(summary.get('p90_s'))}."
        )

    def _bars(
        self,
        name: str,
        labels: Sequence[str],
        values: Sequence[float],
        every: int = 1,
        counts: bool = True,
    ) -> None:
        plot = self.plots[name]
        plot.clear()
        if values:
            plot.addItem(
                pg.BarGraphItem(
                    x=list(range(len(values))), height=list(values), width=0.7, brush=_BAR
                )
            )
        plot.getAxis("bottom").setTicks([[(i, t) for i, t in enumerate(labels) if i % every == 0]])
        plot.setXRange(-0.6, max(len(values), 4) - 0.4, padding=0)
        top = max([*values, 1])
        plot.setYRange(0, top * 1.1, padding=0)
        if counts:  # whole reports: whole-number ticks
            step = max(1, math.ceil(top / 4))
            plot.getAxis("left").setTickSpacing(step, step)

    def bar_heights(self, name: str) -> list[float]:
        """The bars one plot draws (for tests: what the analyst sees)."""
        bars = [i for i in self.plots[name].getPlotItem().items if isinstance(i, pg.BarGraphItem)]
        return [float(h) for h in bars[0].opts["height"]] if bars else []

    def export_csv(self, folder: Path) -> list[Path]:
        """Each table of the figures in view as `folder/<name>.csv`."""
        if self.figures is None:
            return []
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, rows in stats.tables(self.figures).items():
            out = folder / f"{name}.csv"
            out.write_text(stats.write_csv(rows), encoding="utf-8", newline="")
            written.append(out)
        return written

    def _choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Export the statistics as CSV to…")
        if not chosen:
            return
        try:
            written = self.export_csv(Path(chosen))
        except OSError as exc:
            self.summary.setText(f"The CSV files could not be written: {exc}")
            return
        self.summary.setText(f"{len(written)} CSV file(s) written to {chosen}.")
