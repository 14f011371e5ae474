"""The Report dock's History and Notes tabs: what happened to the report, and the
officers' internal notes on it (officer-only: never shown to the reporter).

Both are filled from one `report.history` reply (the detail widget asks for it); new
notes arrive as `report.noted` events. Notes are written through the outbox
(`session.submit`), so one saved while the link is down goes once it is back. Every
text here is shown as plain text: tree and list items never render HTML, and the editor
is a QPlainTextEdit.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from backend_client import messages as m
from console.common.labels import plain_label, plain_tooltip
from console.detail.model import history_row, note_heading, note_problem

INTERNAL_TEXT = "Internal — never shown to the reporter"


class HistoryPane(QWidget):
    """Who did what to the report, oldest first: time, officer, what."""

    def __init__(self) -> None:
        super().__init__()
        self.message = plain_label("", selectable=False)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["When", "Who", "What"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setWordWrap(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setStretchLastSection(True)
        # the two short columns are fitted once per fill (`_fit`), not on every change;
        # "What" gets the rest of a narrow dock
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.message)
        lay.addWidget(self.tree, 1)

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def clear(self) -> None:
        self.tree.clear()

    def set_entries(self, entries: list[m.HistoryEntry], omitted: int) -> None:
        self.tree.clear()
        for e in entries:
            self._add(e)
        self._fit()
        self.show_message(f"{omitted} older entries are not shown." if omitted else "")
        last = self.tree.topLevelItem(self.tree.topLevelItemCount() - 1)
        if last is not None:
            self.tree.scrollToItem(last)

    def add(self, entry: m.HistoryEntry) -> None:
        self._add(entry)
        self._fit()

    def _fit(self) -> None:
        """When and Who as wide as their longest value (at most HISTORY_MAX_ENTRIES rows)."""
        for column in (0, 1):
            self.tree.resizeColumnToContents(column)

    def rows(self) -> list[tuple[str, str, str]]:
        out = []
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item is not None:
                out.append((item.text(0), item.text(1), item.text(2)))
        return out

    def _add(self, e: m.HistoryEntry) -> None:
        when, who, what = history_row(e)
        item = QTreeWidgetItem([when, who, what])
        item.setToolTip(2, plain_tooltip(what))
        self.tree.addTopLevelItem(item)


class NoteEditor(QPlainTextEdit):
    """The note box: Ctrl+Enter saves (Enter alone is a new line)."""

    save_requested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt naming
        ctrl = event.modifiers() & Qt.KeyboardModifier.ControlModifier
        if ctrl and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.save_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class NotesPane(QWidget):
    """The notes on the report, oldest first, and a box to add one."""

    save_requested = Signal(str)  # the note's text, checked

    def __init__(self) -> None:
        super().__init__()
        self.notes: dict[str, m.Note] = {}
        self.banner = plain_label(INTERNAL_TEXT, selectable=False)
        self.banner.setStyleSheet(
            "background: #6c4a00; color: #fff3d6; padding: 3px 6px; border-radius: 3px;"
        )
        self.banner.setToolTip(
            "Notes are for officers only: the relay never sends them to the citizen, and "
            "each one is recorded in the audit log (by id and length, not its text)."
        )
        self.message = plain_label("", selectable=False)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        # short minimums: the Report dock shares its height with the chat at 1280x800
        self.list.setMinimumHeight(40)
        self.editor = NoteEditor()
        self.editor.setMinimumHeight(44)
        self.editor.setPlaceholderText("Add an internal note… (Ctrl+Enter saves)")
        self.editor.setTabChangesFocus(True)
        self.editor.setMaximumHeight(90)
        self.counter = plain_label("", selectable=False, wrap=False, shrink=False)
        self.save_button = QPushButton("Save note")
        self.save_button.setAutoDefault(False)
        self.save_button.setToolTip("Save the note for the officers (Ctrl+Enter)")
        self.save_button.clicked.connect(self.save)
        self.editor.textChanged.connect(self._check)
        self.editor.save_requested.connect(self.save)
        row = QHBoxLayout()
        row.addWidget(self.counter, 1)
        row.addWidget(self.save_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.banner)
        lay.addWidget(self.message)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.editor)
        lay.addLayout(row)
        self._check()

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def clear(self) -> None:
        self.notes.clear()
        self.list.clear()
        self.editor.clear()
        self.show_message("")

    def set_notes(self, notes: list[m.Note], omitted: int = 0) -> None:
        self.notes.clear()
        self.list.clear()
        for n in notes:
            self.add(n)
        self.show_message(f"{omitted} older notes are not shown." if omitted else "")

    def add(self, note: m.Note) -> bool:
        """Show a note once (the reply and the event both bring it); False if known."""
        if note.note_id in self.notes:
            return False
        self.notes[note.note_id] = note
        item = QListWidgetItem(f"{note_heading(note)}\n{note.text}")
        item.setData(Qt.ItemDataRole.UserRole, note.note_id)
        self.list.addItem(item)
        self.list.scrollToBottom()
        return True

    def texts(self) -> list[str]:
        return [n.text for n in self.notes.values()]

    def save(self) -> None:
        text = self.editor.toPlainText().strip()
        if note_problem(text) is not None:
            return
        self.save_requested.emit(text)
        self.editor.clear()

    def _check(self) -> None:
        text = self.editor.toPlainText()
        problem = note_problem(text.strip())
        self.save_button.setEnabled(problem is None)
        self.counter.setText(f"{len(text)} / {m.NOTE_MAX_CHARS}")
        self.counter.setStyleSheet("color: #e5534b;" if len(text) > m.NOTE_MAX_CHARS else "")
        self.save_button.setToolTip(problem or "Save the note for the officers (Ctrl+Enter)")
