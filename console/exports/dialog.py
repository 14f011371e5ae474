"""File -> Export: the format, Excel's BOM for CSV, and where to save. The kind is the
view's (the feed and the map export reports, an incident its incident); the dialog says
how many items the file will hold and that the export is audited."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from backend_client import exports
from console.common.labels import plain_label
from console.exports.model import FORMAT_LABELS, ExportJob, default_name, with_suffix

_TITLES = {
    "feed": "Export the feed",
    "map": "Export the map view",
    "incident": "Export the incident",
}


class ExportDialog(QDialog):
    def __init__(self, job: ExportJob, folder: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.setWindowTitle(_TITLES[job.source])
        self.format_combo = QComboBox()
        for fmt in exports.FORMATS:
            self.format_combo.addItem(FORMAT_LABELS[fmt], fmt)
        self.bom = QCheckBox("Excel byte-order mark (so Excel reads UTF-8 text right)")
        self.path_edit = QLineEdit(str(folder / default_name(job, "geojson")))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        where = QHBoxLayout()
        where.addWidget(self.path_edit, 1)
        where.addWidget(browse)
        self.summary = plain_label()
        self.note = plain_label(
            "The relay audits every export (who, what, how many, the file's SHA-256) "
            "before the file is written; offline, nothing is written."
        )
        form = QFormLayout()
        form.addRow("What", plain_label(job.scope))
        form.addRow("Format", self.format_combo)
        form.addRow("", self.bom)
        form.addRow("Save to", where)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.summary)
        lay.addWidget(self.note)
        lay.addWidget(self.buttons)
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.path_edit.textChanged.connect(self._path_changed)
        self._format_changed()
        self._path_changed(self.path_edit.text())

    @property
    def fmt(self) -> exports.Format:
        fmt: exports.Format = self.format_combo.currentData()
        return fmt

    def set_format(self, fmt: exports.Format) -> None:
        self.format_combo.setCurrentIndex(exports.FORMATS.index(fmt))

    def path(self) -> Path:
        """Where to write, with the format's file ending."""
        return with_suffix(Path(self.path_edit.text().strip()).expanduser(), self.fmt)

    def browse(self) -> None:
        fmt = self.fmt
        name, _ = QFileDialog.getSaveFileName(
            self, self.windowTitle(), str(self.path()), f"{fmt.upper()} (*{exports.SUFFIXES[fmt]})"
        )
        if name:
            self.path_edit.setText(name)

    def _format_changed(self) -> None:
        fmt = self.fmt
        self.bom.setEnabled(fmt == "csv")
        text = self.path_edit.text().strip()
        if text:  # the ending follows the format
            p = Path(text)
            if p.suffix.lower() in exports.SUFFIXES.values():
                self.path_edit.setText(str(p.with_suffix(exports.SUFFIXES[fmt])))
        count = self.job.count(fmt)
        words = f"{count} item{'s' if count != 1 else ''}"
        if fmt == "csv" and self.job.alerts and self.job.kind == "reports":
            words += " (a CSV file holds one kind: the reports; the alerts go in GeoJSON or KML)"
        self.summary.setText(f"The file will hold {words}.")

    def _path_changed(self, text: str) -> None:
        save = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        save.setEnabled(bool(text.strip()) and not self.job.is_empty())
