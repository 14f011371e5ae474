"""The feed's table model: a columnar store sized for a million reports, newest on top.

Why columnar: filtering 100k rows must take well under 100 ms, so status, category,
priority and creation time live in numpy arrays and a filter is a handful of vectorised
masks plus one substring pass over pre-lowercased text. Why sorted oldest-first: reports
arrive (nearly) in creation order, so the visible index is kept ascending and view row
`r` maps to position `n - 1 - r`; a new report is then an append at the array's end and
one `beginInsertRows(0, k - 1)`, never a resort or a model reset. Changes near the top
(where dispatchers work) cost in proportion to their distance from the top.

Citizen text is data: every string this model returns is plain text. The tooltip is the
one place Qt guesses rich text, so it is escaped and wrapped to render literally.
"""

from __future__ import annotations

import bisect
import html
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from backend_client import messages as m
from console.theme import CATEGORY_COLOURS, PRIORITY_COLOURS, STATUS_COLOURS

STATUSES: tuple[str, ...] = ("new", "claimed", "in_progress", "closed")
PRIORITIES: tuple[str, ...] = ("low", "normal", "high")
STATUS_LABELS = {
    "new": "New",
    "claimed": "Claimed",
    "in_progress": "In progress",
    "closed": "Closed",
}
#: normal is the usual case and says nothing: its cell stays blank so HIGH stands out
PRIORITY_LABELS = {"high": "HIGH", "normal": "", "low": "low"}
COLUMNS: tuple[str, ...] = ("priority", "age", "category", "status", "reporter", "text", "media")
HEADERS = {
    "priority": "Pri",
    "age": "Age",
    "category": "Category",
    "status": "Status",
    "reporter": "Reporter",
    "text": "Report",
    "media": "",  # a narrow column: the widget gives its header a file icon instead
}
HEADER_TIPS = {"priority": "Priority (blank: normal)", "media": "Media files attached"}
COL = {name: i for i, name in enumerate(COLUMNS)}
#: the time-window choices a dispatcher picks from; None = all time
TIME_WINDOWS: dict[str, float | None] = {
    "Last 15 min": 15 * 60.0,
    "Last hour": 3600.0,
    "Last 24 h": 86400.0,
    "All time": None,
}

ReportIdRole = Qt.ItemDataRole.UserRole + 1
ChipColourRole = Qt.ItemDataRole.UserRole + 2  # colour of a status / priority / category chip

_STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}
_PRIORITY_CODE = {p: i for i, p in enumerate(PRIORITIES)}
_CATEGORY_CODE = {c: i for i, c in enumerate(m.CATEGORIES)}
_CLOSED = _STATUS_CODE["closed"]
_FIRST_LINE = re.compile(r"[^\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]*")
TEXT_CELL_CHARS = 200  # a cell shows the first line, cut here (the view elides further)
TOOLTIP_CHARS = 2000
SEARCH_CHARS = 8000  # the wire's MAX_TEXT_CHARS; longer (hostile) text is searched this far


#: the feed's narrow Category column; the others read well capitalised as they are
_CATEGORY_SHORT = {"missing_person": "Missing", "fly_tipping": "Fly-tipping", "antisocial": "ASB"}
#: every citizen pseudonym starts with this; the feed shows only the part after it
PSEUDONYM_PREFIX = "Citizen-"


def category_label(category: str) -> str:
    return category.replace("_", " ")


def category_short(category: str) -> str:
    """The feed cell's label: short enough that no category is ever cut ("ASB")."""
    return _CATEGORY_SHORT.get(category) or category_label(category).capitalize()


def reporter_short(pseudonym: str) -> str:
    """The part of a pseudonym that tells reporters apart ("Citizen-CZ8RM" -> "CZ8RM")."""
    if pseudonym.startswith(PSEUDONYM_PREFIX) and len(pseudonym) > len(PSEUDONYM_PREFIX):
        return pseudonym[len(PSEUDONYM_PREFIX) :]
    return pseudonym


def age_text(seconds: float) -> str:
    """How long ago, the way a dispatcher says it: "now", "40 s", "3 min", "2 h", "4 d"."""
    s = int(max(0.0, seconds))
    if s < 10:
        return "now"
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def first_line(text: str) -> str:
    line = _FIRST_LINE.match(text)
    out = line.group(0) if line else ""
    if len(out) > TEXT_CELL_CHARS:
        return out[: TEXT_CELL_CHARS - 1] + "…"
    if not out and text:
        return "…"
    return out


def plain_tooltip(text: str) -> str:
    """A tooltip that shows `text` literally: Qt renders tooltips that look like HTML."""
    if len(text) > TOOLTIP_CHARS:
        text = text[:TOOLTIP_CHARS] + "…"
    body = html.escape(text, quote=False).replace("\n", "<br>")
    return f"<qt><p style='white-space:pre-wrap'>{body}</p></qt>"


@dataclass(frozen=True)
class FeedFilter:
    """What the dispatcher asked to see. Closed reports need `show_closed` as well."""

    statuses: frozenset[str] = frozenset(STATUSES)
    categories: frozenset[str] | None = None  # None = every category
    window_s: float | None = None  # only reports newer than this many seconds
    text: str = ""  # case-insensitive substring of text, reporter or report id
    show_closed: bool = False

    def effective_statuses(self) -> frozenset[str]:
        return self.statuses if self.show_closed else self.statuses - {"closed"}

    def is_default(self) -> bool:
        return self == FeedFilter(show_closed=self.show_closed)


class _SortedIndex:
    """Storage indices kept ascending by (created_at, index), cheap to grow at the end.

    With `track=True` it also keeps `pos[storage index]` = position (or -1), so the model
    finds a report's row in O(1).
    """

    def __init__(self, created: Callable[[], np.ndarray], track: bool) -> None:
        self._created = created
        self.arr = np.empty(1024, dtype=np.int64)
        self.n = 0
        self.pos: np.ndarray | None = np.full(1024, -1, dtype=np.int64) if track else None

    def grow_pos(self, capacity: int) -> None:
        if self.pos is not None and len(self.pos) < capacity:
            pos = np.full(capacity, -1, dtype=np.int64)
            pos[: len(self.pos)] = self.pos
            self.pos = pos

    def reset(self, indices: np.ndarray) -> None:
        n = len(indices)
        self.arr = np.empty(max(1024, n * 2), dtype=np.int64)
        self.arr[:n] = indices
        self.n = n
        if self.pos is not None:
            self.pos.fill(-1)
            self.pos[indices] = np.arange(n, dtype=np.int64)

    def view(self) -> np.ndarray:
        return self.arr[: self.n]

    def where(self, idx: int) -> int:
        """The insertion position that keeps the order (usually the end)."""
        created = self._created()
        n = self.n
        if n == 0:
            return 0
        last = int(self.arr[n - 1])
        key = (created[idx], idx)
        if key > (created[last], last):
            return n
        arr = self.arr
        return bisect.bisect_right(range(n), key, key=lambda p: (created[arr[p]], int(arr[p])))

    def insert_at(self, p: int, idx: int) -> None:
        n = self.n
        if n + 1 > len(self.arr):
            bigger = np.empty(len(self.arr) * 2, dtype=np.int64)
            bigger[:n] = self.arr[:n]
            self.arr = bigger
        if p < n:
            self.arr[p + 1 : n + 1] = self.arr[p:n].copy()
        self.arr[p] = idx
        self.n = n + 1
        if self.pos is not None:
            if p < n:
                self.pos[self.arr[p + 1 : n + 1]] += 1
            self.pos[idx] = p

    def append_many(self, indices: Sequence[int]) -> None:
        k = len(indices)
        n = self.n
        if n + k > len(self.arr):
            bigger = np.empty(max(len(self.arr) * 2, n + k), dtype=np.int64)
            bigger[:n] = self.arr[:n]
            self.arr = bigger
        self.arr[n : n + k] = indices
        if self.pos is not None:
            self.pos[np.asarray(indices, dtype=np.int64)] = np.arange(n, n + k, dtype=np.int64)
        self.n = n + k

    def remove_at(self, p: int) -> None:
        n = self.n
        idx = int(self.arr[p])
        if p < n - 1:
            self.arr[p : n - 1] = self.arr[p + 1 : n].copy()
            if self.pos is not None:
                self.pos[self.arr[p : n - 1]] -= 1
        self.n = n - 1
        if self.pos is not None:
            self.pos[idx] = -1

    def drop_oldest(self, k: int) -> None:
        if k <= 0:
            return
        gone = self.arr[:k].copy()
        self.arr[: self.n - k] = self.arr[k : self.n].copy()
        self.n -= k
        if self.pos is not None:
            self.pos[gone] = -1
            self.pos[self.arr[: self.n]] -= k


@dataclass
class _Columns:
    created: np.ndarray = field(default_factory=lambda: np.empty(1024, dtype=np.float64))
    status: np.ndarray = field(default_factory=lambda: np.empty(1024, dtype=np.int8))
    category: np.ndarray = field(default_factory=lambda: np.empty(1024, dtype=np.int8))
    priority: np.ndarray = field(default_factory=lambda: np.empty(1024, dtype=np.int8))
    unread: np.ndarray = field(default_factory=lambda: np.zeros(1024, dtype=np.bool_))

    def capacity(self) -> int:
        return len(self.created)

    def grow(self, capacity: int) -> None:
        for name in ("created", "status", "category", "priority", "unread"):
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)


def _haystack(r: m.Report) -> str:
    return f"{r.text[:SEARCH_CHARS]}\n{r.reporter}\n{r.report_id}".lower()


class FeedModel(QAbstractTableModel):
    """Reports as rows, newest on top, filtered by a `FeedFilter`. Qt-pure: no widgets."""

    def __init__(
        self, parent: QObject | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(parent)
        self._clock = clock
        self._now = clock()
        self._c = _Columns()
        self._n = 0
        self._reports: list[m.Report] = []
        self._hay: list[str] = []
        self._index: dict[str, int] = {}
        self._order = _SortedIndex(lambda: self._c.created, track=False)  # every report
        self._view = _SortedIndex(lambda: self._c.created, track=True)  # the visible ones
        self._filter = FeedFilter()
        self._status_ok = np.ones(len(STATUSES), dtype=np.bool_)
        self._cat_ok = np.ones(len(m.CATEGORIES), dtype=np.bool_)
        self._bold = QFont()
        self._bold.setBold(True)
        self._colours = {k: QColor(v) for k, v in PRIORITY_COLOURS.items()}
        #: column name -> header icon (a QIcon the widget supplies; this model makes none)
        self.header_icons: dict[str, object] = {}
        self._compile_filter()

    # ------------------------------------------------------------ Qt model interface

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self._view.n

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
        if not index.isValid() or not 0 <= index.row() < self._view.n:
            return None
        idx = self._storage(index.row())
        col = COLUMNS[index.column()]
        r = self._reports[idx]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.cell_text(idx, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == "text":
                return plain_tooltip(r.text)
            if col == "status" and r.claimed_by:
                return plain_tooltip(f"{STATUS_LABELS[r.status]} — claimed by {r.claimed_by}")
            if col == "age":
                return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created_at))
            if col == "reporter":
                return plain_tooltip(r.reporter)  # the cell shows only its suffix
            if col == "category":
                return category_label(r.category).capitalize()
            return None
        if role == Qt.ItemDataRole.FontRole:
            return self._bold if self._c.unread[idx] else None
        if role == Qt.ItemDataRole.ForegroundRole and col == "priority":
            return self._colours[r.priority]
        if role == ChipColourRole:
            return self.chip_colour(idx, col)
        if role == ReportIdRole:
            return r.report_id
        if role == Qt.ItemDataRole.TextAlignmentRole and col in ("age", "media"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    # ------------------------------------------------------------ direct access (delegate, widget)

    def cell_text(self, idx: int, col: str) -> str:
        r = self._reports[idx]
        if col == "text":
            return first_line(r.text)
        if col == "age":
            return age_text(self._now - r.created_at)
        if col == "priority":
            return PRIORITY_LABELS[r.priority]
        if col == "status":
            label = STATUS_LABELS[r.status]
            return f"{label} · {r.claimed_by}" if r.claimed_by and r.status != "new" else label
        if col == "category":
            return category_short(r.category)
        if col == "reporter":
            return reporter_short(r.reporter)
        if col == "media":
            return str(len(r.media)) if r.media else ""
        return ""

    def chip_colour(self, idx: int, col: str) -> str | None:
        r = self._reports[idx]
        if col == "priority":
            return PRIORITY_COLOURS[r.priority]
        if col == "status":
            return STATUS_COLOURS[r.status]
        if col == "category":
            return CATEGORY_COLOURS.get(r.category)
        return None

    def storage_of_row(self, row: int) -> int:
        return self._storage(row)

    def stored(self, idx: int) -> m.Report:
        """The report at a storage index (the delegate's fast path; see `storage_of_row`)."""
        return self._reports[idx]

    def is_unread(self, idx: int) -> bool:
        return bool(self._c.unread[idx])

    def report_at(self, row: int) -> m.Report | None:
        if not 0 <= row < self._view.n:
            return None
        return self._reports[self._storage(row)]

    def report(self, report_id: str) -> m.Report | None:
        idx = self._index.get(report_id)
        return None if idx is None else self._reports[idx]

    def row_of(self, report_id: str) -> int | None:
        """The view row showing this report, or None (unknown or filtered out)."""
        idx = self._index.get(report_id)
        if idx is None or self._view.pos is None:
            return None
        p = int(self._view.pos[idx])
        return None if p < 0 else self._view.n - 1 - p

    def total(self) -> int:
        return self._n

    @property
    def feed_filter(self) -> FeedFilter:
        return self._filter

    # ------------------------------------------------------------ changes

    def upsert(self, report: m.Report, created: bool = False) -> None:
        self.upsert_many([(report, created)])

    def upsert_many(self, items: Iterable[tuple[m.Report, bool]]) -> None:
        """Apply a batch of new and changed reports with the fewest, smallest view signals."""
        c = self._c
        self._now = max(self._now, self._clock())
        fresh: list[int] = []
        changed: list[int] = []  # storage indices whose visible row may need repainting
        for report, created in items:
            idx = self._index.get(report.report_id)
            if idx is None:
                idx = self._append(report, unread=created and report.status == "new")
                fresh.append(idx)
                continue
            self._reports[idx] = report
            self._hay[idx] = _haystack(report)
            c.status[idx] = _STATUS_CODE[report.status]
            c.category[idx] = _CATEGORY_CODE[report.category]
            c.priority[idx] = _PRIORITY_CODE[report.priority]
            changed.append(idx)
        dirty: list[int] = []
        born = set(fresh)  # created and changed in one batch: placed once, with its latest data
        for idx in dict.fromkeys(changed):
            if idx not in born:
                self._settle(idx, dirty)
        self._add_fresh(fresh)
        if dirty:
            rows = [
                self._view.n - 1 - int(self._view.pos[i]) for i in dirty if self._view.pos[i] >= 0
            ]  # type: ignore[index]
            if rows:
                self.dataChanged.emit(
                    self.index(min(rows), 0), self.index(max(rows), len(COLUMNS) - 1)
                )

    def load(self, reports: Sequence[m.Report]) -> None:
        """Replace everything (start-up from cache, a benchmark's million rows): one reset."""
        self.beginResetModel()
        n = len(reports)
        cap = max(1024, n * 2)
        self._c = _Columns()
        self._c.grow(cap)
        self._reports = list(reports)
        self._hay = [_haystack(r) for r in reports]
        self._index = {r.report_id: i for i, r in enumerate(reports)}
        c = self._c
        c.created[:n] = np.fromiter((r.created_at for r in reports), np.float64, n)
        c.status[:n] = np.fromiter((_STATUS_CODE[r.status] for r in reports), np.int8, n)
        c.category[:n] = np.fromiter((_CATEGORY_CODE[r.category] for r in reports), np.int8, n)
        c.priority[:n] = np.fromiter((_PRIORITY_CODE[r.priority] for r in reports), np.int8, n)
        c.unread[:n] = False
        self._n = n
        self._view.grow_pos(cap)
        self._order.reset(np.lexsort((np.arange(n), c.created[:n])).astype(np.int64))
        self._view.reset(self._visible())
        self._now = self._clock()
        self.endResetModel()

    def mark_read(self, report_id: str) -> None:
        idx = self._index.get(report_id)
        if idx is None or not self._c.unread[idx]:
            return
        self._c.unread[idx] = False
        row = self.row_of(report_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def refresh_ages(self) -> None:
        """Called by a timer: re-read the clock, drop rows that left the time window."""
        self._now = self._clock()
        window = self._filter.window_s
        if window is not None and self._view.n:
            cutoff = self._now - window
            created, arr = self._c.created, self._view.arr
            k = bisect.bisect_left(range(self._view.n), cutoff, key=lambda p: created[arr[p]])
            if k:
                n = self._view.n
                self.beginRemoveRows(QModelIndex(), n - k, n - 1)
                self._view.drop_oldest(k)
                self.endRemoveRows()
        if self._view.n:
            col = COL["age"]
            self.dataChanged.emit(
                self.index(0, col),
                self.index(self._view.n - 1, col),
                [Qt.ItemDataRole.DisplayRole],
            )

    def set_filter(self, feed_filter: FeedFilter) -> None:
        """Recompute the visible rows (numpy masks, then one text pass) and reset once."""
        self._filter = feed_filter
        self._compile_filter()
        self._now = self._clock()
        visible = self._visible()
        self.beginResetModel()
        self._view.reset(visible)
        self.endResetModel()

    # ------------------------------------------------------------ internals

    def _storage(self, row: int) -> int:
        return int(self._view.arr[self._view.n - 1 - row])

    def _append(self, report: m.Report, unread: bool) -> int:
        idx = self._n
        if idx >= self._c.capacity():
            cap = self._c.capacity() * 2
            self._c.grow(cap)
            self._view.grow_pos(cap)
        c = self._c
        c.created[idx] = report.created_at
        c.status[idx] = _STATUS_CODE[report.status]
        c.category[idx] = _CATEGORY_CODE[report.category]
        c.priority[idx] = _PRIORITY_CODE[report.priority]
        c.unread[idx] = unread
        self._reports.append(report)
        self._hay.append(_haystack(report))
        self._index[report.report_id] = idx
        self._n = idx + 1
        return idx

    def _add_fresh(self, fresh: list[int]) -> None:
        if not fresh:
            return
        for idx in fresh:  # almost always an append at the end (the newest)
            p = self._order.where(idx)
            if p == self._order.n:
                self._order.append_many([idx])
            else:
                self._order.insert_at(p, idx)
        top: list[int] = []  # newer than every visible row, in order: one insert at row 0
        for idx in fresh:
            if not self._passes(idx):
                continue
            p = self._view.where(idx)
            if p == self._view.n and (not top or self._key(idx) > self._key(top[-1])):
                top.append(idx)
                continue
            self._flush_top(top)
            self._insert_visible(idx)
        self._flush_top(top)

    def _flush_top(self, top: list[int]) -> None:
        if not top:
            return
        self.beginInsertRows(QModelIndex(), 0, len(top) - 1)
        self._view.append_many(top)
        self.endInsertRows()
        top.clear()

    def _key(self, idx: int) -> tuple[float, int]:
        return (float(self._c.created[idx]), idx)

    def _insert_visible(self, idx: int) -> None:
        p = self._view.where(idx)
        row = self._view.n - p
        self.beginInsertRows(QModelIndex(), row, row)
        self._view.insert_at(p, idx)
        self.endInsertRows()

    def _settle(self, idx: int, dirty: list[int]) -> None:
        """A changed report: repaint it, or move it in or out of the visible rows."""
        assert self._view.pos is not None
        p = int(self._view.pos[idx])
        passes = self._passes(idx)
        if p >= 0 and passes:
            dirty.append(idx)
        elif p >= 0:
            row = self._view.n - 1 - p
            self.beginRemoveRows(QModelIndex(), row, row)
            self._view.remove_at(p)
            self.endRemoveRows()
        elif passes:
            self._insert_visible(idx)

    def _compile_filter(self) -> None:
        f = self._filter
        wanted = f.effective_statuses()
        self._status_ok = np.array([s in wanted for s in STATUSES], dtype=np.bool_)
        cats = f.categories
        self._cat_ok = np.array(
            [cats is None or cat in cats for cat in m.CATEGORIES], dtype=np.bool_
        )
        self._needle = f.text.strip().lower()

    def _passes(self, idx: int) -> bool:
        c = self._c
        f = self._filter
        if not self._status_ok[c.status[idx]] or not self._cat_ok[c.category[idx]]:
            return False
        if f.window_s is not None and c.created[idx] < self._now - f.window_s:
            return False
        return not self._needle or self._needle in self._hay[idx]

    def _visible(self) -> np.ndarray:
        n = self._n
        c = self._c
        order = self._order.view()
        mask = self._status_ok[c.status[:n]] & self._cat_ok[c.category[:n]]
        if self._filter.window_s is not None:
            mask &= c.created[:n] >= self._now - self._filter.window_s
        visible = order[mask[order]]
        needle = self._needle
        if needle:
            hay = self._hay
            hits = [i for i in visible.tolist() if needle in hay[i]]
            visible = np.array(hits, dtype=np.int64)
        return visible
