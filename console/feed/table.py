"""The feed's table: fixed row heights, measured columns, flat scroll bars, triage keys.

Why fixed heights and measured widths: rows sized to their content stall for a minute on
a million rows, and the narrow columns must never cut a category or the HIGH badge while
every pixel they do not need goes to the report text. The selection survives the model
resets a refilter makes; selecting on request (`reveal`) does not echo `report_chosen`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QKeyEvent, QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QStyle, QTableView

from backend_client import messages as m
from backend_client import rules
from console.feed.cells import COL, PRIORITY_LABELS, STATUS_LABELS
from console.feed.delegate import CELL_PAD, FeedDelegate
from console.feed.model import FeedModel
from console.theme import current

ROW_HEIGHT = 24
#: the report text keeps at least this much; narrower, the columns below go, in this order
MIN_TEXT_WIDTH = 150
HIDE_WHEN_NARROW: tuple[str, ...] = ("reporter", "id", "media", "time")
_POINTER_IN = (QEvent.Type.Enter, QEvent.Type.MouseMove, QEvent.Type.HoverEnter)
_POINTER_OUT = (QEvent.Type.Leave, QEvent.Type.HoverLeave)
MEDIA_ICON = 16  # the Media column's header is this icon, not a word


def column_widths(font: QFont, header: QFontMetrics) -> dict[str, int]:
    """Widths that fit every value a column can show, in this font, and its header.

    Why measured: the narrow columns must never cut a category or the HIGH badge, and
    every pixel they do not need goes to the report text."""
    bold = QFont(font)
    bold.setBold(True)  # unread rows are bold
    fm, fm_bold = QFontMetrics(font), QFontMetrics(bold)
    pad = 2 * CELL_PAD + 4

    def fit(title: str, content: int) -> int:
        return max(content + pad, header.horizontalAdvance(title) + 2 * CELL_PAD + 8)

    labels = (rules.category_label(c) for c in rules.CATEGORIES)
    categories = max(fm_bold.horizontalAdvance(label) for label in labels)
    return {
        "priority": fit("Pri", fm.horizontalAdvance(PRIORITY_LABELS["high"]) + 10),
        "age": fit("Age", max(fm.horizontalAdvance(t) for t in ("59 min", "23 h", "59 s"))),
        "category": fit("Category", categories + 13),  # 13: the colour dot
        # the longest chip; a claimant's name after it is elided (the tooltip has it)
        "status": fm.horizontalAdvance(STATUS_LABELS["in_progress"]) + 10 + pad,
        "reporter": fit("Reporter", fm_bold.horizontalAdvance("W8WMW")),
        "time": fit("Time", max(fm.horizontalAdvance(t) for t in ("23:59:59", "30 Sep"))),
        "id": fit("Report", fm.horizontalAdvance("R-DDDDDDDDDD")),
        # a video and a photo glyph, and a count when there are several
        "media": max(2 * (12 + 5) + fm.horizontalAdvance("9") + pad, MEDIA_ICON + 2 * CELL_PAD + 8),
    }


class FeedTable(QTableView):
    """The report rows of one `FeedModel`, painted by a `FeedDelegate`."""

    #: the current row changed (to a report, or to none): what the actions apply to
    current_report_changed = Signal()
    #: the officer moved to or opened a report (not a selection made on request)
    report_chosen = Signal(str)
    #: how many new rows wait above the ones held still for the officer (0: none)
    unseen_changed = Signal(int)
    #: the empty state's "Clear filters" was clicked
    clear_filters_requested = Signal()
    #: the pointer left the rows (reports held back while it rested on them can come in)
    pointer_left = Signal()

    def __init__(self, model: FeedModel) -> None:
        super().__init__()
        self.feed_model = model
        #: unmodified keys -> what they do (the widget adds the triage keys)
        self.keys: dict[Qt.Key, Callable[[], None]] = {
            Qt.Key.Key_J: lambda: self.step(1),
            Qt.Key.Key_K: lambda: self.step(-1),
            Qt.Key.Key_Return: self.open_current,
            Qt.Key.Key_Enter: self.open_current,
        }
        self._quiet = False  # selecting on request: do not echo report_chosen
        self._restore_id: str | None = None
        #: the pointer is over the rows: new reports must not move the row under it
        self.pointer_inside = False
        #: new rows put above the rows held still, not yet scrolled to
        self.unseen = 0
        self.setModel(model)
        self.delegate = FeedDelegate(model, self)
        self.setItemDelegate(self.delegate)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerItem)
        vh = self.verticalHeader()
        # fixed heights: rows sized to their content stall for a minute on 1M rows
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(ROW_HEIGHT)
        vh.setMinimumSectionSize(ROW_HEIGHT)
        vh.hide()
        hh = self.horizontalHeader()
        hh.setHighlightSections(False)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        model.header_icons["media"] = self.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon)
        hh.setIconSize(QSize(MEDIA_ICON, MEDIA_ICON))
        self._widths = column_widths(self.font(), hh.fontMetrics())
        for name, width in self._widths.items():
            self.setColumnWidth(COL[name], width)
        hh.setStretchLastSection(False)
        hh.setSectionResizeMode(COL["text"], QHeaderView.ResizeMode.Stretch)
        self._style_scrollbars()
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.doubleClicked.connect(lambda _i: self.open_current())
        self.selectionModel().currentRowChanged.connect(self._current_row_changed)
        model.modelAboutToBeReset.connect(self._remember_selection)
        model.modelReset.connect(self._restore_selection)
        self.verticalScrollBar().valueChanged.connect(self._scrolled)
        #: what an empty list says (how many reports the filters hide, and a way out)
        self.empty_label = QLabel(self.viewport())
        self.empty_label.setTextFormat(Qt.TextFormat.RichText)  # our words and numbers only
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.linkActivated.connect(lambda _l: self.clear_filters_requested.emit())
        self.empty_label.hide()

    # ------------------------------------------------------------ selection

    def current_report(self) -> m.Report | None:
        index = self.currentIndex()
        return self.feed_model.report_at(index.row()) if index.isValid() else None

    def reveal(self, row: int) -> None:
        """Select a row and scroll to it, without echoing `report_chosen`."""
        index = self.feed_model.index(row, COL["text"])
        if self.currentIndex().row() != row:
            self._quiet = True
            try:
                self.setCurrentIndex(index)
            finally:
                self._quiet = False
        self.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)

    def remove(self, report_ids: set[str]) -> int:
        """Take erased reports' rows out. Qt would make a neighbour current and so "choose"
        it for the officer: when the current row goes, nothing is current instead."""
        current = self.current_report()
        self._quiet = True
        try:
            removed = self.feed_model.remove_many(report_ids)
            if current is not None and current.report_id in report_ids:
                self.selectionModel().clear()  # clears the current index too
        finally:
            self._quiet = False
        return removed

    def open_current(self) -> None:
        report = self.current_report()
        if report is not None:
            self.feed_model.mark_read(report.report_id)
            self.report_chosen.emit(report.report_id)

    def step(self, rows: int) -> None:
        """Move the current row down (positive) or up, staying on the current column."""
        count = self.feed_model.rowCount()
        if not count:
            return
        current = self.currentIndex()
        row = 0 if not current.isValid() else max(0, min(count - 1, current.row() + rows))
        index = self.feed_model.index(row, current.column() if current.isValid() else COL["text"])
        self.setCurrentIndex(index)
        self.scrollTo(index)

    # ------------------------------------------------------------ a batch of reports

    def holds_still(self) -> bool:
        """Must new reports leave the visible rows where they are? Yes while the officer
        reads further down, points at a row or has one selected: a click must land on the
        row it aimed at. Only an untouched feed at the top flows."""
        return (
            self.verticalScrollBar().value() > 0
            or self.pointer_inside
            or self.currentIndex().isValid()
        )

    def cannot_absorb(self) -> bool:
        """Would a new row on top move the row under the pointer? Yes while the list is
        too short to scroll by it (everything fits in the view): scrolling cannot keep the
        rows still then, so the feed holds new reports back until the pointer leaves."""
        if not self.pointer_inside:
            return False
        row_h = max(1, self.verticalHeader().defaultSectionSize())
        visible = self.viewport().height() // row_h
        return self.feed_model.rowCount() < visible + self.verticalScrollBar().value()

    def apply(self, batch: Sequence[tuple[m.Report, bool]]) -> None:
        """Put a batch into the model, keeping the visible rows still (see `holds_still`):
        rows inserted above them scroll the view by as many rows, so nothing moves on screen,
        and are counted in `unseen`. The batch is laid out at once (otherwise Qt's zero-delay
        layout timer repaints the viewport a second time)."""
        model = self.feed_model
        bar = self.verticalScrollBar()
        anchors: list[tuple[str, int]] = []  # (report id, its row before), top row first
        top = bar.value()  # ScrollPerItem: the value is the top visible row
        if self.holds_still():
            for row in (top, self.currentIndex().row()):
                report = model.report_at(row)
                if report is not None:
                    anchors.append((report.report_id, row))
        model.upsert_many(batch)
        self.executeDelayedItemsLayout()
        for report_id, before in anchors:
            after = model.row_of(report_id)
            if after is None:
                continue  # it left the filter: hold the next anchor still instead
            new_top = max(0, after - (before - top))
            bar.setValue(new_top)
            new_top = bar.value()
            self._set_unseen(min(self.unseen + max(0, new_top - top), new_top))
            break
        self.update_empty_state()

    def scroll_to_newest(self) -> None:
        """Show the newest rows (the "N new" bar's click): the count clears."""
        self.verticalScrollBar().setValue(0)
        self._set_unseen(0)

    def update_empty_state(self, hidden: int | None = None, total: int | None = None) -> None:
        """Say why the list is empty: nothing yet, or how many reports the filters hide."""
        model = self.feed_model
        if model.rowCount():
            self.empty_label.hide()
            return
        total = model.total() if total is None else total
        hidden = total if hidden is None else hidden
        if total == 0:
            text = "No reports yet. New reports appear here as they arrive."
        else:
            noun = "report" if hidden == 1 else "reports"
            link = current()["highlight"]
            text = (
                f"No reports match — {hidden:,} {noun} hidden by filters. "
                f"<a href='clear' style='color:{link}'>Clear filters</a>"
            )
        self.empty_label.setText(text)
        self._place_empty_label()
        self.empty_label.show()

    # ------------------------------------------------------------ Qt events

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt naming
        if not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            handler = self.keys.get(Qt.Key(event.key()))
            if handler is not None:
                handler()
                event.accept()
                return
        super().keyPressEvent(event)

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        kind = event.type()
        if kind in _POINTER_IN:
            self.pointer_inside = True
        elif kind in _POINTER_OUT:
            was_inside, self.pointer_inside = self.pointer_inside, False
            if was_inside:
                self.pointer_left.emit()
        return super().viewportEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._fit_columns()
        if not self.empty_label.isHidden():
            self._place_empty_label()

    def _fit_columns(self) -> None:
        """In a narrow feed, leave out the reporter, id, media and time columns (in that order)
        rather than squeeze the report text below `MIN_TEXT_WIDTH`; each returns when
        there is room again (their text is in the row's tooltips and the report dock)."""
        available = self.viewport().width()
        needed = sum(w for name, w in self._widths.items())
        hide: set[str] = set()
        for name in HIDE_WHEN_NARROW:
            if available - needed >= MIN_TEXT_WIDTH:
                break
            hide.add(name)
            needed -= self._widths[name]
        for name in HIDE_WHEN_NARROW:
            if self.isColumnHidden(COL[name]) != (name in hide):
                self.setColumnHidden(COL[name], name in hide)
                if name not in hide:
                    self.setColumnWidth(COL[name], self._widths[name])

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "delegate"):
            self._style_scrollbars()  # the theme was switched
            self.delegate.clear_cache()
        super().changeEvent(event)

    # ------------------------------------------------------------ internals

    def _place_empty_label(self) -> None:
        vp = self.viewport()
        self.empty_label.setGeometry(16, 24, max(40, vp.width() - 32), 60)

    def _scrolled(self, value: int) -> None:
        if value < self.unseen:  # the officer scrolled up into the new rows: seen
            self._set_unseen(value)

    def _add_unseen(self, rows: int) -> None:
        if rows > 0:
            self._set_unseen(self.unseen + rows)

    def _set_unseen(self, rows: int) -> None:
        if rows != self.unseen:
            self.unseen = rows
            self.unseen_changed.emit(rows)

    def _current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.current_report_changed.emit()
        report = self.feed_model.report_at(current.row()) if current.isValid() else None
        if report is None or self._quiet:
            return
        self.feed_model.mark_read(report.report_id)
        self.report_chosen.emit(report.report_id)

    def _remember_selection(self) -> None:
        report = self.current_report()
        self._restore_id = report.report_id if report is not None else None

    def _restore_selection(self) -> None:
        self._set_unseen(0)  # a refilter lists the rows afresh: nothing is "new" in it
        rid, self._restore_id = self._restore_id, None
        row = self.feed_model.row_of(rid) if rid else None
        if row is None:
            self.current_report_changed.emit()
            return
        self._quiet = True
        try:
            index = self.feed_model.index(row, COL["text"])
            self.setCurrentIndex(index)
            self.scrollTo(index)
        finally:
            self._quiet = False

    def _style_scrollbars(self) -> None:
        """Flat scroll bars: the range changes with every batch of reports, and Fusion's
        gradient bar costs ten times as much to repaint."""
        c = current()
        sheet = f"""
            QScrollBar {{ background: {c["base"]}; border: 0; margin: 0; }}
            QScrollBar:vertical {{ width: 10px; }}
            QScrollBar:horizontal {{ height: 10px; }}
            QScrollBar::handle {{ background: {c["border"]}; border-radius: 4px; margin: 1px; }}
            QScrollBar::handle:hover {{ background: {c["muted"]}; }}
            QScrollBar::handle:vertical {{ min-height: 28px; }}
            QScrollBar::handle:horizontal {{ min-width: 28px; }}
            QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; border: 0; }}
            QScrollBar::add-page, QScrollBar::sub-page {{ background: none; }}
        """
        self.verticalScrollBar().setStyleSheet(sheet)
        self.horizontalScrollBar().setStyleSheet(sheet)
