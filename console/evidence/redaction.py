"""Redaction for disclosure: boxes or pixelation over regions of a photo, rendered to a new
PNG for a disclosure package (evidence/disclosure.py). The package's photo is never
changed; the regions and the reason are kept in the sidecar (a `redaction` record).

Rendering is QImage + QPainter, pure of widgets, so the export can run it off the GUI
thread. The output is a fresh PNG of the decoded pixels only: EXIF (GPS, camera, time) and
every other metadata of the original are left behind.

Pixelation uses large blocks (at least `MIN_BLOCK` pixels, and a fifth of the region's
shorter side), each filled with its average colour. A Gaussian blur is not offered: it can
be partly reversed by deconvolution; and even pixelation of text on a known grid can
sometimes be guessed by trying candidates, so the dialog says to use a black box for text,
faces and number plates where in doubt.

The photo is decoded by the decoder the workspace hands in (the live console's
`console.detail.media.decode_image`: magic bytes, size and pixel limits before decoding),
so this feature folder does not import the detail feature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPoint, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from evidence import format as fmt

MIN_BLOCK: Final = 16
Decoder = Callable[[str, bytes], QImage]
PIXELATE_ADVICE: Final = (
    "Pixelate fills large blocks with their average colour. A plain blur is not offered: "
    "it can be partly reversed. Pixelated text can sometimes still be guessed: for text, "
    "faces and number plates, use a black box where in doubt."
)


def block_for(w: int, h: int) -> int:
    """The pixelation block for a region: large, so that little of it can be recovered."""
    return max(MIN_BLOCK, round(min(w, h) / 5))


def region(x: int, y: int, w: int, h: int, mode: str) -> dict[str, Any]:
    r: dict[str, Any] = {"x": x, "y": y, "w": w, "h": h, "mode": mode}
    if mode == "pixelate":
        r["block"] = block_for(w, h)
    return r


def operation(regions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "redact", "regions": list(regions)}


def render(image: QImage, op: dict[str, Any]) -> QImage:
    """`image` with every region of `op` boxed black or pixelated, in order; opaque RGB."""
    if problem := fmt.check_operation(op):
        raise ValueError(problem)
    out = image.convertToFormat(QImage.Format.Format_RGB32)
    bounds = out.rect()
    for r in op["regions"]:
        rect = QRect(r["x"], r["y"], r["w"], r["h"]).intersected(bounds)
        if rect.isEmpty():
            continue
        if r["mode"] == "box":
            fills = [(rect, QColor(0, 0, 0))]
        else:  # every block's average, read before any is painted
            block = int(r["block"])
            cells = [
                QRect(bx, by, block, block).intersected(rect)
                for by in range(rect.top(), rect.bottom() + 1, block)
                for bx in range(rect.left(), rect.right() + 1, block)
            ]
            fills = [(cell, _average(out, cell)) for cell in cells]
        painter = QPainter(out)
        try:
            for cell, colour in fills:
                painter.fillRect(cell, colour)
        finally:
            painter.end()
    return out


def _average(image: QImage, cell: QRect) -> QColor:
    """The mean colour of a cell (summed exactly: no scaler's filter decides)."""
    part = image.copy(cell).convertToFormat(QImage.Format.Format_RGB888)
    raw = bytes(part.constBits())  # rows padded to 4 bytes
    stride, w = part.bytesPerLine(), part.width()
    total = [0, 0, 0]
    for row in range(part.height()):
        line = raw[row * stride : row * stride + 3 * w]
        for c in range(3):
            total[c] += sum(line[c::3])
    n = max(1, w * part.height())
    return QColor(*(round(t / n) for t in total))


def to_png(image: QImage) -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buf, "PNG"):  # type: ignore[call-overload]  # the stub says bytes; PySide6 wants str
        raise ValueError("the redacted photo could not be encoded as PNG")
    buf.close()
    return bytes(data.data())


def redacted_png(decode: Decoder, mime: str, data: bytes, op: dict[str, Any]) -> bytes:
    """Decode (safely), redact, encode. Blocking: run it off the GUI thread."""
    return to_png(render(decode(mime, data), op))


def describe(op: dict[str, Any]) -> str:
    modes = sorted({str(r.get("mode")) for r in op.get("regions", [])})
    n = len(op.get("regions", []))
    return f"{n} region{'s' if n != 1 else ''} ({', '.join(modes)})"


class RegionCanvas(QWidget):
    """The picture as it will be disclosed, with each region outlined; drag to add one."""

    dragged = Signal(QRect)

    def __init__(self, image: QImage) -> None:
        super().__init__()
        self.image = image
        self.preview = image
        self.regions: list[dict[str, Any]] = []
        self._start: QPoint | None = None
        self._now: QPoint | None = None
        self.setMinimumSize(480, 360)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def set_image(self, image: QImage) -> None:
        """Another picture of the same size (a video's frame at another time)."""
        self.image = image
        self.set_regions(self.regions)

    def set_regions(self, regions: list[dict[str, Any]]) -> None:
        self.regions = list(regions)
        self.preview = render(self.image, operation(regions)) if regions else self.image
        self.update()

    def _frame(self) -> QRectF:
        """Where the image is drawn: fitted, aspect kept, centred."""
        iw, ih = max(1, self.image.width()), max(1, self.image.height())
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def to_image(self, p: QPoint) -> QPoint:
        f = self._frame()
        sx = self.image.width() / max(f.width(), 1e-9)
        x = min(max(round((p.x() - f.left()) * sx), 0), self.image.width())
        y = min(max(round((p.y() - f.top()) * sx), 0), self.image.height())
        return QPoint(x, y)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt naming
        p = QPainter(self)
        f = self._frame()
        p.drawImage(f, self.preview)
        scale = f.width() / max(1, self.image.width())
        p.setPen(QPen(QColor(230, 40, 40), 2))
        shown = [QRect(r["x"], r["y"], r["w"], r["h"]) for r in self.regions]
        if self._start is not None and self._now is not None:
            shown.append(QRect(self._start, self._now).normalized())
        for r in shown:
            p.drawRect(
                QRectF(
                    f.left() + r.x() * scale,
                    f.top() + r.y() * scale,
                    r.width() * scale,
                    r.height() * scale,
                )
            )
        p.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt naming
        self._start = self._now = self.to_image(event.position().toPoint())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt naming
        if self._start is not None:
            self._now = self.to_image(event.position().toPoint())
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt naming
        if self._start is None:
            return
        rect = QRect(self._start, self.to_image(event.position().toPoint())).normalized()
        self._start = self._now = None
        if rect.width() >= 2 and rect.height() >= 2:
            self.dragged.emit(rect)
        self.update()


class RegionEditor(QWidget):
    """The canvas, the mode for new regions, the list of regions and a remove button: what
    the photo and the video dialogs share."""

    changed = Signal()

    def __init__(self, image: QImage) -> None:
        super().__init__()
        self.canvas = RegionCanvas(image)
        self.canvas.dragged.connect(
            lambda r: self.add_region(r.x(), r.y(), r.width(), r.height(), self.mode())
        )
        self.modes = QComboBox()
        self.modes.addItem("Black box", "box")
        self.modes.addItem("Pixelate (large blocks)", "pixelate")
        self.modes.setToolTip(PIXELATE_ADVICE)
        self.listing = QListWidget()
        self.listing.setMaximumHeight(110)
        self.remove_button = QPushButton("Remove region")
        self.remove_button.clicked.connect(self._remove_selected)
        row = QHBoxLayout()
        row.addWidget(QLabel("New regions:"))
        row.addWidget(self.modes, 1)
        row.addWidget(self.remove_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.canvas, 1)
        lay.addLayout(row)
        lay.addWidget(self.listing)

    @property
    def regions(self) -> list[dict[str, Any]]:
        return self.canvas.regions

    def mode(self) -> str:
        return str(self.modes.currentData())

    def set_regions(self, regions: list[dict[str, Any]]) -> None:
        self.canvas.set_regions(regions)
        self._list()

    def add_region(self, x: int, y: int, w: int, h: int, mode: str = "box") -> None:
        rect = QRect(x, y, w, h).intersected(self.canvas.image.rect())
        if rect.isEmpty():
            return
        self.set_regions(
            [*self.canvas.regions, region(rect.x(), rect.y(), rect.width(), rect.height(), mode)]
        )

    def remove_region(self, index: int) -> None:
        regions = list(self.canvas.regions)
        del regions[index]
        self.set_regions(regions)

    def _remove_selected(self) -> None:
        row = self.listing.currentRow()
        if 0 <= row < len(self.canvas.regions):
            self.remove_region(row)

    def _list(self) -> None:
        self.listing.clear()
        for r in self.canvas.regions:
            what = "black box" if r["mode"] == "box" else f"pixelate, {r['block']} px blocks"
            self.listing.addItem(f"{what}: x {r['x']}, y {r['y']}, {r['w']} x {r['h']} px")
        self.changed.emit()


class RedactionDialog(QDialog):
    """Drag rectangles over the photo, choose black box or pixelate, give the reason (it
    is required). Accepting leaves `operation()` and `reason_text()` for the caller to
    save; nothing here writes anywhere."""

    def __init__(
        self,
        image: QImage,
        title: str,
        existing: dict[str, Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Redact photo — {title}")
        self.editor = RegionEditor(image)
        self.canvas, self.listing = self.editor.canvas, self.editor.listing
        self.editor.changed.connect(self._update)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("Why these regions are hidden (required; it is signed)")
        self.reason.textChanged.connect(lambda _t: self._update())
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        advice = QLabel(
            "Drag over the photo to hide a region. " + PIXELATE_ADVICE + " The photo in the "
            "package is never changed: the disclosure carries a new PNG without its metadata."
        )
        advice.setTextFormat(Qt.TextFormat.PlainText)
        advice.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(advice)
        lay.addWidget(self.editor, 1)
        lay.addWidget(self.reason)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.resize(900, 760)
        if existing:
            self.editor.set_regions(list(existing["operation"]["regions"]))
            self.reason.setText(str(existing.get("reason", "")))
        self._update()

    def add_region(self, x: int, y: int, w: int, h: int, mode: str = "box") -> None:
        self.editor.add_region(x, y, w, h, mode)

    def remove_region(self, index: int) -> None:
        self.editor.remove_region(index)

    def operation(self) -> dict[str, Any]:
        return operation(self.canvas.regions)

    def reason_text(self) -> str:
        return self.reason.text().strip()

    def _update(self) -> None:
        missing = []
        if not self.canvas.regions:
            missing.append("drag at least one region")
        if not self.reason_text():
            missing.append("give the reason")
        self.error.setText("To save: " + " and ".join(missing) + "." if missing else "")
        save = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        save.setEnabled(not missing)


class DisclosureDialog(QDialog):
    """What a disclosure export needs: the reason, whether videos with no redaction go in
    unchanged (else they are withheld), the audit extract, and where to write it."""

    def __init__(
        self, summary: str, default_path: str, has_video: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export disclosure package")
        about = QLabel(summary)
        about.setTextFormat(Qt.TextFormat.PlainText)
        about.setWordWrap(True)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("Why, and to whom, this is disclosed (required; signed)")
        self.videos = QCheckBox(
            "Include videos with no redaction unchanged (redacted videos always go in)"
        )
        self.videos.setEnabled(has_video)
        self.audit = QCheckBox(
            "Include the parent's audit extract unchanged (it names other items and officers)"
        )
        self.path = QLineEdit(default_path)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.reason.textChanged.connect(self._update)
        self.path.textChanged.connect(self._update)
        lay = QVBoxLayout(self)
        lay.addWidget(about)
        lay.addWidget(self.reason)
        lay.addWidget(self.videos)
        lay.addWidget(self.audit)
        lay.addLayout(row)
        lay.addWidget(self.buttons)
        self._update()

    def _browse(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self, "Disclosure package", self.path.text(), f"Evidence (*{fmt.SUFFIX})"
        )
        if name:
            self.path.setText(name)

    def _update(self) -> None:
        ok = bool(self.reason.text().strip() and self.path.text().strip())
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(ok)
