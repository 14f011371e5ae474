"""One table model for every list of rows in a plan (days, groups, acts, injects...).

Each table is a list of dicts in `PlanEdit`'s data and a list of `Column`s saying which
key each column shows and how it is edited; setting a cell is one `PlanEdit.set`. Text is
shown as item-view text, which Qt never renders as HTML.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTime,
    Signal,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QSpinBox,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTimeEdit,
    QWidget,
)

from console.pilots.plan_edit import Path_, PlanEdit
from console.pilots.text import plain_tip

Row = dict[str, Any]
Index = QModelIndex | QPersistentModelIndex
NOT_APPLICABLE = "—"


class PlanDocument(QObject):
    """The Qt face of a `PlanEdit`: `changed` after every edit (and after a save)."""

    changed = Signal()

    def __init__(self, edit: PlanEdit) -> None:
        super().__init__()
        self.edit = edit
        edit.subscribe(self.changed.emit)


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    #: text, int, float, date, time, choice, list (comma-separated), minutes (of seconds)
    kind: str = "text"
    choices: Callable[[Row], list[str]] | None = None
    applies: Callable[[Row], bool] = lambda row: True
    #: an empty value removes the key (the field's default)
    optional: bool = False
    editable: bool = True
    #: read and write through these instead of `key` (e.g. an inject's clock time)
    read: Callable[[Row], Any] | None = None
    write: Callable[[Row, Any], tuple[str, Any]] | None = None
    tip: str = ""
    minimum: float = 0.0
    maximum: float = 1_000_000.0


class RecordsModel(QAbstractTableModel):
    def __init__(self, document: PlanDocument, table: Path_, columns: list[Column]) -> None:
        super().__init__()
        self.document = document
        self.table: Path_ | None = table
        self.columns = columns
        self._count = len(self.rows())
        document.changed.connect(self.refresh)

    @property
    def edit(self) -> PlanEdit:
        return self.document.edit

    def rows(self) -> list[Row]:
        return self.edit.rows(self.table) if self.table is not None else []

    def set_table(self, table: Path_ | None) -> None:
        self.beginResetModel()
        self.table = table
        self._count = len(self.rows())
        self.endResetModel()

    def refresh(self) -> None:
        count = len(self.rows())
        if count != self._count:
            self.beginResetModel()
            self._count = count
            self.endResetModel()
        elif count:
            self.dataChanged.emit(self.index(0, 0), self.index(count - 1, len(self.columns) - 1))

    def column_of(self, key: str | None) -> int:
        return next((n for n, c in enumerate(self.columns) if c.key == key), 0)

    # ------------------------------------------------------------ the model

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            c = self.columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return c.header
            if role == Qt.ItemDataRole.ToolTipRole and c.tip:
                return c.tip
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return str(section + 1)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        row = self._row(index)
        if row is None:
            return Qt.ItemFlag.NoItemFlags
        c = self.columns[index.column()]
        if c.applies(row) and c.editable:
            base |= Qt.ItemFlag.ItemIsEditable
        return base

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self._row(index)
        if row is None:
            return None
        c = self.columns[index.column()]
        if not c.applies(row):
            if role == Qt.ItemDataRole.DisplayRole:
                return NOT_APPLICABLE
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{c.header} does not apply to this row"
            return None
        value = c.read(row) if c.read else row.get(c.key)
        if role == Qt.ItemDataRole.DisplayRole:
            return _shown(c, value)
        if role == Qt.ItemDataRole.EditRole:
            return _editable(c, value)
        if role == Qt.ItemDataRole.ToolTipRole and c.kind == "text" and isinstance(value, str):
            return plain_tip(value) if len(value) > 40 else None
        if role == Qt.ItemDataRole.TextAlignmentRole and c.kind in ("int", "float", "minutes"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        row = self._row(index)
        if row is None or role != Qt.ItemDataRole.EditRole or self.table is None:
            return False
        c = self.columns[index.column()]
        stored = _stored(c, value)
        key = c.key
        if c.write is not None:
            key, stored = c.write(row, stored)
        if c.optional and stored in ("", [], None):
            stored = None
        self.edit.set((*self.table, index.row(), key), stored)
        return True

    def _row(self, index: Index) -> Row | None:
        rows = self.rows()
        if not index.isValid() or not 0 <= index.row() < len(rows):
            return None
        return rows[index.row()]


def _shown(c: Column, value: Any) -> str:
    if value is None:
        return ""
    if c.kind == "time" and isinstance(value, dt.time):
        return value.strftime("%H:%M") if not value.second else value.strftime("%H:%M:%S")
    if c.kind == "date" and isinstance(value, dt.date):
        return value.strftime("%a %d %b %Y")
    if c.kind == "minutes" and isinstance(value, int | float):
        return f"{value / 60:g}"
    if c.kind == "float" and isinstance(value, float):
        return f"{value:g}"
    if c.kind == "list" and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _editable(c: Column, value: Any) -> Any:
    if c.kind == "time":
        return QTime(value.hour, value.minute, value.second) if value else QTime(9, 0)
    if c.kind == "date":
        return QDate(value.year, value.month, value.day) if value else QDate.currentDate()
    if c.kind == "minutes":
        return float(value or 0) / 60.0
    if c.kind == "int":
        return int(value or 0)
    if c.kind == "float":
        return float(value or 0.0)
    if c.kind == "list":
        return ", ".join(str(v) for v in value or [])
    return "" if value is None else str(value)


def _stored(c: Column, value: Any) -> Any:
    if c.kind == "time" and isinstance(value, QTime):
        return dt.time(value.hour(), value.minute(), value.second())
    if c.kind == "date" and isinstance(value, QDate):
        return dt.date(value.year(), value.month(), value.day())
    if c.kind == "minutes":
        return round(float(value) * 60.0, 3)
    if c.kind == "int":
        return int(value)
    if c.kind == "float":
        return float(value)
    if c.kind == "list":
        return [p.strip() for p in str(value).split(",") if p.strip()]
    return str(value)


class RecordsDelegate(QStyledItemDelegate):
    """Editors for a `RecordsModel`'s columns: choices as a list, times as HH:MM."""

    def __init__(self, model: RecordsModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model

    def createEditor(  # noqa: N802
        self, parent: QWidget, option: QStyleOptionViewItem, index: Index
    ) -> QWidget:
        c = self.model.columns[index.column()]
        row = self.model._row(index) or {}
        if c.kind == "choice" and c.choices is not None:
            combo = QComboBox(parent)
            options = c.choices(row)
            if c.optional and "" not in options:
                options = ["", *options]
            current = str(c.read(row) if c.read else row.get(c.key) or "")
            if current and current not in options:
                options = [current, *options]
            combo.addItems(options)
            return combo
        if c.kind == "time":
            edit = QTimeEdit(parent)
            edit.setDisplayFormat("HH:mm:ss")
            return edit
        if c.kind == "date":
            date = QDateEdit(parent)
            date.setDisplayFormat("yyyy-MM-dd")
            date.setCalendarPopup(True)
            return date
        if c.kind == "int":
            spin = QSpinBox(parent)
            spin.setRange(int(-c.maximum), int(c.maximum))
            return spin
        if c.kind in ("float", "minutes"):
            dspin = QDoubleSpinBox(parent)
            dspin.setRange(-c.maximum, c.maximum)
            dspin.setDecimals(2)
            return dspin
        return super().createEditor(parent, option, index)

    def setEditorData(self, editor: QWidget, index: Index) -> None:  # noqa: N802
        if isinstance(editor, QComboBox):
            editor.setCurrentText(str(index.data(Qt.ItemDataRole.EditRole) or ""))
            return
        super().setEditorData(editor, index)

    def setModelData(self, editor: QWidget, model: Any, index: Index) -> None:  # noqa: N802
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)
            return
        super().setModelData(editor, model, index)
