"""Placeholder until the map lands."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from console.session import ConsoleSession
from console.settings import ConsoleSettings


class MapWidget(QWidget):
    report_selected = Signal(str)
    area_drawn = Signal(object)

    def __init__(self, session: ConsoleSession, settings: ConsoleSettings) -> None:
        super().__init__()
        self.session = session
        QVBoxLayout(self).addWidget(QLabel("Map"))

    def select_report(self, report_id: str) -> None:
        pass

    def focus_report(self, report_id: str) -> None:
        pass

    def show_alert_area(self, alert: object) -> None:
        pass

    async def settle(self) -> None:
        pass
