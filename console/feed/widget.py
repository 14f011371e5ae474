"""The dispatcher's live feed: filter bar, triage actions, and the report table.

Reports from the session are buffered and applied to the model in one batch per
`FLUSH_MS`, so a burst of 500 reports a second costs a few small inserts and one repaint
instead of one repaint per report. Every action goes through `session.submit()` (the
durable outbox); the feed changes when the relay's event comes back, never optimistically.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFont, QFontMetrics, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QStyle,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from backend_client import messages as m
from backend_client import rules
from console.feed.delegate import CELL_PAD, FeedDelegate
from console.feed.model import (
    COL,
    PRIORITY_LABELS,
    STATUS_LABELS,
    TIME_WINDOWS,
    FeedFilter,
    FeedModel,
)
from console.session import ConsoleSession
from console.theme import current

FLUSH_MS = 40  # at most this long between a report arriving and the feed showing it
SEARCH_DEBOUNCE_MS = 250
AGE_REFRESH_MS = 10_000
ROW_HEIGHT = 24
STREAMING_GAP_S = 0.2  # batches closer than this: draw new rows progressively (delegate)
ALERT_RECENT_S = 600  # a high-priority report older than this (replayed, cached) is not news
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

    categories = max(fm_bold.horizontalAdvance(rules.category_label(c)) for c in m.CATEGORIES)
    return {
        "priority": fit("Pri", fm.horizontalAdvance(PRIORITY_LABELS["high"]) + 10),
        "age": fit("Age", max(fm.horizontalAdvance(t) for t in ("59 min", "23 h", "59 s"))),
        "category": fit("Category", categories + 13),  # 13: the colour dot
        # the longest chip; a claimant's name after it is elided (the tooltip has it)
        "status": fm.horizontalAdvance(STATUS_LABELS["in_progress"]) + 10 + pad,
        "reporter": fit("Reporter", fm_bold.horizontalAdvance("W8WMW")),
        "media": max(fm.horizontalAdvance("99") + pad, MEDIA_ICON + 2 * CELL_PAD + 8),
    }


class FeedWidget(QWidget):
    report_selected = Signal(str)
    high_priority = Signal(object)  # m.Report: a new high-priority report arrived

    def __init__(self, session: ConsoleSession) -> None:
        super().__init__()
        self.session = session
        self.model = FeedModel(self)
        self._pending: list[tuple[m.Report, bool]] = []
        self._quiet = False  # selecting on request: do not echo report_selected
        self._restore_id: str | None = None
        self._last_flush = 0.0

        self._build_filter_bar()
        self._build_actions()
        self._build_table()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(4)
        lay.addLayout(self._filter_row)
        lay.addLayout(self._status_row)
        lay.addLayout(self._action_row)
        lay.addWidget(self.note)
        lay.addWidget(self.table, 1)

        self._flush_timer = QTimer(self, singleShot=True, interval=FLUSH_MS)
        self._flush_timer.timeout.connect(self.flush_pending)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self._apply_filter)
        self._age_timer = QTimer(self, interval=AGE_REFRESH_MS)
        self._age_timer.timeout.connect(self._refresh_ages)
        self._age_timer.start()

        if session.reports:
            self.model.load(sorted(session.reports.values(), key=lambda r: r.created_at))
        session.report_changed.connect(self._on_report)
        self._update_count()
        self._update_actions()

    # ------------------------------------------------------------ construction

    def _build_filter_bar(self) -> None:
        self.search = QLineEdit(placeholderText="Search text, reporter, report id")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.window_combo = QComboBox()
        self.window_combo.addItems(list(TIME_WINDOWS))
        self.window_combo.setCurrentText("All time")
        self.window_combo.currentIndexChanged.connect(self._apply_filter)
        self.category_combo = QComboBox()
        self.category_combo.addItem("All categories", None)
        for cat in m.CATEGORIES:
            self.category_combo.addItem(rules.category_label(cat), cat)
        self.category_combo.currentIndexChanged.connect(self._apply_filter)
        self.status_buttons: dict[str, QToolButton] = {}
        self._filter_row = QHBoxLayout()
        self._filter_row.setSpacing(4)
        self._filter_row.addWidget(self.search, 1)
        self._filter_row.addWidget(self.category_combo)
        self._filter_row.addWidget(self.window_combo)
        self._status_row = QHBoxLayout()
        self._status_row.setSpacing(4)
        for status in ("new", "claimed", "in_progress"):
            button = QToolButton(text=STATUS_LABELS[status], checkable=True, checked=True)
            button.setToolTip(f"Show {STATUS_LABELS[status].lower()} reports")
            button.toggled.connect(self._apply_filter)
            self.status_buttons[status] = button
            self._status_row.addWidget(button)
        self.show_closed = QCheckBox("Show closed")
        self.show_closed.toggled.connect(self._apply_filter)
        self._status_row.addWidget(self.show_closed)
        self._status_row.addStretch(1)

    def _build_actions(self) -> None:
        self.actions_by_name: dict[str, QAction] = {}
        specs = [
            ("claim", "Claim", "C", self.claim),
            ("progress", "In progress", "P", self.start_progress),
            ("close", "Close", "X", self.close_report),
            ("assign", "Assign…", "", self._ask_assign),
            ("high", "High priority", "H", lambda: self.set_priority("high")),
        ]
        self._action_row = QHBoxLayout()
        self._action_row.setSpacing(4)
        for name, text, key, slot in specs:
            action = QAction(text, self)
            action.setToolTip(f"{text} ({key})" if key else text)
            action.triggered.connect(slot)
            self.actions_by_name[name] = action
            if name == "high":
                continue
            button = QToolButton()
            button.setDefaultAction(action)
            self._action_row.addWidget(button)
        self.priority_menu = QMenu("Priority", self)
        for level in ("high", "normal", "low"):
            act = self.priority_menu.addAction(level.capitalize())
            act.triggered.connect(lambda _c=False, lv=level: self.set_priority(lv))
        self.priority_button = QToolButton(text="Priority")
        self.priority_button.setToolTip("Set priority (H = high)")
        self.priority_button.setMenu(self.priority_menu)
        self.priority_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self._action_row.addWidget(self.priority_button)
        self._action_row.addStretch(1)
        self.count_label = QLabel()
        self.count_label.setTextFormat(Qt.TextFormat.PlainText)
        self.count_label.setToolTip("Reports shown by the filters, of all reports held")
        self._status_row.addWidget(self.count_label)
        self.note = QLabel()
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.note.setWordWrap(True)
        self.note.hide()

    def _build_table(self) -> None:
        table = QTableView()
        table.setModel(self.model)
        self._delegate = FeedDelegate(self.model, table)
        table.setItemDelegate(self._delegate)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setShowGrid(False)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerItem)
        vh = table.verticalHeader()
        # fixed heights: rows sized to their content stall for a minute on 1M rows
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(ROW_HEIGHT)
        vh.setMinimumSectionSize(ROW_HEIGHT)
        vh.hide()
        hh = table.horizontalHeader()
        hh.setHighlightSections(False)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.model.header_icons["media"] = table.style().standardIcon(
            QStyle.StandardPixmap.SP_FileIcon
        )
        hh.setIconSize(QSize(MEDIA_ICON, MEDIA_ICON))
        for name, width in column_widths(table.font(), hh.fontMetrics()).items():
            table.setColumnWidth(COL[name], width)
        hh.setStretchLastSection(False)
        hh.setSectionResizeMode(COL["text"], QHeaderView.ResizeMode.Stretch)
        self._style_scrollbars(table)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(self._context_menu)
        table.installEventFilter(self)
        table.doubleClicked.connect(lambda _i: self._open_current())
        table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.modelReset.connect(self._restore_selection)
        self.table = table

    @staticmethod
    def _style_scrollbars(table: QTableView) -> None:
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
        table.verticalScrollBar().setStyleSheet(sheet)
        table.horizontalScrollBar().setStyleSheet(sheet)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "table"):
            self._style_scrollbars(self.table)  # the theme was switched
            self._delegate.clear_cache()
        super().changeEvent(event)

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
                self._reset_filter_controls(show_closed=report.status == "closed")
                self._show_note(f"Filters cleared to show report {report_id}.")
            row = self.model.row_of(report_id)
            if row is None:
                return
        index = self.model.index(row, COL["text"])
        if self.table.currentIndex().row() != row:
            self._quiet = True
            try:
                self.table.setCurrentIndex(index)
            finally:
                self._quiet = False
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
        self.model.mark_read(report_id)
        self._update_actions()

    def current_report(self) -> m.Report | None:
        index = self.table.currentIndex()
        return self.model.report_at(index.row()) if index.isValid() else None

    def set_filter(self, feed_filter: FeedFilter) -> None:
        self.model.set_filter(feed_filter)
        self._update_count()

    # ------------------------------------------------------------ actions

    def claim(self) -> None:
        report = self._target()
        if report is None or report.status == "closed":
            return
        me = self.session.username
        force = False
        if report.claimed_by and report.claimed_by != me:
            if self.session.role not in ("supervisor", "admin"):
                self._show_note(
                    f"Report {report.report_id} is claimed by {report.claimed_by}; "
                    "ask them or a supervisor to hand it over."
                )
                return
            force = True
        elif report.claimed_by == me:
            return
        self.session.submit(m.ReportClaim(id="", idem="", report_id=report.report_id, force=force))

    def start_progress(self) -> None:
        report = self._target()
        if report is not None and report.status not in ("in_progress", "closed"):
            self._submit_status(report, "in_progress")

    def close_report(self) -> None:
        report = self._target()
        if report is not None and report.status != "closed":
            self._submit_status(report, "closed")

    def assign(self, officer: str) -> None:
        report = self._target()
        officer = officer.strip()
        if report is not None and officer:
            self.session.submit(
                m.ReportAssign(id="", idem="", report_id=report.report_id, officer=officer)
            )

    def set_priority(self, priority: str) -> None:
        report = self._target()
        if report is not None and report.priority != priority:
            self.session.submit(
                m.ReportSetPriority(
                    id="",
                    idem="",
                    report_id=report.report_id,
                    priority=priority,  # type: ignore[arg-type]
                )
            )

    def _submit_status(self, report: m.Report, status: str) -> None:
        self.session.submit(
            m.ReportSetStatus(
                id="",
                idem="",
                report_id=report.report_id,
                status=status,  # type: ignore[arg-type]
            )
        )

    def _ask_assign(self) -> None:
        report = self._target()
        if report is None:
            return
        officer, ok = QInputDialog.getText(
            self, "Assign report", f"Assign {report.report_id} to officer (username):"
        )
        if ok:
            self.assign(officer)

    def _target(self) -> m.Report | None:
        report = self.current_report()
        if report is None:
            self._show_note("Select a report first.")
        return report

    # ------------------------------------------------------------ incoming reports

    def _on_report(self, report: m.Report, created: bool) -> None:
        self._pending.append((report, created))
        if not self._flush_timer.isActive():
            self._flush_timer.start()

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
        bar = self.table.verticalScrollBar()
        anchor = None
        if bar.value() > 0:  # reading further down: keep the rows under the eye still
            top = self.table.indexAt(QPoint(0, 0))
            anchor = self.model.report_at(top.row()) if top.isValid() else None
        self.model.upsert_many(batch)
        # lay the rows out now, so the repaint the insert asked for is the only one
        # (otherwise Qt's zero-delay layout timer repaints the viewport a second time)
        self.table.executeDelayedItemsLayout()
        if anchor is not None:
            row = self.model.row_of(anchor.report_id)
            if row is not None:
                bar.setValue(row)
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

    # ------------------------------------------------------------ selection and keys

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_actions()
        report = self.model.report_at(current.row()) if current.isValid() else None
        if report is None or self._quiet:
            return
        self.model.mark_read(report.report_id)
        self.report_selected.emit(report.report_id)

    def _open_current(self) -> None:
        report = self.current_report()
        if report is not None:
            self.model.mark_read(report.report_id)
            self.report_selected.emit(report.report_id)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if watched is self.table and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
                return False
            key = event.key()
            handlers = {
                Qt.Key.Key_C: self.claim,
                Qt.Key.Key_P: self.start_progress,
                Qt.Key.Key_X: self.close_report,
                Qt.Key.Key_H: lambda: self.set_priority("high"),
                Qt.Key.Key_J: lambda: self._move(1),
                Qt.Key.Key_K: lambda: self._move(-1),
                Qt.Key.Key_Return: self._open_current,
                Qt.Key.Key_Enter: self._open_current,
            }
            handler = handlers.get(Qt.Key(key))
            if handler is not None:
                handler()
                return True
        return super().eventFilter(watched, event)

    def _move(self, step: int) -> None:
        rows = self.model.rowCount()
        if not rows:
            return
        current = self.table.currentIndex()
        row = 0 if not current.isValid() else max(0, min(rows - 1, current.row() + step))
        index = self.model.index(row, current.column() if current.isValid() else COL["text"])
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index)

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

    def _remember_selection(self) -> None:
        report = self.current_report()
        self._restore_id = report.report_id if report is not None else None

    def _restore_selection(self) -> None:
        rid, self._restore_id = self._restore_id, None
        row = self.model.row_of(rid) if rid else None
        if row is None:
            self._update_actions()
            return
        self._quiet = True
        try:
            index = self.model.index(row, COL["text"])
            self.table.setCurrentIndex(index)
            self.table.scrollTo(index)
        finally:
            self._quiet = False

    # ------------------------------------------------------------ filters

    def _apply_filter(self) -> None:
        statuses = {s for s, b in self.status_buttons.items() if b.isChecked()}
        if self.show_closed.isChecked():
            statuses.add("closed")
        category = self.category_combo.currentData()
        self.set_filter(
            FeedFilter(
                statuses=frozenset(statuses),
                categories=None if category is None else frozenset({category}),
                window_s=TIME_WINDOWS.get(self.window_combo.currentText()),
                text=self.search.text(),
                show_closed=self.show_closed.isChecked(),
            )
        )
        self.note.hide()

    def _reset_filter_controls(self, show_closed: bool) -> None:
        controls: list[QObject] = [
            self.search,
            self.window_combo,
            self.category_combo,
            self.show_closed,
            *self.status_buttons.values(),
        ]
        for w in controls:
            w.blockSignals(True)
        try:
            self.search.clear()
            self.window_combo.setCurrentText("All time")
            self.category_combo.setCurrentIndex(0)
            self.show_closed.setChecked(show_closed or self.show_closed.isChecked())
            for button in self.status_buttons.values():
                button.setChecked(True)
        finally:
            for w in controls:
                w.blockSignals(False)
        self._search_timer.stop()
        self._apply_filter()

    def _refresh_ages(self) -> None:
        self.model.refresh_ages()
        self._update_count()

    # ------------------------------------------------------------ small views of state

    def _update_count(self) -> None:
        shown, total = self.model.rowCount(), self.model.total()
        self.count_label.setText(
            f"{shown:,} shown" if shown == total else f"{shown:,} of {total:,}"
        )

    def _update_actions(self) -> None:
        report = self.current_report()
        me = self.session.username
        a = self.actions_by_name
        is_open = report is not None and report.status != "closed"
        a["claim"].setEnabled(is_open and report is not None and report.claimed_by != me)
        a["progress"].setEnabled(is_open and report is not None and report.status != "in_progress")
        a["close"].setEnabled(is_open)
        a["assign"].setEnabled(is_open)
        a["high"].setEnabled(is_open)
        self.priority_button.setEnabled(is_open)
        if report is not None and report.claimed_by and report.claimed_by != me:
            a["claim"].setToolTip(f"Claimed by {report.claimed_by} (C)")
        else:
            a["claim"].setToolTip("Claim (C)")

    def _show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.show()
