"""Placeholder until this feature lands: keeps the main window composable."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from console.session import ConsoleSession


class AlertsWidget(QWidget):
    show_area = Signal(object)

    def __init__(self, session: ConsoleSession) -> None:
        super().__init__()
        self.session = session
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("AlertsWidget"))

    def compose(self, area: object) -> None:
        pass
