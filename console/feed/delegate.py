"""Paints feed cells: coloured priority/status chips, an unread bar, elided plain text.

Why a delegate that reads the model directly and caches pixmaps: the default delegate asks
the model for seven roles per cell through Python, and shaping text in software costs
20-200 us a string, so a repaint of the visible rows took ~10 ms; the event loop must
stay under 5 ms of delay while reports stream in. Each row is rendered once into a
pixmap keyed by what it shows (texts, column widths, selected/unread/closed); when new
reports push rows down, the old rows are blitted, and only the new ones are drawn. While
reports stream in (`under_pressure`), new rows get at most `MISS_BUDGET_S` per repaint and
the rest follow `DEFER_MS` later, newest (top) first.

Text is drawn with `drawText`, which never interprets HTML: citizen text shows literally.
"""

from __future__ import annotations

import time

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPointF,
    QRect,
    Qt,
    QTimer,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPixmap, QStaticText
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem, QTableView

from backend_client import messages as m
from console.common.exercise import (
    EXERCISE,
    EXERCISE_COLOUR,
    EXERCISE_TEXT_COLOUR,
    is_exercise_report,
)
from console.feed.cells import COLUMNS, EXERCISE_PREFIX, cell_text, media_kinds
from console.feed.model import FeedModel

CELL_PAD = 6  # a cell's inner margin, left and right (the widget sizes columns with it)
_PAD = CELL_PAD
_SHAPED_LIMIT = 4000  # shaped cell texts kept
_CACHE_LIMIT = 600  # row pixmaps kept (about 20 screens of rows, ~30 MB at most)
_SELECTED, _UNREAD, _CLOSED = 1, 2, 4
#: time one repaint may spend drawing cells it has not drawn before; the rest are drawn on
#: the next turn of the event loop, so a burst of new rows never blocks it for long
MISS_BUDGET_S = 0.0005
DEFER_MS = 3  # a gap between such repaints, so the loop's other callbacks run in between
_LEFT, _RIGHT, _CENTER = 0, 1, 2
#: bidi embedding/override/isolate controls: drawn as U+FFFD so a report cannot reorder
#: what the dispatcher reads ("abc\u202eexe.txt"); the model's DisplayRole keeps them
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)], "\ufffd")


class FeedDelegate(QStyledItemDelegate):
    """Paints a whole row from the first of its cells a repaint reaches (see `paint`)."""

    def __init__(self, model: FeedModel, view: QTableView) -> None:
        super().__init__(view)
        self._model = model
        self._store = model.store
        self._view = view
        self._colours: dict[str, QColor] = {}
        self._fonts: dict[tuple[str, bool], tuple[QFont, QFontMetrics]] = {}
        self._rows: dict[tuple[object, ...], QPixmap] = {}
        self._shaped: dict[tuple[object, ...], tuple[QStaticText, float]] = {}
        # state of the repaint in progress, refreshed when the viewport gets a Paint event
        self._spent = 0.0  # on cache misses
        self._done: set[int] = set()  # rows already painted
        self._selected_rows: set[int] = set()
        self._columns: tuple[tuple[int, int], ...] = ()  # (x, width) per column
        self._deferred: list[QRect] = []
        self._pal: dict[str, QColor] = {}
        self._pressure_until = 0.0  # monotonic time: rows arrive fast, draw progressively
        self.budget_s = MISS_BUDGET_S  # per repaint, for rows not drawn before
        view.setAlternatingRowColors(False)  # drawn here: Qt's per-cell fill would erase rows
        view.viewport().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.Paint:
            self._spent = 0.0
            self._done = set()
            selection = self._view.selectionModel()
            self._selected_rows = (
                {i.row() for i in selection.selectedIndexes()}
                if selection is not None and selection.hasSelection()
                else set()
            )
            pal = self._view.palette()
            self._pal = {
                "highlight": pal.highlight().color(),
                "alt": pal.alternateBase().color(),
                "text": pal.text().color(),
                "highlight_text": pal.highlightedText().color(),
                "muted": pal.placeholderText().color(),
            }
            header = self._view.horizontalHeader()
            self._columns = tuple(
                (header.sectionViewportPosition(c), header.sectionSize(c))
                for c in range(len(COLUMNS))
            )
        return False

    def clear_cache(self) -> None:
        """Forget rendered rows (after a theme or font change)."""
        self._rows.clear()
        self._shaped.clear()

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        """Why whole rows: a Python call per cell is most of a repaint's cost, so the first
        cell of a row draws all of it (the painter is clipped to the region being repainted)
        and the row's other cells return at once. Rows come from a pixmap cache keyed by
        what they show; rows not drawn before share a small time budget per repaint."""
        row = index.row()
        if row in self._done and row not in self._selected_rows:
            return  # a selected row is redrawn per cell: styles fill selected cells first
        self._done.add(row)
        store = self._store
        idx = store.storage_of_row(row)
        report = store.stored(idx)
        now = store.now
        texts = tuple(cell_text(report, col, now) for col in COLUMNS)
        selected = row in self._selected_rows
        flags = (
            (_SELECTED if selected else 0)
            | (_UNREAD if store.is_unread(idx) else 0)
            | (_CLOSED if report.status == "closed" else 0)
        )
        cell: QRect = option.rect
        columns = self._columns
        x0 = columns[0][0]
        width = columns[-1][0] + columns[-1][1] - x0
        y, h = cell.y(), cell.height()
        pal = self._pal
        if selected:
            painter.fillRect(x0, y, width, h, pal["highlight"])
        elif (store.shown - 1 - row) % 2:  # striped by place from the oldest: new rows on
            painter.fillRect(x0, y, width, h, pal["alt"])  # top never flip the stripes below
        key = (texts, columns, h, flags, pal["text"].rgba(), pal["highlight_text"].rgba())
        pixmap = self._rows.get(key)
        if pixmap is None:
            if self._spent > self.budget_s and time.monotonic() < self._pressure_until:
                self._defer(QRect(x0, y, width, h))
                return
            started = time.perf_counter()
            pixmap = self._render(option, texts, idx, flags, h)
            self._spent += time.perf_counter() - started
            if len(self._rows) >= _CACHE_LIMIT:
                for old in list(self._rows)[: _CACHE_LIMIT // 4]:
                    del self._rows[old]
            self._rows[key] = pixmap
        painter.drawPixmap(x0, y, pixmap)

    def under_pressure(self, seconds: float = 0.5) -> None:
        """Reports are streaming in: for a while, draw new rows within the budget."""
        self._pressure_until = time.monotonic() + seconds

    def _defer(self, rect: QRect) -> None:
        if not self._deferred:
            QTimer.singleShot(DEFER_MS, self, self._draw_deferred)  # dies with the view
        self._deferred.append(rect)

    def _draw_deferred(self) -> None:
        rects, self._deferred = self._deferred, []
        viewport = self._view.viewport()
        for rect in rects:
            viewport.update(rect)

    # ------------------------------------------------------------ rendering a row (cache miss)

    def _colour(self, hex_colour: str, alpha: int = 255) -> QColor:
        key = f"{hex_colour}/{alpha}"
        colour = self._colours.get(key)
        if colour is None:
            colour = QColor(hex_colour)
            colour.setAlpha(alpha)
            self._colours[key] = colour
        return colour

    def _font(self, base: QFont, bold: bool) -> tuple[QFont, QFontMetrics]:
        key = (base.key(), bold)
        hit = self._fonts.get(key)
        if hit is None:
            font = QFont(base)
            font.setBold(bold)
            hit = (font, QFontMetrics(font))
            self._fonts[key] = hit
        return hit

    def _render(
        self, option: QStyleOptionViewItem, texts: tuple[str, ...], idx: int, flags: int, h: int
    ) -> QPixmap:
        x0 = self._columns[0][0]
        width = self._columns[-1][0] + self._columns[-1][1] - x0
        dpr = self._view.devicePixelRatioF()
        pixmap = QPixmap(max(1, round(width * dpr)), max(1, round(h * dpr)))
        pixmap.setDevicePixelRatio(dpr)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        try:
            for c, (x, w) in enumerate(self._columns):
                if w > 0:
                    cell = QRect(x - x0, 0, w, h)
                    painter.setClipRect(cell)
                    self._paint_cell(painter, option, c, texts[c], idx, flags, cell)
        finally:
            painter.end()
        return pixmap

    def _paint_cell(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        c: int,
        text: str,
        idx: int,
        flags: int,
        rect: QRect,
    ) -> None:
        model = self._model
        pal = self._pal
        col = COLUMNS[c]
        report = self._store.stored(idx)
        selected, unread, closed = (
            bool(flags & _SELECTED),
            bool(flags & _UNREAD),
            bool(flags & _CLOSED),
        )
        fg = pal["highlight_text"] if selected else pal["muted" if closed else "text"]
        bold = unread and col in ("text", "reporter", "category")
        font, fm = self._font(option.font, bold)
        painter.setFont(font)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        x, y, w, h = rect.x(), rect.y(), rect.width(), rect.height()
        if col == "priority":
            if unread:
                painter.fillRect(x, y + 2, 3, h - 4, self._colour("#e5534b"))
            if report.priority == "high":
                colour = model.chip_colour(idx, col) or pal["muted"].name()
                self._chip(painter, rect, fm, text, colour, solid=True)
            elif text:  # "low", muted; normal priority is blank
                painter.setPen(fg if selected else pal["muted"])
                self._text(painter, QRect(x + _PAD + 2, y, w - _PAD - 4, h), text, fm)
        elif col == "status":
            colour = model.chip_colour(idx, col) or pal["muted"].name()
            label, _, who = text.partition(" · ")
            chip_w = self._chip(painter, rect, fm, label, colour, solid=False, selected=selected)
            if who:
                painter.setPen(fg)
                left = _PAD + chip_w + 6
                self._text(painter, QRect(x + left, y, w - left - _PAD, h), who, fm)
        elif col == "category":
            colour = model.chip_colour(idx, col) or pal["muted"].name()
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(self._colour(colour))
            painter.drawEllipse(x + _PAD, y + h // 2 - 3, 7, 7)
            painter.setPen(fg)
            self._text(painter, QRect(x + _PAD + 13, y, w - 2 * _PAD - 13, h), text, fm)
        elif col == "text" and text.startswith(EXERCISE_PREFIX) and is_exercise_report(report):
            # the word, on a yellow badge, before the text (never the colour alone)
            chip_w = self._chip(
                painter, rect, fm, EXERCISE, EXERCISE_COLOUR, solid=True, ink=EXERCISE_TEXT_COLOUR
            )
            painter.setPen(fg)
            left = _PAD + chip_w + 6
            rest = text[len(EXERCISE_PREFIX) :]
            self._text(painter, QRect(x + left, y, w - left - _PAD, h), rest, fm)
        elif col == "media":
            self._media(painter, rect, fm, report, fg if selected else pal["muted"])
        else:
            if (
                col in ("age", "time", "id", "reporter")
                and not selected
                and not (unread and col == "reporter")
            ):
                fg = pal["muted"]
            painter.setPen(fg)
            align = _RIGHT if col in ("age", "media") else _LEFT
            self._text(painter, QRect(x + _PAD, y, w - 2 * _PAD, h), text, fm, align)

    def _text(
        self, painter: QPainter, rect: QRect, text: str, fm: QFontMetrics, align: int = _LEFT
    ) -> None:
        """Plain text, elided to `rect`, vertically centred.

        Shaped text is cached (`QStaticText`, plain-text format): most cells repeat a few
        words (category, status, "low", "3 min"), so a new row costs the shaping of its
        report text and reporter only."""
        width = rect.width()
        if width <= 0 or not text:
            return
        key = (text, width, id(fm), align)  # fm comes from self._fonts: one per font
        hit = self._shaped.get(key)
        if hit is None:
            shown = text.translate(_BIDI_CONTROLS)
            if len(shown) > width // 2 + 2:  # no glyph is narrower than 2 px: cut first
                shown = shown[: width // 2 + 2]
            shown = fm.elidedText(shown, Qt.TextElideMode.ElideRight, width)
            static = QStaticText(shown)
            static.setTextFormat(Qt.TextFormat.PlainText)
            advance: float = fm.horizontalAdvance(shown) if align != _LEFT else 0
            if len(self._shaped) >= _SHAPED_LIMIT:
                self._shaped.clear()
            hit = self._shaped[key] = (static, advance)
        static, advance = hit
        if align == _LEFT:
            x = float(rect.x())
        elif align == _RIGHT:
            x = float(rect.right() + 1 - advance)
        else:
            x = rect.x() + (width - advance) / 2
        painter.drawStaticText(QPointF(x, rect.y() + (rect.height() - fm.height()) / 2), static)

    def _media(
        self, painter: QPainter, rect: QRect, fm: QFontMetrics, report: m.Report, ink: QColor
    ) -> None:
        """A camera glyph per photo count and a play glyph per video count, right-aligned:
        what the report carries, seen at a glance (the model's text says it in words)."""
        photos, videos = media_kinds(report)
        x = rect.right() - _PAD
        cy = rect.y() + rect.height() // 2
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for count, video in ((videos, True), (photos, False)):
            if not count:
                continue
            if count > 1:
                label = str(count)
                tw = fm.horizontalAdvance(label)
                painter.setPen(ink)
                self._text(painter, QRect(x - tw, rect.y(), tw, rect.height()), label, fm, _RIGHT)
                x -= tw + 2
            painter.setPen(ink)
            body = QRect(x - 12, cy - 4, 12, 9)
            if video:
                painter.drawRoundedRect(body, 2, 2)
                painter.setBrush(ink)
                painter.drawPolygon(
                    [QPointF(x - 8, cy - 2), QPointF(x - 8, cy + 3), QPointF(x - 3.5, cy + 0.5)]
                )
                painter.setBrush(Qt.BrushStyle.NoBrush)
            else:
                painter.drawRoundedRect(body, 2, 2)
                painter.drawEllipse(QPointF(x - 6, cy + 0.5), 2.2, 2.2)
                painter.drawLine(x - 10, cy - 5, x - 7, cy - 5)
            x -= 12 + 5

    def _chip(
        self,
        painter: QPainter,
        rect: QRect,
        fm: QFontMetrics,
        text: str,
        colour: str,
        solid: bool,
        selected: bool = False,
        ink: str | None = None,
    ) -> int:
        """A rounded label; returns its width."""
        w = min(fm.horizontalAdvance(text) + 10, max(0, rect.width() - 2 * _PAD))
        h = min(fm.height() + 2, rect.height() - 4)
        chip = QRect(rect.x() + _PAD, rect.y() + (rect.height() - h) // 2, w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self._colour(colour, 255 if solid else (110 if selected else 60)))
        painter.drawRoundedRect(chip, 4, 4)
        painter.setPen(self._colour(ink or ("#ffffff" if solid or selected else colour)))
        self._text(painter, chip.adjusted(2, 0, -2, 0), text, fm, _CENTER)
        return w
