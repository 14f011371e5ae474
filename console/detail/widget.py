"""Placeholder until this feature lands: keeps the main window composable."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from console.session import ConsoleSession


class ReportDetailWidget(QWidget):
    show_on_map = Signal(str)
    open_chat = Signal(str)

    def __init__(self, session: ConsoleSession) -> None:
        super().__init__()
        self.session = session
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("ReportDetailWidget"))

    def show_report(self, report_id: str) -> None:
        pass
