"""The feed: the Qt model on its own, then the widget over a real (never-started) session.

The store's order, batches and filters are tested without Qt in
tests/unit/console/test_feed_store.py; here are the Qt signals, roles and painting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QHeaderView

from backend_client import messages as m
from console.feed.model import COL, FeedFilter, FeedModel, age_text
from console.feed.widget import FeedWidget
from console.session import ConsoleSession
from tests.support.console import offline_session
from tests.support.feed_events import arrive, next_seq
from tests.support.feed_events import queued as pending
from tests.support.samples import T0, Clock
from tests.support.samples import numbered_report as report

pytestmark = pytest.mark.gui


def ids(model: FeedModel) -> list[str]:
    return [
        model.data(model.index(r, 0), Qt.ItemDataRole.UserRole + 1) for r in range(model.rowCount())
    ]


def cell(model: FeedModel, row: int, col: str) -> str:
    return model.data(model.index(row, COL[col]), Qt.ItemDataRole.DisplayRole)


# ---------------------------------------------------------------- the Qt model alone


def test_newest_on_top_and_inserts_are_row_zero_inserts(qapp: object) -> None:
    model = FeedModel(clock=Clock(T0 + 100))
    inserted: list[tuple[int, int]] = []
    resets: list[int] = []
    model.rowsInserted.connect(lambda _p, a, b: inserted.append((a, b)))
    model.modelReset.connect(lambda: resets.append(1))
    model.upsert_many([(report(i), True) for i in range(1, 4)])
    model.upsert_many([(report(i), True) for i in range(4, 6)])
    assert ids(model) == ["R-0005", "R-0004", "R-0003", "R-0002", "R-0001"]
    assert inserted == [(0, 2), (0, 1)]  # one block at the top per batch, no reset
    assert resets == []


def test_update_changes_the_row_in_place(qapp: object) -> None:
    model = FeedModel(clock=Clock(T0 + 100))
    model.upsert_many([(report(i), True) for i in range(1, 4)])
    changed: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda a, b, _r=None: changed.append((a.row(), b.row())))
    model.upsert(report(2, status="claimed", claimed_by="dev", priority="high"))
    assert model.rowCount() == 3
    assert ids(model) == ["R-0003", "R-0002", "R-0001"]
    assert cell(model, 1, "status") == "Claimed · dev"
    assert cell(model, 1, "priority") == "HIGH"
    assert changed == [(1, 1)]


def test_age_is_relative_and_refreshes_only_the_age_column(qapp: object) -> None:
    clock = Clock(T0 + 1 + 200)
    model = FeedModel(clock=clock)
    model.upsert(report(1), created=True)
    assert cell(model, 0, "age") == "3 min"
    changed: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda a, b, _r=None: changed.append((a.column(), b.column())))
    clock.now += 2 * 3600
    model.refresh_ages()
    assert cell(model, 0, "age") == "2 h"
    assert changed == [(COL["age"], COL["age"])]
    assert [age_text(s) for s in (3, 42, 61, 7200, 3 * 86400)] == [
        "3 s",  # seconds tick: never "now" for long
        "42 s",
        "1 min",
        "2 h",
        "3 d",
    ]


def test_unread_is_bold_until_read(qapp: object) -> None:
    model = FeedModel(clock=Clock(T0 + 10))
    model.upsert(report(1), created=True)
    font = model.data(model.index(0, COL["text"]), Qt.ItemDataRole.FontRole)
    assert font is not None and font.bold()
    model.mark_read("R-0001")
    assert model.data(model.index(0, COL["text"]), Qt.ItemDataRole.FontRole) is None


HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<b>bold</b> and <a href='https://evil.example'>link</a>",
    "abc\u202edcba.exe",
    "A" * 100_000,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_data(qapp: object, text: str) -> None:
    model = FeedModel(clock=Clock(T0 + 10))
    model.upsert(report(1, text=text, reporter="<i>x</i>"), created=True)
    shown = cell(model, 0, "text")
    assert shown == text[:199] + "…" if len(text) > 200 else shown == text
    assert cell(model, 0, "reporter") == "<i>x</i>"
    tip = model.data(model.index(0, COL["text"]), Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("<qt>")
    assert "<img" not in tip and "<b>" not in tip and "<a " not in tip
    if "<" in text:
        assert "&lt;" in tip
    assert len(tip) < 12_000  # a 100 kB report does not become a 100 kB tooltip


# ---------------------------------------------------------------- the widget over a session


@pytest.fixture
def session(tmp_path: Path) -> Iterator[ConsoleSession]:
    session = offline_session(tmp_path, "dana")
    yield session
    session.client.outbox.close()


@pytest.fixture
def feed(qtbot, session: ConsoleSession) -> FeedWidget:  # type: ignore[no-untyped-def]
    widget = FeedWidget(session)
    qtbot.addWidget(widget)
    widget.resize(900, 500)
    widget.show()
    return widget


def now_report(n: int, **changes: object) -> m.Report:
    import time

    return report(n, created_at=time.time() - 100 + n, **changes)


def test_widget_uses_fixed_row_heights(feed: FeedWidget) -> None:
    vh = feed.table.verticalHeader()
    assert vh.sectionResizeMode(0) == QHeaderView.ResizeMode.Fixed
    assert vh.defaultSectionSize() == 24


def test_keyboard_triage_submits_actions(qtbot, session: ConsoleSession, feed: FeedWidget) -> None:  # type: ignore[no-untyped-def]
    arrive(session, feed, now_report(1), now_report(2), now_report(3))
    feed.table.setFocus()
    feed.table.setCurrentIndex(feed.model.index(0, COL["text"]))
    with qtbot.waitSignal(feed.report_selected) as sig:
        qtbot.keyClick(feed.table, Qt.Key.Key_J)
    assert sig.args == ["R-0002"]
    assert feed.current_report().report_id == "R-0002"  # type: ignore[union-attr]
    qtbot.keyClick(feed.table, Qt.Key.Key_C)
    qtbot.keyClick(feed.table, Qt.Key.Key_P)
    qtbot.keyClick(feed.table, Qt.Key.Key_H)
    qtbot.keyClick(feed.table, Qt.Key.Key_X)  # asks why first
    dialog = feed.action_bar.close_dialog
    assert dialog is not None and not dialog.ok.isEnabled()
    dialog.choose("Resolved")
    dialog.accept()
    sent = pending(session)
    assert [type(x) for x in sent] == [
        m.ReportClaim,
        m.ReportSetStatus,
        m.ReportSetPriority,
        m.ReportSetStatus,
    ]
    assert all(x.report_id == "R-0002" for x in sent)
    assert [getattr(x, "status", None) for x in sent] == [None, "in_progress", None, "closed"]
    assert sent[2].priority == "high"  # type: ignore[attr-defined]
    qtbot.keyClick(feed.table, Qt.Key.Key_K)
    with qtbot.waitSignal(feed.report_selected) as sig:
        qtbot.keyClick(feed.table, Qt.Key.Key_Return)
    assert sig.args == ["R-0003"]


def test_assign_goes_through_the_outbox(session: ConsoleSession, feed: FeedWidget) -> None:
    arrive(session, feed, now_report(1))
    feed.select_report("R-0001")
    feed.assign("dev")
    (action,) = pending(session)
    assert isinstance(action, m.ReportAssign) and action.officer == "dev"


def test_claimed_by_someone_else_shows_who_and_is_not_claimed(
    qtbot,
    session: ConsoleSession,
    feed: FeedWidget,  # type: ignore[no-untyped-def]
) -> None:
    arrive(session, feed, now_report(1, status="claimed", claimed_by="dev"))
    assert cell(feed.model, 0, "status") == "Claimed · dev"
    feed.select_report("R-0001")
    qtbot.keyClick(feed.table, Qt.Key.Key_C)
    assert pending(session) == []
    assert "claimed by dev" in feed.note.text()


def test_selecting_clears_unread_and_survives_refilter(
    qtbot,
    session: ConsoleSession,
    feed: FeedWidget,  # type: ignore[no-untyped-def]
) -> None:
    arrive(session, feed, *(now_report(i) for i in range(1, 6)))
    model = feed.model
    assert model.is_unread(model.storage_of_row(2))
    with qtbot.waitSignal(feed.report_selected):
        feed.table.setCurrentIndex(model.index(2, COL["text"]))
    assert feed.current_report().report_id == "R-0003"  # type: ignore[union-attr]
    assert not model.is_unread(model.storage_of_row(2))
    feed.search.setText("report number")
    qtbot.waitUntil(lambda: model.feed_filter.text == "report number")  # debounced
    assert feed.current_report().report_id == "R-0003"  # type: ignore[union-attr]
    arrive(session, feed, now_report(6))  # a new row on top keeps the selection
    assert feed.current_report().report_id == "R-0003"  # type: ignore[union-attr]


def test_select_report_shows_a_report_the_filter_hides(
    session: ConsoleSession, feed: FeedWidget
) -> None:
    arrive(session, feed, now_report(1, status="closed"), now_report(2))
    assert feed.model.row_of("R-0001") is None
    feed.select_report("R-0001")
    assert feed.current_report().report_id == "R-0001"  # type: ignore[union-attr]
    assert feed.show_closed.isChecked()
    assert "Filters cleared" in feed.note.text()
    feed.select_report("R-9999")
    assert "not in the feed" in feed.note.text()


def test_high_priority_report_raises_a_notification(
    qtbot,
    session: ConsoleSession,
    feed: FeedWidget,  # type: ignore[no-untyped-def]
) -> None:
    with qtbot.waitSignal(feed.high_priority) as sig:
        arrive(session, feed, now_report(1, priority="high"))
    assert sig.args[0].report_id == "R-0001"
    with qtbot.assertNotEmitted(feed.high_priority):
        arrive(session, feed, now_report(2))
        arrive(session, feed, report(3, priority="high"))  # replayed from long ago


def test_reports_are_batched_until_the_flush(
    qtbot, session: ConsoleSession, feed: FeedWidget
) -> None:  # type: ignore[no-untyped-def]
    for i in range(1, 4):
        session.dispatch(m.ReportCreated(seq=next_seq(), at=T0, report=now_report(i)))
    assert feed.model.rowCount() == 0
    qtbot.waitUntil(lambda: feed.model.rowCount() == 3, timeout=1000)


def test_hostile_text_keeps_row_height_in_the_widget(
    qtbot,
    session: ConsoleSession,
    feed: FeedWidget,  # type: ignore[no-untyped-def]
) -> None:
    arrive(session, feed, *(now_report(i, text=t) for i, t in enumerate(HOSTILE, 1)))
    qtbot.wait(50)  # let it paint
    heights = {feed.table.rowHeight(r) for r in range(feed.model.rowCount())}
    assert heights == {24}
    rows = {cell(feed.model, r, "text") for r in range(feed.model.rowCount())}
    assert "<img src=x onerror=alert(1)>" in rows
    feed.table.viewport().grab()  # paints every visible cell through the delegate: no crash
    assert feed.model.index(0, 0) != QModelIndex()


def test_rows_beyond_the_drawing_budget_are_drawn_on_later_turns(
    qtbot,
    session: ConsoleSession,
    feed: FeedWidget,  # type: ignore[no-untyped-def]
) -> None:
    arrive(session, feed, *(now_report(i) for i in range(1, 41)))
    delegate = feed._delegate
    delegate.clear_cache()
    delegate.budget_s = 0.0  # one new row per repaint, the rest deferred
    delegate.under_pressure(10.0)
    feed.table.viewport().repaint()
    assert len(delegate._rows) == 1 and delegate._deferred
    visible = feed.table.viewport().height() // feed.table.rowHeight(0)
    qtbot.waitUntil(lambda: len(delegate._rows) >= visible and not delegate._deferred)


def test_selected_and_hostile_rows_paint(qtbot, session: ConsoleSession, feed: FeedWidget) -> None:  # type: ignore[no-untyped-def]
    arrive(session, feed, now_report(1, text="abc\u202edcba.exe", priority="high"), now_report(2))
    feed.select_report("R-0001")
    qtbot.waitUntil(lambda: not feed._delegate._deferred)
    image = feed.table.viewport().grab().toImage()
    row = feed.table.rowViewportPosition(feed.model.row_of("R-0001"))  # type: ignore[arg-type]
    x0 = feed.table.columnViewportPosition(COL["text"])
    width = feed.table.columnWidth(COL["text"])
    background = image.pixelColor(x0 + width - 2, row + 1)
    inked = sum(
        image.pixelColor(x, y) != background
        for x in range(x0, x0 + width)
        for y in range(row, row + feed.table.rowHeight(0))
    )
    assert inked > 20  # the selected row's report text is drawn, not covered by the selection


def test_a_trickle_of_reports_is_drawn_at_once(session: ConsoleSession, feed: FeedWidget) -> None:
    arrive(session, feed, *(now_report(i) for i in range(1, 30)))  # one batch, not a stream
    feed._delegate.budget_s = 0.0
    feed.table.viewport().repaint()
    assert not feed._delegate._deferred


def test_cells_show_the_useful_part_of_priority_reporter_and_category(qapp: object) -> None:
    model = FeedModel(clock=Clock(T0 + 10))
    model.upsert_many(
        [
            (report(1, reporter="Citizen-CZ8RM", category="missing_person"), True),
            (report(2, priority="high", category="fly_tipping"), True),
            (report(3, priority="low", category="antisocial"), True),
        ]
    )
    assert [cell(model, r, "priority") for r in range(3)] == ["low", "HIGH", ""]  # normal: blank
    assert [cell(model, r, "category") for r in range(3)] == [
        "Anti-social",  # the one label rules give it, as the filter shows it
        "Fly-tipping",
        "Missing person",
    ]
    tip = model.data(model.index(0, COL["category"]), Qt.ItemDataRole.ToolTipRole)
    assert tip == "Anti-social"
    assert cell(model, 2, "reporter") == "CZ8RM"
    assert cell(model, 1, "reporter") == "citizen-2"  # not a "Citizen-" pseudonym: whole
    tip = model.data(model.index(2, COL["reporter"]), Qt.ItemDataRole.ToolTipRole)
    assert "Citizen-CZ8RM" in tip
    model.set_filter(FeedFilter(text="citizen-cz8"))  # the full pseudonym is still searched
    assert ids(model) == ["R-0001"]


def test_narrow_columns_fit_their_longest_value_and_the_text_takes_the_rest(
    session: ConsoleSession, feed: FeedWidget
) -> None:
    from PySide6.QtGui import QFont, QFontMetrics

    from backend_client import rules

    bold = QFont(feed.table.font())
    bold.setBold(True)
    labels = [rules.category_label(c) for c in m.CATEGORIES]
    longest = max(QFontMetrics(bold).horizontalAdvance(label) for label in labels)
    assert feed.table.columnWidth(COL["category"]) >= longest + 13 + 12  # dot and padding
    hh = feed.table.horizontalHeader()
    assert hh.sectionResizeMode(COL["text"]) == QHeaderView.ResizeMode.Stretch

    def others() -> int:
        return sum(
            feed.table.columnWidth(c)
            for c in range(len(COL))
            if c != COL["text"] and not feed.table.isColumnHidden(c)
        )

    # every column fits in the feed's usual width, and the text keeps the rest
    assert not any(feed.table.isColumnHidden(c) for c in range(len(COL)))
    assert others() < 700
    assert feed.table.columnWidth(COL["text"]) >= feed.table.viewport().width() - others() - 1
    # narrow (1280 px's feed), reporter, id, media and time give way to the report text
    feed.resize(500, 500)
    hidden = ("reporter", "id", "media", "time")
    assert [feed.table.isColumnHidden(COL[c]) for c in hidden] == [True] * 4
    assert feed.table.columnWidth(COL["text"]) >= 140
    feed.resize(640, 500)  # 1600 px's: the time comes back first, then the media
    assert not feed.table.isColumnHidden(COL["time"])
    assert feed.table.isColumnHidden(COL["reporter"]) and feed.table.isColumnHidden(COL["id"])
    assert feed.table.columnWidth(COL["time"]) > 40
    feed.resize(900, 500)
    assert not any(feed.table.isColumnHidden(COL[c]) for c in hidden)


def test_a_theme_switch_restyles_the_scroll_bars_and_forgets_drawn_rows(
    qtbot,  # type: ignore[no-untyped-def]
    qapp,
    session: ConsoleSession,
    feed: FeedWidget,
) -> None:
    from console.theme import DARK, apply_theme, current

    arrive(session, feed, *(now_report(i) for i in range(1, 6)))
    feed.table.viewport().repaint()
    assert feed._delegate._rows
    was_dark = current() is DARK
    before = current()["base"]
    try:
        apply_theme(qapp, "light" if was_dark else "dark")
        after = current()["base"]
        assert after != before
        qtbot.waitUntil(lambda: after in feed.table.verticalScrollBar().styleSheet())
        assert not feed._delegate._rows  # rows drawn in the old colours are gone
    finally:
        apply_theme(qapp, "dark" if was_dark else "light")


@pytest.mark.parametrize(("role", "may_take"), [("dispatcher", False), ("supervisor", True)])
def test_buttons_follow_the_rules_for_a_report_someone_else_holds(
    qtbot,  # type: ignore[no-untyped-def]
    session: ConsoleSession,
    feed: FeedWidget,
    role: str,
    may_take: bool,
) -> None:
    session.client.role = role
    arrive(session, feed, now_report(1, status="claimed", claimed_by="dev"), now_report(2))
    feed.select_report("R-0001")
    a = feed.actions_by_name
    assert a["claim"].toolTip() == "Claimed by dev (C)"
    assert [a[n].isEnabled() for n in ("claim", "progress", "close")] == [may_take] * 3
    assert a["assign"].isEnabled() and feed.priority_button.isEnabled()
    qtbot.keyClick(feed.table, Qt.Key.Key_C)
    sent = pending(session)
    if may_take:
        assert [(type(x), x.force) for x in sent] == [(m.ReportClaim, True)]  # type: ignore[attr-defined]
    else:
        assert sent == [] and "claimed by dev" in feed.note.text()
    feed.select_report("R-0002")  # a new report: claim it, then work it
    assert [a[n].isEnabled() for n in ("claim", "progress", "close")] == [True] * 3
    assert a["claim"].toolTip() == "Claim (C)"
