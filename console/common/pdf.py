"""A4 PDFs with Qt's writer, the one way the console prints: the analyst's evidence report
(console/evidence/report_pdf.py), the inspector's after-action report and invitation
sheet (console/pilots/). A page-sized QTextDocument is laid out once and drawn page by
page into the body, with a header and footer each report draws itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, QSizeF
from PySide6.QtGui import QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument


def a4_writer(path: Path, title: str, dpi: int) -> QPdfWriter:
    """A portrait A4 writer at `dpi`, no printer margins (each report sets its own)."""
    writer = QPdfWriter(str(path))
    writer.setResolution(dpi)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(0, 0, 0, 0),
        )
    )
    writer.setTitle(title)
    writer.setCreator("Lookout")
    return writer


def print_document(
    writer: QPdfWriter,
    painter: QPainter,
    doc: QTextDocument,
    body: QRectF,
    decorate: Callable[[int, int], None],
) -> int:
    """Lay `doc` out in pages of `body`'s size and draw each into `body`, after
    `decorate(page, pages)` has drawn that page's header and footer; the page count."""
    doc.documentLayout().setPaintDevice(writer)
    doc.setPageSize(QSizeF(body.width(), body.height()))
    pages = doc.pageCount()
    for page in range(pages):
        if page:
            writer.newPage()
        decorate(page, pages)
        painter.save()
        painter.translate(body.left(), body.top() - page * body.height())
        doc.drawContents(painter, QRectF(0, page * body.height(), body.width(), body.height()))
        painter.restore()
    return pages
