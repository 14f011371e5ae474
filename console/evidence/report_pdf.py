"""The analyst's report as a PDF, with Qt's own PDF writer (QPdfWriter).

The body is a QTextDocument built only with `QTextCursor.insertText` and formats: no
text is ever parsed as HTML or Markdown, so a citizen's `<b>` or `<script>` prints as
the characters they typed. Each page is painted by hand: a header naming the package
and its SHA-256, the document's slice for that page, and "page i of n" below.

`write_pdf` touches no widget and no screen when given `image_units` (read by
`screen_image_units()` on the GUI thread) and images already grabbed, so the workspace runs it
on a worker thread: QPdfWriter, QPainter and QTextDocument may be used there.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt, QUrl
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QGuiApplication,
    QImage,
    QPainter,
    QPen,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
    QTextImageFormat,
)

from console.common import pdf
from console.common.printed import as_typed
from console.evidence.report import Content, Item

DPI = 200
MARGIN_MM = 15.0
HEADER_MM = 10.0
FOOTER_MM = 8.0
_LEVEL_COLOUR = {"verified": "#1b7a34", "unpinned": "#9a6700", "failed": "#b3261e"}


def _mm(mm: float) -> float:
    return mm / 25.4 * DPI


def _font(font: QFont) -> QFont:
    """No ligatures: a PDF's text must come out as it went in (search, pdftotext, a
    copy into a statement: "officer", not "o\ufb03cer")."""
    for tag in ("liga", "clig", "dlig"):
        font.setFeature(QFont.Tag(tag), 0)
    return font


def screen_image_units() -> float:
    """Device pixels per unit of a QTextImageFormat's size: Qt scales image sizes from
    its default DPI (the screen's logical DPI, else 96) to the paint device's."""
    screen = QGuiApplication.primaryScreen()
    return DPI / (round(screen.logicalDotsPerInchY()) if screen is not None else 96)


def is_blank(image: QImage | None) -> bool:
    """An image of one colour (or none): a grab that drew nothing."""
    if image is None or image.isNull() or image.width() < 2 or image.height() < 2:
        return True
    first = image.pixel(0, 0)
    step_x, step_y = max(1, image.width() // 40), max(1, image.height() // 40)
    return all(
        image.pixel(x, y) == first
        for x in range(0, image.width(), step_x)
        for y in range(0, image.height(), step_y)
    )


def positions_plot(items: Sequence[Item], width: int = 1200, height: int = 700) -> QImage:
    """A plain drawn plot of the items' positions (longitude across, latitude up), for
    when the map cannot be grabbed. Labels are drawn text, never markup."""
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    pad = 60.0
    box = QRectF(pad, pad / 2, width - 1.5 * pad, height - 1.5 * pad)
    p.setPen(QPen(QColor("#888888"), 1))
    p.drawRect(box)
    if items:
        lats = [i.lat for i in items]
        lons = [i.lon for i in items]
        # centred on the items, 10% wider than they spread (at least ~100 m)
        span_lat = max(max(lats) - min(lats), 1e-3) * 1.1
        span_lon = max(max(lons) - min(lons), 1e-3) * 1.1
        lat0 = (max(lats) + min(lats) - span_lat) / 2
        lon0 = (max(lons) + min(lons) - span_lon) / 2
        font = p.font()
        font.setPixelSize(18)
        p.setFont(font)
        p.setPen(QColor("#444444"))
        p.drawText(QPointF(box.left(), box.bottom() + 22), f"lon {lon0:.4f}")
        p.drawText(QPointF(box.right() - 110, box.bottom() + 22), f"lon {lon0 + span_lon:.4f}")
        p.drawText(QPointF(4, box.bottom()), f"{lat0:.3f}")
        p.drawText(QPointF(4, box.top() + 14), f"{lat0 + span_lat:.3f}")
        spots: dict[tuple[int, int], list[int]] = {}
        for n, it in enumerate(items, 1):
            x = box.left() + (it.lon - lon0) / span_lon * box.width()
            y = box.bottom() - (it.lat - lat0) / span_lat * box.height()
            spots.setdefault((round(x), round(y)), []).append(n)
        for (x, y), numbers in spots.items():
            p.setPen(QPen(QColor("#ffffff"), 2))
            p.setBrush(QColor("#c62828"))
            p.drawEllipse(QPointF(x, y), 7, 7)
            p.setPen(QColor("#111111"))
            p.drawText(QPointF(x + 10, y - 8), ", ".join(map(str, numbers)))
    p.end()
    return image


#: the Unicode bidirectional controls: typed into a report they reorder what follows
#: ("Normal \u202eTXT.EXE" prints "Normal EXE.TXT"), so the report names them instead
class _Builder:
    def __init__(self, doc: QTextDocument, width: float, units: float | None = None) -> None:
        self.doc = doc
        self.width = width
        self.units = screen_image_units() if units is None else units
        self.cur = QTextCursor(doc)
        # black on the white page, whatever the workspace's theme: a document's default
        # text colour is the application palette's, which the dark theme makes near-white
        ink = QColor("#000000")
        self.plain = QTextCharFormat()
        self.plain.setFont(_font(QFont("DejaVu Sans", 9)))
        self.plain.setForeground(ink)
        self.bold = QTextCharFormat(self.plain)
        self.bold.setFontWeight(QFont.Weight.Bold)
        self.mono = QTextCharFormat()
        self.mono.setForeground(ink)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setPointSizeF(8)
        self.mono.setFont(_font(mono))
        self._first = True

    def block(self, space_before: float = 0.0, indent: int = 0, new_page: bool = False) -> None:
        fmt = QTextBlockFormat()
        fmt.setTopMargin(space_before)
        if new_page:
            fmt.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)
        fmt.setIndent(indent)
        if self._first:
            self.cur.setBlockFormat(fmt)
            self._first = False
        else:
            self.cur.insertBlock(fmt)

    def heading(
        self, text: str, size: float = 13, colour: str = "#000000", new_page: bool = False
    ) -> None:
        self.block(space_before=_mm(4), new_page=new_page)
        fmt = QTextCharFormat(self.bold)
        font = fmt.font()
        font.setPointSizeF(size)
        fmt.setFont(font)
        fmt.setForeground(QColor(colour))
        self.cur.insertText(as_typed(text), fmt)

    def line(self, label: str, value: str, mono: bool = False, indent: int = 0) -> None:
        self.block(indent=indent)
        if label:
            self.cur.insertText(f"{label}: ", self.bold)
        self.cur.insertText(as_typed(value), self.mono if mono else self.plain)

    def text(self, value: str, indent: int = 0) -> None:
        self.block(indent=indent)
        self.cur.insertText(as_typed(value), self.plain)

    def image(self, name: str, image: QImage) -> None:
        self.doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), image)
        fmt = QTextImageFormat()
        fmt.setName(name)
        width = self.width / self.units
        fmt.setWidth(width)
        fmt.setHeight(width * image.height() / max(1, image.width()))
        self.block(space_before=_mm(2))
        self.cur.insertImage(fmt)


def _document(
    content: Content,
    width: float,
    map_image: QImage,
    map_note: str,
    timeline: QImage | None,
    units: float | None,
) -> QTextDocument:
    doc = QTextDocument()
    doc.setDocumentMargin(0)
    b = _Builder(doc, width, units)
    b.heading("Lookout evidence report", 16)
    b.line("Package", content.package_name)
    b.line("Package file SHA-256", content.package_sha256, mono=True)
    b.line("Merkle root", content.merkle_root, mono=True)
    b.line("Signer fingerprint", content.signer_fingerprint or "(none usable)", mono=True)
    b.line("Signer pinned", "yes" if content.pinned else "NO (not compared with a pinned key)")
    b.line("Generated", content.generated_at)

    b.heading(
        f"Verification: {content.verdict_level.upper()}",
        colour=_LEVEL_COLOUR.get(content.verdict_level, "#b3261e"),
    )
    b.text(content.verdict_headline)
    for failure in content.failures:
        b.line("", failure, mono=True, indent=1)

    b.heading("Selection")
    b.text(content.selection)

    b.heading("Annotations (sidecar)")
    b.line("Sidecar", content.sidecar_status)
    if content.sidecar_last_hash:
        b.line("Last record hash", content.sidecar_last_hash, mono=True)
    if not content.annotations:
        b.text("No notes, tags or bookmarks in force.")
    for a in content.annotations:
        b.line(f"#{a.seq} {a.kind} on {a.target}", f"{a.text}  ({a.who}, {a.at})", indent=1)

    b.heading("Map", new_page=True)  # the map and the timeline together on a page
    b.text(map_note)
    b.image("lookout-report://map", map_image)
    b.heading("Timeline")
    if timeline is None or is_blank(timeline):
        b.text("The timeline could not be drawn.")
    else:
        b.image("lookout-report://timeline", timeline)

    b.heading(f"Reports ({len(content.items)})")
    for n, it in enumerate(content.items, 1):
        b.heading(f"{n}. Report {it.report_id}", 11)
        b.line("Time (UTC)", it.time)
        b.line("Category / status / priority", f"{it.category} / {it.status} / {it.priority}")
        b.line("Position", f"{it.lat:.6f}, {it.lon:.6f}")
        if it.incident_ref:
            b.line("Incident", it.incident_ref)
        b.line("Text", it.text)
        if not it.media:
            b.line("Media", "none")
        for sha, mime, size in it.media:
            b.line(f"Media {mime}, {size} bytes, SHA-256", sha, mono=True)
        b.line("Chat", f"{len(it.chat)} message(s)" if it.chat else "none")
        for msg in it.chat:
            b.text(msg, indent=1)
        for a in it.annotations:
            b.line(f"Annotation #{a.seq} {a.kind}", f"{a.text}  ({a.who}, {a.at})", indent=1)
    return doc


def write_pdf(
    content: Content,
    path: Path,
    *,
    map_image: QImage | None = None,
    timeline_image: QImage | None = None,
    image_units: float | None = None,
) -> int:
    """Write the report to `path`; returns the number of pages. A blank or missing map
    image is replaced by a drawn plot of the positions, and the report says so. Off the
    GUI thread, pass `image_units` (read on it): without it the screen is asked."""
    if is_blank(map_image):
        map_image = positions_plot(content.items)
        map_note = (
            "The map view could not be captured here; this plot shows the positions of the "
            "selected reports (numbered as listed below), without map tiles."
        )
    else:
        assert map_image is not None
        map_note = "The workspace's map as the analyst left it."
    writer = pdf.a4_writer(path, f"Lookout evidence report: {content.package_name}", DPI)
    page_w, page_h = float(writer.width()), float(writer.height())
    margin = _mm(MARGIN_MM)
    body = QRectF(
        margin,
        margin + _mm(HEADER_MM),
        page_w - 2 * margin,
        page_h - 2 * margin - _mm(HEADER_MM) - _mm(FOOTER_MM),
    )
    painter = QPainter(writer)
    try:
        doc = _document(content, body.width(), map_image, map_note, timeline_image, image_units)
        small = _font(QFont("DejaVu Sans", 7))

        def decorate(page: int, pages: int) -> None:
            painter.setFont(small)
            painter.setPen(QColor("#333333"))
            head = QRectF(margin, margin, body.width(), _mm(HEADER_MM) * 0.8)
            painter.drawText(
                head,
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                f"Lookout evidence report  |  {content.package_name}\n"
                f"package SHA-256 {content.package_sha256}",
            )
            painter.drawLine(QPointF(margin, head.bottom()), QPointF(body.right(), head.bottom()))
            foot = QRectF(margin, body.bottom() + _mm(2), body.width(), _mm(FOOTER_MM))
            painter.drawText(
                foot,
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                f"page {page + 1} of {pages}",
            )

        pages = pdf.print_document(writer, painter, doc, body, decorate)
    finally:
        painter.end()
    return pages
