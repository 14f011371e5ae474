"""The feed's report store: columnar, sized for a million reports, newest on top. No Qt.

Why columnar: filtering 100k rows must take well under 100 ms, so status, category,
priority and creation time live in numpy arrays and a filter is a handful of vectorised
masks plus one substring pass over pre-lowercased text. Why sorted oldest-first: reports
arrive (nearly) in creation order, so the visible index is kept ascending and view row
`r` maps to position `n - 1 - r`; a new report is then an append at the array's end and
one insert of rows `0..k-1`, never a resort or a reset. Changes near the top (where
dispatchers work) cost in proportion to their distance from the top.

The store tells a `RowListener` before and after each change to its visible rows, in the
order Qt's item models need (begin, change, end); `console.feed.model` turns those calls
into Qt signals, and the store stays testable without Qt.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from backend_client import messages as m
from backend_client import rules
from console.common.exercise import is_exercise_report

Ints = npt.NDArray[np.int64]

STATUSES: tuple[str, ...] = rules.STATUSES
PRIORITIES: tuple[str, ...] = ("low", "normal", "high")
#: the time-window choices a dispatcher picks from; None = all time
TIME_WINDOWS: dict[str, float | None] = {
    "Last 15 min": 15 * 60.0,
    "Last hour": 3600.0,
    "Last 24 h": 86400.0,
    "All time": None,
}
SEARCH_CHARS = 8000  # the wire's MAX_TEXT_CHARS; longer (hostile) text is searched this far

_STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}
_PRIORITY_CODE = {p: i for i, p in enumerate(PRIORITIES)}
_CATEGORY_CODE = {c: i for i, c in enumerate(rules.CATEGORIES)}


@dataclass(frozen=True)
class FeedFilter:
    """What the dispatcher asked to see. Closed reports need `show_closed` as well."""

    statuses: frozenset[str] = frozenset(STATUSES)
    categories: frozenset[str] | None = None  # None = every category
    window_s: float | None = None  # only reports newer than this many seconds
    text: str = ""  # case-insensitive substring of text, reporter or report id
    show_closed: bool = False
    #: only reports created in [start, end] (unix seconds): the evidence timeline's brush
    between: tuple[float, float] | None = None
    #: only these report ids (the evidence workspace's selected incident); None = any
    only: frozenset[str] | None = None
    #: leave pilots' reports (exercise traffic) out of live operations
    hide_exercise: bool = False

    def effective_statuses(self) -> frozenset[str]:
        return self.statuses if self.show_closed else self.statuses - {"closed"}

    def is_default(self) -> bool:
        return self == FeedFilter(show_closed=self.show_closed, hide_exercise=self.hide_exercise)

    def accepts(self, r: m.Report, now: float) -> bool:
        """Would the feed show this report, `now` being the feed's clock? The same test the
        store makes over its arrays, for one report (the map shows what the feed shows)."""
        if r.status not in self.effective_statuses():
            return False
        if self.categories is not None and r.category not in self.categories:
            return False
        if self.hide_exercise and is_exercise_report(r):
            return False
        if self.window_s is not None and r.created_at < now - self.window_s:
            return False
        if self.between is not None and not self.between[0] <= r.created_at <= self.between[1]:
            return False
        if self.only is not None and r.report_id not in self.only:
            return False
        needle = self.text.strip().lower()
        return not needle or needle in _haystack(r)


class RowListener(Protocol):
    """Told about every change to the visible rows, before (`*ing`) and after (`*ed`)."""

    def inserting(self, first: int, last: int) -> None: ...
    def inserted(self) -> None: ...
    def removing(self, first: int, last: int) -> None: ...
    def removed(self) -> None: ...
    def resetting(self) -> None: ...
    def reset(self) -> None: ...


class _Unheard:
    """The listener of a store nobody watches (tests, a store built before its model)."""

    def inserting(self, first: int, last: int) -> None:
        pass

    def inserted(self) -> None:
        pass

    def removing(self, first: int, last: int) -> None:
        pass

    def removed(self) -> None:
        pass

    def resetting(self) -> None:
        pass

    def reset(self) -> None:
        pass


class _SortedIndex:
    """Storage indices kept ascending by (created_at, index), cheap to grow at the end.

    With `track=True` it also keeps `pos[storage index]` = position (or -1), so the store
    finds a report's row in O(1).
    """

    def __init__(self, created: Callable[[], npt.NDArray[np.float64]], track: bool) -> None:
        self._created = created
        self.arr: Ints = np.empty(1024, dtype=np.int64)
        self.n = 0
        self.pos: Ints | None = np.full(1024, -1, dtype=np.int64) if track else None

    def grow_pos(self, capacity: int) -> None:
        if self.pos is not None and len(self.pos) < capacity:
            pos = np.full(capacity, -1, dtype=np.int64)
            pos[: len(self.pos)] = self.pos
            self.pos = pos

    def reset(self, indices: Ints) -> None:
        n = len(indices)
        self.arr = np.empty(max(1024, n * 2), dtype=np.int64)
        self.arr[:n] = indices
        self.n = n
        if self.pos is not None:
            self.pos.fill(-1)
            self.pos[indices] = np.arange(n, dtype=np.int64)

    def view(self) -> Ints:
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

    def find(self, idx: int) -> int | None:
        """The position holding storage index `idx`, or None."""
        if self.pos is not None:
            p = int(self.pos[idx])
            return None if p < 0 else p
        created, arr = self._created(), self.arr
        key = (created[idx], idx)
        p = bisect.bisect_left(range(self.n), key, key=lambda q: (created[arr[q]], int(arr[q])))
        return p if p < self.n and int(arr[p]) == idx else None

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


def _floats() -> npt.NDArray[np.float64]:
    return np.empty(1024, dtype=np.float64)


def _codes() -> npt.NDArray[np.int8]:
    return np.empty(1024, dtype=np.int8)


def _flags() -> npt.NDArray[np.bool_]:
    return np.zeros(1024, dtype=np.bool_)


@dataclass
class _Columns:
    created: npt.NDArray[np.float64] = field(default_factory=_floats)
    status: npt.NDArray[np.int8] = field(default_factory=_codes)
    category: npt.NDArray[np.int8] = field(default_factory=_codes)
    priority: npt.NDArray[np.int8] = field(default_factory=_codes)
    unread: npt.NDArray[np.bool_] = field(default_factory=_flags)
    exercise: npt.NDArray[np.bool_] = field(default_factory=_flags)

    def capacity(self) -> int:
        return len(self.created)

    def grow(self, capacity: int) -> None:
        for name in ("created", "status", "category", "priority", "unread", "exercise"):
            old: npt.NDArray[Any] = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)


def _blank(r: m.Report) -> m.Report:
    """What an erased report's storage slot keeps: its id and nothing of the citizen's."""
    return msgspec.structs.replace(
        r, reporter="", text="", lat=0.0, lon=0.0, media=[], claimed_by=None, incident_ref=None
    )


def _haystack(r: m.Report) -> str:
    return f"{r.text[:SEARCH_CHARS]}\n{r.reporter}\n{r.report_id}".lower()


class OpenedMarks(Protocol):
    """Which reports this officer has opened, on any sign-in (the session keeps them in
    the local cache): unread means not opened by this officer."""

    def is_opened(self, report_id: str) -> bool: ...

    def mark_opened(self, report_id: str) -> bool: ...


class FeedStore:
    """Reports by storage index (arrival order) and the visible rows, newest first.

    A row is a position in what the filter shows (0 = newest); a storage index names a
    report for as long as the store lives, whatever the filter does.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.listener: RowListener = _Unheard()
        #: set by the feed: with it unread is "not opened by this officer"; without (the
        #: benches), a report is unread when it arrived new
        self.opened: OpenedMarks | None = None
        self._clock = clock
        #: the feed's clock as last read: ages and the time window are judged against it
        self.now = clock()
        self._c = _Columns()
        self._n = 0
        self._removed = 0  # storage slots emptied by `remove_many`
        self._exercise = 0  # exercise reports held (erased ones not counted)
        self._reports: list[m.Report] = []
        self._hay: list[str] = []
        self._index: dict[str, int] = {}
        self._order = _SortedIndex(lambda: self._c.created, track=False)  # every report
        self._view = _SortedIndex(lambda: self._c.created, track=True)  # the visible ones
        self._filter = FeedFilter()
        self._status_ok = np.ones(len(STATUSES), dtype=np.bool_)
        self._cat_ok = np.ones(len(rules.CATEGORIES), dtype=np.bool_)
        self._needle = ""
        self._compile_filter()

    # ------------------------------------------------------------ reading

    @property
    def shown(self) -> int:
        """How many rows the filter shows."""
        return self._view.n

    def total(self) -> int:
        return self._n - self._removed

    def exercise_total(self) -> int:
        """How many of the reports held are exercise traffic (shown or hidden)."""
        return self._exercise

    @property
    def feed_filter(self) -> FeedFilter:
        return self._filter

    def storage_of_row(self, row: int) -> int:
        return int(self._view.arr[self._view.n - 1 - row])

    def stored(self, idx: int) -> m.Report:
        """The report at a storage index (the delegate's fast path; see `storage_of_row`)."""
        return self._reports[idx]

    def is_unread(self, idx: int) -> bool:
        return bool(self._c.unread[idx])

    def report_at(self, row: int) -> m.Report | None:
        if not 0 <= row < self._view.n:
            return None
        return self._reports[self.storage_of_row(row)]

    def report(self, report_id: str) -> m.Report | None:
        idx = self._index.get(report_id)
        return None if idx is None else self._reports[idx]

    def row_of(self, report_id: str) -> int | None:
        """The row showing this report, or None (unknown or filtered out)."""
        idx = self._index.get(report_id)
        if idx is None or self._view.pos is None:
            return None
        p = int(self._view.pos[idx])
        return None if p < 0 else self._view.n - 1 - p

    def shown_ids(self) -> list[str]:
        """The visible report ids, top (newest) first."""
        reports = self._reports
        return [reports[int(i)].report_id for i in self._view.view()[::-1]]

    # ------------------------------------------------------------ changes

    def upsert_many(self, items: Iterable[tuple[m.Report, bool]]) -> tuple[int, int] | None:
        """Apply a batch of new and changed reports with the fewest, smallest row changes.

        Returns the span of rows (first, last) whose content changed in place, or None."""
        c = self._c
        self.now = max(self.now, self._clock())
        fresh: list[int] = []
        changed: list[int] = []  # storage indices whose visible row may need repainting
        for report, created in items:
            idx = self._index.get(report.report_id)
            if idx is None:
                idx = self._append(report, unread=self._unread(report, created))
                fresh.append(idx)
                continue
            self._reports[idx] = report
            self._hay[idx] = _haystack(report)
            c.status[idx] = _STATUS_CODE[report.status]
            c.category[idx] = _CATEGORY_CODE[report.category]
            c.priority[idx] = _PRIORITY_CODE[report.priority]
            self._set_exercise(idx, is_exercise_report(report))
            changed.append(idx)
        dirty: list[int] = []
        born = set(fresh)  # created and changed in one batch: placed once, with its latest data
        for idx in dict.fromkeys(changed):
            if idx not in born:
                self._settle(idx, dirty)
        self._add_fresh(fresh)
        if not dirty:
            return None
        pos = self._view.pos
        assert pos is not None
        n = self._view.n
        rows = [n - 1 - int(pos[i]) for i in dirty if pos[i] >= 0]
        return (min(rows), max(rows)) if rows else None

    def load(self, reports: Sequence[m.Report]) -> None:
        """Replace everything (start-up from cache, a benchmark's million rows): one reset."""
        self.listener.resetting()
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
        opened = self.opened
        if opened is None:
            c.unread[:n] = False
        else:
            c.unread[:n] = np.fromiter(
                (not opened.is_opened(r.report_id) for r in reports), np.bool_, n
            )
        c.exercise[:n] = np.fromiter((is_exercise_report(r) for r in reports), np.bool_, n)
        self._exercise = int(c.exercise[:n].sum())
        self._n = n
        self._removed = 0
        self._view.grow_pos(cap)
        self._order.reset(np.lexsort((np.arange(n), c.created[:n])).astype(np.int64))
        self._view.reset(self._visible())
        self.now = self._clock()
        self.listener.reset()

    def remove_many(self, report_ids: Iterable[str]) -> int:
        """Take reports out for good (a citizen erased them): their rows go, and their
        storage slots keep a blank, so no text, name or place stays in memory. Returns how
        many were here."""
        removed = 0
        for report_id in report_ids:
            idx = self._index.pop(report_id, None)
            if idx is None:
                continue
            p = self._view.find(idx)
            if p is not None:
                row = self._view.n - 1 - p
                self.listener.removing(row, row)
                self._view.remove_at(p)
                self.listener.removed()
            q = self._order.find(idx)
            if q is not None:
                self._order.remove_at(q)
            self._reports[idx] = _blank(self._reports[idx])
            self._hay[idx] = ""
            self._c.unread[idx] = False
            self._set_exercise(idx, False)
            removed += 1
        self._removed += removed
        return removed

    def mark_read(self, report_id: str) -> int | None:
        """Clear a report's unread mark; returns its row if that row now looks different."""
        idx = self._index.get(report_id)
        if idx is not None and self.opened is not None:
            self.opened.mark_opened(report_id)
        if idx is None or not self._c.unread[idx]:
            return None
        self._c.unread[idx] = False
        return self.row_of(report_id)

    def refresh_ages(self) -> None:
        """Re-read the clock and drop the rows that left the time window."""
        self.now = self._clock()
        window = self._filter.window_s
        if window is not None and self._view.n:
            cutoff = self.now - window
            created, arr = self._c.created, self._view.arr
            k = bisect.bisect_left(range(self._view.n), cutoff, key=lambda p: created[arr[p]])
            if k:
                n = self._view.n
                self.listener.removing(n - k, n - 1)
                self._view.drop_oldest(k)
                self.listener.removed()

    def set_filter(self, feed_filter: FeedFilter) -> None:
        """Recompute the visible rows (numpy masks, then one text pass) and reset once."""
        self._filter = feed_filter
        self._compile_filter()
        self.now = self._clock()
        visible = self._visible()
        self.listener.resetting()
        self._view.reset(visible)
        self.listener.reset()

    # ------------------------------------------------------------ internals

    def _unread(self, report: m.Report, created: bool) -> bool:
        if self.opened is not None:
            return not self.opened.is_opened(report.report_id)
        return created and report.status == "new"

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
        c.exercise[idx] = False
        self._set_exercise(idx, is_exercise_report(report))
        self._reports.append(report)
        self._hay.append(_haystack(report))
        self._index[report.report_id] = idx
        self._n = idx + 1
        return idx

    def _set_exercise(self, idx: int, exercise: bool) -> None:
        if bool(self._c.exercise[idx]) != exercise:
            self._c.exercise[idx] = exercise
            self._exercise += 1 if exercise else -1

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
        self.listener.inserting(0, len(top) - 1)
        self._view.append_many(top)
        self.listener.inserted()
        top.clear()

    def _key(self, idx: int) -> tuple[float, int]:
        return (float(self._c.created[idx]), idx)

    def _insert_visible(self, idx: int) -> None:
        p = self._view.where(idx)
        row = self._view.n - p
        self.listener.inserting(row, row)
        self._view.insert_at(p, idx)
        self.listener.inserted()

    def _settle(self, idx: int, dirty: list[int]) -> None:
        """A changed report: repaint it, or move it in or out of the visible rows."""
        assert self._view.pos is not None
        p = int(self._view.pos[idx])
        passes = self._passes(idx)
        if p >= 0 and passes:
            dirty.append(idx)
        elif p >= 0:
            row = self._view.n - 1 - p
            self.listener.removing(row, row)
            self._view.remove_at(p)
            self.listener.removed()
        elif passes:
            self._insert_visible(idx)

    def _compile_filter(self) -> None:
        f = self._filter
        wanted = f.effective_statuses()
        self._status_ok = np.array([s in wanted for s in STATUSES], dtype=np.bool_)
        cats = f.categories
        self._cat_ok = np.array(
            [cats is None or cat in cats for cat in rules.CATEGORIES], dtype=np.bool_
        )
        self._needle = f.text.strip().lower()

    def _passes(self, idx: int) -> bool:
        c = self._c
        f = self._filter
        if not self._status_ok[c.status[idx]] or not self._cat_ok[c.category[idx]]:
            return False
        if f.hide_exercise and c.exercise[idx]:
            return False
        if f.window_s is not None and c.created[idx] < self.now - f.window_s:
            return False
        if f.between is not None and not f.between[0] <= c.created[idx] <= f.between[1]:
            return False
        if f.only is not None and self._reports[idx].report_id not in f.only:
            return False
        return not self._needle or self._needle in self._hay[idx]

    def _visible(self) -> Ints:
        n = self._n
        c = self._c
        order = self._order.view()
        mask = self._status_ok[c.status[:n]] & self._cat_ok[c.category[:n]]
        if self._filter.hide_exercise:
            mask &= ~c.exercise[:n]
        if self._filter.window_s is not None:
            mask &= c.created[:n] >= self.now - self._filter.window_s
        if self._filter.between is not None:
            start, end = self._filter.between
            mask &= (c.created[:n] >= start) & (c.created[:n] <= end)
        visible = order[mask[order]]
        only = self._filter.only
        if only is not None:
            reports = self._reports
            visible = np.array(
                [i for i in visible.tolist() if reports[i].report_id in only], dtype=np.int64
            )
        needle = self._needle
        if needle:
            hay = self._hay
            hits = [i for i in visible.tolist() if needle in hay[i]]
            visible = np.array(hits, dtype=np.int64)
        return visible
