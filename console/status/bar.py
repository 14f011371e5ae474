"""The status bar: the link to the relay in the user's words, the outbox, who is signed in,
the queue of HIGH reports waiting for this officer (click opens the newest, Acknowledge
clears it, a chime unless muted), a notice that an approval waits (click goes to it), and
a transient banner for refused actions.

Every label is plain text: reasons and refusal messages come from the network.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QFont, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStatusBar,
    QSystemTrayIcon,
    QToolBar,
    QToolButton,
)

from backend_client import messages as m
from backend_client.outbox import OutboxEntry
from backend_client.state import ConnectionStatus, State
from console.common.eliding import ElidingButton
from console.common.labels import plain_label
from console.session import ConsoleSession
from console.settings import ConsoleSettings
from console.status import countdown
from console.status.model import (
    HighQueue,
    connection_text,
    high_queue_text,
    plain_tip,
    queued_text,
    refusal_text,
    rtt_text,
    waiting_approval,
)
from console.status.sound import HighSound
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


#: the console setting that mutes the HIGH chime
MUTE_KEY = "attention/mute_high_sound"


class StatusBar(QStatusBar):
    #: the officer clicked the HIGH banner: open this report (the window selects it)
    open_report = Signal(str)
    #: the officer clicked an approval notice: go to this alert in the Alerts pane
    open_alert = Signal(str)

    def __init__(
        self,
        session: ConsoleSession,
        clock: Callable[[], float] = time.time,
        settings: ConsoleSettings | None = None,
        sound: HighSound | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self._clock = clock
        self._status = session.status
        self.setSizeGripEnabled(False)
        self.queue = HighQueue()
        #: reports seen HIGH and open: a change that makes another one HIGH is news
        self._high_ids: set[str] = set()
        muted = settings is not None and _true(settings.get(MUTE_KEY, False))
        self.sound = sound or HighSound(muted=muted)
        self.sound.muted = muted

        # what waits for this officer, across the top of the window (`attention`, which
        # the window places under the menu): the HIGH queue (a click opens the newest,
        # Acknowledge clears it) and an approval notice (a click goes to the alert). Shown
        # only while something waits: HIGH reports are rare enough for the re-layout.
        self.attention = QToolBar("Waiting for you")
        self.attention.setObjectName("attention-bar")
        self.attention.setMovable(False)
        self.attention.setFloatable(False)
        self.attention.toggleViewAction().setVisible(False)
        self.high = ElidingButton()  # ends in … when the window is narrow
        self.high.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.high.setMinimumWidth(200)
        self.high.setToolTip("Open the newest HIGH report")
        self.high.clicked.connect(self.open_newest_high)
        self.acknowledge = QPushButton("Acknowledge")
        self.acknowledge.setToolTip("Take the newest HIGH report off the waiting list")
        self.acknowledge.clicked.connect(self.acknowledge_newest)
        self.approval = ElidingButton()
        self.approval.setToolTip("Go to the alert waiting for your approval")
        self.approval.clicked.connect(self.open_waiting_approval)
        self.approval.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.approval.setMinimumWidth(160)
        self.approval.setStyleSheet(
            "QPushButton { background: #1f6feb; color: #ffffff; border: none;"
            " padding: 2px 8px; text-align: left; }"
        )
        self._high_actions = [self.attention.addWidget(self.high)]
        self._high_actions.append(self.attention.addWidget(self.acknowledge))
        self._approval_action = self.attention.addWidget(self.approval)
        for action in [*self._high_actions, self._approval_action]:
            action.setVisible(False)
        self.attention.hide()
        self._approval_alert: str | None = None
        self._tray: QSystemTrayIcon | None = None

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
        #: View > Mute the HIGH report sound, and the button at the status bar's end: one action
        self.mute_action = QAction("&Mute the HIGH report sound", self, checkable=True)
        self.mute_action.setChecked(muted)
        self.mute_action.toggled.connect(self.set_muted)
        self.mute_button = QToolButton()
        self.mute_button.setDefaultAction(self.mute_action)
        self.mute_button.setAutoRaise(True)
        self._mute_text(muted)
        for w in (self.connection, self.rtt, self.queued, self.user, self.mute_button):
            self.addPermanentWidget(w)

        self._countdown = QTimer(self, interval=1000)
        self._countdown.timeout.connect(self._render)
        self._banner_timer = QTimer(self, singleShot=True, interval=BANNER_MS)
        self._banner_timer.timeout.connect(self.clear_banner)
        self._flash_timer = QTimer(self, interval=350)
        self._flash_timer.timeout.connect(self._flash)
        self._flashes = 0
        self._banner_colour = "#e5534b"
        self._high_colour = STATUS_COLOURS["new"]

        session.connection_state_changed.connect(self.set_status)
        session.outbox_changed.connect(self.on_outbox)
        session.request_failed.connect(self.show_problem)
        session.report_changed.connect(self._report_changed)
        session.report_opened.connect(self._report_opened)
        session.reports_erased.connect(self._reports_erased)
        session.alert_changed.connect(self._alert_changed)
        self.set_status(session.status)

    @staticmethod
    def _label() -> QLabel:
        label = plain_label(selectable=False, wrap=False, shrink=False)
        label.setContentsMargins(6, 0, 6, 0)
        return label

    # ------------------------------------------------------------ slots

    def set_status(self, status: ConnectionStatus) -> None:
        self._status = status
        countdown.follow(self._countdown, status)
        self._render()

    def on_outbox(self, entry: OutboxEntry, reply: m.Msg | None) -> None:
        if isinstance(reply, m.Error):
            self.show_problem(refusal_text(entry.message, reply.message))

    def show_high_priority(self, report: m.Report) -> None:
        """Connect FeedWidget.high_priority here: the report joins the waiting HIGH reports
        (unless this officer opened it already), the banner flashes and the chime rings."""
        if self.session.is_opened(report.report_id) or not self.queue.offer(report):
            return
        self._render_high(flash=True)
        self.sound.ring()

    def open_newest_high(self) -> str | None:
        """The HIGH banner was clicked: open the report it names (the window selects it,
        which marks it opened and so takes it off the queue)."""
        newest = self.queue.newest()
        if newest is None:
            return None
        self.queue.discard(newest.report_id)
        self._render_high()
        self.open_report.emit(newest.report_id)
        return newest.report_id

    def acknowledge_newest(self) -> str | None:
        """Acknowledge: the newest waiting HIGH report stops waiting (still in the feed)."""
        newest = self.queue.newest()
        if newest is None:
            return None
        self.queue.discard(newest.report_id)
        self._render_high()
        return newest.report_id

    def set_muted(self, muted: bool) -> None:
        self.sound.muted = muted
        if self.mute_action.isChecked() != muted:
            self.mute_action.setChecked(muted)
        self._mute_text(muted)
        if self.settings is not None:
            self.settings.set(MUTE_KEY, bool(muted))

    def show_approval(self, message: str) -> None:
        """Connect AlertsWidget.approval_waiting here: a notice that stays until the
        supervisor clicks it (to the alert) or the alert is decided; and a desktop
        notification where there is a system tray."""
        self._approval_alert = waiting_approval(self.session.alerts.values(), self.session.username)
        said = message.replace(" Open Alerts to review it.", "")  # the click does that
        self.approval.set_full_text(f"Click to review — {said}")
        self.approval.setToolTip(plain_tip(message))
        self._show_approval(True)
        self._notify_desktop("Lookout: approval waiting", message)

    def open_waiting_approval(self) -> str | None:
        alert_id = self._approval_alert or waiting_approval(
            self.session.alerts.values(), self.session.username
        )
        self._show_approval(False)
        self._approval_alert = None
        if alert_id is not None:
            self.open_alert.emit(alert_id)
        return alert_id

    @property
    def approval_showing(self) -> bool:
        return self._approval_action.isVisible()

    @property
    def high_showing(self) -> bool:
        return self._high_actions[0].isVisible()

    def _show_approval(self, on: bool) -> None:
        self._approval_action.setVisible(on)
        self._update_attention()

    def _show_high(self, on: bool) -> None:
        if self.high_showing != on:
            for action in self._high_actions:
                action.setVisible(on)
            self._update_attention()

    def _update_attention(self) -> None:
        wanted = self.high_showing or self.approval_showing
        if self.attention.isHidden() == wanted:
            self.attention.setVisible(wanted)

    def show_notice(self, message: str) -> None:
        """Something for this officer to know (a rehearsal's prompt): shown for a while
        beside the HIGH queue, which has a place of its own."""
        self._show_banner(message, "#1f6feb")

    def show_problem(self, message: str) -> None:
        self._show_banner(message, "#9e6a03")

    def clear_banner(self) -> None:
        self.banner.clear()
        self.banner.setToolTip("")
        self._paint_banner(False)

    @property
    def banner_active(self) -> bool:
        return bool(self.banner.text())

    # ------------------------------------------------------------ the queue, kept true

    def _report_changed(self, report: m.Report, created: bool) -> None:
        if self.queue.changed(report):
            self._render_high()
            return
        if not HighQueue.alarming(report):
            return
        raised = not created and report.report_id not in self._high_ids
        self._high_ids.add(report.report_id)
        if raised:  # a colleague raised it to HIGH (a new one comes through the feed)
            self.show_high_priority(report)

    def _report_opened(self, report_id: str) -> None:
        if self.queue.discard(report_id):
            self._render_high()

    def _reports_erased(self, event: m.ReportErased) -> None:
        if any([self.queue.discard(r) for r in event.report_ids]):
            self._render_high()

    def _alert_changed(self, alert: m.Alert) -> None:
        if alert.alert_id == self._approval_alert and alert.state != "pending_approval":
            self._approval_alert = waiting_approval(
                self.session.alerts.values(), self.session.username
            )
            if self._approval_alert is None:
                self._show_approval(False)

    def _notify_desktop(self, title: str, message: str) -> None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return
        if self._tray is None:
            app = QApplication.instance()
            icon = app.windowIcon() if isinstance(app, QApplication) else None
            self._tray = QSystemTrayIcon(self)
            if icon is not None:
                self._tray.setIcon(icon)
            self._tray.messageClicked.connect(self.open_waiting_approval)
            self._tray.show()
        self._tray.showMessage(title, message[:300])

    # ------------------------------------------------------------ rendering

    def _render_high(self, flash: bool = False) -> None:
        text = high_queue_text(self.queue)
        if not text:
            self._show_high(False)
            self._flash_timer.stop()
            return
        self.high.set_full_text(text)
        self.high.setToolTip(plain_tip(f"{text}\nClick to open it."))
        self._high_colour = STATUS_COLOURS["new"]
        self._show_high(True)
        self._paint_high(True)
        if flash:
            self._flashes = FLASHES
            self._flash_timer.start()

    def _paint_high(self, on: bool) -> None:
        # a style sheet: the theme's sheet styles buttons, which then ignore a palette
        # (a short sheet on one button, changed a few times per HIGH report)
        colour = self._high_colour
        sheet = (
            f"QPushButton {{ background: {colour}; color: #ffffff; font-weight: 700;"
            " border: none; padding: 1px 8px; text-align: left; }"
            if on
            else f"QPushButton {{ background: transparent; color: {colour}; font-weight: 700;"
            " border: none; padding: 1px 8px; text-align: left; }"
        )
        if self.high.styleSheet() != sheet:
            self.high.setStyleSheet(sheet)

    def _mute_text(self, muted: bool) -> None:
        self.mute_button.setText("Sound muted" if muted else "Sound on")
        self.mute_button.setToolTip(
            "The HIGH report sound is off: click to turn it on"
            if muted
            else "A sound plays for each HIGH report: click to mute it"
        )

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

    def _show_banner(self, text: str, colour: str) -> None:
        self._banner_colour = colour
        self.banner.setText(text)
        self._paint_banner(True)
        self.banner.setToolTip(plain_tip(text))
        self._banner_timer.start()

    def _flash(self) -> None:
        self._flashes -= 1
        self._paint_high(self._flashes % 2 == 0)
        if self._flashes <= 0:
            self._flash_timer.stop()
            self._paint_high(True)

    def _paint_banner(self, on: bool) -> None:
        # a palette, not a style sheet: re-polishing a style sheet costs milliseconds
        pal = self.banner.palette()
        colour = QColor(self._banner_colour)
        pal.setColor(QPalette.ColorRole.Window, colour if on else QColor(0, 0, 0, 0))
        pal.setColor(QPalette.ColorRole.WindowText, QColor("#ffffff") if on else colour)
        self.banner.setPalette(pal)


def _true(value: object) -> bool:
    return value is True or str(value).lower() == "true"
