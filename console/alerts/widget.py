"""The alerts dock: every alert with its delivered/read progress, and the actions on it.

Rows change only through the session's `alert_changed` signal (and the relay's reply to an
action), so counts climb live. Buttons are enabled by the same rules the relay applies, but
the relay decides: a refusal arrives through `outbox_changed` and is shown in plain words.

The selected alert's history (sent, approved by whom, updated, cancelled, with times) is
asked of the relay (`alert.history`) and shown beside the list: the row's Sent time stays
when the alert was first sent. The composer opens in `composer_dock` beside the map when
the main window has placed that dock, else as a dialog.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QEvent, QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import Shiboken

from backend_client import messages as m
from backend_client.outbox import OutboxEntry
from console.alerts.composer import AlertComposer
from console.alerts.dock import ComposerDock
from console.alerts.model import (
    STATE_LABELS,
    approval_waiting_text,
    can_approve,
    can_cancel,
    can_update,
    history_lines,
    message_choices,
    phones,
    ready_to_approve,
    refusal_text,
    review_lines,
)
from console.alerts.table import COLUMNS, HEADLINE, AlertDelegate, AlertTableModel
from console.common.labels import plain_label
from console.session import ConsoleSession
from console.theme import current

#: what the Alerts dock says while no composer is open
HINT_IDLE = "Draw an area on the map to compose an alert."


class ReviewPanel(QGroupBox):
    """The pending alert an approver is about to judge, in full and as plain text."""

    def __init__(self) -> None:
        super().__init__("Review before approving")
        grid = QGridLayout(self)
        grid.setContentsMargins(8, 4, 8, 4)
        grid.setColumnStretch(1, 1)
        self.values: dict[str, QLabel] = {}
        for row, (caption, _value) in enumerate(review_lines(_PLACEHOLDER, 0.0)):
            grid.addWidget(plain_label(caption, selectable=False, wrap=False), row, 0)
            value = plain_label()
            grid.addWidget(value, row, 1)
            self.values[caption] = value
        self.alert_id: str | None = None

    def show_alert(self, alert: m.Alert, now: float) -> None:
        self.alert_id = alert.alert_id
        for caption, value in review_lines(alert, now):
            self.values[caption].setText(value)
        self.setVisible(True)

    def text(self, caption: str) -> str:
        return self.values[caption].text()


_PLACEHOLDER = m.Alert(
    alert_id="",
    sender="",
    sent_at=0.0,
    msg_type="Alert",
    state="pending_approval",
    info=m.AlertInfo(
        categories=["other"],
        area=m.Circle(lat=0.0, lon=0.0, radius_m=1.0),
        area_desc="",
        headline="",
        expires_at=0.0,
    ),
    recipients=0,
    delivered=0,
    read=0,
)


class HistoryPanel(QGroupBox):
    """The selected alert's history from the relay: one line per step, time and officer."""

    def __init__(self) -> None:
        super().__init__("History")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        self.lines = plain_label(selectable=True, shrink=True)
        self.lines.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.lines, 1)
        self.alert_id: str | None = None
        self.entries: list[m.AlertHistoryEntry] = []
        self.show_text("Select an alert to see what happened to it, by whom and when.")

    def show_text(self, text: str) -> None:
        self.lines.setText(text)

    def show_entries(self, alert_id: str, entries: list[m.AlertHistoryEntry]) -> None:
        self.alert_id, self.entries = alert_id, list(entries)
        lines = history_lines(entries, time.time())
        self.show_text("\n".join(lines) if lines else "Nothing recorded yet.")

    def text(self) -> str:
        return self.lines.text()


class AlertsWidget(QWidget):
    show_area = Signal(object)  # m.Alert whose area the map should show
    approval_waiting = Signal(str)  # a supervisor's notice: an alert this officer may approve
    draft_cancelled = Signal()  # a new alert's composer was cancelled or sent: clear the draft
    hide_area = Signal(str)  # an area shown only for a preview: the map drops it (by id)

    #: rows the list shows in the main window's default layout (issue 13: at least four)
    VISIBLE_ROWS = 4
    ROW_HEIGHT = 26

    def __init__(self, session: ConsoleSession) -> None:
        super().__init__()
        self._awaiting: dict[str, m.Alert] = {}  # my alerts waiting for a supervisor
        #: pending alerts this officer has had in front of them (text and area): only those
        #: may be approved from here
        self._reviewed: set[str] = set()
        self._announced: set[str] = set()  # pending alerts already announced to me
        self.session = session
        self.composer: AlertComposer | None = None
        #: the composer's dock beside the map (the main window places it)
        self.composer_dock = ComposerDock()
        #: (state, msg_type, approved_by) of the alert whose history is shown: a count
        #: moving does not ask for the history again, a step does
        self._history_key: tuple[str, str, str, str | None] | None = None
        self.model = AlertTableModel()

        self._layout = lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        bar = QHBoxLayout()
        self.approve_button = QPushButton("Approve")
        self.reject_button = QPushButton("Reject")
        self.update_button = QPushButton("Update…")
        self.cancel_button = QPushButton("Cancel alert…")
        self.export_button = QPushButton("Export CAP…")
        self.area_button = QPushButton("Show area")
        self.approve_button.setToolTip(
            "Two-person rule: a supervisor other than the sender approves large alerts"
        )
        for b in (
            self.approve_button,
            self.reject_button,
            self.update_button,
            self.cancel_button,
            self.export_button,
            self.area_button,
        ):
            bar.addWidget(b)
        bar.addStretch(1)
        self.hint = plain_label(
            HINT_IDLE,
            selectable=False,
            wrap=False,
            shrink=False,
        )
        self.hint.setStyleSheet("color: palette(placeholder-text);")
        bar.addWidget(self.hint)
        lay.addLayout(bar)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setItemDelegate(AlertDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.ROW_HEIGHT)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(HEADLINE, QHeaderView.ResizeMode.Stretch)
        for col, width in enumerate((150, 0, 60, 150, 150, 90, 90, 160)):
            if width:
                self.table.setColumnWidth(col, width)
        self.table.doubleClicked.connect(lambda _i: self.show_selected_area())
        self.history = HistoryPanel()
        self.history.setMinimumWidth(220)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        split.addWidget(self.table)
        split.addWidget(self.history)
        split.setStretchFactor(0, 1)
        split.setSizes([900, 320])
        self._bar_height = bar.sizeHint().height()
        lay.addWidget(split, 1)
        self.review = ReviewPanel()
        self.review.setVisible(False)
        lay.addWidget(self.review)

        self.message = plain_label(selectable=False, shrink=False)
        self.message.setVisible(False)
        self._message_error = False
        lay.addWidget(self.message)

        self.approve_button.clicked.connect(lambda: self.approve_selected(True))
        self.reject_button.clicked.connect(lambda: self.approve_selected(False))
        self.update_button.clicked.connect(self.update_selected)
        self.cancel_button.clicked.connect(lambda: self.cancel_selected())
        self.export_button.clicked.connect(lambda: self.export_selected())
        self.area_button.clicked.connect(self.show_selected_area)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)

        for alert in session.alerts.values():
            self.model.upsert(alert)
        session.alert_changed.connect(self._alert_changed)
        session.history_lost.connect(self._history_lost)
        session.outbox_changed.connect(self._outbox_changed)
        self._clock = QTimer(self)  # expiry and "today" move on without events
        self._clock.setInterval(30_000)
        self._clock.timeout.connect(self._tick)
        self._clock.start()
        self._update_buttons()
        # alerts already in the session (replayed while signed out) announce themselves
        # once the window has connected `approval_waiting`
        QTimer.singleShot(0, self, self._announce_waiting)

    def list_height(self, rows: int | None = None) -> int:
        """The height this widget needs to show the header and `rows` rows of the list."""
        n = self.VISIBLE_ROWS if rows is None else rows
        margins = self._layout.contentsMargins()
        frame = 2 * self.table.frameWidth()
        header = self.table.horizontalHeader().sizeHint().height()
        spacing = self._layout.spacing()
        return (
            margins.top()
            + margins.bottom()
            + self._bar_height
            + spacing
            + frame
            + header
            + n * self.ROW_HEIGHT
            # a narrow window scrolls the columns sideways: room for that bar too
            + self.table.horizontalScrollBar().sizeHint().height()
            + 4  # a pixel or two of rounding in styles
        )

    def _announce_waiting(self) -> None:
        if not Shiboken.isValid(self):
            return
        for alert in list(self.session.alerts.values()):
            self._announce(alert)

    def _announce(self, alert: m.Alert) -> None:
        """Tell a supervisor once per alert that it waits for their approval."""
        if (
            can_approve(alert, self.session.role, self.session.username)
            and alert.alert_id not in self._announced
            and alert.info.expires_at > time.time()
        ):
            self._announced.add(alert.alert_id)
            self.approval_waiting.emit(approval_waiting_text(alert))

    # ------------------------------------------------------------ events

    def _history_lost(self, _alert_ids: frozenset[str]) -> None:
        self.model.clear()
        self._awaiting.clear()
        self._update_buttons()

    def _alert_changed(self, alert: m.Alert) -> None:
        previous = self._awaiting.get(alert.alert_id)
        self.model.upsert(alert)
        self._update_buttons()
        self._announce(alert)
        if previous is not None and alert.state != "pending_approval":
            del self._awaiting[alert.alert_id]  # the note about waiting is out of date now
            verdict = {"active": "approved and sent", "rejected": "rejected"}.get(
                alert.state, alert.state
            )
            who = f" by {alert.approved_by}" if alert.approved_by else ""
            self.notify(f"Alert “{alert.info.headline}” {verdict}{who}.")

    def _outbox_changed(self, entry: OutboxEntry, reply: m.Msg | None) -> None:
        if not entry.type.startswith("alert."):
            return
        if isinstance(reply, m.Error):
            self.notify(refusal_text(entry.type, reply), error=True)
        elif isinstance(reply, m.AlertAccepted):
            self.model.upsert(reply.alert)
            self._update_buttons()
            if entry.type == "alert.send":
                reach = phones(reply.alert.recipients, reply.alert.fewer_than)
                if reply.alert.state == "pending_approval":
                    self._awaiting[reply.alert.alert_id] = reply.alert
                    self.notify(
                        f"Alert queued for approval: it reaches {reach}, "
                        "so a supervisor other than you must approve it."
                    )
                else:
                    self.notify(f"Alert sent to {reach}.")
        elif reply is None and entry.type == "alert.send":
            self.notify("Alert queued; it goes out as soon as the relay accepts it.")

    def _tick(self) -> None:
        self.model.refresh()
        self._update_buttons()

    def notify(self, text: str, error: bool = False) -> None:
        self._message_error = error
        self._restyle()
        self.message.setText(text)
        self.message.setVisible(True)

    def _restyle(self) -> None:
        sheet = f"color: {current()['danger']};" if self._message_error else ""
        if self.message.styleSheet() != sheet:
            self.message.setStyleSheet(sheet)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_message_error"):
            self._restyle()  # the theme was switched
        super().changeEvent(event)

    # ------------------------------------------------------------ selection

    def selected(self) -> m.Alert | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.book.at(rows[0].row())

    def select_alert(self, alert_id: str) -> None:
        row = self.model.book.index(alert_id)
        self.table.selectionModel().select(
            self.model.index(row, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )

    def _update_buttons(self) -> None:
        alert, now = self.selected(), time.time()
        role, me = self.session.role, self.session.username
        if alert is not None and can_approve(alert, role, me):
            if alert.alert_id not in self._reviewed:
                self._reviewed.add(alert.alert_id)
                self.show_area.emit(alert)  # the area on the map, beside its text
            if self.review.alert_id != alert.alert_id or self.review.isHidden():
                self.review.show_alert(alert, now)
        else:
            self.review.setVisible(False)
            self.review.alert_id = None
        approvable = alert is not None and ready_to_approve(alert, role, me, self._reviewed)
        self.approve_button.setEnabled(approvable)
        self.reject_button.setEnabled(approvable)
        self.update_button.setEnabled(alert is not None and can_update(alert, now))
        self.cancel_button.setEnabled(alert is not None and can_cancel(alert, now))
        self.export_button.setEnabled(alert is not None)
        self.area_button.setEnabled(alert is not None)
        self._refresh_history(alert)

    # ------------------------------------------------------------ history

    def _refresh_history(self, alert: m.Alert | None) -> None:
        if alert is None:
            self._history_key = None
            self.history.alert_id = None
            self.history.show_text("Select an alert to see what happened to it, by whom and when.")
            return
        key = (alert.alert_id, alert.state, alert.msg_type, alert.approved_by)
        if key == self._history_key:
            return
        self._history_key = key
        if self.history.alert_id != alert.alert_id:
            self.history.show_text("Asking the relay for this alert's history…")
        self.request_history(alert.alert_id)

    def request_history(self, alert_id: str) -> None:
        def on_reply(reply: m.Msg) -> None:
            if not Shiboken.isValid(self):
                return
            chosen = self.selected()
            if chosen is None or chosen.alert_id != alert_id:
                return  # the selection moved on
            if isinstance(reply, m.AlertHistoryListed):
                self.history.show_entries(alert_id, reply.entries)
            else:
                self.history.show_text(f"The history could not be read ({type(reply).__name__}).")

        def on_error(message: str) -> None:
            if Shiboken.isValid(self):
                self._history_key = None  # ask again at the next change or selection
                self.history.show_text(f"The history could not be read: {message}")

        self.session.run(m.AlertHistory(id="", alert_id=alert_id), on_reply, on_error)

    # ------------------------------------------------------------ actions

    def _open_draft(self) -> AlertComposer | None:
        """The composer of a new alert still open, if any."""
        c = self.composer
        # isHidden, not isVisible: a docked draft behind the Report tab is still open
        if c is not None and Shiboken.isValid(c) and not c.isHidden() and c.editing is None:
            return c
        return None

    def compose(self, area: object) -> AlertComposer | None:
        """Open the composer for an area drawn on the map (an m.Polygon or m.Circle); with a
        new alert's composer open, the area drawn becomes its area (the text is kept)."""
        if not isinstance(area, m.Polygon | m.Circle):
            return None
        draft = self._open_draft()
        if draft is not None:
            draft.set_area(area)
            self.composer_dock.raise_()
            return draft
        return self._open_composer(AlertComposer(self.session, area, self))

    def compose_for_incident(self, incident_ref: str) -> AlertComposer:
        """Open the composer with the incident reference filled in (the incident view's
        "Alert…"); the area is drawn on the map next, unless a draft already has one."""
        draft = self._open_draft()
        if draft is None:
            draft = self._open_composer(AlertComposer(self.session, None, self))
        draft.set_incident(incident_ref)
        self.composer_dock.raise_()
        if draft.area is None:
            self.notify(f"Draw the area on the map for the alert about {incident_ref}.")
        return draft

    def update_selected(self) -> AlertComposer | None:
        alert = self.selected()
        if alert is None:
            return None
        return self._open_composer(
            AlertComposer(self.session, alert.info.area, self, editing=alert)
        )

    def _open_composer(self, composer: AlertComposer) -> AlertComposer:
        if self.composer is not None and Shiboken.isValid(self.composer):
            self.composer.close()
        composer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        composer.show_area.connect(self.show_area)
        composer.hide_area.connect(self.hide_area)
        composer.draft_cancelled.connect(self.draft_cancelled)
        if composer.editing is None:  # sent, the drawn draft is the alert's area now
            composer.sent.connect(lambda _entry: self.draft_cancelled.emit())
        self.composer = composer
        self.hint.setText(
            "Writing an alert in the composer beside the map."
            if composer.editing is None
            else f"Updating alert {composer.editing.alert_id} in the composer beside the map."
        )
        composer.finished.connect(lambda _r: self.hint.setText(HINT_IDLE))
        if self.composer_dock.attached():
            composer.set_compact(True)
            self.composer_dock.host(composer)  # beside the map, not over it
        else:
            composer.open()  # window-modal, not a nested event loop
        composer.headline.setFocus()
        return composer

    def approve_selected(self, approve: bool = True) -> OutboxEntry | None:
        alert = self.selected()
        if alert is None:
            return None
        return self.session.submit(
            m.AlertApprove(id="", idem="", alert_id=alert.alert_id, approve=approve)
        )

    def cancel_selected(self, confirm: bool = True) -> OutboxEntry | None:
        alert = self.selected()
        if alert is None:
            return None
        if confirm:
            answer = QMessageBox.question(
                self,
                "Cancel alert",
                f"Cancel the alert “{alert.info.headline}”?\n\n"
                f"It is {STATE_LABELS.get(alert.state, alert.state).lower()} and reaches "
                f"{phones(alert.recipients, alert.fewer_than)}; they will be told it is withdrawn.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return None
        return self.session.submit(m.AlertCancel(id="", idem="", alert_id=alert.alert_id))

    def export_selected(self, path: Path | None = None) -> None:
        """Fetch the alert's current CAP 1.2 message, then save it (to `path`, or where the
        user says). An alert that went through several messages (an Update, a Cancel)
        first asks which one: each is kept exactly as it was sent."""
        alert = self.selected()
        if alert is None:
            return

        def on_error(message: str) -> None:
            if Shiboken.isValid(self):
                self.notify(f"Could not export the alert: {message}", error=True)

        def on_message(reply: m.Msg) -> None:
            if Shiboken.isValid(self):
                self.save_cap(reply, path)

        def on_current(reply: m.Msg) -> None:
            if not Shiboken.isValid(self):
                return
            if not isinstance(reply, m.AlertCap) or len(reply.messages) < 2:
                self.save_cap(reply, path)
                return
            chosen = self.choose_message(reply.messages)
            if chosen is None:
                return
            if chosen == reply.messages[-1]:  # the current one: already here
                self.save_cap(reply, path)
                return
            request = m.AlertExport(id="", alert_id=chosen, message=True)
            self.session.run(request, on_message, on_error)

        self.session.run(m.AlertExport(id="", alert_id=alert.alert_id), on_current, on_error)

    def choose_message(self, identifiers: list[str]) -> str | None:
        """Which of the alert's CAP messages to save (newest first, the current one chosen);
        None when the officer cancels."""
        labels = message_choices(identifiers)
        label, ok = QInputDialog.getItem(
            self,
            "Export CAP",
            "This alert went out as several CAP messages. Which one?",
            list(labels),
            0,
            False,
        )
        return labels.get(label) if ok else None

    def save_cap(self, reply: m.Msg, path: Path | None = None) -> Path | None:
        if not isinstance(reply, m.AlertCap):
            self.notify("The relay did not send the alert's CAP document.", error=True)
            return None
        if path is None:
            ident = reply.messages[-1] if reply.messages else reply.alert_id
            if reply.messages and reply.alert_id in reply.messages:
                ident = reply.alert_id  # an earlier message asked for by its identifier
            name, _ = QFileDialog.getSaveFileName(
                self, "Save CAP 1.2 alert", f"{ident}.cap.xml", "CAP XML (*.xml)"
            )
            if not name:
                return None
            path = Path(name)
        try:
            path.write_text(reply.xml, encoding="utf-8")
        except OSError as exc:
            self.notify(f"Could not save {path}: {exc.strerror or exc}", error=True)
            return None
        self.notify(f"Saved the CAP document to {path}.")
        return path

    def show_selected_area(self) -> None:
        alert = self.selected()
        if alert is not None:
            self.show_area.emit(alert)


__all__ = ["COLUMNS", "AlertsWidget"]
