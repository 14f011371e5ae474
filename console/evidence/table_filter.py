"""A search box over a table pane: rows whose chosen columns do not hold the typed text
(case-insensitive) are hidden. A row may also carry text it is searched by but does not
show (`SEARCH_ROLE` on its first cell, e.g. an alert's description). The text is only
compared, never shown as markup."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QTableWidget, QVBoxLayout, QWidget

#: on a row's first cell: more text the row is found by (not shown)
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 20


class FilteredTable(QWidget):
    """`table` under a search box that filters its rows on `columns` (call `apply` after
    refilling the table)."""

    def __init__(self, table: QTableWidget, columns: Sequence[int], hint: str) -> None:
        super().__init__()
        self.table = table
        self.columns = tuple(columns)
        self.search = QLineEdit()
        self.search.setPlaceholderText(hint)
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _t: self.apply())
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.search)
        lay.addWidget(table, 1)

    def apply(self) -> None:
        needle = self.search.text().strip().lower()
        for row in range(self.table.rowCount()):
            first = self.table.item(row, 0)
            extra = first.data(SEARCH_ROLE) if first is not None else None
            hay = " ".join(
                [item.text() for c in self.columns if (item := self.table.item(row, c)) is not None]
                + [extra if isinstance(extra, str) else ""]
            ).lower()
            self.table.setRowHidden(row, bool(needle) and needle not in hay)

    def shown_rows(self) -> list[int]:
        return [r for r in range(self.table.rowCount()) if not self.table.isRowHidden(r)]
