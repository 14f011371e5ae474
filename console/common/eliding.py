"""A push button whose text ends in "…" when the button is narrower than its text (Qt's
buttons cut it mid-letter); the whole text stays in `full_text` and the tooltip."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QPushButton, QStyle, QStyleOptionButton


class ElidingButton(QPushButton):
    def __init__(self, text: str = "") -> None:
        super().__init__()
        self.full_text = ""
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self.full_text = text
        self.setToolTip(text)
        self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        option = QStyleOptionButton()
        self.initStyleOption(option)
        room = (
            self.style()
            .subElementRect(QStyle.SubElement.SE_PushButtonContents, option, self)
            .width()
        )
        room -= 2 * self.style().pixelMetric(QStyle.PixelMetric.PM_ButtonMargin, option, self)
        shown = self.fontMetrics().elidedText(
            self.full_text, Qt.TextElideMode.ElideRight, max(room, 0)
        )
        if shown != self.text():
            self.setText(shown)
