"""The Incidents dock: the list of incidents, and the selected one's reports, chat, alerts
and timeline.

It follows the session's events through a Qt-free `IncidentsModel` and redraws on a short
timer when something it shows changed (never once per event: at the feed's rate most
events touch no incident). A report's row opens it (`open_report`); "Alert for this
incident" asks for a composer with the ref filled in (`alert_for_incident`). The actions
on the feed's selection (`IncidentActions`) sit on the dock's buttons and in the feed's
context menu.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from backend_client import messages as m
from backend_client import rules
from console.common.labels import plain_label, plain_tooltip
from console.incidents.actions import IncidentActions, Targets
from console.incidents.model import IncidentInfo, IncidentsModel, IncidentSummary, IncidentView
from console.session import ConsoleSession

REDRAW_MS = 500
_ROLE = Qt.ItemDataRole.UserRole


def _clock(at: float | None, now: float | None = None) -> str:
    """`14:05` today, `2 Dec 14:05` before; a dash for unknown."""
    if not at:
        return "—"
    now = time.time() if now is None else now
    fmt = "%H:%M" if time.localtime(at)[:3] == time.localtime(now)[:3] else "%d %b %H:%M"
    return time.strftime(fmt, time.localtime(at))


def _tree(headers: list[str]) -> QTreeWidget:
    tree = QTreeWidget()
    tree.setHeaderLabels(headers)
    tree.setRootIsDecorated(False)
    tree.setUniformRowHeights(True)
    tree.setAlternatingRowColors(True)
    tree.setWordWrap(False)
    tree.header().setStretchLastSection(True)
    tree.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    return tree


class IncidentsWidget(QWidget):
    #: the officer clicked one of the incident's reports
    open_report = Signal(str)
    #: "Alert for this incident": a composer with this incident's ref (the lead wires it)
    alert_for_incident = Signal(str)

    def __init__(self, session: ConsoleSession, targets: Targets | None = None) -> None:
        super().__init__()
        self.session = session
        self.model = IncidentsModel()
        self._targets: Targets = targets or (lambda: [])
        self.incident_actions = IncidentActions(session, self.model, self._current_targets, self)
        self._drawn = -1
        self._selected: str | None = None
        self._awaiting: list[str] = []  # titles of incidents this console asked to open
        self.redraws = 0

        self.table = _tree(["Incident", "Title", "Reports", "Opened by", "Opened", "Latest"])
        self.table.setSortingEnabled(False)
        self.table.currentItemChanged.connect(self._incident_chosen)
        for col, width in ((0, 130), (1, 220), (2, 90), (3, 90), (4, 90)):
            self.table.setColumnWidth(col, width)

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for action in self.incident_actions.all():
            b = QToolButton()
            b.setDefaultAction(action)
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.alert_button = QPushButton("Alert for this incident…")
        self.alert_button.setToolTip("Open the alert composer with this incident's reference")
        self.alert_button.clicked.connect(self._alert)
        buttons.addWidget(self.alert_button)

        self.heading = plain_label("Select an incident to see its reports, chat and timeline.")
        self.note = plain_label()
        self.note.hide()
        self.reports = _tree(["Report", "Category", "Status", "Text"])
        self.reports.itemActivated.connect(self._report_activated)
        self.reports.itemClicked.connect(self._report_activated)
        for col, width in ((0, 120), (1, 110), (2, 210)):  # "duplicate of R-…" whole
            self.reports.setColumnWidth(col, width)
        self.chat = QPlainTextEdit()
        self.chat.setReadOnly(True)
        self.alerts = _tree(["Sent", "State", "Headline", "Reached"])
        self.timeline = _tree(["Time", "What"])
        self.timeline.setColumnWidth(0, 100)
        self.timeline.itemActivated.connect(self._report_activated)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.reports, "Reports")
        self.tabs.addTab(self.chat, "Chat")
        self.tabs.addTab(self.alerts, "Alerts")
        self.tabs.addTab(self.timeline, "Timeline")

        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.heading)
        dl.addWidget(self.tabs, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(detail)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(buttons)
        lay.addWidget(self.note)
        lay.addWidget(split, 1)
        # a few incidents and timeline lines; no taller than the Alerts tab it shares the
        # bottom area with (header and four rows), so the feed and the map keep the room
        self.setMinimumHeight(150)

        self.incident_actions.refused.connect(self.show_note)
        self.incident_actions.created.connect(self._awaiting.append)
        self._timer = QTimer(self, interval=REDRAW_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self._load()
        session.event_received.connect(self._event)
        session.history_lost.connect(self._history_lost)
        self.redraw()

    # ------------------------------------------------------------ public interface

    def set_targets(self, targets: Targets) -> None:
        """Where the actions find "the selected reports" (the feed's selection)."""
        self._targets = targets

    def select_incident(self, ref: str) -> None:
        self.redraw()
        for i in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(i)
            if item is not None and item.data(0, _ROLE) == ref:
                self.table.setCurrentItem(item)
                return

    def selected_incident(self) -> str | None:
        return self._selected

    def show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.show()

    def redraw(self) -> None:
        """Redraw if anything shown changed (the timer calls it; tests may too)."""
        if self.model.version == self._drawn:
            return
        self._drawn = self.model.version
        self.redraws += 1
        chats = self.session.chats
        rows = self.model.summaries(chats)
        self.table.blockSignals(True)
        try:
            self.table.clear()
            current = None
            for s in rows:
                item = QTreeWidgetItem(self._row(s))
                item.setData(0, _ROLE, s.ref)
                item.setToolTip(1, plain_tooltip(s.title))
                self.table.addTopLevelItem(item)
                if s.ref == self._selected:
                    current = item
            if current is not None:
                self.table.setCurrentItem(current)
        finally:
            self.table.blockSignals(False)
        self._show_selected()
        self.incident_actions.update_enabled()
        self.alert_button.setEnabled(
            self._selected is not None and rules.may_send(self.session.role, m.AlertSend)
        )

    # ------------------------------------------------------------ drawing

    @staticmethod
    def _row(s: IncidentSummary) -> list[str]:
        count = str(s.reports) + (f" ({s.duplicates} dup.)" if s.duplicates else "")
        title = ("EXERCISE · " if s.exercise else "") + s.title
        return [s.ref, title, count, s.opened_by, _clock(s.opened_at), _clock(s.latest)]

    def _show_selected(self) -> None:
        ref = self._selected
        if ref is None:
            for tree in (self.reports, self.alerts, self.timeline):
                tree.clear()
            self.chat.setPlainText("")
            return
        self._show_view(self.model.view(ref, self.session.chats))

    def _show_view(self, v: IncidentView) -> None:
        info: IncidentInfo = v.info
        self.heading.setText(
            f"{info.ref} — {info.title}\nOpened by {info.opened_by} at {_clock(info.opened_at)}"
            f" · {len(v.reports)} reports · {len(v.alerts)} alerts"
        )
        self.reports.clear()
        for r in v.reports:
            status = f"duplicate of {r.duplicate_of}" if r.duplicate_of else r.status
            item = QTreeWidgetItem(
                [
                    r.report_id,
                    rules.category_label(r.category),
                    status,
                    " ".join(r.text.split()),
                ]
            )
            item.setData(0, _ROLE, r.report_id)
            item.setToolTip(3, plain_tooltip(r.text))
            self.reports.addTopLevelItem(item)
        self.chat.setPlainText(
            "\n".join(
                f"{_clock(c.sent_at)}  {c.report_id}  "
                f"{c.author if c.sender == 'officer' else c.author + ' (citizen)'}: {c.text}"
                for c in v.chat
            )
            or "No chat on this incident's reports yet."
        )
        self.alerts.clear()
        for a in v.alerts:
            reached = f"<{a.fewer_than}" if a.fewer_than else str(a.recipients)
            self.alerts.addTopLevelItem(
                QTreeWidgetItem([_clock(a.sent_at), a.state, a.info.headline, reached])
            )
        self.timeline.clear()
        for e in v.timeline:
            item = QTreeWidgetItem([_clock(e.at), e.text])
            item.setData(0, _ROLE, e.report_id)
            item.setToolTip(1, plain_tooltip(e.text))
            self.timeline.addTopLevelItem(item)

    # ------------------------------------------------------------ internals

    def _tick(self) -> None:
        """The feed's selection moves without telling this dock: follow it here."""
        self.incident_actions.update_enabled()
        self.redraw()

    def _load(self) -> None:
        cache: Any = self.session.cache
        known: list[IncidentInfo] = []
        if cache is not None and hasattr(cache, "incidents"):
            try:
                known = [
                    IncidentInfo(i.incident_ref, i.title, i.opened_by, i.opened_at)
                    for i in cache.incidents()
                ]
            except Exception:  # a stand-in cache (tests) or an unreadable one: live events only
                known = []
        self.model.load(known, self.session.reports.values(), self.session.alerts.values())

    def _history_lost(self, _alert_ids: frozenset[str]) -> None:
        self.model.clear()

    def _event(self, event: m.Msg) -> None:
        self.model.apply(event)
        if (
            isinstance(event, m.IncidentOpened)
            and event.by == self.session.username
            and event.title in self._awaiting
        ):
            self._awaiting.remove(event.title)
            self.select_incident(event.incident_ref)  # the one just asked for: show it

    def _current_targets(self) -> list[m.Report]:
        return [r for r in self._targets() if r is not None]

    def _incident_chosen(self, item: QTreeWidgetItem | None, _prev: object = None) -> None:
        self._selected = None if item is None else item.data(0, _ROLE)
        self._show_selected()
        self.alert_button.setEnabled(
            self._selected is not None and rules.may_send(self.session.role, m.AlertSend)
        )

    def _report_activated(self, item: QTreeWidgetItem, _col: int = 0) -> None:
        rid = item.data(0, _ROLE)
        if rid:
            self.open_report.emit(str(rid))

    def _alert(self) -> None:
        if self._selected is not None:
            self.alert_for_incident.emit(self._selected)
