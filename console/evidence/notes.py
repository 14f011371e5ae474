"""The Notes pane: the analyst's notes, tags and bookmarks on the selected report, one of
its media items, or the time range brushed on the timeline, saved in the sidecar beside
the package (never in it). What is in force for the selection is listed as plain text:
citizens' and analysts' words may hold markup and stay inert."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.evidence.notebook import Notebook, Target, describe
from console.theme import current
from evidence.sidecar import SidecarError

_KINDS = (("note", "Add note"), ("tag", "Add tag"), ("bookmark", "Bookmark"))


def _plain(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


class NotesWidget(QWidget):
    #: a note, tag, bookmark or retraction was saved
    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.notebook: Notebook | None = None
        self.targets: list[Target] = []
        self.status = _plain("Opening the notes…")
        self.about = QComboBox()
        self.about.currentIndexChanged.connect(lambda _i: self.refresh())
        self.listing = QListWidget()
        self.listing.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("A note, a tag, or a bookmark's label")
        self.text.setMaximumHeight(48)
        self.error = _plain()
        self.error.hide()
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for kind, title in _KINDS:
            button = QPushButton(title)
            button.clicked.connect(lambda _c=False, k=kind: self.add(k))
            self.buttons[kind] = button
            row.addWidget(button)
        self.retract_button = QPushButton("Retract")
        self.retract_button.setToolTip("Withdraw the selected annotation (the file keeps it)")
        self.retract_button.clicked.connect(self.retract_selected)
        row.addWidget(self.retract_button)
        about_row = QHBoxLayout()
        about_row.addWidget(QLabel("About:"))
        about_row.addWidget(self.about, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.status)
        lay.addLayout(about_row)
        lay.addWidget(self.listing, 1)
        lay.addWidget(self.text)
        lay.addLayout(row)
        lay.addWidget(self.error)
        self._set_enabled(False)

    def set_notebook(self, notebook: Notebook) -> None:
        self.notebook = notebook
        if notebook.error is not None:
            self.status.setText(f"READ-ONLY: {notebook.error}")
            self.status.setStyleSheet(f"color: {current()['danger']}; font-weight: bold;")
        else:
            who = notebook.sidecar.who if notebook.sidecar is not None else ""
            self.status.setText(f"Notes by {who}, kept beside the package (never in it)")
            self.status.setToolTip(str(notebook.path))
        self._set_enabled(notebook.writable)
        self.refresh()

    def set_targets(self, targets: list[Target]) -> None:
        """What the selection offers to annotate; keeps the current one if it is still there."""
        keep = self.current_target()
        self.targets = list(targets)
        self.about.blockSignals(True)
        self.about.clear()
        for t in self.targets:
            self.about.addItem(t.label)
        if keep in self.targets:
            self.about.setCurrentIndex(self.targets.index(keep))
        elif keep is not None:  # a brush moved: stay on a time range, a media item...
            same = [i for i, t in enumerate(self.targets) if t.type == keep.type]
            if same:
                self.about.setCurrentIndex(same[0])
        self.about.blockSignals(False)
        self.refresh()

    def choose(self, target: Target) -> None:
        self.about.setCurrentIndex(self.targets.index(target))

    def current_target(self) -> Target | None:
        i = self.about.currentIndex()
        return self.targets[i] if 0 <= i < len(self.targets) else None

    def refresh(self) -> None:
        self.listing.clear()
        target = self.current_target()
        if self.notebook is None or target is None:
            return
        for record in self.notebook.in_force(target):
            item = QListWidgetItem(describe(record))  # an item's text is shown as text
            item.setData(Qt.ItemDataRole.UserRole, int(record["seq"]))
            self.listing.addItem(item)
        if not self.listing.count():
            self.listing.addItem(QListWidgetItem("Nothing noted about this yet."))

    def add(self, kind: str) -> None:
        target = self.current_target()
        if self.notebook is None or target is None:
            return self._say("Select a report or brush a time range first.")
        try:
            self.notebook.add(kind, target, self.text.toPlainText())
        except (SidecarError, OSError) as exc:
            return self._say(f"Not saved: {exc}")
        self.text.clear()
        self._say("")
        self.refresh()
        self.changed.emit()

    def retract_selected(self) -> None:
        item = self.listing.currentItem()
        seq = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if self.notebook is None or seq is None:
            return self._say("Select the annotation to retract.")
        try:
            self.notebook.retract(int(seq))
        except (SidecarError, OSError) as exc:
            return self._say(f"Not retracted: {exc}")
        self._say("")
        self.refresh()
        self.changed.emit()

    def _say(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def _set_enabled(self, on: bool) -> None:
        for widget in (*self.buttons.values(), self.retract_button, self.text):
            widget.setEnabled(on)
