"""A video preview that degrades to a message when QtMultimedia cannot be used.

QtMultimedia needs system libraries (libpulse0 on Debian); without them the import fails.
The console must keep working, so every failure ends in "Video preview unavailable:
<reason>" in this pane and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSlider, QVBoxLayout, QWidget

from console.common.labels import plain_label
from console.common.ops import run_off_thread
from console.detail.media import MediaRejected, PrivateMediaDir, check_video
from console.detail.model import play_clock


def load_multimedia() -> tuple[ModuleType, ModuleType]:
    """Import QtMultimedia lazily (the one place that does; tests force it to fail here)."""
    from PySide6 import QtMultimedia, QtMultimediaWidgets

    return QtMultimedia, QtMultimediaWidgets


class VideoPreview(QWidget):
    finished = Signal(bool)  # True: the player has the file; False: unavailable/error shown

    def __init__(self, media_dir: PrivateMediaDir, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.media_dir = media_dir
        self.state = "empty"  # empty | loading | ready | unavailable
        self.player: Any = None
        self._audio: Any = None
        self._generation = 0
        self._scrubbing = False

        self.message = plain_label("")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.message)

        try:
            qtm, qtmw = load_multimedia()
            self.video = qtmw.QVideoWidget()
            self.player = qtm.QMediaPlayer(self)
            self._audio = qtm.QAudioOutput(self)
            self.player.setAudioOutput(self._audio)
            self.player.setVideoOutput(self.video)
        except Exception as exc:  # ImportError, OSError from a missing library, backend errors
            self.player = None
            self._unavailable(_describe(exc))
            return
        self._playing_state = qtm.QMediaPlayer.PlaybackState.PlayingState

        self.video.setMinimumHeight(180)
        self.video.setVisible(False)
        self.play_button = QPushButton("Play")
        self.play_button.setAutoDefault(False)
        self.play_button.setEnabled(False)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.time_label = plain_label("0:00 / 0:00", selectable=False, wrap=False, shrink=False)
        self._controls = QWidget()
        controls = QHBoxLayout(self._controls)
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.time_label)
        self._controls.setVisible(False)
        lay.addWidget(self.video, 1)
        lay.addWidget(self._controls)

        self.play_button.clicked.connect(self.toggle_play)
        self.slider.sliderPressed.connect(self._scrub_start)
        self.slider.sliderReleased.connect(self._scrub_end)
        self.slider.sliderMoved.connect(self._scrub_move)
        self.player.durationChanged.connect(self._duration)
        self.player.positionChanged.connect(self._position)
        self.player.playbackStateChanged.connect(self._play_state)
        self.player.errorOccurred.connect(self._player_error)

    @property
    def available(self) -> bool:
        return self.player is not None

    # ------------------------------------------------------------------ feeding

    def show_bytes(self, sha256: str, declared_mime: str, data: bytes) -> None:
        """Check the bytes, write them to a private 0600 file off the GUI thread, load it."""
        if not self.available:
            return
        self._generation += 1
        generation = self._generation
        try:
            check_video(declared_mime, data)
        except MediaRejected as exc:
            self.show_error(str(exc))
            return
        self.state = "loading"
        self.message.setText("Preparing the video…")

        def ok(path: object) -> None:
            if generation == self._generation and self.player is not None:
                assert isinstance(path, Path)
                self._load(path)

        def failed(exc: BaseException) -> None:
            if generation == self._generation:
                self.show_error(f"The video could not be prepared: {exc}")

        run_off_thread(lambda: self.media_dir.write(sha256, data), ok, failed, owner=self)

    def toggle_play(self) -> None:
        if self.player is None:
            return
        if self.player.playbackState() == self._playing_state:
            self.player.pause()
        else:
            self.player.play()

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()
            self.player.setSource(QUrl())

    def error_text(self) -> str:
        return self.message.text() if self.state in ("unavailable", "error") else ""

    # ------------------------------------------------------------------ internals

    def _load(self, path: Path) -> None:
        self.state = "ready"
        self.message.setVisible(False)
        self.video.setVisible(True)
        self._controls.setVisible(True)
        self.play_button.setEnabled(True)
        self.player.setSource(QUrl.fromLocalFile(str(path)))
        self.finished.emit(True)

    def _unavailable(self, reason: str) -> None:
        self.state = "unavailable"
        self.message.setVisible(True)
        self.message.setText(f"Video preview unavailable: {reason}")
        self.message.setStyleSheet("color: #d29922;")
        self.finished.emit(False)

    def show_error(self, text: str) -> None:
        self.state = "error"
        self.message.setVisible(True)
        self.message.setText(text)
        self.message.setStyleSheet("color: #e5534b;")
        self.finished.emit(False)

    def _player_error(self, _error: Any, text: str = "") -> None:
        reason = text or (self.player.errorString() if self.player is not None else "")
        self.stop()
        self.video.setVisible(False)
        self._controls.setVisible(False)
        self._unavailable(reason or "the media backend reported an error")

    def _duration(self, ms: int) -> None:
        self.slider.setRange(0, max(0, ms))
        self.slider.setEnabled(ms > 0)
        self._position(self.player.position())

    def _position(self, ms: int) -> None:
        if not self._scrubbing:
            self.slider.setValue(ms)
        self.time_label.setText(f"{play_clock(ms)} / {play_clock(self.player.duration())}")

    def _play_state(self, state: Any) -> None:
        self.play_button.setText("Pause" if state == self._playing_state else "Play")

    def _scrub_start(self) -> None:
        self._scrubbing = True

    def _scrub_move(self, ms: int) -> None:
        self.time_label.setText(f"{play_clock(ms)} / {play_clock(self.player.duration())}")

    def _scrub_end(self) -> None:
        self._scrubbing = False
        self.player.setPosition(self.slider.value())


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ImportError):
        return f"QtMultimedia could not be loaded ({text}); install the libpulse0 package."
    return text
