"""The composer's place in the main window: a dock beside the map, so the area being
alerted stays in view while the alert is written (issue 13; it used to be a dialog over
the map). Hidden until a composer opens; hidden again when it closes."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDockWidget, QMainWindow, QScrollArea, QWidget

#: share of the window's height the composer takes in its column while open
COMPOSER_SHARE = 0.72


class ComposerDock(QDockWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Alert composer", parent)
        self.setObjectName("dock-alert-composer")
        self.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.pane = QScrollArea()
        self.pane.setWidgetResizable(True)
        self.pane.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(self.pane)
        self.hosted: QDialog | None = None
        self.hide()

    def window_of(self) -> QMainWindow | None:
        parent = self.parentWidget()
        return parent if isinstance(parent, QMainWindow) else None

    def attached(self) -> bool:
        """In a main window (else the composer opens as a dialog, as in widget tests)."""
        return self.window_of() is not None

    def host(self, composer: QDialog) -> None:
        """Show `composer` (a dialog made a plain widget) in this dock, beside the map."""
        composer.setWindowFlags(Qt.WindowType.Widget)
        self.hosted = composer
        self.pane.setWidget(composer)  # the scroll area owns it now
        composer.finished.connect(lambda _r, c=composer: self._finished(c))
        composer.show()
        self.show()
        self.raise_()
        window = self.window_of()
        if window is not None:
            window.resizeDocks(
                [self], [int(window.height() * COMPOSER_SHARE)], Qt.Orientation.Vertical
            )

    def _finished(self, composer: QDialog) -> None:
        if self.hosted is composer:
            self.hosted = None
            self.hide()
