"""An image preview with wheel zoom, fed only with bytes that passed `media` checks."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import (
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QPushButton,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from console.common.labels import plain_label
from console.common.ops import run_off_thread
from console.detail.media import MediaRejected, decode_image

_MIN_SCALE, _MAX_SCALE = 0.02, 32.0


class ZoomView(QGraphicsView):
    """Wheel zooms around the pointer; drag pans; `fit()` shows the whole image; a
    double-click, Enter or Space asks for the full-size viewer (`activated`)."""

    zoom_changed = Signal(float)
    activated = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setScene(QGraphicsScene(self))
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._item)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setMinimumHeight(160)
        self._fitting = True

    def set_pixmap(self, pixmap: QPixmap) -> None:
        self._item.setPixmap(pixmap)
        self.scene().setSceneRect(QRectF(pixmap.rect()))
        self.fit()

    def scale_factor(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        self._fitting = True
        if not self._item.pixmap().isNull():
            self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.scale_factor())

    def zoom_by(self, factor: float) -> None:
        current = self.scale_factor()
        target = min(_MAX_SCALE, max(_MIN_SCALE, current * factor))
        if current > 0 and target != current:
            self._fitting = False
            self.scale(target / current, target / current)
            self.zoom_changed.emit(self.scale_factor())

    def actual_size(self) -> None:
        self._fitting = False
        self.resetTransform()
        self.zoom_changed.emit(1.0)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt naming
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_by(1.25**steps)
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        if self._fitting:
            self.fit()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt naming
        if event.button() == Qt.MouseButton.LeftButton:
            self.activated.emit()
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt naming
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.activated.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class ImagePreview(QWidget):
    """Shows a message until an image decoded off the GUI thread arrives, or an error."""

    finished = Signal(bool)  # True: an image is shown; False: an error is shown
    activated = Signal()  # double-click, Enter or Space on a shown image: open it full size

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = "empty"  # empty | loading | shown | error
        self.image_size: tuple[int, int] | None = None
        self._generation = 0

        self.view = ZoomView()
        self.message = plain_label("")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setMinimumHeight(60)
        self._stack = QStackedLayout()
        self._stack.addWidget(self.message)
        self._stack.addWidget(self.view)

        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Show the whole image")
        self.actual_button = QPushButton("1:1")
        self.actual_button.setToolTip("Actual pixels")
        zoom_out, zoom_in = QPushButton("−"), QPushButton("+")
        zoom_out.setToolTip("Zoom out (or scroll the wheel)")
        zoom_in.setToolTip("Zoom in (or scroll the wheel)")
        self.zoom_label = plain_label(selectable=False, wrap=False, shrink=False)
        self.fit_button.clicked.connect(self.view.fit)
        self.actual_button.clicked.connect(self.view.actual_size)
        zoom_out.clicked.connect(lambda: self.view.zoom_by(1 / 1.25))
        zoom_in.clicked.connect(lambda: self.view.zoom_by(1.25))
        self.view.zoom_changed.connect(self._show_zoom)
        self.view.activated.connect(self._activated)
        self.zoom_out_button, self.zoom_in_button = zoom_out, zoom_in
        self._tools = QWidget()
        tools = QHBoxLayout(self._tools)
        tools.setContentsMargins(0, 0, 0, 0)
        for b in (self.fit_button, self.actual_button, zoom_out, zoom_in):
            b.setAutoDefault(False)
            tools.addWidget(b)
        tools.addWidget(self.zoom_label, 1)
        self._tools.setVisible(False)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(self._stack)
        lay.addWidget(self._tools)

    # ------------------------------------------------------------------ feeding

    def show_bytes(self, declared_mime: str, data: bytes) -> None:
        """Check and decode `data` on a worker thread; show the result when it is back."""
        self._generation += 1
        generation = self._generation
        self._set_message("Checking and decoding the image…", "loading")

        def ok(image: object) -> None:
            if generation == self._generation:
                assert isinstance(image, QImage)
                self._show_image(image)

        def failed(exc: BaseException) -> None:
            if generation == self._generation:
                self.show_error(_reason(exc))

        run_off_thread(lambda: decode_image(declared_mime, data), ok, failed, owner=self)

    def show_message(self, text: str) -> None:
        self._generation += 1
        self._set_message(text, "empty")

    def show_error(self, text: str) -> None:
        self._generation += 1
        self._set_message(text, "error")
        self.finished.emit(False)

    def error_text(self) -> str:
        return self.message.text() if self.state == "error" else ""

    # ------------------------------------------------------------------ internals

    def _set_message(self, text: str, state: str) -> None:
        self.state = state
        self.image_size = None
        self.message.setText(text)
        self.message.setProperty("error", state == "error")
        self.message.setStyleSheet("color: #e5534b;" if state == "error" else "")
        self._stack.setCurrentWidget(self.message)
        self._tools.setVisible(False)

    def _show_image(self, image: QImage) -> None:
        self.state = "shown"
        self.image_size = (image.width(), image.height())
        self._stack.setCurrentWidget(self.view)
        self._tools.setVisible(True)
        self.view.set_pixmap(QPixmap.fromImage(image))
        self.finished.emit(True)

    def _activated(self) -> None:
        if self.state == "shown":
            self.activated.emit()

    def _show_zoom(self, factor: float) -> None:
        if self.image_size is not None:
            w, h = self.image_size
            self.zoom_label.setText(f"{w} x {h} px · {factor * 100:.0f}%")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, MediaRejected):
        return str(exc)
    return f"The image could not be shown ({type(exc).__name__}: {exc})."
