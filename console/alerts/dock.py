"""The composer's place in the main window: a dock beside the map, so the area being
alerted stays in view while the alert is written (issue 13; it used to be a dialog over
the map). Hidden until a composer opens; hidden again when it closes."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialog, QDockWidget, QMainWindow, QScrollArea, QTabBar, QWidget

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
        QTimer.singleShot(0, self, self._grow)  # once the dock is laid out in its column

    def _grow(self) -> None:
        """Take `COMPOSER_SHARE` of the column from the docks above or below it (asking
        for more than the column holds, alone, leaves Qt's split where it was)."""
        window = self.window_of()
        if window is None or not self.isVisible():
            return
        area = window.dockWidgetArea(self)
        tabbed = set(window.tabifiedDockWidgets(self))
        others = [
            d
            for d in window.findChildren(QDockWidget)
            if d is not self
            and d not in tabbed
            and d.isVisible()
            and not d.isFloating()
            and window.dockWidgetArea(d) == area
        ]
        column = self.height() + sum(d.height() for d in others)
        mine = int(column * COMPOSER_SHARE)
        rest = [max(1, (column - mine) // len(others)) for _ in others] if others else []
        window.resizeDocks([self, *others], [mine, *rest], Qt.Orientation.Vertical)

    def _finished(self, composer: QDialog) -> None:
        if self.hosted is composer:
            self.hosted = None
            self.hide()


def dock_area_height(window: QMainWindow, dock: QDockWidget, content: int) -> int:
    """What to ask `resizeDocks` for so `dock`'s widget gets `content` pixels: its title
    bar, and the tab bar when it shares its place with other docks, come on top."""
    inner = dock.widget()
    title = dock.height() - inner.height() if inner is not None and inner.height() > 0 else 24
    tabs = 0
    for bar in window.findChildren(QTabBar):
        if bar.isVisible() and any(
            bar.tabText(i) == dock.windowTitle() for i in range(bar.count())
        ):
            tabs = bar.sizeHint().height()
    return content + max(title, 0) + tabs
