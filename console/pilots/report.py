"""A pilot's after-action report as a PDF, with Qt's PDF writer (issue 12, deliverable 8).

    python -m console.pilots.report PLAN.toml METRICS.json OUT.pdf

`lookout-pilot rehearse` runs this as a child process after writing `metrics.json` (the
pilot package stands on the contract without Qt: "Only the console imports Qt"). The
report holds the plan (name, title, area, days, groups), the timeline of acts and injects
with their fired times and lateness, the evaluation table (each expected action met or
missed, when, its deadline), the metrics beside the plan's objectives and their targets,
and a plot of reports per act drawn with QPainter.

As in the analyst's report (`console/evidence/report_pdf.py`) the body is a QTextDocument
built only with `QTextCursor.insertText` and formats: nothing from the plan or from
citizens is ever parsed as HTML, and bidirectional controls print as [U+XXXX]. Headless:
no widget and no screen; with no Qt application yet, `main` makes a QGuiApplication on the
offscreen platform unless QT_QPA_PLATFORM says otherwise.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, QUrl
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QImage,
    QPainter,
    QPen,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextImageFormat,
    QTextLength,
    QTextTableFormat,
)

from backend_client.pilots import Plan, load
from console.common import pdf
from console.common.printed import as_typed
from console.pilots import model

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

    def line(self, label: str, value: str) -> None:
        self.block()
        if label:
            self.cur.insertText(f"{label}: ", self.bold)
        self.cur.insertText(as_typed(value), self.plain)

    def text(self, value: str) -> None:
        self.block()
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


def bars_plot(counts: dict[str, int], width: int = 1400, height: int = 600) -> QImage:
    """Reports per act as bars, drawn with QPainter; labels are drawn text, never markup."""
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    left, top, bottom = 80.0, 30.0, 140.0
    box = QRectF(left, top, width - left - 20, height - top - bottom)
    p.setPen(QPen(QColor("#888888"), 1))
    p.drawLine(box.bottomLeft(), box.bottomRight())
    p.drawLine(box.bottomLeft(), box.topLeft())
    font = p.font()
    font.setPixelSize(18)
    p.setFont(font)
    top_n = max(counts.values(), default=0) or 1
    p.setPen(QColor("#444444"))
    p.drawText(QPointF(8, box.top() + 14), str(top_n))
    p.drawText(QPointF(8, box.bottom()), "0")
    n = max(1, len(counts))
    slot = box.width() / n
    for i, (label, value) in enumerate(counts.items()):
        h = box.height() * value / top_n
        bar = QRectF(box.left() + i * slot + slot * 0.15, box.bottom() - h, slot * 0.7, h)
        p.fillRect(bar, QColor("#1f5fa8"))
        p.setPen(QColor("#111111"))
        p.drawText(
            QRectF(bar.left(), bar.top() - 24, bar.width(), 22),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
            str(value),
        )
        p.save()
        p.translate(box.left() + i * slot + slot / 2, box.bottom() + 8)
        p.rotate(30)
        p.drawText(QPointF(0, 14), as_typed(label)[:28])
        p.restore()
    p.end()
    return image


def _document(plan: Plan, metrics: dict[str, Any], width: float) -> QTextDocument:
    doc = QTextDocument()
    doc.setDocumentMargin(0)
    b = _Builder(doc, width)
    for part in model.sections(plan, metrics):
        if isinstance(part, model.Heading):
            b.heading(part.text, part.size)
        elif isinstance(part, model.Line):
            b.line(part.label, part.value)
        elif isinstance(part, model.Text):
            b.text(part.value)
        elif isinstance(part, model.Table):
            b.table(part.header, part.rows, colour_col=part.colour_col)
        else:
            b.image(f"lookout-pilot://{part.name}", bars_plot(part.counts))
    return doc


def write_pdf(plan: Plan, metrics: dict[str, Any], path: Path) -> int:
    """Write the after-action report to `path`; returns the number of pages. Needs a
    QGuiApplication (fonts); touches no widget or screen, so any thread will do."""
    writer = pdf.a4_writer(path, f"Lookout pilot after-action report: {plan.name}", DPI)
    page_w, page_h = float(writer.width()), float(writer.height())
    margin = _mm(MARGIN_MM)
    body = QRectF(margin, margin, page_w - 2 * margin, page_h - 2 * margin - _mm(FOOTER_MM))
    painter = QPainter(writer)
    try:
        doc = _document(plan, metrics, body.width())

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
    if QGuiApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QGuiApplication([sys.argv[0]])  # noqa: F841 (kept alive while writing)
    pages = write_pdf(plan, metrics, Path(args[2]))
    print(f"{args[2]}: {pages} pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
