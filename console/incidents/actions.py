"""The incident actions on a report: new incident, link, unlink, merge as duplicates.

`IncidentActions` holds four QActions over whichever reports `targets()` returns (the
feed's selection), so the same actions sit in the feed's context menu and on the Incidents
dock's buttons. Each goes through `session.submit()` (the durable outbox); what changed
arrives as the relay's `report.updated` events, never optimistically. The relay decides
(roles, held reports, live and exercise kept apart); the console only asks.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from backend_client import messages as m
from backend_client import rules
from console.common.labels import plain_label
from console.incidents.model import (
    IncidentsModel,
    duplicate_candidates,
    linkable,
    suggested_title,
)
from console.session import ConsoleSession

Targets = Callable[[], list[m.Report]]


class IncidentActions(QObject):
    """New / Link… / Unlink / Merge as duplicates…, acting on `targets()`."""

    #: an action was not sent; the reason, in the officer's words
    refused = Signal(str)
    #: this console asked for a new incident with this title (the dock selects it when
    #: the relay's `incident.opened` comes back)
    created = Signal(str)

    def __init__(
        self,
        session: ConsoleSession,
        model: IncidentsModel,
        targets: Targets,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.model = model
        self.targets = targets
        self._parent = parent
        self.new_incident = QAction("New incident from report…", self)
        self.new_incident.setToolTip("Open an incident and link the selected report to it")
        self.link = QAction("Link to incident…", self)
        self.link.setToolTip("Link the selected report to an open incident")
        self.unlink = QAction("Unlink from incident", self)
        self.unlink.setToolTip(
            "Take the report out of its incident (a merged duplicate is reopened)"
        )
        self.merge = QAction("Merge as duplicates…", self)
        self.merge.setToolTip(
            "Choose reports that repeat this one: they are linked to its incident and "
            "closed as its duplicates (Unlink undoes it)"
        )
        self.new_incident.triggered.connect(self.ask_new_incident)
        self.link.triggered.connect(self.ask_link)
        self.unlink.triggered.connect(self.unlink_targets)
        self.merge.triggered.connect(self.ask_merge)

    def all(self) -> list[QAction]:
        return [self.new_incident, self.link, self.unlink, self.merge]

    def add_to_menu(self, menu: QMenu, *_ignored: object) -> None:
        """The feed's context-menu hook: a separator and the four actions."""
        self.update_enabled()
        menu.addSeparator()
        for action in self.all():
            menu.addAction(action)

    def update_enabled(self) -> None:
        reports = self.targets()
        working = rules.may_send(self.session.role, m.ReportLink)
        some = bool(reports) and working
        self.new_incident.setEnabled(some)
        self.link.setEnabled(some and bool(self.model.refs()))
        self.unlink.setEnabled(working and any(r.incident_ref or r.duplicate_of for r in reports))
        self.merge.setEnabled(some)

    # ------------------------------------------------------------ the actions

    def create_incident(self, title: str, reports: list[m.Report]) -> bool:
        title = title.strip()
        if not title or not self._allowed(reports):
            return False
        ids = [r.report_id for r in reports][: m.MERGE_IDS_MAX]
        self.session.submit(m.IncidentCreate(id="", idem="", title=title, report_ids=ids))
        self.created.emit(title)
        return True

    def link_to(self, incident_ref: str, reports: list[m.Report]) -> bool:
        if not self._allowed([*reports, *self.model.reports_of(incident_ref)]):
            return False
        for r in reports:
            if r.incident_ref != incident_ref:
                self.session.submit(
                    m.ReportLink(id="", idem="", report_id=r.report_id, incident_ref=incident_ref)
                )
        return True

    def unlink_targets(self) -> None:
        for r in self.targets():
            if r.incident_ref or r.duplicate_of:
                self.session.submit(m.ReportUnlink(id="", idem="", report_id=r.report_id))

    def merge_into(self, primary: m.Report, duplicates: list[m.Report]) -> bool:
        dups = [r for r in duplicates if r.report_id != primary.report_id]
        if not dups:
            self.refused.emit("Choose at least one report that repeats the primary.")
            return False
        if not self._allowed([primary, *dups]):
            return False
        self.session.submit(
            m.ReportMerge(
                id="",
                idem="",
                into=primary.report_id,
                report_ids=[r.report_id for r in dups][: m.MERGE_IDS_MAX],
                incident_ref=primary.incident_ref,
            )
        )
        return True

    # ------------------------------------------------------------ dialogs

    def ask_new_incident(self) -> None:
        reports = self._need()
        if not reports:
            return
        title, ok = QInputDialog.getText(
            self._parent,
            "New incident",
            f"Title of the incident for {', '.join(r.report_id for r in reports[:3])}:",
            text=suggested_title(reports[0]),
        )
        if ok:
            self.create_incident(title, reports)

    def ask_link(self) -> None:
        reports = self._need()
        if not reports:
            return
        choices = [f"{ref} — {self.model.info(ref).title}" for ref in self.model.refs()]
        if not choices:
            self.refused.emit("No incident is open yet: use New incident from report.")
            return
        current = reports[0].incident_ref
        start = next((i for i, c in enumerate(choices) if current and c.startswith(current)), 0)
        choice, ok = QInputDialog.getItem(
            self._parent, "Link to incident", "Incident:", choices, start, False
        )
        if ok and choice:
            self.link_to(choice.split(" — ", 1)[0], reports)

    def ask_merge(self) -> MergeDialog | None:
        reports = self._need()
        if not reports:
            return None
        primary = reports[0]
        pool = duplicate_candidates(primary, self.session.reports.values())
        dialog = MergeDialog(primary, pool, [r.report_id for r in reports[1:]], self._parent)
        dialog.accepted.connect(lambda: self.merge_into(primary, dialog.chosen()))
        dialog.open()
        return dialog

    # ------------------------------------------------------------ internals

    def _need(self) -> list[m.Report]:
        reports = self.targets()
        if not reports:
            self.refused.emit("Select a report first.")
        return reports

    def _allowed(self, reports: list[m.Report]) -> bool:
        role = self.session.role
        if not rules.may_send(role, m.ReportLink):
            self.refused.emit(f"Your role ({role}) reads reports; it cannot link them.")
            return False
        why = linkable(reports)
        if why is not None:
            self.refused.emit(why)
            return False
        return True


class MergeDialog(QDialog):
    """Tick the reports that repeat the primary: best candidates first."""

    def __init__(
        self,
        primary: m.Report,
        candidates: list[m.Report],
        preselected: list[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Merge duplicates of {primary.report_id}")
        self.resize(560, 420)
        lay = QVBoxLayout(self)
        where = f" in {primary.incident_ref}" if primary.incident_ref else " in a new incident"
        lay.addWidget(
            plain_label(
                f"Primary: {primary.report_id} ({rules.category_label(primary.category)}) — "
                f"{' '.join(primary.text.split())[:120]}\n"
                f"The reports ticked below are linked{where} and closed as its duplicates "
                "(Unlink reopens one)."
            )
        )
        self.list = QListWidget()
        chosen = set(preselected)
        for r in candidates:
            words = " ".join(r.text.split())
            item = QListWidgetItem(
                f"{r.report_id}  {rules.category_label(r.category)}  {r.status}  {words[:90]}"
            )
            item.setData(Qt.ItemDataRole.UserRole, r)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Checked if r.report_id in chosen else Qt.CheckState.Unchecked
            )
            self.list.addItem(item)
        if not candidates:
            lay.addWidget(plain_label("No open report of the same kind of traffic to merge."))
        lay.addWidget(self.list, 1)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Merge")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def chosen(self) -> list[m.Report]:
        out = []
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(item.data(Qt.ItemDataRole.UserRole))
        return out

    def tick(self, report_id: str) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole).report_id == report_id:
                item.setCheckState(Qt.CheckState.Checked)
