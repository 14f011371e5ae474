"""The QWebChannel object the map page talks to (registered in the page as `bridge`)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot


class MapBridge(QObject):
    # Python -> page
    batch = Signal(str)  # JSON: {"seq": n, "reports": [...], "alerts": [...], ...}
    command = Signal(str)  # JSON: {"op": "select" | "focus" | "draw" | ..., ...}
    # page -> Python (re-emitted for the widget)
    page_ready = Signal()
    batch_applied = Signal(int)
    report_clicked = Signal(str)
    area_geojson = Signal(str)
    view_changed = Signal(str)  # JSON: [west, south, east, north]
    page_error = Signal(str)

    @Slot()
    def ready(self) -> None:
        self.page_ready.emit()

    @Slot(int)
    def applied(self, seq: int) -> None:
        self.batch_applied.emit(seq)

    @Slot(str)
    def reportClicked(self, report_id: str) -> None:  # noqa: N802 - called from JS
        self.report_clicked.emit(report_id)

    @Slot(str)
    def areaDrawn(self, geojson: str) -> None:  # noqa: N802 - called from JS
        self.area_geojson.emit(geojson)

    @Slot(str)
    def viewChanged(self, bounds: str) -> None:  # noqa: N802 - called from JS
        self.view_changed.emit(bounds)

    @Slot(str)
    def error(self, message: str) -> None:
        self.page_error.emit(message)
