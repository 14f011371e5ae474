"""The run panel: a pilot run's live control at the console (issue 12, deliverable 6).

It takes a `RunControl` (`backend_client.pilots.control`: a rehearsal's or a pilot's run,
whoever runs it) and shows its `RunView` a few times a second: plan time and the real
time it stands for, the run's state with Start / Pause / Resume, the next injects with
Skip and Fire now (for the chosen one, else the next), the last prompt to officers, and
every expected action, pending, met (with when and how long it took) or missed, as the
run's own evaluation says from the event log. A refused move is shown in words, never
raised. A control that offers a choice of where plan time starts (`StartChoice`: a real
pilot's, from Start or at the plan's dates) gets a chooser beside Start. Each new prompt
is also announced (`prompt_shown`), for the status bar. The text-making functions are
pure, so a test reads them without Qt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from backend_client.pilots import Outcome, RefusedMove, RunControl, RunState, RunView

REFRESH_MS = 250
_STATUS_COLOUR = {
    "met": "#3fa34d",
    "missed": "#d64545",
    "pending": "#d9a400",
    "not triggered": "#8a8a8a",
}


def clock(seconds: float) -> str:
    """Plan seconds as h:mm:ss (negative with a minus)."""
    sign, s = ("-" if seconds < 0 else ""), abs(int(round(seconds)))
    return f"{sign}{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def headline(view: RunView) -> str:
    real = f" · {view.at:%a %d %b %H:%M}" if view.at is not None else ""
    return (
        f"Plan time {clock(view.plan_time)} of {clock(view.length_s)}{real} · "
        f"×{view.speed:g} · {view.fired}/{view.injects} injects fired, {view.skipped} skipped"
    )


def outcome_text(o: Outcome) -> tuple[str, str]:
    """(status, when) as the panel's columns show them."""
    if o.status == "met":
        delay = f" (+{clock(o.worst_delay_s)})" if o.worst_delay_s is not None else ""
        return "met", (f"done {clock(o.done_s)}{delay}" if o.done_s is not None else "")
    if o.status == "pending":
        due = f"due {clock(o.next_due_s)}" if o.next_due_s is not None else ""
        return "pending", due + (f" · {o.in_time}/{o.triggered} done" if o.triggered > 1 else "")
    if o.status == "missed":
        due = f"was due {clock(o.first_due_s)}" if o.first_due_s is not None else ""
        return "missed", due + (f" · {o.in_time}/{o.triggered} in time" if o.triggered > 1 else "")
    return "not yet", "waiting for its trigger"


@runtime_checkable
class StartChoice(Protocol):
    """A run that can start at more than one plan time (chosen while it is ready)."""

    def start_options(self) -> list[tuple[str, str]]: ...  # (key, words)

    def start_option(self) -> str: ...

    def choose_start(self, key: str) -> None: ...


class RunPanel(QWidget):
    """Drive and watch one run. `refresh()` redraws from the control now."""

    #: a prompt to officers fired: its words, as the status bar shows them
    prompt_shown = Signal(str)

    def __init__(self, control: RunControl, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.control = control
        self._prompts_seen = 0
        self.title = _label()
        self.title.setStyleSheet("font-weight: bold")
        self.state = _label()
        self.time = _label()
        self.time.setWordWrap(True)
        self.start = QPushButton("Start")
        self.pause = QPushButton("Pause")
        self.resume = QPushButton("Resume")
        self.start.clicked.connect(lambda: self._move(self.control.start))
        self.pause.clicked.connect(lambda: self._move(self.control.pause))
        self.resume.clicked.connect(lambda: self._move(self.control.resume))
        buttons = QHBoxLayout()
        buttons.addWidget(self.state, 1)
        self.start_from: QComboBox | None = None
        if isinstance(control, StartChoice):
            self.start_from = QComboBox()
            self.start_from.setToolTip("Where plan time starts when you press Start")
            for key, words in control.start_options():
                self.start_from.addItem(f"Plan time {words}", key)
            self.start_from.setCurrentIndex(
                max(0, self.start_from.findData(control.start_option()))
            )
            self.start_from.currentIndexChanged.connect(self._choose_start)
            buttons.addWidget(self.start_from)
        for b in (self.start, self.pause, self.resume):
            buttons.addWidget(b)

        self.next = QTreeWidget()
        self.next.setHeaderLabels(["In", "Next inject"])
        self.next.setRootIsDecorated(False)
        self.next.setUniformRowHeights(True)
        self.next.setColumnWidth(0, 70)
        self.skip = QPushButton("Skip")
        self.fire = QPushButton("Fire now")
        self.skip.setToolTip("The chosen inject (else the next) will not fire")
        self.fire.setToolTip("Fire the chosen inject (else the next) now, out of turn; once only")
        self.skip.clicked.connect(lambda: self._on_inject(self.control.skip))
        self.fire.clicked.connect(lambda: self._on_inject(self.control.fire))
        inject_buttons = QHBoxLayout()
        inject_buttons.addStretch(1)
        inject_buttons.addWidget(self.skip)
        inject_buttons.addWidget(self.fire)

        self.prompt = _label()
        self.prompt.setWordWrap(True)
        self.problem = _label()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #d64545")

        self.expected = QTreeWidget()
        self.expected.setHeaderLabels(["Status", "Expected action", "When"])
        self.expected.setRootIsDecorated(False)
        self.expected.setUniformRowHeights(True)
        self.expected.setColumnWidth(0, 70)
        # the action's words take the width left by when it was done or due, in full (a
        # measured width: sizing to the contents re-measures every row on each change)
        widest = "was due 00:00:00 · 000/000 in time"
        self.expected.setColumnWidth(2, self.fontMetrics().horizontalAdvance(widest) + 24)
        self.expected.header().setStretchLastSection(False)
        self.expected.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.next.header().setStretchLastSection(True)

        injects = QVBoxLayout()
        injects.addWidget(self.next, 1)
        injects.addLayout(inject_buttons)
        injects.addWidget(self.prompt)
        columns = QHBoxLayout()  # what comes next beside how the officers are doing
        columns.addLayout(injects, 2)
        columns.addWidget(self.expected, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.time)
        layout.addLayout(buttons)
        layout.addWidget(self.problem)
        layout.addLayout(columns, 1)

        self._next_ids: list[str] = []
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()

    def refresh(self) -> RunView:
        view = self.control.view()
        self.title.setText(view.title)
        self.state.setText(view.state.value.upper())
        self.time.setText(headline(view))
        self.start.setEnabled(view.state is RunState.READY)
        if self.start_from is not None:
            self.start_from.setEnabled(view.state is RunState.READY)
        self.pause.setEnabled(view.state is RunState.RUNNING)
        self.resume.setEnabled(view.state is RunState.PAUSED)
        live = view.state is not RunState.ENDED
        self.skip.setEnabled(live and bool(view.next_up))
        self.fire.setEnabled(
            view.state in (RunState.RUNNING, RunState.PAUSED) and bool(view.next_up)
        )
        self._show_next(view)
        if view.prompts:
            last = view.prompts[-1]
            self.prompt.setText(f"Prompt to officers at {clock(last.t)}: {last.text}")
            for shown in view.prompts[self._prompts_seen :]:
                self.prompt_shown.emit(f"Pilot prompt: {shown.text}")
            self._prompts_seen = len(view.prompts)
        self._show_expected(view)
        if view.problem:
            self.problem.setText(view.problem)
        return view

    def chosen(self) -> str | None:
        """The inject Skip and Fire now act on: the selected one, else the next."""
        item = self.next.currentItem()
        if item is not None and item.isSelected():
            return str(item.data(0, Qt.ItemDataRole.UserRole))
        return self._next_ids[0] if self._next_ids else None

    def _show_next(self, view: RunView) -> None:
        ids = [u.entry.ref for u in view.next_up]
        if ids != self._next_ids:  # rebuilt only when the list changes: a selection stays
            chosen = self.chosen() if self.next.selectedItems() else None
            self.next.clear()
            for u in view.next_up:
                item = QTreeWidgetItem(["", u.entry.label])
                item.setData(0, Qt.ItemDataRole.UserRole, u.entry.ref)
                item.setToolTip(1, u.entry.label)
                self.next.addTopLevelItem(item)
                if u.entry.ref == chosen:
                    self.next.setCurrentItem(item)
            self._next_ids = ids
        for i, u in enumerate(view.next_up):
            row = self.next.topLevelItem(i)
            if row is not None:
                row.setText(0, clock(u.in_s) if u.in_s > 0 else "due")

    def _show_expected(self, view: RunView) -> None:
        rows = view.expectations
        while self.expected.topLevelItemCount() > len(rows):
            self.expected.takeTopLevelItem(self.expected.topLevelItemCount() - 1)
        for i, o in enumerate(rows):
            got = self.expected.topLevelItem(i)
            item = got if got is not None else QTreeWidgetItem(["", "", ""])
            if got is None:
                self.expected.addTopLevelItem(item)
            status, when = outcome_text(o)
            words = o.text or f"{o.action.replace('_', ' ')} ({o.trigger})"
            item.setText(0, status)
            item.setText(1, words)
            item.setText(2, when)
            item.setToolTip(1, f"{o.act}: {words}")
            item.setData(0, Qt.ItemDataRole.UserRole, o.id)
            item.setForeground(0, QBrush(QColor(_STATUS_COLOUR[o.status])))

    def _choose_start(self, _index: int) -> None:
        control, box = self.control, self.start_from
        if isinstance(control, StartChoice) and box is not None:
            key = str(box.currentData())
            self._move(lambda: control.choose_start(key))

    def _on_inject(self, move: Callable[[str], None]) -> None:
        inject = self.chosen()
        if inject is not None:
            self._move(lambda: move(inject))

    def _move(self, move: Callable[[], None]) -> None:
        self.problem.clear()
        try:
            move()
        except RefusedMove as exc:
            self.problem.setText(str(exc).capitalize() + ".")
        self.refresh()

    def expected_rows(self) -> dict[str, tuple[str, str]]:
        """Expectation id -> (status, when), as shown (for tests and screenshots)."""
        out = {}
        for i in range(self.expected.topLevelItemCount()):
            item = self.expected.topLevelItem(i)
            if item is not None:
                out[str(item.data(0, Qt.ItemDataRole.UserRole))] = (item.text(0), item.text(2))
        return out


def _label() -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label
