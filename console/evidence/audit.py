"""The audit trail of the selected item: who did what to it, when, from the package's
hash-chained extract (its chain is checked by the verifier, not here)."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem

from console.evidence.model import AuditRecord

_COLUMNS = ("Seq", "Time (UTC)", "Actor", "Action", "Detail")


class AuditTrailWidget(QTableWidget):
    def __init__(self) -> None:
        super().__init__(0, len(_COLUMNS))
        self.setHorizontalHeaderLabels(list(_COLUMNS))
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(
            len(_COLUMNS) - 1, QHeaderView.ResizeMode.Stretch
        )

    def show_records(self, records: list[AuditRecord]) -> None:
        self.setRowCount(len(records))
        for row, r in enumerate(records):
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.at))
            # QTableWidgetItem shows text as text: officers' and citizens' words stay inert
            for col, text in enumerate((str(r.seq), when, r.actor, r.action, r.detail)):
                item = QTableWidgetItem(text)
                item.setToolTip(text if col == len(_COLUMNS) - 1 else "")
                self.setItem(row, col, item)
        self.resizeColumnsToContents()
