"""Placeholder until the status bar lands."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar

from console.session import ConsoleSession


class StatusBar(QStatusBar):
    def __init__(self, session: ConsoleSession) -> None:
        super().__init__()
        self.session = session
        self.label = QLabel()
        self.addPermanentWidget(self.label)
        session.connection_state_changed.connect(lambda s: self.label.setText(s.state.value))
