"""The status bar: the link to the relay in the user's words, the outbox, who is signed in,
and a transient banner for high-priority reports and refused actions.

Every label is plain text: reasons and refusal messages come from the network.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar

from backend_client import messages as m
from backend_client.outbox import OutboxEntry
from backend_client.state import ConnectionStatus, State
from console.common.labels import plain_label
from console.session import ConsoleSession
from console.status.model import (
    connection_text,
    high_priority_text,
    plain_tip,
    queued_text,
    refusal_text,
    rtt_text,
)
from console.theme import STATUS_COLOURS, current

BANNER_MS = 10_000
FLASHES = 6  # banner blinks this many half-periods when it appears
#: the theme colour (a key of `theme.current()`) the link's state is written in
_STATE_COLOURS = {
    State.LIVE: "success",
    State.CONNECTING: "warning",
    State.AUTHENTICATING: "warning",
    State.BACKING_OFF: "warning",
    State.OFFLINE: "muted",
    State.FATAL: "danger",
}


class StatusBar(QStatusBar):
    def __init__(self, session: ConsoleSession, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.session = session
        self._clock = clock
        self._status = session.status
        self.setSizeGripEnabled(False)

        self.banner = self._label()
        self.banner.setAutoFillBackground(True)
        bold = QFont(self.banner.font())
        bold.setBold(True)
        self.banner.setFont(bold)
        self.banner.setContentsMargins(8, 1, 8, 1)
        # always laid out, empty when idle: showing and hiding a widget re-lays out and
        # re-exposes the whole window (10-30 ms), which would stall the event loop
        self.banner.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.addWidget(self.banner, 1)
        self.connection = self._label()
        self.rtt = self._label()
        self.queued = self._label()
        self.user = self._label()
        for w in (self.connection, self.rtt, self.queued, self.user):
            self.addPermanentWidget(w)

        self._countdown = QTimer(self, interval=1000)
        self._countdown.timeout.connect(self._render)
        self._banner_timer = QTimer(self, singleShot=True, interval=BANNER_MS)
        self._banner_timer.timeout.connect(self.clear_banner)
        self._flash_timer = QTimer(self, interval=350)
        self._flash_timer.timeout.connect(self._flash)
        self._flashes = 0
        self._banner_colour = "#e5534b"

        session.connection_state_changed.connect(self.set_status)
        session.outbox_changed.connect(self.on_outbox)
        session.request_failed.connect(self.show_problem)
        self.set_status(session.status)

    @staticmethod
    def _label() -> QLabel:
        label = plain_label(selectable=False, wrap=False, shrink=False)
        label.setContentsMargins(6, 0, 6, 0)
        return label

    # ------------------------------------------------------------ slots

    def set_status(self, status: ConnectionStatus) -> None:
        self._status = status
        if status.state == State.BACKING_OFF and status.next_attempt_at is not None:
            self._countdown.start()
        else:
            self._countdown.stop()
        self._render()

    def on_outbox(self, entry: OutboxEntry, reply: m.Msg | None) -> None:
        if isinstance(reply, m.Error):
            self.show_problem(refusal_text(entry.message, reply.message))

    def show_high_priority(self, report: m.Report) -> None:
        """Connect FeedWidget.high_priority here: a flashing banner the dispatcher can't miss."""
        self._show_banner(high_priority_text(report), STATUS_COLOURS["new"], flash=True)

    def show_notice(self, message: str) -> None:
        """Something waits for this officer (an alert to approve): shown, not flashed, and
        never over a flashing high-priority report (the Alerts table still says it)."""
        if self._flash_timer.isActive():
            return
        self._show_banner(message, "#1f6feb", flash=False)

    def show_problem(self, message: str) -> None:
        self._show_banner(message, "#9e6a03", flash=False)

    def clear_banner(self) -> None:
        self._flash_timer.stop()
        self.banner.clear()
        self.banner.setToolTip("")
        self._paint_banner(False)

    @property
    def banner_active(self) -> bool:
        return bool(self.banner.text())

    # ------------------------------------------------------------ rendering

    def _render(self) -> None:
        status = self._status
        text = connection_text(status, self._clock())
        colour = current()[_STATE_COLOURS[status.state]]
        self.connection.setText(f"● {text}")
        sheet = f"color: {colour}; font-weight: 600;"
        if self.connection.styleSheet() != sheet:  # a new sheet re-polishes: only on change
            self.connection.setStyleSheet(sheet)
        self.connection.setToolTip(plain_tip(status.reason) if status.reason else "")
        self.rtt.setText(rtt_text(status))
        self.queued.setText(queued_text(status.queued))
        self.user.setText(f"{self.session.username} · {self.session.role}")

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_flash_timer"):
            self._render()  # the theme was switched
        super().changeEvent(event)

    def _show_banner(self, text: str, colour: str, flash: bool) -> None:
        self._banner_colour = colour
        self.banner.setText(text)
        self._paint_banner(True)
        self.banner.setToolTip(plain_tip(text))
        self._banner_timer.start()
        self._flashes = FLASHES if flash else 0
        if flash:
            self._flash_timer.start()
        else:
            self._flash_timer.stop()

    def _flash(self) -> None:
        self._flashes -= 1
        self._paint_banner(self._flashes % 2 == 0)
        if self._flashes <= 0:
            self._flash_timer.stop()
            self._paint_banner(True)

    def _paint_banner(self, on: bool) -> None:
        # a palette, not a style sheet: re-polishing a style sheet costs milliseconds
        pal = self.banner.palette()
        colour = QColor(self._banner_colour)
        pal.setColor(QPalette.ColorRole.Window, colour if on else QColor(0, 0, 0, 0))
        pal.setColor(QPalette.ColorRole.WindowText, QColor("#ffffff") if on else colour)
        self.banner.setPalette(pal)
