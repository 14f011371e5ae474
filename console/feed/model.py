"""The feed's Qt table model: a `FeedStore` seen through Qt's roles and signals.

The store decides which rows exist and in what order; this model only answers Qt's
questions (display text, tooltips, fonts, colours, ids) and turns the store's row changes
into `beginInsertRows` / `endInsertRows` and friends, so a new report is one row-0 insert
and never a model reset. It holds no widget.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from backend_client import messages as m
from backend_client import rules
from console.feed.cells import (
    COL,
    COLUMNS,
    HEADER_TIPS,
    HEADERS,
    PRIORITY_LABELS,
    STATUS_LABELS,
    age_text,
    cell_text,
    first_line,
    media_text,
    plain_tooltip,
    reporter_short,
    text_tooltip,
)
from console.feed.store import PRIORITIES, STATUSES, TIME_WINDOWS, FeedFilter, FeedStore
from console.theme import CATEGORY_COLOURS, PRIORITY_COLOURS, STATUS_COLOURS

__all__ = [  # the names this module has always offered, wherever they now live
    "COL",
    "COLUMNS",
    "HEADERS",
    "HEADER_TIPS",
    "PRIORITIES",
    "PRIORITY_LABELS",
    "STATUSES",
    "STATUS_LABELS",
    "TIME_WINDOWS",
    "ChipColourRole",
    "FeedFilter",
    "FeedModel",
    "ReportIdRole",
    "age_text",
    "first_line",
    "plain_tooltip",
    "reporter_short",
]

ReportIdRole = Qt.ItemDataRole.UserRole + 1
ChipColourRole = Qt.ItemDataRole.UserRole + 2  # colour of a status / priority / category chip
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class _Signals:
    """The store's row changes, told to Qt views through the model's begin/end calls."""

    def __init__(self, model: FeedModel) -> None:
        self._model = model

    def inserting(self, first: int, last: int) -> None:
        self._model.beginInsertRows(QModelIndex(), first, last)

    def inserted(self) -> None:
        self._model.endInsertRows()

    def removing(self, first: int, last: int) -> None:
        self._model.beginRemoveRows(QModelIndex(), first, last)

    def removed(self) -> None:
        self._model.endRemoveRows()

    def resetting(self) -> None:
        self._model.beginResetModel()

    def reset(self) -> None:
        self._model.endResetModel()


def status_tooltip(r: m.Report) -> str | None:
    """Who holds it, and why it was closed."""
    label = STATUS_LABELS[r.status]
    if r.status == "closed":
        why = f": {r.close_reason}" if r.close_reason else " (no reason given)"
        return plain_tooltip(f"{label}{why}")
    if r.claimed_by:
        return plain_tooltip(f"{label} — claimed by {r.claimed_by}")
    return None


class FeedModel(QAbstractTableModel):
    """Reports as rows, newest on top, filtered by a `FeedFilter`. Qt-pure: no widgets."""

    def __init__(
        self, parent: QObject | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(parent)
        self.store = FeedStore(clock)
        self.store.listener = _Signals(self)
        self._bold = QFont()
        self._bold.setBold(True)
        self._colours = {k: QColor(v) for k, v in PRIORITY_COLOURS.items()}
        #: column name -> header icon (a QIcon the table supplies; this model makes none)
        self.header_icons: dict[str, object] = {}

    # ------------------------------------------------------------ Qt model interface

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self.store.shown

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[COLUMNS[section]]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(COLUMNS[section])
        if role == Qt.ItemDataRole.DecorationRole:
            return self.header_icons.get(COLUMNS[section])
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        store = self.store
        if not index.isValid() or not 0 <= index.row() < store.shown:
            return None
        idx = store.storage_of_row(index.row())
        col = COLUMNS[index.column()]
        r = store.stored(idx)
        if role == Qt.ItemDataRole.DisplayRole:
            return cell_text(r, col, store.now)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(r, col)
        if role == Qt.ItemDataRole.FontRole:
            return self._bold if store.is_unread(idx) else None
        if role == Qt.ItemDataRole.ForegroundRole and col == "priority":
            return self._colours[r.priority]
        if role == ChipColourRole:
            return self.chip_colour(idx, col)
        if role == ReportIdRole:
            return r.report_id
        if role == Qt.ItemDataRole.TextAlignmentRole and col in ("age", "media"):
            return _RIGHT
        return None

    @staticmethod
    def _tooltip(r: m.Report, col: str) -> str | None:
        if col == "text":
            return text_tooltip(r)
        if col == "status":
            return status_tooltip(r)
        if col in ("age", "time"):
            return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created_at))
        if col == "media":
            return media_text(r) or None
        if col == "reporter":
            return plain_tooltip(r.reporter)  # the cell shows only its suffix
        if col == "category":
            return rules.category_label(r.category)
        return None

    # ------------------------------------------------------------ direct access (delegate, widget)

    def cell_text(self, idx: int, col: str) -> str:
        return cell_text(self.store.stored(idx), col, self.store.now)

    def chip_colour(self, idx: int, col: str) -> str | None:
        r = self.store.stored(idx)
        if col == "priority":
            return PRIORITY_COLOURS[r.priority]
        if col == "status":
            return STATUS_COLOURS[r.status]
        if col == "category":
            return CATEGORY_COLOURS.get(r.category)
        return None

    def storage_of_row(self, row: int) -> int:
        return self.store.storage_of_row(row)

    def stored(self, idx: int) -> m.Report:
        return self.store.stored(idx)

    def is_unread(self, idx: int) -> bool:
        return self.store.is_unread(idx)

    def report_at(self, row: int) -> m.Report | None:
        return self.store.report_at(row)

    def report(self, report_id: str) -> m.Report | None:
        return self.store.report(report_id)

    def row_of(self, report_id: str) -> int | None:
        """The view row showing this report, or None (unknown or filtered out)."""
        return self.store.row_of(report_id)

    def total(self) -> int:
        return self.store.total()

    def shown_ids(self) -> list[str]:
        """The ids of the reports the filter shows, top (newest) first."""
        return self.store.shown_ids()

    @property
    def feed_filter(self) -> FeedFilter:
        return self.store.feed_filter

    # ------------------------------------------------------------ changes

    def upsert(self, report: m.Report, created: bool = False) -> None:
        self.upsert_many([(report, created)])

    def upsert_many(self, items: Iterable[tuple[m.Report, bool]]) -> None:
        """Apply a batch of new and changed reports with the fewest, smallest view signals."""
        span = self.store.upsert_many(items)
        if span is not None:
            self.dataChanged.emit(self.index(span[0], 0), self.index(span[1], len(COLUMNS) - 1))

    def remove_many(self, report_ids: Iterable[str]) -> int:
        """Take erased reports out (one row removal each); returns how many were here."""
        return self.store.remove_many(report_ids)

    def load(self, reports: Sequence[m.Report]) -> None:
        """Replace everything (start-up from cache, a benchmark's million rows): one reset."""
        self.store.load(reports)

    def mark_read(self, report_id: str) -> None:
        row = self.store.mark_read(report_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def refresh_ages(self) -> None:
        """Called by a timer: re-read the clock, drop rows that left the time window."""
        self.store.refresh_ages()
        shown = self.store.shown
        if shown:
            col = COL["age"]
            self.dataChanged.emit(
                self.index(0, col), self.index(shown - 1, col), [Qt.ItemDataRole.DisplayRole]
            )

    def set_filter(self, feed_filter: FeedFilter) -> None:
        """Recompute the visible rows (numpy masks, then one text pass) and reset once."""
        self.store.set_filter(feed_filter)
