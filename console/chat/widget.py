"""Placeholder until this feature lands: keeps the main window composable."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from console.session import ConsoleSession


class ChatWidget(QWidget):
    pass_ = None

    def __init__(self, session: ConsoleSession) -> None:
        super().__init__()
        self.session = session
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("ChatWidget"))

    def open_conversation(self, report_id: str) -> None:
        pass
