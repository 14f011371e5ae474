"""The bar across the top of the window while the link to the relay is down.

The status bar's small coloured text is easy to miss during a shift; this bar says the link
is lost, counts down to the next attempt, and offers "Reconnect now", which asks the
session to skip the rest of the wait (the retry policy stays the client's). Hidden while
the link is up: showing it re-lays out the window, which only a lost link justifies.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QPushButton, QSizePolicy, QToolBar

from backend_client.state import ConnectionStatus, State
from console.common.labels import plain_label
from console.session import ConsoleSession
from console.status import countdown
from console.status.model import can_reconnect_now, link_banner_text, plain_tip


class LinkBar(QToolBar):
    def __init__(self, session: ConsoleSession, clock: Callable[[], float] = time.time) -> None:
        super().__init__("Link to the relay")
        self.setObjectName("link-bar")
        self.session = session
        self._clock = clock
        self._status = session.status
        self.setMovable(False)
        self.setFloatable(False)
        self.toggleViewAction().setVisible(False)  # it shows itself when the link drops
        self.text = plain_label(selectable=False, wrap=False, shrink=False)
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bold = QFont(self.text.font())
        bold.setBold(True)
        self.text.setFont(bold)
        self.text.setContentsMargins(8, 2, 8, 2)
        self.reconnect = QPushButton("Reconnect now")
        self.reconnect.setToolTip("Try the relay again at once instead of waiting")
        self.reconnect.clicked.connect(self.reconnect_now)
        self.addWidget(self.text)
        self._reconnect_action = self.addWidget(self.reconnect)
        self.setStyleSheet(
            "QToolBar#link-bar { background: #8b1d18; border: none; }"
            " QToolBar#link-bar QLabel { color: #ffffff; }"
        )
        self._showing = False
        self.hide()  # explicitly: a toolbar not hidden so would appear with its window
        self._countdown = QTimer(self, interval=1000)
        self._countdown.timeout.connect(self._render)
        session.connection_state_changed.connect(self.set_status)
        self.set_status(session.status)

    def set_status(self, status: ConnectionStatus) -> None:
        self._status = status
        countdown.follow(self._countdown, status)
        self._render()

    def reconnect_now(self) -> bool:
        """The button: skip the backoff wait; the bar says so until the attempt reports."""
        if not self.session.reconnect_now():
            return False
        self.text.setText("Link to the relay lost — reconnecting now…")
        self.reconnect.setEnabled(False)
        return True

    @property
    def showing(self) -> bool:
        """Whether the bar is up (whether or not its window is on screen)."""
        return self._showing

    def _render(self) -> None:
        text = link_banner_text(self._status, self._clock())
        if text is None:
            if self._showing:
                self._showing = False
                self.hide()
            return
        self.text.setText(text)
        self.text.setToolTip(plain_tip(self._status.reason) if self._status.reason else "")
        can = can_reconnect_now(self._status)
        self.reconnect.setEnabled(can)
        self._reconnect_action.setVisible(self._status.state != State.FATAL)
        if not self._showing:
            self._showing = True
            self.show()
