"""The small dialog that picks the map's tile source."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from console.common.labels import plain_label
from console.map.tiles import parse_tile_source


class TileSourceDialog(QDialog):
    def __init__(self, current: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Map background")
        self.none = QRadioButton("No tiles: a plain grid (works offline, sends nothing)")
        self.xyz = QRadioButton("Tile server (XYZ address)")
        self.pack = QRadioButton("Tile pack on this computer (.mbtiles)")
        group = QButtonGroup(self)
        for button in (self.none, self.xyz, self.pack):
            group.addButton(button)
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://tiles.example.org/{z}/{x}/{y}.png")
        self.file = QLineEdit()
        self.file.setPlaceholderText("/path/to/area.mbtiles")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        note = plain_label(
            "Use your force's own tile server or a licensed pack. Public OpenStreetMap "
            "tiles must not be bulk-downloaded.",
            selectable=False,
            shrink=False,
        )
        self.problem = plain_label(selectable=False, shrink=False)
        self.problem.setStyleSheet("color: #e5534b;")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.none)
        layout.addWidget(self.xyz)
        layout.addWidget(self.url)
        layout.addWidget(self.pack)
        row = QHBoxLayout()
        row.addWidget(self.file, 1)
        row.addWidget(browse)
        layout.addLayout(row)
        layout.addWidget(note)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)

        if current.lower().startswith(("http://", "https://")):
            self.xyz.setChecked(True)
            self.url.setText(current)
        elif current:
            self.pack.setChecked(True)
            self.file.setText(current)
        else:
            self.none.setChecked(True)
        self.resize(520, self.sizeHint().height())

    def value(self) -> str:
        if self.xyz.isChecked():
            return self.url.text().strip()
        if self.pack.isChecked():
            return self.file.text().strip()
        return ""

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a tile pack", "", "MBTiles (*.mbtiles)")
        if path:
            self.file.setText(path)
            self.pack.setChecked(True)

    def _accept(self) -> None:
        source = parse_tile_source(self.value())
        if source.problem:
            self.problem.setText(source.problem)
            return
        self.accept()
