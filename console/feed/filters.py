"""The feed's filter bar: search, category, time window, status toggles, closed, count.

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
        statuses.addStretch(1)
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
        )

    def reset(self, show_closed: bool) -> None:
        """Show everything (closed reports too if asked, or if already shown), once."""
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
            self.window_combo.setCurrentText(ALL_TIME)
            self.category_combo.setCurrentIndex(0)
            self.show_closed.setChecked(show_closed or self.show_closed.isChecked())
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

    def _changed(self) -> None:
        self._search_timer.stop()
        self.filter_changed.emit(self.current())
