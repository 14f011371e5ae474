"""The dispatcher's live feed: the filter bar, the triage actions and the report table.

This widget composes the three (`filters`, `actions`, `table`) over one `FeedModel` and
buffers the session's reports: they are applied in one batch per `FLUSH_MS`, so a burst
of 500 reports a second costs a few small inserts and one repaint instead of one repaint
per report.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QLabel, QMenu, QVBoxLayout, QWidget

from backend_client import messages as m
from console.common.exercise import is_exercise_report
from console.feed.actions import FeedActions
from console.feed.filters import SEARCH_DEBOUNCE_MS, FeedFilters
from console.feed.model import FeedModel
from console.feed.store import FeedFilter
from console.feed.table import MEDIA_ICON, ROW_HEIGHT, FeedTable, column_widths
from console.session import ConsoleSession
from console.settings import ConsoleSettings

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
AGE_REFRESH_MS = 10_000
STREAMING_GAP_S = 0.2  # batches closer than this: draw new rows progressively (delegate)
ALERT_RECENT_S = 600  # a high-priority report older than this (replayed, cached) is not news


class FeedWidget(QWidget):
    report_selected = Signal(str)
    high_priority = Signal(object)  # m.Report: a new high-priority report arrived
    #: the dispatcher hid (True) or showed (False) exercise traffic: the map follows
    exercise_hidden_changed = Signal(bool)

    def __init__(self, session: ConsoleSession, settings: ConsoleSettings | None = None) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.model = FeedModel(self)
        self.model.store.opened = session  # unread: not yet opened by this officer
        self._pending: list[tuple[m.Report, bool]] = []
        self._last_flush = 0.0

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
        lay.addWidget(self.note)
        lay.addWidget(self.table, 1)
        # the parts' controls, under the names tests and other code use
        self.search = self.filters.search
        self.window_combo = self.filters.window_combo
        self.category_combo = self.filters.category_combo
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
        self.table.keys.update(
            {
                Qt.Key.Key_C: self.claim,
                Qt.Key.Key_P: self.start_progress,
                Qt.Key.Key_X: self.close_report,
                Qt.Key.Key_H: lambda: self.set_priority("high"),
            }
        )
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
                self._pending.append((report, False))
                self.flush_pending()
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
        if self.table.remove(gone):
            self._update_count()
            self._update_actions()

    def flush_pending(self) -> None:
        """Apply buffered reports in one batch (also called directly by tests and benches)."""
        self._flush_timer.stop()
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        tick = time.monotonic()
        if tick - self._last_flush < STREAMING_GAP_S:  # a stream, not a trickle
            self._delegate.under_pressure()
        self._last_flush = tick
        self.table.apply(batch)
        self._update_count()
        current = self.current_report()
        if current is not None and any(r.report_id == current.report_id for r, _ in batch):
            self._update_actions()
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
        for name in ("claim", "progress", "close", "assign"):
            menu.addAction(self.actions_by_name[name])
        menu.addMenu(self.priority_menu)
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def _refresh_ages(self) -> None:
        self.model.refresh_ages()
        self._update_count()

    def _update_count(self) -> None:
        self.filters.show_count(self.model.rowCount(), self.model.total())
        self.filters.show_exercise_count(
            self.model.store.exercise_total(), self.model.feed_filter.hide_exercise
        )

    def _update_actions(self) -> None:
        self.action_bar.update_for(self.current_report())

    def _show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.show()
