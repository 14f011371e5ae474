"""The dispatcher's live feed: the filter bar, the triage actions and the report table.

This widget composes the three (`filters`, `actions`, `table`) over one `FeedModel` and
buffers the session's reports: they are applied in one batch per `FLUSH_MS`, so a burst
of 500 reports a second costs a few small inserts and one repaint instead of one repaint
per report.

A steady feed: new reports never move the rows the officer looks at (the table holds them
still and counts what arrived above them); the "N new" bar over the table says how many
and brings them into view. Pause holds new reports back (changes to the ones shown still
apply); Resume lets them in.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from backend_client import messages as m
from console.common.exercise import is_exercise_report
from console.feed.actions import ACTIONS, FeedActions
from console.feed.filters import SEARCH_DEBOUNCE_MS, FeedFilters
from console.feed.model import FeedModel
from console.feed.store import FeedFilter
from console.feed.table import MEDIA_ICON, ROW_HEIGHT, FeedTable, column_widths
from console.session import ConsoleSession
from console.settings import ConsoleSettings
from console.theme import current

__all__ = [  # names other code has imported from here
    "AGE_REFRESH_MS",
    "ALERT_RECENT_S",
    "FLUSH_MS",
    "MEDIA_ICON",
    "ROW_HEIGHT",
    "SEARCH_DEBOUNCE_MS",
    "STREAMING_GAP_S",
    "FeedWidget",
    "column_widths",
]

FLUSH_MS = 40  # at most this long between a report arriving and the feed showing it
AGE_REFRESH_MS = 10_000  # ages tick ("12 s", "4 min") at least this often
UNDO_MS = 8_000  # how long a close can be undone from the feed's bar
STREAMING_GAP_S = 0.2  # batches closer than this: draw new rows progressively (delegate)
ALERT_RECENT_S = 600  # a high-priority report older than this (replayed, cached) is not news


class FeedWidget(QWidget):
    report_selected = Signal(str)
    high_priority = Signal(object)  # m.Report: a new high-priority report arrived
    #: the dispatcher hid (True) or showed (False) exercise traffic: the map follows
    exercise_hidden_changed = Signal(bool)
    #: what the feed's filters show changed: a `(m.Report) -> bool` (True = shown), for
    #: the map to show the same reports
    filter_changed = Signal(object)
    #: how many new reports wait out of sight (paused, or above the rows held still)
    new_reports_pending = Signal(int)

    def __init__(self, session: ConsoleSession, settings: ConsoleSettings | None = None) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.model = FeedModel(self)
        self.model.store.opened = session  # unread: not yet opened by this officer
        self._pending: list[tuple[m.Report, bool]] = []
        #: called with the report context menu before it opens, to add entries to it
        self.context_menu_hooks: list[Callable[[QMenu], None]] = []
        #: new reports held back while paused, by id (latest version, created flag)
        self._held: dict[str, tuple[m.Report, bool]] = {}
        self._last_flush = 0.0
        self._pending_count = 0
        self._undo: tuple[str, str] | None = None  # (report id, status before the close)

        self.filters = FeedFilters()
        self.table = FeedTable(self.model)
        self.action_bar = FeedActions(session, self.current_report)
        self.note = QLabel()
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.note.setWordWrap(True)
        self.note.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(4)
        lay.addWidget(self.filters)
        lay.addWidget(self.action_bar)
        self.pause_button = QToolButton()
        self.pause_button.setProperty("filterToggle", True)
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip(
            "Pause live updates: new reports wait (counted above the list) until you resume"
        )
        self.pause_button.setText("Pause")
        self.pause_button.toggled.connect(self._pause_toggled)
        self.filters.status_row.insertWidget(0, self.pause_button)
        #: "N new": brings the reports that arrived out of sight into view
        self.new_bar = QPushButton()
        self.new_bar.setObjectName("newReportsBar")
        self.new_bar.setCursor(Qt.CursorShape.PointingHandCursor)
        self.new_bar.clicked.connect(self.show_newest)
        self.undo_bar = QFrame()
        self.undo_bar.setObjectName("undoBar")
        undo_row = QHBoxLayout(self.undo_bar)
        undo_row.setContentsMargins(8, 2, 4, 2)
        self.undo_label = QLabel()
        self.undo_label.setTextFormat(Qt.TextFormat.PlainText)
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.undo_close)
        undo_row.addWidget(self.undo_label, 1)
        undo_row.addWidget(self.undo_button)
        self.undo_bar.hide()
        self._undo_timer = QTimer(self, singleShot=True, interval=UNDO_MS)
        self._undo_timer.timeout.connect(self._undo_expired)
        # one strip of fixed height over the table holds the N-new bar and the Undo, so
        # neither moves the rows when it comes and goes (the note goes under the table)
        self.strip = QWidget()
        strip = QHBoxLayout(self.strip)
        strip.setContentsMargins(0, 0, 0, 0)
        strip.setSpacing(4)
        strip.addWidget(self.new_bar, 1)
        strip.addWidget(self.undo_bar)
        self.strip.setFixedHeight(
            max(self.new_bar.sizeHint().height(), self.undo_bar.sizeHint().height())
        )
        lay.addWidget(self.strip)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.note)
        self._style_bars()
        # the parts' controls, under the names tests and other code use
        self.search = self.filters.search
        self.window_combo = self.filters.window_combo
        self.category_actions = self.filters.category_actions
        self.status_buttons = self.filters.status_buttons
        self.show_closed = self.filters.show_closed
        self.hide_exercise = self.filters.hide_exercise
        self.count_label = self.filters.count_label
        self.actions_by_name: dict[str, QAction] = self.action_bar.actions_by_name
        self.priority_menu = self.action_bar.priority_menu
        self.priority_button = self.action_bar.priority_button
        self._delegate = self.table.delegate

        if settings is not None and settings.hide_exercise():
            self.hide_exercise.setChecked(True)  # before any report is loaded: no refilter
            self.model.set_filter(self.filters.current())
        self.filters.filter_changed.connect(self._filter_chosen)
        self.action_bar.refused.connect(self._show_note)
        self.action_bar.closed.connect(self._offer_undo)
        self.table.unseen_changed.connect(lambda _n: self._update_new_bar())
        self.table.clear_filters_requested.connect(self.clear_filters)
        self.table.pointer_left.connect(self._pointer_left)
        self.table.keys.update(
            {
                Qt.Key.Key_C: self.claim,
                Qt.Key.Key_P: self.start_progress,
                Qt.Key.Key_X: self.close_report,
                Qt.Key.Key_R: self.reopen,
                Qt.Key.Key_H: lambda: self.set_priority("high"),
            }
        )
        self._key_actions()
        self.table.current_report_changed.connect(self._update_actions)
        self.table.report_chosen.connect(self.report_selected)
        self.table.customContextMenuRequested.connect(self._context_menu)

        self._flush_timer = QTimer(self, singleShot=True, interval=FLUSH_MS)
        self._flush_timer.timeout.connect(self.flush_pending)
        self._age_timer = QTimer(self, interval=AGE_REFRESH_MS)
        self._age_timer.timeout.connect(self._refresh_ages)
        self._age_timer.start()

        if session.reports:
            self.model.load(sorted(session.reports.values(), key=lambda r: r.created_at))
        session.report_changed.connect(self._on_report)
        session.reports_erased.connect(self._on_erased)
        self._update_count()
        self._update_actions()

    # ------------------------------------------------------------ public interface

    def select_report(self, report_id: str) -> None:
        """Select and scroll to a report; clear the filters if they hide it."""
        row = self.model.row_of(report_id)
        if row is None:
            report = self.model.report(report_id) or self.session.reports.get(report_id)
            if report is None:
                self._show_note(f"Report {report_id} is not in the feed yet.")
                return
            if self.model.report(report_id) is None:
                held = self._held.pop(report_id, None)
                self.table.apply([held or (report, False)])  # asked for: even while paused
                self._update_count()
            if self.model.row_of(report_id) is None:
                self.filters.reset(
                    show_closed=report.status == "closed",
                    show_exercise=is_exercise_report(report),
                )
                self._show_note(f"Filters cleared to show report {report_id}.")
            row = self.model.row_of(report_id)
            if row is None:
                return
        self.table.reveal(row)
        self.model.mark_read(report_id)
        self._update_actions()

    def show_note(self, text: str) -> None:
        """Say something about the list above it (hidden again when a filter is chosen)."""
        self._show_note(text)

    def _key_actions(self) -> None:
        """The feed's keys as actions of the list (while it has the focus), so Help >
        Keyboard shortcuts lists them from the actions; the list's own key handlers stay
        for when no shortcut fires (a window not active)."""
        for name, _text, key in ACTIONS:
            if key:
                action = self.actions_by_name[name]
                action.setShortcut(QKeySequence(key))
                action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
                self.table.addAction(action)
        table = self.table
        for text, keys, slot in (
            ("Next report", ("J",), lambda: table.step(1)),
            ("Previous report", ("K",), lambda: table.step(-1)),
            ("Open the report (report pane, map, chat)", ("Return",), table.open_current),
        ):
            action = QAction(text, table)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            action.triggered.connect(slot)
            table.addAction(action)

    def current_report(self) -> m.Report | None:
        return self.table.current_report()

    def set_filter(self, feed_filter: FeedFilter) -> None:
        hidden = self.model.feed_filter.hide_exercise
        self.model.set_filter(feed_filter)
        self._update_count()
        if feed_filter.hide_exercise != hidden:
            if self.settings is not None:
                self.settings.set_hide_exercise(feed_filter.hide_exercise)
            self.exercise_hidden_changed.emit(feed_filter.hide_exercise)
        self.filter_changed.emit(self.report_filter())

    def report_filter(self) -> Callable[[m.Report], bool]:
        """The feed's filters as a test of one report (True = the feed shows it)."""
        feed_filter = self.model.feed_filter
        return lambda r: feed_filter.accepts(r, time.time())

    def clear_filters(self) -> None:
        """The empty state's way out: show every open report; if that is still nothing,
        closed and exercise reports too."""
        self.filters.reset(show_closed=False)
        if not self.model.rowCount() and self.model.total():
            self.filters.reset(show_closed=True, show_exercise=True)

    # ------------------------------------------------------------ steady: pause, N new

    @property
    def paused(self) -> bool:
        return self.pause_button.isChecked()

    def set_paused(self, paused: bool) -> None:
        self.pause_button.setChecked(paused)

    def pending_new(self) -> int:
        """New reports out of sight: held back while paused, or above the rows held still."""
        return len(self._held) + self.table.unseen

    def show_newest(self) -> None:
        """The "N new" bar's click: resume if paused, and scroll to the newest rows."""
        if self.paused:
            self.set_paused(False)
        self.table.scroll_to_newest()
        self._update_new_bar()

    # ------------------------------------------------------------ close, undo, reopen

    def reopen(self) -> None:
        self.action_bar.reopen()

    def undo_close(self) -> None:
        """Reopen the report just closed, to the status it had, and drop the bar."""
        undo, self._undo = self._undo, None
        self._undo_timer.stop()
        self.undo_bar.hide()
        if undo is not None:
            self.action_bar.undo_close(*undo)
            self._show_note(f"Close of {undo[0]} undone: reopened.")

    @property
    def hiding_exercise(self) -> bool:
        """Whether exercise traffic is left out (the map is told the same)."""
        return self.model.feed_filter.hide_exercise

    # the triage actions, as they always were on the feed (the app and tests call them)

    def claim(self) -> None:
        self.action_bar.claim()

    def start_progress(self) -> None:
        self.action_bar.start_progress()

    def close_report(self) -> None:
        self.action_bar.close_report()

    def assign(self, officer: str) -> None:
        self.action_bar.assign(officer)

    def set_priority(self, priority: str) -> None:
        self.action_bar.set_priority(priority)

    # ------------------------------------------------------------ incoming reports

    def _on_report(self, report: m.Report, created: bool) -> None:
        self._pending.append((report, created))
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def _on_erased(self, event: m.ReportErased) -> None:
        """A citizen erased their data: their reports leave the feed at once."""
        gone = set(event.report_ids)
        self._pending = [(r, c) for r, c in self._pending if r.report_id not in gone]
        for rid in gone & self._held.keys():
            del self._held[rid]
        self._update_new_bar()
        if self.table.remove(gone):
            self._update_count()
            self._update_actions()

    def flush_pending(self) -> None:
        """Apply buffered reports in one batch (also called directly by tests and benches).
        While paused, new reports are held back (counted) and only changes to the reports
        already shown apply."""
        self._flush_timer.stop()
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        alarms = batch
        if self.paused or self.table.cannot_absorb():
            batch = self._hold_new(batch)
        tick = time.monotonic()
        if tick - self._last_flush < STREAMING_GAP_S:  # a stream, not a trickle
            self._delegate.under_pressure()
        self._last_flush = tick
        if batch:
            self.table.apply(batch)
        self._update_count()
        current = self.current_report()
        if current is not None and any(r.report_id == current.report_id for r, _ in batch):
            self._update_actions()
        self._alarm(alarms)

    def _hold_new(self, batch: list[tuple[m.Report, bool]]) -> list[tuple[m.Report, bool]]:
        """Keep back the reports the feed does not show yet; return the rest to apply."""
        apply: list[tuple[m.Report, bool]] = []
        for report, created in batch:
            rid = report.report_id
            if rid in self._held:
                self._held[rid] = (report, created or self._held[rid][1])
            elif self.model.report(rid) is None:
                self._held[rid] = (report, created)
            else:
                apply.append((report, created))
        return apply

    def _alarm(self, batch: list[tuple[m.Report, bool]]) -> None:
        """A new high-priority report is news as it arrives, shown or held back."""
        now = time.time()
        alarming = [
            report
            for report, created in batch
            if created
            and report.priority == "high"
            and report.status != "closed"
            and now - report.created_at < ALERT_RECENT_S
        ]
        for report in alarming:
            self.high_priority.emit(report)
        if alarming:
            QApplication.alert(self.window())

    # ------------------------------------------------------------ the parts, wired

    def _filter_chosen(self, feed_filter: FeedFilter) -> None:
        self.set_filter(feed_filter)
        self.note.hide()

    def _context_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        self.table.setCurrentIndex(index)
        menu = QMenu(self)
        for name in ("claim", "progress", "close", "reopen", "assign"):
            menu.addAction(self.actions_by_name[name])
        menu.addMenu(self.priority_menu)
        for hook in self.context_menu_hooks:  # other features' entries (incidents)
            hook(menu)
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def _refresh_ages(self) -> None:
        self.model.refresh_ages()
        self._update_count()

    def _update_count(self) -> None:
        shown, total = self.model.rowCount(), self.model.total()
        self.filters.show_count(shown, total)
        self.table.update_empty_state(total - shown, total)
        self._update_new_bar()
        self.filters.show_exercise_count(
            self.model.store.exercise_total(), self.model.feed_filter.hide_exercise
        )

    def _pointer_left(self) -> None:
        """Reports held back while the pointer rested on a short list come in now."""
        if not self.paused:
            self._pause_toggled(False)

    def _pause_toggled(self, paused: bool) -> None:
        self.pause_button.setText("\u2713 Paused" if paused else "Pause")
        if not paused and self._held:
            batch = list(self._held.values())
            self._held.clear()
            self.table.apply(batch)  # held still if the officer is reading: counted as new
            self._update_count()
        self._update_new_bar()

    def _update_new_bar(self) -> None:
        held, unseen = len(self._held), self.table.unseen
        count = held + unseen
        if count != self._pending_count:
            self._pending_count = count
            self.new_reports_pending.emit(count)
        noun = "report" if count == 1 else "reports"
        if self.paused:
            state = "paused"
            text = f"Paused — {count:,} new {noun} waiting · Resume and show newest"
            if not count:
                text = "Paused — new reports wait here · Resume"
        elif count:
            state, text = "new", f"\u25b2 {count:,} new {noun} · Show newest"
        else:
            state, text = "idle", "Live — new reports appear at the top"
        self.new_bar.setText(text)
        self.new_bar.setEnabled(state != "idle")
        if self.new_bar.property("state") != state:
            self.new_bar.setProperty("state", state)
            self.new_bar.style().unpolish(self.new_bar)  # a dynamic property: restyle
            self.new_bar.style().polish(self.new_bar)

    def _offer_undo(self, report_id: str, previous: str, reason: str) -> None:
        self._undo = (report_id, previous)
        self.undo_label.setText(f"Closed {report_id} ({reason}).")
        self.undo_bar.show()
        self._undo_timer.start()

    def _undo_expired(self) -> None:
        self._undo = None
        self.undo_bar.hide()

    def _style_bars(self) -> None:
        c = current()
        sheet = (
            f"QPushButton#newReportsBar {{ background: {c['highlight']};"
            f" color: {c['highlight_text']}; border: 0; border-radius: 4px;"
            " padding: 3px 10px; font-weight: 600; text-align: center; }"
            f" QPushButton#newReportsBar[state='idle'] {{ background: transparent;"
            f" color: {c['muted']}; font-weight: normal; }}"
            f" QPushButton#newReportsBar[state='paused'] {{ background: {c['warning']};"
            f" color: {c['base']}; }}"
            f" QFrame#undoBar {{ background: {c['alt']}; border: 1px solid {c['border']};"
            " border-radius: 4px; }"
        )
        if self.styleSheet() != sheet:
            self.setStyleSheet(sheet)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "new_bar"):
            self._style_bars()  # the theme was switched
        super().changeEvent(event)

    def _update_actions(self) -> None:
        self.action_bar.update_for(self.current_report())

    def _show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.show()
