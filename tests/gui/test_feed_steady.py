"""The steady feed (issue 13): rows that stay put while reports stream in, the "N new" bar,
pause and resume, ticking ages and the time column, filter toggles that show their state,
multi-select categories, the empty state's count, and Close with a reason, Undo, Reopen.

The widget runs over a real, never-started session; reports are fed to it as the session
would (its `dispatch`), in the batches the feed's flush timer makes."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QEnterEvent
from PySide6.QtWidgets import QApplication, QToolButton

from backend_client import messages as m
from console.feed.cells import time_text
from console.feed.model import COL, FeedModel
from console.feed.widget import AGE_REFRESH_MS, FeedWidget
from console.session import ConsoleSession
from tests.support.feed_events import arrive, change
from tests.support.feed_events import queued as sent
from tests.support.samples import Clock
from tests.support.samples import numbered_report as report

pytestmark = pytest.mark.gui


@pytest.fixture
def feed(qtbot, session: ConsoleSession) -> FeedWidget:  # type: ignore[no-untyped-def]
    widget = FeedWidget(session)
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def live(n: int, **changes: object) -> m.Report:
    return report(n, created_at=time.time() - 1000 + n, **changes)


def point_at(feed: FeedWidget, pos: QPoint) -> None:
    """The pointer enters the rows and rests at `pos` (as a real mouse would tell Qt)."""
    vp = feed.table.viewport()
    QApplication.sendEvent(vp, QEnterEvent(QPointF(pos), QPointF(pos), QPointF(pos)))
    assert feed.table.pointer_inside


def id_at(feed: FeedWidget, pos: QPoint) -> str:
    index = feed.table.indexAt(pos)
    r = feed.model.report_at(index.row())
    assert r is not None
    return r.report_id


# ---------------------------------------------------------------- rows stay put


def test_rows_stay_put_under_the_pointer_and_the_selection_at_50_reports_a_second(
    session: ConsoleSession, feed: FeedWidget
) -> None:
    arrive(session, feed, *(live(i) for i in range(1, 61)))
    table = feed.table
    assert table.verticalScrollBar().value() == 0  # at the top, the newest row first
    feed.select_report("R-0057")  # the 4th row
    selected_y = table.visualRect(feed.model.index(feed.model.row_of("R-0057"), 0)).y()  # type: ignore[arg-type]
    pointer = QPoint(300, table.rowViewportPosition(6) + 5)  # over the 7th row
    point_at(feed, pointer)
    under = id_at(feed, pointer)
    table_y = table.mapTo(feed, QPoint(0, 0)).y()
    n = 61
    for _ in range(50):  # two seconds at 50 reports a second, flushed every 40 ms
        arrive(session, feed, live(n), live(n + 1))
        n += 2
        assert id_at(feed, pointer) == under, "a new report moved the row under the pointer"
        assert table.mapTo(feed, QPoint(0, 0)).y() == table_y, "a bar pushed the table down"
        row = feed.model.row_of("R-0057")
        assert row is not None
        assert table.visualRect(feed.model.index(row, 0)).y() == selected_y
        assert feed.current_report().report_id == "R-0057"  # type: ignore[union-attr]
    assert feed.model.rowCount() == 160
    assert feed.pending_new() == 100
    assert feed.new_bar.property("state") != "idle" and "100 new reports" in feed.new_bar.text()
    table.verticalScrollBar().setValue(30)  # scrolling up shows 70 of them
    assert feed.pending_new() == 30 and "30 new reports" in feed.new_bar.text()
    feed.new_bar.click()  # to the newest
    assert table.verticalScrollBar().value() == 0
    assert feed.pending_new() == 0 and feed.new_bar.property("state") == "idle"
    assert feed.current_report().report_id == "R-0057"  # type: ignore[union-attr]


def test_an_untouched_feed_at_the_top_flows(session: ConsoleSession, feed: FeedWidget) -> None:
    arrive(session, feed, *(live(i) for i in range(1, 11)))
    QApplication.sendEvent(feed.table.viewport(), QEvent(QEvent.Type.Leave))
    assert not feed.table.holds_still()
    arrive(session, feed, live(11))
    assert feed.model.report_at(0).report_id == "R-0011"  # type: ignore[union-attr]
    assert feed.table.verticalScrollBar().value() == 0
    assert feed.pending_new() == 0 and feed.new_bar.property("state") == "idle"


# ---------------------------------------------------------------- pause and resume


def test_pause_holds_new_reports_back_and_counts_them_resume_lets_them_in(
    qtbot,  # type: ignore[no-untyped-def]
    session: ConsoleSession,
    feed: FeedWidget,
) -> None:
    arrive(session, feed, *(live(i) for i in range(1, 6)))
    QApplication.sendEvent(feed.table.viewport(), QEvent(QEvent.Type.Leave))
    feed.pause_button.click()
    assert feed.paused and feed.pause_button.text().startswith("\u2713")
    counts: list[int] = []
    feed.new_reports_pending.connect(counts.append)
    arrive(session, feed, live(6), live(7), live(8))
    assert feed.model.rowCount() == 5  # nothing new shown while paused
    assert (
        feed.new_bar.property("state") != "idle" and "Paused — 3 new reports" in feed.new_bar.text()
    )
    assert counts[-1] == 3
    change(session, feed, live(2, status="claimed", claimed_by="dev"))  # shown ones update
    assert feed.model.report("R-0002").status == "claimed"  # type: ignore[union-attr]
    change(session, feed, live(7, priority="high"))  # a held one: its latest version waits
    assert feed.model.report("R-0007") is None
    feed.pause_button.click()  # resume
    assert not feed.paused and feed.model.rowCount() == 8
    assert feed.model.report("R-0007").priority == "high"  # type: ignore[union-attr]
    assert feed.model.report_at(0).report_id == "R-0008"  # type: ignore[union-attr]
    assert feed.pending_new() == 0 and counts[-1] == 0


def test_the_new_bar_resumes_a_paused_feed(
    qtbot,  # type: ignore[no-untyped-def]
    session: ConsoleSession,
    feed: FeedWidget,
) -> None:
    arrive(session, feed, *(live(i) for i in range(1, 4)))
    feed.set_paused(True)
    with qtbot.waitSignal(feed.high_priority) as alarm:  # held back, yet news at once
        arrive(session, feed, report(4, created_at=time.time(), priority="high"))
    assert alarm.args[0].report_id == "R-0004" and feed.model.row_of("R-0004") is None
    feed.new_bar.click()
    assert not feed.paused and feed.model.row_of("R-0004") is not None
    assert feed.table.verticalScrollBar().value() == 0


# ---------------------------------------------------------------- time


def test_ages_tick_and_the_time_column_says_when(qapp: object) -> None:
    now = time.time()
    clock = Clock(now)
    model = FeedModel(clock=clock)
    model.upsert(report(1, created_at=now - 5), created=True)
    model.upsert(report(2, created_at=now - 3 * 86400), created=True)
    age = model.index(model.row_of("R-0001"), COL["age"])  # type: ignore[arg-type]
    assert model.data(age) == "5 s"  # never "now" for ever
    clock.now += 12
    model.refresh_ages()
    assert model.data(age) == "17 s"
    clock.now += 4 * 60
    model.refresh_ages()
    assert model.data(age) == "4 min"
    when = model.data(model.index(model.row_of("R-0001"), COL["time"]))  # type: ignore[arg-type]
    assert when == time.strftime("%H:%M:%S", time.localtime(now - 5))
    older = time.localtime(now - 3 * 86400)
    assert time_text(now - 3 * 86400, now) == f"{older.tm_mday} {time.strftime('%b', older)}"
    assert model.data(model.index(0, COL["id"])) == model.report_at(0).report_id  # type: ignore[union-attr]


def test_the_feed_repaints_ages_on_a_timer(feed: FeedWidget) -> None:
    assert feed._age_timer.isActive() and 5_000 <= AGE_REFRESH_MS <= 30_000


def test_media_column_says_photo_and_video(qapp: object) -> None:
    sha = "ab" * 32
    photo = m.MediaInfo(sha256=sha, mime="image/jpeg", size=10, stored=True)
    video = m.MediaInfo(sha256="cd" * 32, mime="video/mp4", size=10, stored=True)
    model = FeedModel(clock=Clock(time.time()))
    model.upsert(report(1, media=[photo, photo, video]), created=True)
    model.upsert(report(2), created=True)
    assert model.data(model.index(model.row_of("R-0001"), COL["media"])) == "2 photos · 1 video"  # type: ignore[arg-type]
    assert model.data(model.index(model.row_of("R-0002"), COL["media"])) == ""  # type: ignore[arg-type]
    # a narrow feed hides the id, time, reporter and media columns: the text's tooltip
    # says them first
    row = model.row_of("R-0001")
    tip = model.data(model.index(row, COL["text"]), Qt.ItemDataRole.ToolTipRole)  # type: ignore[arg-type]
    first = tip.split("<br>")[0] if "<br>" in tip else tip.splitlines()[0]
    assert "R-0001" in first and "2 photos · 1 video" in first


# ---------------------------------------------------------------- filters


def _fill(button: QToolButton) -> QColor:
    image = button.grab().toImage()
    return image.pixelColor(3, image.height() // 2)


def _distance(a: QColor, b: QColor) -> int:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue())


def _ink_contrast(button: QToolButton) -> int:
    """The largest colour distance between the button's fill and any of its pixels."""
    image = button.grab().toImage()
    fill = image.pixelColor(3, image.height() // 2)
    return max(
        _distance(fill, image.pixelColor(x, y))
        for x in range(4, image.width() - 4)
        for y in range(3, image.height() - 3)
    )


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_filter_toggles_show_on_and_off_plainly_in_both_themes(
    qtbot,  # type: ignore[no-untyped-def]
    qapp,
    feed: FeedWidget,
    theme: str,
) -> None:
    from console.theme import DARK, apply_theme, current

    was = "dark" if current() is DARK else "light"
    apply_theme(qapp, theme)
    try:
        qtbot.waitUntil(lambda: current()["highlight"] in feed.filters.styleSheet())
        on, off = feed.status_buttons["new"], feed.show_closed
        assert on.isChecked() and not off.isChecked()
        assert on.text().startswith("\u2713") and not off.text().startswith("\u2713")
        assert _distance(_fill(on), _fill(off)) > 120, "on and off look alike"
        assert _ink_contrast(off) > 200, '"Show closed" is not readable'
        assert _ink_contrast(on) > 200
        off.click()
        assert off.text() == "\u2713 Show closed" and _distance(_fill(on), _fill(off)) < 30
    finally:
        apply_theme(qapp, was)


def test_categories_are_multi_select_and_none_ticked_is_all(
    session: ConsoleSession, feed: FeedWidget
) -> None:
    cats = ["burglary", "drugs", "vehicle"]
    arrive(session, feed, *(live(i, category=cats[i % 3]) for i in range(1, 31)))
    predicates: list[object] = []
    feed.filter_changed.connect(predicates.append)
    feed.category_actions["burglary"].trigger()
    feed.category_actions["drugs"].trigger()
    assert feed.model.feed_filter.categories == {"burglary", "drugs"}
    assert feed.model.rowCount() == 20
    button = feed.filters.category_button
    assert button.property("active") and "2 categories" in button.text()
    accepts = feed.report_filter()
    assert accepts(live(99, category="drugs")) and not accepts(live(99, category="vehicle"))
    assert callable(predicates[-1]) and not predicates[-1](live(99, category="vehicle"))  # type: ignore[operator]
    shown = {feed.model.report_at(r).report_id for r in range(feed.model.rowCount())}  # type: ignore[union-attr]
    assert shown == {r.report_id for r in session.reports.values() if accepts(r)}
    feed.filters.set_categories(set())
    assert feed.model.feed_filter.categories is None and feed.model.rowCount() == 30
    assert not button.property("active") and button.text().startswith("All categories")


def test_an_empty_feed_says_how_many_reports_the_filters_hide(
    session: ConsoleSession, feed: FeedWidget
) -> None:
    label = feed.table.empty_label
    assert label.isVisibleTo(feed) and "No reports yet" in label.text()
    arrive(session, feed, *(live(i) for i in range(1, 38)))
    assert not label.isVisibleTo(feed)
    feed.category_actions["drugs"].trigger()
    assert feed.model.rowCount() == 0
    assert label.isVisibleTo(feed)
    assert "No reports match — 37 reports hidden by filters" in label.text()
    assert "Clear filters" in label.text()
    label.linkActivated.emit("clear")
    assert feed.model.rowCount() == 37 and not label.isVisibleTo(feed)
    assert feed.model.feed_filter.categories is None


# ---------------------------------------------------------------- close, undo, reopen


def test_close_asks_a_reason_and_can_be_undone(
    qtbot,  # type: ignore[no-untyped-def]
    session: ConsoleSession,
    feed: FeedWidget,
) -> None:
    arrive(session, feed, live(1, status="in_progress", claimed_by="dana"), live(2))
    feed.select_report("R-0001")
    table_y = feed.table.mapTo(feed, QPoint(0, 0)).y()
    feed.close_report()
    dialog = feed.action_bar.close_dialog
    assert dialog is not None and dialog.isVisible() and not dialog.ok.isEnabled()
    dialog.reject()  # Cancel sends nothing
    assert sent(session) == [] and feed.action_bar.close_dialog is None
    feed.close_report()
    dialog = feed.action_bar.close_dialog
    assert dialog is not None
    assert [str(b.property("label")).split("  ", 1)[1] for b in dialog.picks.values()][:5] == [
        "Resolved",
        "Duplicate",
        "No police action",
        "Passed to 999/101",
        "Hoax/malicious",
    ]
    qtbot.keyClick(dialog, Qt.Key.Key_3)  # a quick pick by its key
    assert dialog.reason() == "No police action" and dialog.ok.isEnabled()
    dialog.choose("Passed to 999/101")
    assert dialog.ok.isEnabled()
    dialog.ok.click()
    (close,) = sent(session)
    assert isinstance(close, m.ReportSetStatus)
    assert (close.status, close.reason) == ("closed", "Passed to 999/101")
    assert feed.undo_bar.isVisibleTo(feed) and "R-0001" in feed.undo_label.text()
    assert feed.table.mapTo(feed, QPoint(0, 0)).y() == table_y  # the Undo moved no row
    feed.undo_button.click()
    undo = sent(session)[-1]
    assert isinstance(undo, m.ReportSetStatus) and undo.status == "in_progress"
    assert undo.report_id == "R-0001" and not feed.undo_bar.isVisibleTo(feed)

    # free text, and the Undo bar goes by itself
    feed.select_report("R-0002")
    feed.close_report()
    dialog = feed.action_bar.close_dialog
    assert dialog is not None
    dialog.choose("Seen by the neighbourhood team")
    feed._undo_timer.setInterval(50)
    dialog.accept()
    last = sent(session)[-1]
    assert isinstance(last, m.ReportSetStatus) and last.reason == "Seen by the neighbourhood team"
    qtbot.waitUntil(lambda: not feed.undo_bar.isVisibleTo(feed), timeout=2000)


@pytest.mark.parametrize(("holder", "target"), [("dana", "in_progress"), ("dev", "claimed")])
def test_a_closed_report_is_reopened_with_its_reason_shown_first(
    qtbot,  # type: ignore[no-untyped-def]
    session: ConsoleSession,
    feed: FeedWidget,
    holder: str,
    target: str,
) -> None:
    feed.show_closed.click()
    arrive(session, feed, live(1, status="closed", claimed_by=holder, close_reason="Duplicate"))
    assert feed.model.data(feed.model.index(0, COL["status"])) == "Closed · Duplicate"
    tip = feed.model.data(feed.model.index(0, COL["status"]), Qt.ItemDataRole.ToolTipRole)
    assert "Duplicate" in tip
    feed.select_report("R-0001")
    a = feed.actions_by_name
    assert a["reopen"].isEnabled() and not a["close"].isEnabled()
    feed.table.setFocus()
    qtbot.keyClick(feed.table, Qt.Key.Key_R)
    (reopen,) = sent(session)
    assert isinstance(reopen, m.ReportSetStatus) and reopen.status == target
    change(session, feed, live(1, status=target, claimed_by="dana"))
    assert not a["reopen"].isEnabled() and a["close"].isEnabled()


def test_a_short_list_under_the_pointer_holds_new_reports_until_the_pointer_leaves(
    session: ConsoleSession, feed: FeedWidget
) -> None:
    """Three rows fill no view: scrolling cannot keep them still, so new reports wait
    (counted in the bar) while the pointer rests on the rows, and come in when it leaves."""
    arrive(session, feed, live(1), live(2), live(3))
    pointer = QPoint(300, feed.table.rowViewportPosition(1) + 5)
    point_at(feed, pointer)
    under = id_at(feed, pointer)
    arrive(session, feed, live(4), live(5))
    assert id_at(feed, pointer) == under and feed.model.rowCount() == 3
    assert feed.pending_new() == 2 and "2 new reports" in feed.new_bar.text()
    QApplication.sendEvent(feed.table.viewport(), QEvent(QEvent.Type.Leave))
    assert feed.model.rowCount() == 5 and not feed.table.pointer_inside
