"""A report's photos at full size, in their own window: zoom, previous and next.

Opened from a photo in the Report pane (double-click, Enter or Space). The bytes come
through `session.fetch_media` (its SHA-256 checked, usually cached by then) and pass the
same checks as the pane's preview before they are decoded, off the GUI thread.
Keys: Left/Right (or PageUp/PageDown) previous and next, + and - zoom, F (or 0) fit,
1 actual pixels, Esc closes.
"""

from __future__ import annotations

from collections.abc import Sequence

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDialog, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from backend_client import messages as m
from console.common.labels import plain_label
from console.detail.image_view import ImagePreview
from console.detail.media import human_type
from console.detail.model import human_size
from console.session import ConsoleSession


class MediaViewer(QDialog):
    def __init__(
        self,
        session: ConsoleSession,
        report_id: str,
        photos: Sequence[m.MediaInfo],
        start: int = 0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.report_id = report_id
        self.photos = list(photos)
        self.index = -1
        self.setWindowTitle(f"Report {report_id}: photos")
        self.setModal(False)

        self.preview = ImagePreview()
        self.preview.view.setMinimumHeight(240)
        self.position_label = plain_label(selectable=False, wrap=False)
        self.prev_button = QPushButton("◀ Previous")
        self.prev_button.setToolTip("Previous photo of this report (Left arrow)")
        self.next_button = QPushButton("Next ▶")
        self.next_button.setToolTip("Next photo of this report (Right arrow)")
        close = QPushButton("Close")
        close.setToolTip("Close the viewer (Esc)")
        for b in (self.prev_button, self.next_button, close):
            b.setAutoDefault(False)
        self.prev_button.clicked.connect(self.previous)
        self.next_button.clicked.connect(self.next)
        close.clicked.connect(self.reject)

        top = QHBoxLayout()
        top.addWidget(self.prev_button)
        top.addWidget(self.position_label, 1, Qt.AlignmentFlag.AlignCenter)
        top.addWidget(self.next_button)
        top.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.preview, 1)

        view = self.preview.view
        for keys, slot in (
            (("Left", "PgUp"), self.previous),
            (("Right", "PgDown"), self.next),
            (("+", "="), lambda: view.zoom_by(1.25)),
            (("-",), lambda: view.zoom_by(1 / 1.25)),
            (("F", "0"), view.fit),
            (("1",), view.actual_size),
        ):
            for key in keys:
                QShortcut(QKeySequence(key), self, slot)

        screen = self.screen().availableGeometry() if self.screen() else None
        if screen is not None:
            self.resize(int(screen.width() * 0.75), int(screen.height() * 0.8))
        else:
            self.resize(1000, 750)
        self.show_index(start)

    def show_index(self, index: int) -> None:
        if not self.photos:
            self.preview.show_message("This report has no photo to show.")
            self._update_buttons()
            return
        index = max(0, min(len(self.photos) - 1, index))
        if index == self.index:
            return
        self.index = index
        info = self.photos[index]
        self.position_label.setText(
            f"Photo {index + 1} of {len(self.photos)} · {human_type(info.mime)} · "
            f"{human_size(info.size)}"
        )
        self._update_buttons()
        self.preview.show_message(self.session.media_loading_text)
        self.preview.view.setFocus()

        def done(_mime: str, data: bytes, index: int = index) -> None:
            if shiboken6.isValid(self) and index == self.index:
                self.preview.show_bytes(info.mime, data)

        def failed(reason: str, index: int = index) -> None:
            if shiboken6.isValid(self) and index == self.index:
                self.preview.show_error(f"Could not fetch the file: {reason}")

        try:
            self.session.fetch_media(info.sha256, done, failed)
        except Exception as exc:  # e.g. the local cache refused a damaged copy
            failed(str(exc) or type(exc).__name__)

    def previous(self) -> None:
        self.show_index(self.index - 1)

    def next(self) -> None:
        self.show_index(self.index + 1)

    def _update_buttons(self) -> None:
        self.prev_button.setEnabled(self.index > 0)
        self.next_button.setEnabled(0 <= self.index < len(self.photos) - 1)
