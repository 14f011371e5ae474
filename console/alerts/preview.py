"""The send preview: what an alert will say, where, to whom and until when, before it goes.

Send in the composer opens this instead of sending (issue 13): the text as plain text, the
area on the main map (`show_area`), categories in words, the expiry as a time and "in 2 h",
status, incident, and a fresh `alert.preview` count with whether approval is needed. At no
phone, or a large reach, a red warning says so in words and Send waits for a ticked
confirmation. Send is never the default button: Enter goes back to the composer.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import Shiboken

from backend_client import messages as m
from console.alerts.model import phones, preview_lines, reach_warning
from console.common.labels import plain_label
from console.session import ConsoleSession
from console.theme import current

#: the map's id for the area of the alert being previewed (never an alert's id, so the
#: outline of an alert being updated stays as it is until the update goes out)
DRAFT_AREA_ID = "draft-preview"


def draft_alert(info: m.AlertInfo, sender: str, editing: m.Alert | None = None) -> m.Alert:
    """An alert not sent yet, for the map to show its area (`MapWidget.show_alert_area`)."""
    return m.Alert(
        alert_id=DRAFT_AREA_ID,
        sender=sender,
        sent_at=time.time(),
        msg_type="Update" if editing is not None else "Alert",
        state="pending_approval",
        info=info,
        recipients=0,
        delivered=0,
        read=0,
    )


class SendPreview(QDialog):
    """`SendPreview(session, info)`; accepted = send it, rejected = back to the composer."""

    show_area = Signal(object)  # a draft m.Alert whose area the main map should show
    hide_area = Signal(str)  # the preview closed: the map drops that draft's area (its id)

    def __init__(
        self,
        session: ConsoleSession,
        info: m.AlertInfo,
        parent: QWidget | None = None,
        *,
        editing: m.Alert | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.info = info
        self.editing = editing
        self.count: m.AlertCount | None = None
        self.count_error: str | None = None
        self.setWindowTitle(
            "Check the update before sending" if editing else "Check before sending"
        )
        self.setMinimumWidth(520)

        root = QVBoxLayout(self)
        lead = (
            "This update will go out as below." if editing else "This alert will go out as below."
        )
        root.addWidget(plain_label(lead, selectable=False))

        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        grid.setHorizontalSpacing(12)
        self.values: dict[str, QLabel] = {}
        for row, (caption, value) in enumerate(
            preview_lines(info, None, time.time(), session.client.cap_web)
        ):
            head = plain_label(caption, selectable=False, wrap=False, shrink=False)
            head.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            grid.addWidget(head, row, 0)
            label = plain_label(value)
            self.values[caption] = label
            grid.addWidget(label, row, 1)
        root.addLayout(grid)

        # the loud warning: an icon, red, in words
        self.warning = QFrame()
        self.warning.setObjectName("sendWarning")
        warn = QHBoxLayout(self.warning)
        icon = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize)
        icon.setPixmap(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(size)
        )
        warn.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        self.warning_text = plain_label(selectable=False)
        font = self.warning_text.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.warning_text.setFont(font)
        warn.addWidget(self.warning_text, 1)
        self.warning.setVisible(False)
        root.addWidget(self.warning)

        self.confirm = QCheckBox()
        self.confirm.setVisible(False)
        self.confirm.toggled.connect(self._update_send)
        root.addWidget(self.confirm)
        root.addStretch(1)

        buttons = QDialogButtonBox()
        self.back_button = QPushButton("Back to the composer")
        self.back_button.setDefault(True)  # Enter never sends
        self.back_button.setAutoDefault(True)
        self.send_button = QPushButton("Send update" if editing else "Send alert")
        self.send_button.setDefault(False)
        self.send_button.setAutoDefault(False)
        buttons.addButton(self.send_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.back_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.send_button.clicked.connect(self.accept)
        self.back_button.clicked.connect(self.reject)
        root.addWidget(buttons)
        self._restyle()
        self._update_send()
        self.back_button.setFocus()
        self.finished.connect(lambda _r: self.hide_area.emit(DRAFT_AREA_ID))

    # ------------------------------------------------------------ the fresh count

    def request_count(self) -> None:
        """Ask the relay again what this alert reaches now (the composer's count may be
        minutes old). Called when the preview opens."""
        self.count, self.count_error = None, None
        self._show()

        def on_reply(reply: m.Msg) -> None:
            if Shiboken.isValid(self):
                self.show_count(reply)

        def on_error(message: str) -> None:
            if Shiboken.isValid(self):
                self.show_count_error(message)

        request = m.AlertPreview(
            id="", area=self.info.area, categories=self.info.categories, pilot_id=self.info.pilot_id
        )
        self.session.run(request, on_reply, on_error)

    def show_count(self, reply: m.Msg) -> None:
        if not isinstance(reply, m.AlertCount):
            self.show_count_error(f"unexpected answer {type(reply).__name__}")
            return
        self.count, self.count_error = reply, None
        self._show()

    def show_count_error(self, message: str) -> None:
        self.count, self.count_error = None, message
        self._show()

    def open(self) -> None:
        super().open()
        self.show_area.emit(draft_alert(self.info, self.session.username, self.editing))
        self.request_count()

    # ------------------------------------------------------------ showing it

    def warning_words(self) -> str | None:
        if self.count_error is not None:
            return (
                f"The phones it reaches could not be counted ({self.count_error}). "
                "Sending anyway queues it; the relay decides whom it reaches."
            )
        if self.count is None:
            return None
        return reach_warning(self.count, update=self.editing is not None)

    def _show(self) -> None:
        for caption, value in preview_lines(
            self.info, self.count, time.time(), self.session.client.cap_web
        ):
            if self.count_error is not None and caption == "Reaches":
                value = "Could not be counted"
            self.values[caption].setText(value)
        words = self.warning_words()
        self.warning.setVisible(words is not None)
        self.warning_text.setText(words or "")
        self.confirm.setVisible(words is not None)
        if words is not None:
            self.confirm.setText(self._confirm_words())
        elif self.confirm.isChecked():
            self.confirm.setChecked(False)
        self._update_send()

    def _confirm_words(self) -> str:
        if self.count is not None and self.count.fewer_than is None and self.count.recipients == 0:
            return "I know it reaches no phone now: send it anyway"
        if self.count is not None:
            reach = phones(self.count.recipients, self.count.fewer_than)
            return f"I have checked text and area: send to {reach}"
        return "I still want to send it"

    def needs_confirmation(self) -> bool:
        return self.warning_words() is not None

    def _update_send(self, *_: object) -> None:
        counted = self.count is not None or self.count_error is not None
        ok = counted and (not self.needs_confirmation() or self.confirm.isChecked())
        self.send_button.setEnabled(ok)
        if self.count is not None and self.count.fewer_than is None and not self.editing:
            self.send_button.setText(f"Send to {phones(self.count.recipients, None)}")

    # ------------------------------------------------------------ theme

    def _restyle(self) -> None:
        c = current()
        sheet = (
            f"QFrame#sendWarning {{ border: 2px solid {c['danger']}; border-radius: 4px; }}"
            f" QFrame#sendWarning QLabel {{ color: {c['danger']}; }}"
        )
        if self.warning.styleSheet() != sheet:
            self.warning.setStyleSheet(sheet)
        # the dark palette hides an unticked box: outline it (as the composer's categories)
        tick = (
            f"QCheckBox::indicator {{ width: 13px; height: 13px;"
            f" border: 1px solid {c['muted']}; border-radius: 2px; }}"
            f" QCheckBox::indicator:checked {{ background: {c['highlight']};"
            f" border-color: {c['highlight']}; }}"
        )
        if self.confirm.styleSheet() != tick:
            self.confirm.setStyleSheet(tick)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "confirm"):
            self._restyle()
        super().changeEvent(event)
