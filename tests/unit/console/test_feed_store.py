"""The feed's store and cell texts alone, without Qt: order, batches, filters, hostile text.

pytest-qt imports PySide6 when pytest starts, so the proof that the store needs no Qt runs
in a child interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.feed.cells import age_text, cell_text
from console.feed.store import SEARCH_CHARS, FeedFilter, FeedStore
from tests.support.samples import T0, Clock
from tests.support.samples import numbered_report as report

ROOT = Path(__file__).resolve().parents[3]


class Recorder:
    """A RowListener that writes down what a Qt model would have been told."""

    def __init__(self, store: FeedStore) -> None:
        self.store = store
        self.calls: list[tuple[object, ...]] = []

    def inserting(self, first: int, last: int) -> None:
        self.calls.append(("inserting", first, last, self.store.shown))

    def inserted(self) -> None:
        self.calls.append(("inserted", self.store.shown))

    def removing(self, first: int, last: int) -> None:
        self.calls.append(("removing", first, last, self.store.shown))

    def removed(self) -> None:
        self.calls.append(("removed", self.store.shown))

    def resetting(self) -> None:
        self.calls.append(("resetting",))

    def reset(self) -> None:
        self.calls.append(("reset",))


def store_at(now: float) -> tuple[FeedStore, Recorder]:
    store = FeedStore(clock=Clock(now))
    store.listener = recorder = Recorder(store)
    return store, recorder


def status_cell(store: FeedStore, row: int) -> str:
    r = store.report_at(row)
    assert r is not None
    return cell_text(r, "status", store.now)


def test_the_store_imports_no_qt() -> None:
    code = (
        "import sys, console.feed.store, console.feed.cells, console.feed.triage; "
        "leaked = sorted(n for n in sys.modules if n.split('.')[0] in "
        "('PySide6', 'shiboken6', 'qasync', 'pyqtgraph')); "
        "assert not leaked, leaked"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_insert_puts_the_newest_on_top_with_one_block_per_batch() -> None:
    store, rec = store_at(T0 + 100)
    store.upsert_many([(report(i), True) for i in range(1, 4)])
    store.upsert_many([(report(i), True) for i in range(4, 6)])
    assert store.shown_ids() == ["R-0005", "R-0004", "R-0003", "R-0002", "R-0001"]
    # the listener hears "before" while the old rows still stand and "after" once placed
    assert rec.calls == [
        ("inserting", 0, 2, 0),
        ("inserted", 3),
        ("inserting", 0, 1, 3),
        ("inserted", 5),
    ]
    assert store.total() == 5 and store.row_of("R-0004") == 1


def test_out_of_order_arrival_lands_in_time_order() -> None:
    store, rec = store_at(T0 + 100)
    store.upsert_many([(report(i), True) for i in (1, 5, 9)])
    store.upsert_many([(report(3), True)])
    store.upsert_many([(report(7), True)])
    assert store.shown_ids() == ["R-0009", "R-0007", "R-0005", "R-0003", "R-0001"]
    assert rec.calls[2:] == [
        ("inserting", 2, 2, 3),
        ("inserted", 4),
        ("inserting", 1, 1, 4),
        ("inserted", 5),
    ]


def test_update_changes_the_row_in_place() -> None:
    store, rec = store_at(T0 + 100)
    store.upsert_many([(report(i), True) for i in range(1, 4)])
    rec.calls.clear()
    span = store.upsert_many(
        [(report(2, status="claimed", claimed_by="dev", priority="high"), False)]
    )
    assert span == (1, 1)  # the one row to repaint
    assert rec.calls == []  # no insert, remove or reset
    assert store.shown == 3
    assert store.shown_ids() == ["R-0003", "R-0002", "R-0001"]
    assert status_cell(store, 1) == "Claimed · dev"
    r = store.report_at(1)
    assert r is not None and cell_text(r, "priority", store.now) == "HIGH"


def test_created_and_changed_in_one_batch_is_one_row() -> None:
    store, _rec = store_at(T0 + 100)
    store.upsert_many([(report(1), True), (report(1, status="claimed", claimed_by="dev"), False)])
    store.upsert_many([(report(2), True), (report(2, status="closed"), False), (report(3), True)])
    assert store.shown_ids() == ["R-0003", "R-0001"]
    assert status_cell(store, 1) == "Claimed · dev"
    assert store.shown == 2 and store.total() == 3


def test_bulk_load_replaces_everything_in_one_reset() -> None:
    store, rec = store_at(T0 + 100)
    store.upsert_many([(report(99), True)])
    rec.calls.clear()
    shuffled = [report(i, status="closed" if i == 4 else "new") for i in (3, 1, 5, 2, 4)]
    store.load(shuffled)
    assert rec.calls == [("resetting",), ("reset",)]
    assert store.shown_ids() == ["R-0005", "R-0003", "R-0002", "R-0001"]  # closed hidden
    assert store.total() == 5 and store.report("R-0099") is None
    assert store.report("R-0004") is not None and store.row_of("R-0004") is None
    assert not any(store.is_unread(store.storage_of_row(r)) for r in range(store.shown))
    store.upsert_many([(report(6), True)])  # the loaded store keeps growing at the top
    assert store.shown_ids()[:2] == ["R-0006", "R-0005"]


def test_bulk_load_grows_past_its_first_capacity() -> None:
    store, _rec = store_at(T0 + 5000)
    store.load([report(i) for i in range(3000)])
    store.upsert_many([(report(i), True) for i in range(3000, 5000)])
    assert store.shown == 5000
    assert store.row_of("R-4999") == 0 and store.row_of("R-0000") == 4999


def test_closed_reports_leave_the_working_list_unless_shown() -> None:
    store, rec = store_at(T0 + 100)
    store.upsert_many([(report(i), True) for i in range(1, 4)])
    rec.calls.clear()
    store.upsert_many([(report(2, status="closed"), False)])
    assert rec.calls == [("removing", 1, 1, 3), ("removed", 2)]
    assert store.shown_ids() == ["R-0003", "R-0001"]
    assert store.row_of("R-0002") is None
    store.set_filter(FeedFilter(show_closed=True))
    assert store.shown_ids() == ["R-0003", "R-0002", "R-0001"]
    store.set_filter(FeedFilter())
    store.upsert_many([(report(2, status="in_progress", claimed_by="dev"), False)])  # reopened
    assert store.shown_ids() == ["R-0003", "R-0002", "R-0001"]
    # asking for closed alone without "show closed" still shows nothing closed
    store.set_filter(FeedFilter(statuses=frozenset({"closed"})))
    assert store.shown_ids() == []


def test_filters_by_status_category_window_and_text() -> None:
    store, rec = store_at(T0 + 3600 * 3)
    store.upsert_many(
        [
            (report(1, created_at=T0, category="drugs", text="Dealing behind the SHOP"), True),
            (report(2, created_at=T0 + 3600 * 3 - 60, category="vehicle", status="claimed"), True),
            (report(3, created_at=T0 + 3600 * 3 - 30, reporter="Owl-42"), True),
        ]
    )
    rec.calls.clear()
    store.set_filter(FeedFilter(statuses=frozenset({"claimed"})))
    assert rec.calls == [("resetting",), ("reset",)]  # one reset per filter
    assert store.shown_ids() == ["R-0002"]
    store.set_filter(FeedFilter(categories=frozenset({"drugs", "burglary"})))
    assert store.shown_ids() == ["R-0003", "R-0001"]
    store.set_filter(FeedFilter(window_s=15 * 60))
    assert store.shown_ids() == ["R-0003", "R-0002"]
    store.set_filter(FeedFilter(text="shop"))
    assert store.shown_ids() == ["R-0001"]
    store.set_filter(FeedFilter(text="owl-4"))  # reporter pseudonym
    assert store.shown_ids() == ["R-0003"]
    store.set_filter(FeedFilter(text="r-0002"))  # report id
    assert store.shown_ids() == ["R-0002"]
    store.upsert_many([(report(4, created_at=T0 + 3600 * 3, text="nothing"), True)])
    assert store.shown_ids() == ["R-0002"]  # a new report that fails the filter stays hidden
    assert store.feed_filter == FeedFilter(text="r-0002")
    assert not store.feed_filter.is_default() and FeedFilter(show_closed=True).is_default()


def test_time_window_drops_rows_that_age_out() -> None:
    clock = Clock(T0 + 10)
    store = FeedStore(clock=clock)
    store.listener = rec = Recorder(store)
    store.upsert_many([(report(i), True) for i in range(1, 6)])
    store.set_filter(FeedFilter(window_s=900))
    assert store.shown == 5
    rec.calls.clear()
    clock.now = T0 + 3 + 900  # reports 1 and 2 are now older than 15 min
    store.refresh_ages()
    assert store.shown_ids() == ["R-0005", "R-0004", "R-0003"]
    assert rec.calls == [("removing", 3, 4, 5), ("removed", 3)]  # the two bottom rows
    assert store.now == clock.now


def test_ages_read_the_stores_clock() -> None:
    clock = Clock(T0 + 1 + 200)
    store = FeedStore(clock=clock)
    store.upsert_many([(report(1), True)])
    r = store.report_at(0)
    assert r is not None and cell_text(r, "age", store.now) == "3 min"
    clock.now += 2 * 3600
    store.refresh_ages()
    assert cell_text(r, "age", store.now) == "2 h"
    assert [age_text(s) for s in (3, 42, 61, 7200, 3 * 86400)] == [
        "3 s",
        "42 s",
        "1 min",
        "2 h",
        "3 d",
    ]


def test_unread_until_read_and_only_for_new_reports_that_arrive() -> None:
    store, _rec = store_at(T0 + 10)
    store.upsert_many([(report(1), True), (report(2), False), (report(3, status="claimed"), True)])
    unread = {
        store.stored(store.storage_of_row(r)).report_id: store.is_unread(store.storage_of_row(r))
        for r in range(3)
    }
    assert unread == {"R-0001": True, "R-0002": False, "R-0003": False}
    assert store.mark_read("R-0001") == 2  # its row, to repaint
    assert store.mark_read("R-0001") is None  # already read: nothing to repaint
    assert store.mark_read("R-9999") is None
    assert not store.is_unread(store.storage_of_row(2))


def test_rows_out_of_range_have_no_report() -> None:
    store, _rec = store_at(T0 + 10)
    store.upsert_many([(report(1), True)])
    assert store.report_at(-1) is None and store.report_at(1) is None
    assert store.report("R-0404") is None and store.row_of("R-0404") is None


HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "abc\u202edcba.exe",
    "null\x00byte \x1b[31mred\x1b[0m bell\x07 and \ufeffbom",
    "line one\r\nline two\u2028three",
    "A" * 100_000 + "needle-at-the-end",
    "(a+)+$ .* [unclosed \\d{99999}",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_searched_as_plain_data(text: str) -> None:
    store, _rec = store_at(T0 + 10)
    store.upsert_many([(report(1, text=text), True), (report(2, text="plain"), True)])
    # a piece of the text finds it, literally (no regex, no escapes)
    piece = text[:20].strip().lower()
    store.set_filter(FeedFilter(text=piece))
    assert store.shown_ids() == ["R-0001"]
    store.set_filter(FeedFilter(text="plain"))
    assert store.shown_ids() == ["R-0002"]
    shown = cell_text(store.stored(store.storage_of_row(0)), "text", store.now)
    assert len(shown) <= 200


def test_very_long_text_is_searched_only_as_far_as_the_wire_allows() -> None:
    store, _rec = store_at(T0 + 10)
    long = "x" * (SEARCH_CHARS - 6) + "early " + "late " + "y" * 100_000
    store.upsert_many([(report(1, text=long), True)])
    store.set_filter(FeedFilter(text="early"))
    assert store.shown_ids() == ["R-0001"]
    store.set_filter(FeedFilter(text="late"))
    assert store.shown_ids() == []  # beyond SEARCH_CHARS: not indexed, not scanned
    store.set_filter(FeedFilter(text="  EARLY  "))  # trimmed, case-insensitive
    assert store.shown_ids() == ["R-0001"]


def test_control_characters_in_the_needle_match_only_themselves() -> None:
    store, _rec = store_at(T0 + 10)
    store.upsert_many([(report(1, text="a\x00b"), True), (report(2, text="ab"), True)])
    store.set_filter(FeedFilter(text="a\x00b"))
    assert store.shown_ids() == ["R-0001"]
    store.set_filter(FeedFilter(text="\x00"))
    assert store.shown_ids() == ["R-0001"]


def test_erased_reports_leave_the_rows_and_the_store_for_good() -> None:
    store, rec = store_at(T0 + 100)
    store.upsert_many([(report(i), True) for i in range(1, 6)])
    store.set_filter(FeedFilter(text="report number"))  # a filter passes them all
    rec.calls.clear()
    assert store.remove_many(["R-0004", "R-0002", "R-9999"]) == 2
    assert store.shown_ids() == ["R-0005", "R-0003", "R-0001"]
    assert rec.calls == [("removing", 1, 1, 5), ("removed", 4), ("removing", 2, 2, 4)] + [
        ("removed", 3)
    ]
    assert store.total() == 3 and store.report("R-0004") is None and store.row_of("R-0004") is None
    # nothing of them comes back with a new filter, and nothing of their text is searched
    store.set_filter(FeedFilter(text="number 4"))
    assert store.shown_ids() == []
    store.set_filter(FeedFilter())
    assert store.shown_ids() == ["R-0005", "R-0003", "R-0001"]
    assert all("number 2" not in store.stored(i).text for i in range(5))
    store.upsert_many([(report(6), True)])  # the store goes on as before
    assert store.shown_ids()[0] == "R-0006" and store.total() == 4


@pytest.mark.parametrize(
    "feed_filter",
    [
        FeedFilter(),
        FeedFilter(show_closed=True),
        FeedFilter(categories=frozenset({"drugs", "vehicle"})),
        FeedFilter(statuses=frozenset({"new"}), text="number 1"),
        FeedFilter(window_s=30.0, hide_exercise=True),
        FeedFilter(between=(T0 + 10, T0 + 20), only=frozenset({"R-0012", "R-0030"})),
    ],
)
def test_one_reports_test_agrees_with_the_stores_rows(feed_filter: FeedFilter) -> None:
    """`FeedFilter.accepts` is what the map is given: it must show what the feed shows."""
    cats = ("burglary", "drugs", "vehicle")
    statuses = ("new", "claimed", "closed")
    reports = [
        report(
            i,
            category=cats[i % 3],
            status=statuses[(i // 3) % 3],
            pilot_id="p-one" if i % 5 == 0 else None,
            exercise=i % 5 == 0,
        )
        for i in range(1, 41)
    ]
    store = FeedStore(clock=Clock(T0 + 50))
    store.upsert_many([(r, True) for r in reports])
    store.set_filter(feed_filter)
    shown = set(store.shown_ids())
    assert shown == {r.report_id for r in reports if feed_filter.accepts(r, store.now)}
    assert 0 < len(shown) < 40 or feed_filter == FeedFilter(show_closed=True)


# ---------------------------------------------------------------- unread per officer (issue 13)


class Marks:
    """The session's opened marks, as the feed sees them."""

    def __init__(self, opened: set[str]) -> None:
        self.opened = set(opened)
        self.calls: list[str] = []

    def is_opened(self, report_id: str) -> bool:
        return report_id in self.opened

    def mark_opened(self, report_id: str) -> bool:
        self.calls.append(report_id)
        if report_id in self.opened:
            return False
        self.opened.add(report_id)
        return True


def test_unread_means_not_opened_by_this_officer_whatever_the_way_in() -> None:
    store = FeedStore(Clock(T0 + 100))
    marks = Marks({"R-0001"})
    store.opened = marks
    # from the cache (a load), replayed as updates, claimed meanwhile: all judged alike
    store.load([report(1), report(2)])
    store.upsert_many([(report(3, status="claimed"), False), (report(4), True)])

    def unread(report_id: str) -> bool:
        row = store.row_of(report_id)
        assert row is not None
        return store.is_unread(store.storage_of_row(row))

    assert [unread(f"R-{n:04d}") for n in (1, 2, 3, 4)] == [False, True, True, True]
    assert store.mark_read("R-0002") is not None
    assert not unread("R-0002")
    assert marks.calls == ["R-0002"]
    store.mark_read("R-0001")  # read already: still remembered (harmless)
    assert marks.calls == ["R-0002", "R-0001"]


def test_without_marks_a_report_is_unread_when_it_arrives_new() -> None:
    store = FeedStore(Clock(T0 + 100))
    store.upsert_many([(report(1), True), (report(2, status="claimed"), True)])
    rows = {
        r: store.is_unread(store.storage_of_row(store.row_of(r) or 0)) for r in ("R-0001", "R-0002")
    }
    assert rows == {"R-0001": True, "R-0002": False}
