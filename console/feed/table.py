"""The feed's table: fixed row heights, measured columns, flat scroll bars, triage keys.

Why fixed heights and measured widths: rows sized to their content stall for a minute on
a million rows, and the narrow columns must never cut a category or the HIGH badge while
every pixel they do not need goes to the report text. The selection survives the model
resets a refilter makes; selecting on request (`reveal`) does not echo `report_chosen`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QModelIndex, QPoint, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyle, QTableView

from backend_client import messages as m
from backend_client import rules
from console.feed.cells import COL, PRIORITY_LABELS, STATUS_LABELS
from console.feed.delegate import CELL_PAD, FeedDelegate
from console.feed.model import FeedModel
from console.theme import current

ROW_HEIGHT = 24
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
        "media": max(fm.horizontalAdvance("99") + pad, MEDIA_ICON + 2 * CELL_PAD + 8),
    }


class FeedTable(QTableView):
    """The report rows of one `FeedModel`, painted by a `FeedDelegate`."""

    #: the current row changed (to a report, or to none): what the actions apply to
    current_report_changed = Signal()
    #: the officer moved to or opened a report (not a selection made on request)
    report_chosen = Signal(str)

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
        for name, width in column_widths(self.font(), hh.fontMetrics()).items():
            self.setColumnWidth(COL[name], width)
        hh.setStretchLastSection(False)
        hh.setSectionResizeMode(COL["text"], QHeaderView.ResizeMode.Stretch)
        self._style_scrollbars()
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.doubleClicked.connect(lambda _i: self.open_current())
        self.selectionModel().currentRowChanged.connect(self._current_row_changed)
        model.modelAboutToBeReset.connect(self._remember_selection)
        model.modelReset.connect(self._restore_selection)

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

    def apply(self, batch: Sequence[tuple[m.Report, bool]]) -> None:
        """Put a batch into the model, keeping the rows under the eye still when the officer
        reads further down, and lay them out at once (otherwise Qt's zero-delay layout timer
        repaints the viewport a second time)."""
        model = self.feed_model
        bar = self.verticalScrollBar()
        anchor = None
        if bar.value() > 0:  # reading further down: keep the rows under the eye still
            top = self.indexAt(QPoint(0, 0))
            anchor = model.report_at(top.row()) if top.isValid() else None
        model.upsert_many(batch)
        self.executeDelayedItemsLayout()
        if anchor is not None:
            row = model.row_of(anchor.report_id)
            if row is not None:
                bar.setValue(row)

    # ------------------------------------------------------------ Qt events

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt naming
        if not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            handler = self.keys.get(Qt.Key(event.key()))
            if handler is not None:
                handler()
                event.accept()
                return
        super().keyPressEvent(event)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "delegate"):
            self._style_scrollbars()  # the theme was switched
            self.delegate.clear_cache()
        super().changeEvent(event)

    # ------------------------------------------------------------ internals

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
