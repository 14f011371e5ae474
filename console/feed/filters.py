"""The feed's filter bar: search, category, time window, status toggles, closed, exercise
traffic, count.

It only turns its controls into a `FeedFilter`; the store does the filtering. Typing is
debounced, so a search over a million reports runs once per pause, not once per key.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from backend_client import rules
from console.common.exercise import EXERCISE_COLOUR, EXERCISE_TEXT_COLOUR
from console.feed.cells import STATUS_LABELS
from console.feed.store import TIME_WINDOWS, FeedFilter

SEARCH_DEBOUNCE_MS = 250
ALL_TIME = "All time"


class FeedFilters(QWidget):
    """Two rows: search, category and window; then status toggles, closed and the count."""

    #: the dispatcher changed what to see (a FeedFilter)
    filter_changed = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.search = QLineEdit(placeholderText="Search text, reporter, report id")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self._changed)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.window_combo = QComboBox()
        self.window_combo.addItems(list(TIME_WINDOWS))
        self.window_combo.setCurrentText(ALL_TIME)
        self.window_combo.currentIndexChanged.connect(self._changed)
        self.category_combo = QComboBox()
        self.category_combo.addItem("All categories", None)
        for cat in rules.CATEGORIES:
            self.category_combo.addItem(rules.category_label(cat), cat)
        self.category_combo.currentIndexChanged.connect(self._changed)
        top = QHBoxLayout()
        top.setSpacing(4)
        top.addWidget(self.search, 1)
        top.addWidget(self.category_combo)
        top.addWidget(self.window_combo)

        self.status_buttons: dict[str, QToolButton] = {}
        statuses = QHBoxLayout()
        statuses.setSpacing(4)
        for status in ("new", "claimed", "in_progress"):
            button = QToolButton()
            button.setText(STATUS_LABELS[status])
            button.setCheckable(True)
            button.setChecked(True)
            button.setToolTip(f"Show {STATUS_LABELS[status].lower()} reports")
            button.toggled.connect(self._changed)
            self.status_buttons[status] = button
            statuses.addWidget(button)
        self.show_closed = QCheckBox("Show closed")
        self.show_closed.toggled.connect(self._changed)
        statuses.addWidget(self.show_closed)
        self.hide_exercise = QCheckBox("Hide exercise traffic")
        self.hide_exercise.setToolTip(
            "Leave pilots' reports (marked EXERCISE) out of the feed and the map"
        )
        self.hide_exercise.toggled.connect(self._changed)
        statuses.addWidget(self.hide_exercise)
        statuses.addStretch(1)
        #: says that exercise reports are here (marked) or hidden; blank when there are none
        self.exercise_label = QLabel()
        self.exercise_label.setTextFormat(Qt.TextFormat.PlainText)
        self.exercise_label.setStyleSheet(
            f"QLabel {{ background: {EXERCISE_COLOUR}; color: {EXERCISE_TEXT_COLOUR};"
            " border-radius: 3px; padding: 0 5px; font-weight: 600; }"
        )
        self.exercise_label.hide()
        statuses.addWidget(self.exercise_label)
        self.count_label = QLabel()
        self.count_label.setTextFormat(Qt.TextFormat.PlainText)
        self.count_label.setToolTip("Reports shown by the filters, of all reports held")
        statuses.addWidget(self.count_label)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addLayout(top)
        lay.addLayout(statuses)

    def current(self) -> FeedFilter:
        statuses = {s for s, b in self.status_buttons.items() if b.isChecked()}
        if self.show_closed.isChecked():
            statuses.add("closed")
        category = self.category_combo.currentData()
        return FeedFilter(
            statuses=frozenset(statuses),
            categories=None if category is None else frozenset({category}),
            window_s=TIME_WINDOWS.get(self.window_combo.currentText()),
            text=self.search.text(),
            show_closed=self.show_closed.isChecked(),
            hide_exercise=self.hide_exercise.isChecked(),
        )

    def reset(self, show_closed: bool, show_exercise: bool = False) -> None:
        """Show everything (closed reports too if asked, or if already shown; exercise
        traffic stays hidden if it was, unless asked for), once."""
        controls: list[QObject] = [
            self.search,
            self.window_combo,
            self.category_combo,
            self.show_closed,
            self.hide_exercise,
            *self.status_buttons.values(),
        ]
        for w in controls:
            w.blockSignals(True)
        try:
            self.search.clear()
            self.window_combo.setCurrentText(ALL_TIME)
            self.category_combo.setCurrentIndex(0)
            self.show_closed.setChecked(show_closed or self.show_closed.isChecked())
            if show_exercise:
                self.hide_exercise.setChecked(False)
            for button in self.status_buttons.values():
                button.setChecked(True)
        finally:
            for w in controls:
                w.blockSignals(False)
        self._changed()

    def show_count(self, shown: int, total: int) -> None:
        self.count_label.setText(
            f"{shown:,} shown" if shown == total else f"{shown:,} of {total:,}"
        )

    def show_exercise_count(self, exercise: int, hidden: bool) -> None:
        """Say in the bar that exercise reports are here (or hidden), in words."""
        if not exercise:
            self.exercise_label.hide()
            return
        noun = "report" if exercise == 1 else "reports"
        self.exercise_label.setText(
            f"{exercise:,} exercise {noun} hidden" if hidden else f"{exercise:,} EXERCISE {noun}"
        )
        self.exercise_label.setToolTip(
            'Pilots\' reports, not real incidents: untick "Hide exercise traffic" to see them'
            if hidden
            else "Pilots' reports are in the feed, each marked EXERCISE: not real incidents"
        )
        self.exercise_label.show()

    def _changed(self) -> None:
        self._search_timer.stop()
        self.filter_changed.emit(self.current())
