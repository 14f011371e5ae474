"""Placeholder until this feature lands: keeps the main window composable."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from console.session import ConsoleSession


class FeedWidget(QWidget):
    report_selected = Signal(str)

    def __init__(self, session: ConsoleSession) -> None:
        super().__init__()
        self.session = session
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("FeedWidget"))

    def select_report(self, report_id: str) -> None:
        pass
