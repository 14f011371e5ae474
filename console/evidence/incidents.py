"""The package's incidents: reference, title, status, how many of its reports the package
holds. Selecting one narrows the Reports list to its reports; "All reports" widens it.

Statuses come from the package's audit extract (the last `incident.*` action naming the
incident, e.g. `incident.close`), else "open". Every cell is a plain-text table item: an
officer's incident title is shown as typed, never as markup.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from console.evidence.model import Package

_COLUMNS = ("Incident", "Title", "Status", "Reports")
_REF_ROLE = Qt.ItemDataRole.UserRole + 1


def incident_reports(package: Package) -> dict[str, frozenset[str]]:
    """Each incident's report ids, as the reports themselves say (`incident_ref`)."""
    out: dict[str, set[str]] = {i.incident_ref: set() for i in package.incidents}
    for r in package.reports:
        if r.incident_ref:
            out.setdefault(r.incident_ref, set()).add(r.report_id)
    return {ref: frozenset(ids) for ref, ids in out.items()}


def incident_status(package: Package, ref: str) -> str:
    status = "open"
    for a in package.audit:
        if a.subject == ref and a.action.startswith("incident.") and a.action != "incident.create":
            status = a.action.removeprefix("incident.")
    return status


class IncidentsWidget(QWidget):
    #: the report ids of the chosen incident, or None for every report
    narrowed = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.reports_of: dict[str, frozenset[str]] = {}
        self.table = QTableWidget(0, len(_COLUMNS))
        self.table.setHorizontalHeaderLabels(list(_COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._chosen)
        self.note = QLabel("")
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.all_button = QPushButton("All reports")
        self.all_button.setToolTip("Show every report again, whatever incident it is in")
        self.all_button.clicked.connect(self.table.clearSelection)
        bar = QHBoxLayout()
        bar.addWidget(self.note, 1)
        bar.addWidget(self.all_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.table, 1)

    def set_package(self, package: Package) -> None:
        self.reports_of = incident_reports(package)
        titles = {i.incident_ref: i.title for i in package.incidents}
        refs = sorted(self.reports_of)
        self.table.setRowCount(len(refs))
        for row, ref in enumerate(refs):
            cells = (
                ref,
                titles.get(ref, "(not in the package)"),
                incident_status(package, ref),
                str(len(self.reports_of[ref])),
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(_REF_ROLE, ref)
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        self.note.setText(f"{len(refs)} incident(s) in this package")

    def select_incident(self, ref: str | None) -> None:
        if ref is None:
            self.table.clearSelection()
            return
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(_REF_ROLE) == ref:
                self.table.selectRow(row)
                return

    def chosen(self) -> str | None:
        items = self.table.selectedItems()
        return str(items[0].data(_REF_ROLE)) if items else None

    def _chosen(self) -> None:
        ref = self.chosen()
        self.narrowed.emit(None if ref is None else self.reports_of.get(ref, frozenset()))
