"""The Help menu's windows: the dispatcher's guide (our own Markdown, rendered by Qt), the
keyboard shortcuts (read from the window's actions, never a hand-kept list) and About."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import (
    QAction,
    QDesktopServices,
    QImageReader,
    QKeySequence,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from console.help.model import shortcut_rows

#: the guide's window screenshots are 1600 px wide: shown at this width (height to scale)
IMAGE_WIDTH = 820


def fit_images(doc: QTextDocument, width: int) -> int:
    """Show every image of `doc` wider than `width` pixels at that width (Qt keeps the
    aspect ratio when only the width is given); a narrower one (a dialog's screenshot)
    keeps its own size rather than be blown up. Returns how many images there were."""
    n = 0
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            fmt = fragment.charFormat()
            if fragment.isValid() and fmt.isImageFormat():
                image = fmt.toImageFormat()
                n += 1
                source = doc.baseUrl().resolved(QUrl(image.name())).toLocalFile()
                natural = QImageReader(source).size()
                if not (natural.isValid() and natural.width() <= width):
                    image.setWidth(width)
                    cursor = QTextCursor(doc)
                    cursor.setPosition(fragment.position())
                    cursor.setPosition(
                        fragment.position() + fragment.length(), QTextCursor.MoveMode.KeepAnchor
                    )
                    cursor.setCharFormat(image)
            it += 1
        block = block.next()
    return n


class GuideDialog(QDialog):
    """The guide, read-only, with its screenshots; links outside it open in the browser."""

    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Lookout — dispatcher's guide")
        self.resize(900, 760)
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)
        self.browser.anchorClicked.connect(self._link)
        self.browser.setSearchPaths([str(path.parent)])
        self.browser.document().setBaseUrl(QUrl.fromLocalFile(str(path.parent) + "/"))
        self.browser.setMarkdown(path.read_text(encoding="utf-8"))
        #: screenshots shown, each IMAGE_WIDTH wide
        self.images = fit_images(self.browser.document(), IMAGE_WIDTH)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        lay.addWidget(buttons)

    def _link(self, url: QUrl) -> None:
        if url.scheme() in ("", "file") and url.hasFragment():
            self.browser.scrollToAnchor(url.fragment())
        elif url.scheme() in ("http", "https", "file"):
            QDesktopServices.openUrl(url)


def window_shortcuts(window: QWidget) -> list[tuple[str, str]]:
    """Every shortcut of every action in `window` (menus, panes, dialogs it owns)."""
    found = []
    for action in window.findChildren(QAction):
        keys = ", ".join(
            k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()
        )
        found.append((action.text() or action.toolTip(), keys))
    return shortcut_rows(found)


class ShortcutsDialog(QDialog):
    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        rows = window_shortcuts(window)
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Action", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i, (what, keys) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(what))
            self.table.setItem(i, 1, QTableWidgetItem(keys))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.resizeColumnToContents(1)  # once: the rows are all there
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addWidget(buttons)
        self.resize(520, 420)

    def rows(self) -> list[tuple[str, str]]:
        return [(self._text(i, 0), self._text(i, 1)) for i in range(self.table.rowCount())]

    def _text(self, row: int, col: int) -> str:
        item = self.table.item(row, col)
        return "" if item is None else item.text()


def about_box(text: str, parent: QWidget) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Information, "About Lookout", text, parent=parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    return box
