"""The printable sheet of pilot invitations, with Qt's PDF writer: A4, 2 x 4 cards a page
with dashed cut lines; on each card the pilot's title, the group, the QR code (vector
squares, sharp at any print size), the code in large print, the portal's address, the
expiry and one line on privacy.

    python -m console.pilots.invites_sheet SHEET.json OUT.pdf

`lookout-pilot invites` (pilot/invites.py) writes SHEET.json (`{"cards": [...]}`, each
card its texts and the QR code's rows of 0 and 1) and runs this in a child process, so
Qt stays in the console. Texts are drawn as plain text (no markup is ever interpreted),
bidirectional controls named as typed, in DejaVu Sans, which prints Welsh (ŵ, ŷ) and
other scripts; what does not fit its card is cut with an ellipsis.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QPainter,
    QPen,
)

from console.common import pdf
from console.common.printed import as_typed

DPI = 300
COLS, ROWS = 2, 4
CARDS_PER_PAGE = COLS * ROWS
MARGIN_MM = 8.5
PAD_MM = 4.0
QR_MM = 35.0


def _mm(mm: float) -> float:
    return mm / 25.4 * DPI


def _font(pt: float, bold: bool = False) -> QFont:
    font = QFont("DejaVu Sans")
    font.setPointSizeF(pt)
    font.setBold(bold)
    return font


def write_sheet(cards: list[dict[str, Any]], path: Path) -> int:
    """Write the sheet; returns the number of pages. Needs a QGuiApplication (fonts)."""
    writer = pdf.a4_writer(path, "Lookout pilot invitations", DPI)
    page_w, page_h = float(writer.width()), float(writer.height())
    margin = _mm(MARGIN_MM)
    card_w = (page_w - 2 * margin) / COLS
    card_h = (page_h - 2 * margin) / ROWS
    pages = max(1, -(-len(cards) // CARDS_PER_PAGE))
    painter = QPainter(writer)
    try:
        for page in range(pages):
            if page:
                writer.newPage()
            _cut_lines(painter, margin, card_w, card_h)
            chunk = cards[page * CARDS_PER_PAGE : (page + 1) * CARDS_PER_PAGE]
            for slot, card in enumerate(chunk):
                col, row = slot % COLS, slot // COLS
                box = QRectF(margin + col * card_w, margin + row * card_h, card_w, card_h)
                _card(painter, box, card)
    finally:
        painter.end()
    return pages


def _cut_lines(painter: QPainter, margin: float, card_w: float, card_h: float) -> None:
    pen = QPen(QColor("#999999"), _mm(0.2), Qt.PenStyle.DashLine)
    painter.setPen(pen)
    bottom, right = margin + ROWS * card_h, margin + COLS * card_w
    for c in range(COLS + 1):
        x = margin + c * card_w
        painter.drawLine(int(x), int(margin), int(x), int(bottom))
    for r in range(ROWS + 1):
        y = margin + r * card_h
        painter.drawLine(int(margin), int(y), int(right), int(y))


def _line(painter: QPainter, rect: QRectF, text: str, font: QFont) -> float:
    """One line, cut with an ellipsis to the rect's width; returns its height."""
    painter.setFont(font)
    metrics = QFontMetricsF(font, painter.device())  # the printer's resolution, not a screen's
    shown = metrics.elidedText(as_typed(text), Qt.TextElideMode.ElideRight, rect.width())
    painter.drawText(rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop), shown)
    return metrics.height()


def _wrapped(
    painter: QPainter, rect: QRectF, text: str, font: QFont, anywhere: bool = False
) -> float:
    """Text wrapped at words (`anywhere`: at any character, for an address) in the rect;
    returns the height used."""
    painter.setFont(font)
    wrap = Qt.TextFlag.TextWrapAnywhere if anywhere else Qt.TextFlag.TextWordWrap
    flags = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop) | int(wrap)
    used = painter.boundingRect(rect, flags, as_typed(text))
    painter.drawText(rect, flags, as_typed(text))
    return used.height()


def _card(painter: QPainter, box: QRectF, card: dict[str, Any]) -> None:
    painter.setPen(QColor("#000000"))
    pad = _mm(PAD_MM)
    inner = box.adjusted(pad, pad, -pad, -pad)
    y = inner.top()
    y += _line(
        painter, QRectF(inner.left(), y, inner.width(), _mm(8)), card["title"], _font(11, True)
    )
    y += _line(
        painter, QRectF(inner.left(), y, inner.width(), _mm(6)), f"Group: {card['group']}", _font(8)
    )
    y += _mm(1.5)
    size = _mm(QR_MM)
    _qr(painter, QRectF(inner.left(), y, size, size), card["matrix"])
    tx = inner.left() + size + _mm(4)
    tw = inner.right() - tx
    ty = y
    for text, font, how in (
        ("Scan the code, or open", _font(7), "line"),
        (card["portal"], _font(7), "anywhere"),
        ("and type the code below.", _font(7), "line"),
        (card["expiry"], _font(7, True), "words"),
        (card["privacy"], _font(7), "words"),
    ):
        rect = QRectF(tx, ty, tw, inner.bottom() - ty)
        if how == "line":
            ty += _line(painter, rect, text, font)
        else:
            ty += _wrapped(painter, rect, text, font, anywhere=how == "anywhere")
        ty += _mm(0.8)
    code_top = y + size + _mm(2)
    _line(
        painter,
        QRectF(inner.left(), code_top, inner.width(), _mm(10)),
        card["code"],
        _font(18, True),
    )


def _qr(painter: QPainter, rect: QRectF, matrix: list[str]) -> None:
    """The QR code's dark modules as filled squares (each run of a row one rectangle)."""
    n = len(matrix)
    if n == 0:
        return
    mod = rect.width() / n
    painter.save()
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#000000"))
    for j, row in enumerate(matrix):
        i = 0
        while i < n:
            if row[i] == "1":
                k = i
                while k < n and row[k] == "1":
                    k += 1
                painter.drawRect(
                    QRectF(rect.left() + i * mod, rect.top() + j * mod, (k - i) * mod, mod)
                )
                i = k
            else:
                i += 1
    painter.restore()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m console.pilots.invites_sheet SHEET.json OUT.pdf", file=sys.stderr)
        return 2
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    _app = QGuiApplication.instance() or QGuiApplication(["lookout-invites"])
    pages = write_sheet(list(spec["cards"]), Path(args[1]))
    print(f"{args[1]}: {len(spec['cards'])} cards on {pages} pages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
