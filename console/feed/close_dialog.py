"""Asks why a report is being closed: five quick picks (keys 1-5) or the officer's words.

The reason goes to the relay with the close, is shown to every officer and is audited, so
a close is never silent; the feed offers an Undo for a few seconds afterwards.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from backend_client import limits, rules
from backend_client import messages as m
from console.feed.cells import first_line
from console.feed.filters import CHECK, toggle_sheet

OTHER = "Other:"


class CloseDialog(QDialog):
    """Pick a reason, then "Close report" (Enter); Esc cancels and nothing is sent."""

    def __init__(self, report: m.Report, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report_id = report.report_id
        self.previous_status: str = report.status
        self.setWindowTitle(f"Close report {report.report_id}")
        self.setMinimumWidth(380)
        self.setStyleSheet(toggle_sheet())  # a pick looks chosen as a filter looks on
        lay = QVBoxLayout(self)
        line = first_line(report.text)
        line = line if len(line) <= 80 else line[:79].rstrip() + "…"  # cut, and says so
        about = QLabel(f"Why is {report.report_id} being closed?\n{line}")
        about.setTextFormat(Qt.TextFormat.PlainText)  # the citizen's words
        about.setWordWrap(True)
        lay.addWidget(about)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.picks: dict[str, QToolButton] = {}
        for n, reason in enumerate((*rules.CLOSE_REASONS, OTHER), start=1):
            button = QToolButton()
            button.setProperty("filterToggle", True)
            button.setCheckable(True)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.setProperty("label", f"{n}  {reason}")
            button.setText(f"{n}  {reason}")
            button.setToolTip(f"Key {n}")
            button.toggled.connect(
                lambda on, b=button: b.setText((CHECK if on else "") + str(b.property("label")))
            )
            self.group.addButton(button)
            self.picks[reason] = button
            lay.addWidget(button)
        self.other = QLineEdit(placeholderText="The reason, in your words")
        self.other.setMaxLength(limits.MAX_SHORT_CHARS)
        self.other.textEdited.connect(lambda _t: self.picks[OTHER].setChecked(True))
        lay.addWidget(self.other)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Close report")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.group.buttonToggled.connect(lambda *_a: self._update())
        self.other.textChanged.connect(lambda _t: self._update())
        self._update()

    def reason(self) -> str | None:
        """The chosen reason, or None while none is chosen (free text needs words)."""
        for reason, button in self.picks.items():
            if button.isChecked():
                if reason == OTHER:
                    return self.other.text().strip() or None
                return reason
        return None

    def choose(self, reason: str) -> None:
        """Pick a quick reason, or type free text (tests and keyboard users)."""
        if reason in self.picks:
            self.picks[reason].setChecked(True)
        else:
            self.picks[OTHER].setChecked(True)
            self.other.setText(reason)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt naming
        """Keys 1-6 pick a reason (typed into the free-text box they are just text)."""
        picks = list(self.picks.values())
        n = event.key() - int(Qt.Key.Key_1)
        if 0 <= n < len(picks) and not self.other.hasFocus():
            picks[n].click()
            event.accept()
            return
        super().keyPressEvent(event)

    def accept(self) -> None:
        if self.reason() is not None:
            super().accept()

    def _update(self) -> None:
        self.ok.setEnabled(self.reason() is not None)
        if self.picks[OTHER].isChecked() and not self.other.hasFocus():
            self.other.setFocus()
