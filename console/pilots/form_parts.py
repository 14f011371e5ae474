"""The parts the Pilots pane's forms share (create, invite, review): a field with its
Choose… button, and the form laid out above a note and OK (named for what it does) /
Cancel."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


def with_browse(field: QWidget, browse: Callable[[], None]) -> QHBoxLayout:
    """`field` with a Choose… button beside it that calls `browse`."""
    button = QPushButton("Choose…")
    button.clicked.connect(browse)
    row = QHBoxLayout()
    row.addWidget(field, 1)
    row.addWidget(button)
    return row


def lay_out(dialog: QDialog, form: QFormLayout, ok_text: str, *below: QWidget) -> None:
    """`form`, then `below` (notes), then OK (reading `ok_text`) and Cancel."""
    buttons = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addLayout(form)
    for widget in below:
        layout.addWidget(widget)
    layout.addWidget(buttons)
