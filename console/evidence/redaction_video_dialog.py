"""The video redaction dialog: pick time ranges on a slider over the video (the frame at
the slider's position shown, decoded off the GUI thread), draw regions on that frame with
the photo dialog's own region editor, or black out the whole frame, mute the sound there,
and give the reason (required). Accepting leaves `operation()` and `reason_text()` for the
caller to save; nothing here writes anywhere, and the reason is plain text throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from console.common.ops import run_off_thread
from console.evidence import redaction_video as rv
from console.evidence.redaction import PIXELATE_ADVICE, RegionEditor

FrameSource = Callable[[float], tuple[float, QImage]]


def _plain(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    return label


class VideoRedactionDialog(QDialog):
    def __init__(
        self,
        info: rv.VideoInfo,
        first: tuple[float, QImage],
        frame_at: FrameSource,
        title: str,
        existing: dict[str, Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Redact video — {title}")
        self.info, self._frame_at = info, frame_at
        self.shown_at, self.frame = first
        self.ranges: list[tuple[float, float]] = []
        self._wanted: float | None = None
        self._busy = False
        self.editor = RegionEditor(self.frame)
        self.editor.changed.connect(self._update)

        ms = max(1, round(info.duration * 1000))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, ms)
        self.slider.setSingleStep(max(1, round(1000 / float(info.fps))))
        self.slider.setPageStep(1000)
        self._seek_timer = QTimer(self, singleShot=True, interval=60)
        self._seek_timer.timeout.connect(lambda: self._request(self.slider.value() / 1000))
        self.slider.valueChanged.connect(lambda _v: self._seek_timer.start())
        self.position = _plain()
        step = 1 / float(info.fps)
        self.start, self.end = QDoubleSpinBox(), QDoubleSpinBox()
        for spin in (self.start, self.end):
            spin.setRange(0.0, info.duration)
            spin.setDecimals(2)
            spin.setSingleStep(step)
            spin.setSuffix(" s")
        self.end.setValue(info.duration)
        start_here, end_here = QPushButton("Start here"), QPushButton("End here")
        start_here.clicked.connect(lambda: self.start.setValue(self.shown_at))
        end_here.clicked.connect(lambda: self.end.setValue(self.shown_at + step))
        add = QPushButton("Add range")
        add.clicked.connect(lambda: self.add_range(self.start.value(), self.end.value()))
        self.range_list = QListWidget()
        self.range_list.setMaximumHeight(80)
        remove = QPushButton("Remove range")
        remove.clicked.connect(
            lambda: (
                self.remove_range(self.range_list.currentRow())
                if 0 <= self.range_list.currentRow() < len(self.ranges)
                else None
            )
        )
        self.whole = QCheckBox("Black out the whole frame over the ranges")
        self.whole.toggled.connect(lambda _on: self._show_frame())
        self.mute = QCheckBox("Mute the sound over the ranges")
        if not info.has_audio:
            self.mute.setText("Mute the sound over the ranges (the video has no sound)")
            self.mute.setEnabled(False)
        self.mute.toggled.connect(lambda _on: self._update())
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("Why this is hidden (required; it is signed)")
        self.reason.textChanged.connect(lambda _t: self._update())
        self.error = _plain()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        advice = _plain(
            "Move the slider to find the frames, add the time ranges to hide, and drag over "
            "the frame to hide regions in every frame of the ranges (or black out the whole "
            "frame). " + PIXELATE_ADVICE + " The video in the package is never changed: the "
            "disclosure carries a new MP4, the whole video re-encoded, without its metadata."
        )
        seek = QHBoxLayout()
        seek.addWidget(self.slider, 1)
        seek.addWidget(self.position)
        span = QHBoxLayout()
        for w in (QLabel("From"), self.start, start_here, QLabel("to"), self.end, end_here, add):
            span.addWidget(w)
        span.addStretch(1)
        span.addWidget(remove)
        lay = QVBoxLayout(self)
        lay.addWidget(advice)
        lay.addWidget(self.editor, 1)
        lay.addLayout(seek)
        lay.addLayout(span)
        lay.addWidget(self.range_list)
        lay.addWidget(self.whole)
        lay.addWidget(self.mute)
        lay.addWidget(self.reason)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.resize(960, 860)
        if existing:
            op = existing["operation"]
            self.ranges = [(float(r["start_s"]), float(r["end_s"])) for r in op["ranges"]]
            self.whole.setChecked(bool(op.get("whole_frame")))
            self.mute.setChecked(op.get("audio") == rv.MUTED)
            self.editor.set_regions(list(op.get("regions") or []))
            self.reason.setText(str(existing.get("reason", "")))
        self._show_frame()

    # ------------------------------------------------------------------ time

    def seek(self, t: float) -> None:
        """Show the frame at `t` seconds (decoded off the GUI thread; `shown_at` follows)."""
        self.slider.setValue(round(t * 1000))

    def _request(self, t: float) -> None:
        self._wanted = t
        if self._busy:
            return  # the frame being decoded is followed by the latest wanted one
        self._busy = True
        source = self._frame_at
        run_off_thread(lambda: source(t), self._got, self._failed, owner=self)

    def _got(self, shown: tuple[float, QImage]) -> None:
        self._busy = False
        self.shown_at, self.frame = shown
        self._show_frame()
        wanted, self._wanted = self._wanted, None
        if wanted is not None and abs(wanted - self.slider.value() / 1000) > 1e-9:
            self._request(self.slider.value() / 1000)

    def _failed(self, exc: BaseException) -> None:
        self._busy = False
        self.error.setText(f"That frame cannot be shown: {exc}")

    def _show_frame(self) -> None:
        if self.whole.isChecked():
            black = QImage(self.frame.size(), QImage.Format.Format_RGB32)
            black.fill(QColor(0, 0, 0))
            self.editor.canvas.set_image(black)
        else:
            self.editor.canvas.set_image(self.frame)
        self.editor.setEnabled(not self.whole.isChecked())
        self._update()

    # ------------------------------------------------------------------ ranges

    def add_range(self, start: float, end: float) -> None:
        start, end = max(0.0, start), min(self.info.duration, end)
        if end <= start:
            self.error.setText("A range ends after it starts.")
            return
        self.ranges = sorted([*self.ranges, (start, end)])
        self._update()

    def remove_range(self, index: int) -> None:
        del self.ranges[index]
        self._update()

    # ------------------------------------------------------------------ the result

    def audio(self) -> str:
        if not self.info.has_audio:
            return rv.NONE
        return rv.MUTED if self.mute.isChecked() else rv.KEPT

    def operation(self) -> dict[str, Any]:
        return rv.operation(
            self.ranges,
            self.editor.regions,
            whole_frame=self.whole.isChecked(),
            audio=self.audio(),
        )

    def reason_text(self) -> str:
        return self.reason.text().strip()

    def _update(self) -> None:
        self.range_list.clear()
        for i, (a, b) in enumerate(self.ranges, 1):
            self.range_list.addItem(f"Range {i}: {a:.2f} s to {b:.2f} s")
        inside = rv.in_ranges(
            self.shown_at,
            1 / float(self.info.fps),
            [{"start_s": a, "end_s": b} for a, b in self.ranges],
        )
        self.position.setText(
            f"{self.shown_at:.2f} s / {self.info.duration:.2f} s — "
            + ("in a range: disclosed as shown" if inside else "outside the ranges: unchanged")
        )
        missing = []
        if not self.ranges:
            missing.append("add at least one time range")
        if not (self.whole.isChecked() or self.editor.regions or self.mute.isChecked()):
            missing.append("drag a region, black out the whole frame or mute the sound")
        if not self.reason_text():
            missing.append("give the reason")
        self.error.setText("To save: " + " and ".join(missing) + "." if missing else "")
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setEnabled(not missing)
