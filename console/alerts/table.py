"""The Qt face of `AlertBook`: a table model, and a delegate that paints state chips and
delivered/read progress bars."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRectF,
    Qt,
)
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from backend_client import messages as m
from console.alerts.model import AlertBook, AlertRow, emails_text, emails_tooltip, when
from console.common.exercise import EXERCISE_COLOUR

STATE_COLOURS = {
    "pending_approval": "#d29922",
    "active": "#347d39",
    "cancelled": "#768390",
    "expired": "#545d68",
    "rejected": "#c93c37",
}
COLUMNS = ("State", "Headline", "Reach", "Delivered", "Read", "Emails", "Sent", "Expires", "By")
STATE, HEADLINE, REACH, DELIVERED, READ, EMAILS, SENT, EXPIRES, BY = range(len(COLUMNS))
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
FRACTION_ROLE = Qt.ItemDataRole.UserRole + 2

_Index = QModelIndex | QPersistentModelIndex


class AlertTableModel(QAbstractTableModel):
    def __init__(self, book: AlertBook | None = None) -> None:
        super().__init__()
        self.book = book or AlertBook()

    def upsert(self, alert: m.Alert) -> int:
        row, new = self.book.place(alert)
        if new:  # the view hears about the row before the data moves
            self.beginInsertRows(QModelIndex(), row, row)
            self.book.upsert(alert)
            self.endInsertRows()
        else:
            self.book.upsert(alert)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
        return row

    def clear(self) -> None:
        """Every row goes (the relay lost the history they came from)."""
        self.beginResetModel()
        self.book = AlertBook()
        self.endResetModel()

    def refresh(self) -> None:
        """Times and expiry move on without events: repaint every row."""
        if len(self.book):
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self.book) - 1, len(COLUMNS) - 1)
            )

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.book)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(  # noqa: N802 - Qt naming
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        now = time.time()
        r = self.book.row(index.row(), now)
        col = index.column()
        if role == ROW_ROLE:
            return r
        if role == FRACTION_ROLE:
            return {DELIVERED: r.delivered_fraction, READ: r.read_fraction}.get(col)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(r, col, now)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(r, col)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (REACH, DELIVERED, READ, EMAILS):
            return int(Qt.AlignmentFlag.AlignCenter)
        return None

    @staticmethod
    def _text(r: AlertRow, col: int, now: float) -> str:
        if col == STATE:
            label = r.state_label if r.msg_type == "Alert" else f"{r.state_label} ({r.msg_type})"
            return f"{r.rehearsal} · {label}" if r.rehearsal else label
        if col == HEADLINE:
            # a rehearsal says so before its headline, in words (the chip is also striped)
            return f"[{r.marking}] {r.headline}" if r.marking else r.headline
        if col == EMAILS:
            return emails_text(r)
        if r.fewer_than is not None and col in (REACH, DELIVERED, READ):
            return f"< {r.fewer_than}" if col == REACH else "–"
        if col == REACH:
            return str(r.recipients)
        if col == DELIVERED:
            return f"{r.delivered} / {r.recipients}"
        if col == READ:
            return f"{r.read} / {r.recipients}"
        if col == SENT:
            return when(r.sent_at, now)
        if col == EXPIRES:
            return when(r.expires_at, now)
        if col == BY:
            return f"{r.sender}, approved by {r.approved_by}" if r.approved_by else r.sender
        return ""

    @staticmethod
    def _tooltip(r: AlertRow, col: int) -> str | None:
        if col == EMAILS:
            return emails_tooltip(r)
        if r.fewer_than is not None and col in (REACH, DELIVERED, READ):
            return (
                f"Reaches fewer than {r.fewer_than} phones: the relay does not count "
                "so few, so that no alert can locate one phone"
            )
        if col == DELIVERED:
            return f"{r.delivered} of {r.recipients} phones have received it"
        if col == READ:
            return f"{r.read} of {r.recipients} phones have opened it"
        if col == STATE and r.rehearsal:
            return f"{r.marking}: a rehearsal, not a real alert"
        if col == STATE and r.state == "pending_approval":
            return "Waiting for a supervisor other than the sender to approve it"
        if col == HEADLINE:
            return (
                f"{r.marking}: a rehearsal, not a real alert\n{r.headline}"
                if r.marking
                else r.headline
            )
        return None


class AlertDelegate(QStyledItemDelegate):
    """State as a coloured chip; delivered and read as progress bars with counts."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        col = index.column()
        if col == STATE:
            self._chip(painter, option, index)
        elif col in (DELIVERED, READ):
            self._bar(painter, option, index)
        else:
            super().paint(painter, option, index)

    def _chip(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        row: AlertRow = index.data(ROW_ROLE)
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter)
        text = str(index.data(Qt.ItemDataRole.DisplayRole))
        rect = QRectF(option.rect).adjusted(4, 4, -4, -4)
        width = min(rect.width(), option.fontMetrics.horizontalAdvance(text) + 16)
        chip = QRectF(rect.left(), rect.top(), width, rect.height())
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(STATE_COLOURS.get(row.state, "#768390")))
        painter.drawRoundedRect(chip, chip.height() / 2, chip.height() / 2)
        if row.rehearsal:  # a yellow dashed outline besides the words
            painter.setPen(QPen(QColor(EXERCISE_COLOUR), 2, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(chip, chip.height() / 2, chip.height() / 2)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(chip, int(Qt.AlignmentFlag.AlignCenter), text)
        painter.restore()

    def _bar(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        frac = float(index.data(FRACTION_ROLE) or 0.0)
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(3, 3, -3, -3)
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = round(frac * 1000)
        bar.text = f"{index.data(Qt.ItemDataRole.DisplayRole)}  ({frac:.0%})"
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        bar.palette = option.palette
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter)
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)
