"""A pilot's after-action report as a PDF, with Qt's PDF writer (issue 12, deliverable 8).

    python -m console.pilots.report PLAN.toml METRICS.json OUT.pdf

`lookout-pilot rehearse` runs this as a child process after writing `metrics.json` (the
pilot package stands on the contract without Qt: "Only the console imports Qt"). The
report holds the plan (name, title, area, days, groups), the timeline of acts and injects
with their fired times and lateness, the evaluation table (each expected action met or
missed, when, its deadline), the metrics beside the plan's objectives and their targets,
and plots (reports per day and per act, participation, time to first response, alert
reading) drawn with pyqtgraph (`plots.py`). A heading never ends a page: it moves to the next one with
what follows it (a plot, or a table's header and first rows).

As in the analyst's report (`console/evidence/report_pdf.py`) the body is a QTextDocument
built only with `QTextCursor.insertText` and formats: nothing from the plan or from
citizens is ever parsed as HTML, and bidirectional controls print as [U+XXXX]. Headless:
no window and no screen; with no Qt application yet, `main` makes a QApplication (the plots
are graphics widgets) on the offscreen platform unless QT_QPA_PLATFORM says otherwise.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, QSizeF, Qt, QUrl
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QPainter,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
    QTextImageFormat,
    QTextLength,
    QTextTableFormat,
)
from PySide6.QtWidgets import QApplication

from backend_client.pilots import Plan, load
from console.common import pdf
from console.common.printed import as_typed
from console.pilots import model
from console.pilots import plots as drawn

DPI = 200
MARGIN_MM = 15.0
FOOTER_MM = 8.0
#: a QTextImageFormat's size is in the paint device's units scaled from 96 DPI
_IMAGE_UNITS = DPI / 96
_STATUS_COLOUR = {"met": "#1b7a34", "missed": "#b3261e", "not triggered": "#9a6700"}


def _mm(mm: float) -> float:
    return mm / 25.4 * DPI


def _font(size: float, bold: bool = False) -> QFont:
    """No ligatures: pdftotext and a reader's search must find the words as written."""
    font = QFont("DejaVu Sans", 1)
    font.setPointSizeF(size)
    if bold:
        font.setWeight(QFont.Weight.Bold)
    for tag in ("liga", "clig", "dlig"):
        font.setFeature(QFont.Tag(tag), 0)
    return font


class _Builder:
    def __init__(self, doc: QTextDocument, width: float) -> None:
        self.doc = doc
        self.width = width
        self.cur = QTextCursor(doc)
        ink = QColor("#000000")
        self.plain = QTextCharFormat()
        self.plain.setFont(_font(9))
        self.plain.setForeground(ink)
        self.bold = QTextCharFormat(self.plain)
        self.bold.setFont(_font(9, bold=True))
        self.small = QTextCharFormat(self.plain)
        self.small.setFont(_font(7.5))
        self._first = True
        #: headings not yet followed by anything: their blocks' positions
        self._pending: list[int] = []
        #: (a heading's position, where the first part of what follows it ends)
        self.keeps: list[tuple[int, Callable[[], float]]] = []

    def block(self, space_before: float = 0.0) -> None:
        fmt = QTextBlockFormat()
        fmt.setTopMargin(space_before)
        if self._first:
            self.cur.setBlockFormat(fmt)
            self._first = False
        else:
            self.cur.insertBlock(fmt)

    def heading(self, text: str, size: float = 13) -> None:
        self.block(space_before=_mm(4))
        fmt = QTextCharFormat(self.bold)
        fmt.setFont(_font(size, bold=True))
        self.cur.insertText(as_typed(text), fmt)
        self._pending.append(self.cur.block().position())

    def _follows(self, bottom: Callable[[], float]) -> None:
        """What was just added goes with the headings before it, up to `bottom()`."""
        self.keeps.extend((h, bottom) for h in self._pending)
        self._pending.clear()

    def _first_line_bottom(self) -> None:
        position = self.cur.block().position()

        def bottom() -> float:
            block = self.doc.findBlock(position)
            rect = self.doc.documentLayout().blockBoundingRect(block)
            line = block.layout().lineAt(0)
            return rect.top() + (line.y() + line.height() if line.isValid() else rect.height())

        self._follows(bottom)

    def line(self, label: str, value: str) -> None:
        self.block()
        self._first_line_bottom()
        if label:
            self.cur.insertText(f"{label}: ", self.bold)
        self.cur.insertText(as_typed(value), self.plain)

    def text(self, value: str) -> None:
        self.block()
        self._first_line_bottom()
        self.cur.insertText(as_typed(value), self.plain)

    def table(
        self,
        head: Sequence[str],
        rows: Sequence[Sequence[str]],
        colour_col: int | None = None,
    ) -> None:
        """A table of plain text cells; `colour_col`'s cells coloured by status."""
        self.block(space_before=_mm(1.5))
        fmt = QTextTableFormat()
        fmt.setCellPadding(3)
        fmt.setCellSpacing(0)
        fmt.setBorder(0.5)
        fmt.setHeaderRowCount(1)
        fmt.setWidth(QTextLength(QTextLength.Type.PercentageLength, 100))
        table = self.cur.insertTable(len(rows) + 1, len(head), fmt)
        for c, h in enumerate(head):
            table.cellAt(0, c).firstCursorPosition().insertText(h, self.bold)
        for r, row in enumerate(rows, 1):
            for c, value in enumerate(row):
                cf = QTextCharFormat(self.small)
                if c == colour_col and value in _STATUS_COLOUR:
                    cf.setForeground(QColor(_STATUS_COLOUR[value]))
                    cf.setFont(_font(7.5, bold=True))
                table.cellAt(r, c).firstCursorPosition().insertText(as_typed(value), cf)
        # the header row and the first two rows: a page with less moves the heading on
        # (a longer table breaks where it must; Qt repeats its header row on each page)
        last_row = min(2, len(rows))
        ends = [table.cellAt(last_row, c).lastCursorPosition().position() for c in range(len(head))]

        def bottom() -> float:
            layout = self.doc.documentLayout()
            return max(layout.blockBoundingRect(self.doc.findBlock(e)).bottom() for e in ends)

        self._follows(bottom)
        self.cur.movePosition(QTextCursor.MoveOperation.End)

    def image(self, name: str, image: QImage) -> None:
        self.doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), image)
        fmt = QTextImageFormat()
        fmt.setName(name)
        width = self.width / _IMAGE_UNITS
        fmt.setWidth(width)
        fmt.setHeight(width * image.height() / max(1, image.width()))
        self.block(space_before=_mm(2))
        self.cur.insertImage(fmt)
        self._first_line_bottom()


def keep_headings_with_next(
    doc: QTextDocument, keeps: list[tuple[int, Callable[[], float]]]
) -> int:
    """Move to the next page each heading that would end a page, so it stands on the page
    of what follows it; `doc` must be laid out in pages (its page size set). Headings are
    taken in order, each after the moves before it; returns how many were moved."""
    page_h = doc.pageSize().height()
    moved = 0
    for position, bottom in keeps:
        doc.pageCount()  # lays the whole document out again after the last move
        block = doc.findBlock(position)
        rect = doc.documentLayout().blockBoundingRect(block)
        if int((rect.bottom() - 0.5) // page_h) == int((bottom() - 0.5) // page_h):
            continue
        fmt = block.blockFormat()
        fmt.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)
        QTextCursor(block).setBlockFormat(fmt)
        moved += 1
    return moved


def _document(
    parts: list[model.Section], plots: Mapping[str, QImage], width: float
) -> tuple[QTextDocument, list[tuple[int, Callable[[], float]]]]:
    """The report's document and, per heading, where what must share its page ends."""
    doc = QTextDocument()
    doc.setDocumentMargin(0)
    b = _Builder(doc, width)
    for part in parts:
        if isinstance(part, model.Heading):
            b.heading(part.text, part.size)
        elif isinstance(part, model.Line):
            b.line(part.label, part.value)
        elif isinstance(part, model.Text):
            b.text(part.value)
        elif isinstance(part, model.Table):
            b.table(part.header, part.rows, colour_col=part.colour_col)
        else:
            b.image(f"lookout-pilot://{part.name}", plots[part.name])
    return doc, b.keeps


def write_pdf(
    plan: Plan,
    metrics: dict[str, Any],
    path: Path,
    plots: Mapping[str, QImage] | None = None,
) -> int:
    """Write the after-action report to `path`; returns the number of pages. The plots
    are pyqtgraph's (`plots.render_all`), drawn here unless given: on a worker thread,
    draw them first on the application's thread and pass them in (the rest touches no
    widget or screen)."""
    parts = model.sections(plan, metrics)
    if plots is None:
        plots = drawn.render_all(parts)
    writer = pdf.a4_writer(path, f"Lookout pilot after-action report: {plan.name}", DPI)
    page_w, page_h = float(writer.width()), float(writer.height())
    margin = _mm(MARGIN_MM)
    body = QRectF(margin, margin, page_w - 2 * margin, page_h - 2 * margin - _mm(FOOTER_MM))
    painter = QPainter(writer)
    try:
        doc, keeps = _document(parts, plots, body.width())
        doc.documentLayout().setPaintDevice(writer)
        doc.setPageSize(QSizeF(body.width(), body.height()))
        keep_headings_with_next(doc, keeps)

        def decorate(page: int, pages: int) -> None:
            painter.setFont(_font(7))
            painter.setPen(QColor("#333333"))
            foot = QRectF(margin, body.bottom() + _mm(2), body.width(), _mm(FOOTER_MM))
            painter.drawText(
                foot,
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                f"{plan.name}: after-action report, exercise data  |  page {page + 1} of {pages}",
            )

        pages = pdf.print_document(writer, painter, doc, body, decorate)
    finally:
        painter.end()
    return pages


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print(
            "usage: python -m console.pilots.report PLAN.toml METRICS.json OUT.pdf", file=sys.stderr
        )
        return 2
    plan = load(Path(args[0]))
    metrics = json.loads(Path(args[1]).read_text())
    if QApplication.instance() is None:  # pyqtgraph's plots are graphics widgets
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QApplication([sys.argv[0]])  # noqa: F841 (kept alive while writing)
    pages = write_pdf(plan, metrics, Path(args[2]))
    print(f"{args[2]}: {pages} pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
