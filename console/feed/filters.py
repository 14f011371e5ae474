"""The feed's filter bar: search, category, time window, status toggles, closed, exercise
traffic, count.

It only turns its controls into a `FeedFilter`; the store does the filtering. Typing is
debounced, so a search over a million reports runs once per pause, not once per key.

Every toggle says whether it is on twice over: a filled accent background and a check
mark (never the shade alone), in both themes; categories are a menu of checkable entries
(none ticked = all).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QMouseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from backend_client import rules
from console.common.exercise import EXERCISE_COLOUR, EXERCISE_TEXT_COLOUR
from console.feed.cells import STATUS_LABELS
from console.feed.store import TIME_WINDOWS, FeedFilter
from console.theme import current

SEARCH_DEBOUNCE_MS = 250
ALL_TIME = "All time"
ALL_CATEGORIES = "All categories"
CHECK = "\u2713 "  # before an "on" toggle's words


def toggle_sheet() -> str:
    """How a filter toggle looks off (outlined, muted) and on (accent fill, bold)."""
    c = current()
    return f"""
        QToolButton[filterToggle="true"] {{ border: 1px solid {c["border"]}; border-radius: 4px;
            padding: 3px 8px; background: {c["button"]}; color: {c["text"]}; }}
        QToolButton[filterToggle="true"]:hover {{ border-color: {c["highlight"]}; }}
        QToolButton[filterToggle="true"]:checked,
        QToolButton[filterToggle="true"][active="true"] {{ background: {c["highlight"]};
            color: {c["highlight_text"]}; border-color: {c["highlight"]}; font-weight: 600; }}
    """


def _toggle(text: str, tip: str, checked: bool) -> QToolButton:
    button = QToolButton()
    button.setProperty("filterToggle", True)
    button.setProperty("label", text)
    button.setCheckable(True)
    button.setToolTip(tip)
    button.setChecked(checked)
    relabel(button)
    button.toggled.connect(lambda _on, b=button: relabel(b))
    return button


def relabel(button: QToolButton) -> None:
    """A toggle's words, with the check mark when it is on."""
    text = str(button.property("label"))
    button.setText(CHECK + text if button.isChecked() else text)


class _CheckMenu(QMenu):
    """A menu whose checkable entries toggle without closing it: ticking three categories
    is three clicks, not three trips through the button."""

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt naming
        action = self.activeAction()
        if action is not None and action.isCheckable() and action.isEnabled():
            action.trigger()
            event.accept()
            return
        super().mouseReleaseEvent(event)


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
        self.category_menu = _CheckMenu(self)
        everything = self.category_menu.addAction(ALL_CATEGORIES)
        everything.triggered.connect(lambda: self.set_categories(set()))
        self.category_menu.addSeparator()
        self.category_actions: dict[str, QAction] = {}
        for cat in rules.CATEGORIES:
            action = self.category_menu.addAction(rules.category_label(cat))
            action.setCheckable(True)
            action.toggled.connect(self._categories_toggled)
            self.category_actions[cat] = action
        self.category_button = QToolButton()
        self.category_button.setProperty("filterToggle", True)
        self.category_button.setMenu(self.category_menu)
        self.category_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.category_button.setToolTip("Show only the ticked categories (none ticked: all)")
        self._category_text()
        top = QHBoxLayout()
        top.setSpacing(4)
        top.addWidget(self.search, 1)
        top.addWidget(self.category_button)
        top.addWidget(self.window_combo)

        self.status_buttons: dict[str, QToolButton] = {}
        statuses = QHBoxLayout()
        statuses.setSpacing(4)
        #: the second row (the feed puts its Pause toggle first in it)
        self.status_row = statuses
        for status in ("new", "claimed", "in_progress"):
            label = STATUS_LABELS[status]
            button = _toggle(label, f"Show {label.lower()} reports", checked=True)
            button.toggled.connect(self._changed)
            self.status_buttons[status] = button
            statuses.addWidget(button)
        self.show_closed = _toggle("Show closed", "Show closed reports too", checked=False)
        self.show_closed.toggled.connect(self._changed)
        statuses.addStretch(1)
        # a third row, so the feed fits 400 px and the map keeps a third of 1280 px
        shown = QHBoxLayout()
        shown.setSpacing(4)
        shown.addWidget(self.show_closed)
        self.hide_exercise = _toggle(
            "Hide exercise traffic",
            "Leave pilots' reports (marked EXERCISE) out of the feed and the map",
            checked=False,
        )
        self.hide_exercise.toggled.connect(self._changed)
        shown.addWidget(self.hide_exercise)
        shown.addStretch(1)
        #: says that exercise reports are here (marked) or hidden; blank when there are none
        self.exercise_label = QLabel()
        self.exercise_label.setTextFormat(Qt.TextFormat.PlainText)
        self.exercise_label.setStyleSheet(
            f"QLabel {{ background: {EXERCISE_COLOUR}; color: {EXERCISE_TEXT_COLOUR};"
            " border-radius: 3px; padding: 0 5px; font-weight: 600; }"
        )
        self.exercise_label.hide()
        shown.addWidget(self.exercise_label)
        self.count_label = QLabel()
        self.count_label.setTextFormat(Qt.TextFormat.PlainText)
        self.count_label.setToolTip("Reports shown by the filters, of all reports held")
        shown.addWidget(self.count_label)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addLayout(top)
        lay.addLayout(statuses)
        lay.addLayout(shown)
        self._restyle()

    def selected_categories(self) -> frozenset[str]:
        return frozenset(c for c, a in self.category_actions.items() if a.isChecked())

    def set_categories(self, categories: set[str] | frozenset[str]) -> None:
        """Tick exactly these categories (none: all), as one change."""
        for cat, action in self.category_actions.items():
            action.blockSignals(True)
            action.setChecked(cat in categories)
            action.blockSignals(False)
        self._categories_toggled()

    def current(self) -> FeedFilter:
        statuses = {s for s, b in self.status_buttons.items() if b.isChecked()}
        if self.show_closed.isChecked():
            statuses.add("closed")
        categories = self.selected_categories()
        return FeedFilter(
            statuses=frozenset(statuses),
            categories=categories or None,
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
            *self.category_actions.values(),
            self.show_closed,
            self.hide_exercise,
            *self.status_buttons.values(),
        ]
        for w in controls:
            w.blockSignals(True)
        try:
            self.search.clear()
            self.window_combo.setCurrentText(ALL_TIME)
            for action in self.category_actions.values():
                action.setChecked(False)
            self.show_closed.setChecked(show_closed or self.show_closed.isChecked())
            if show_exercise:
                self.hide_exercise.setChecked(False)
            for button in self.status_buttons.values():
                button.setChecked(True)
        finally:
            for w in controls:
                w.blockSignals(False)
        for button in (self.show_closed, self.hide_exercise, *self.status_buttons.values()):
            relabel(button)
        self._category_text()
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

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.PaletteChange:
            self._restyle()  # the theme was switched
        super().changeEvent(event)

    # ------------------------------------------------------------ internals

    def _restyle(self) -> None:
        sheet = toggle_sheet()
        if self.styleSheet() != sheet:
            self.setStyleSheet(sheet)

    def _categories_toggled(self, _on: bool = False) -> None:
        self._category_text()
        self._changed()

    def _category_text(self) -> None:
        chosen = [c for c in rules.CATEGORIES if self.category_actions[c].isChecked()]
        if not chosen:
            text = ALL_CATEGORIES
        elif len(chosen) == 1:
            text = CHECK + rules.category_label(chosen[0])
        else:
            text = f"{CHECK}{len(chosen)} categories"
        button = self.category_button
        button.setText(text)
        if bool(button.property("active")) != bool(chosen):
            button.setProperty("active", bool(chosen))
            button.style().unpolish(button)  # a dynamic property: restyle by hand
            button.style().polish(button)

    def _changed(self) -> None:
        self._search_timer.stop()
        self.filter_changed.emit(self.current())
