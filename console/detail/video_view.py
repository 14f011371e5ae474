"""A video preview that degrades to a message when QtMultimedia cannot be used.

QtMultimedia needs system libraries (libpulse0 on Debian); without them the import fails.
The console must keep working, so every failure ends in "Video preview unavailable:
<reason>" in this pane and nowhere else.

The player draws into a `QVideoSink` this pane owns, and `FrameView` paints the last
valid frame it received. So the end of the clip holds its last frame (the player sends
an empty frame at the end, which is ignored), and scrubbing while paused or after the
end shows the frame at the slider: a stopped player renders nothing on a seek, so the
pane moves it to paused first (play, pause, seek).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from PySide6.QtCore import QRect, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSlider, QVBoxLayout, QWidget

from console.common.labels import plain_label
from console.common.ops import run_off_thread
from console.detail.media import MediaRejected, PrivateMediaDir, check_video
from console.detail.model import play_clock


def load_multimedia() -> tuple[ModuleType, ModuleType]:
    """Import QtMultimedia lazily (the one place that does; tests force it to fail here)."""
    from PySide6 import QtMultimedia, QtMultimediaWidgets

    return QtMultimedia, QtMultimediaWidgets


class FrameView(QWidget):
    """Paints the last valid video frame it was given, scaled to fit; an empty frame (the
    player's end-of-clip or a seek in progress) leaves the last one up."""

    def __init__(self) -> None:
        super().__init__()
        self.image = QImage()
        self.setMinimumHeight(180)

    def take(self, frame: Any) -> None:
        if frame is None or not frame.isValid():
            return
        image = frame.toImage()
        if not image.isNull():
            self.image = image
            self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        return QSize(320, 240)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt naming
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#000"))
        if self.image.isNull():
            return
        size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x, y = (self.width() - size.width()) // 2, (self.height() - size.height()) // 2
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(QRect(x, y, size.width(), size.height()), self.image)


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
            qtm, _qtmw = load_multimedia()
            self.video = FrameView()
            self.player = qtm.QMediaPlayer(self)
            self._audio = qtm.QAudioOutput(self)
            self._sink = qtm.QVideoSink(self)
            self.player.setAudioOutput(self._audio)
            self.player.setVideoOutput(self._sink)
            self._sink.videoFrameChanged.connect(self.video.take)
        except Exception as exc:  # ImportError, OSError from a missing library, backend errors
            self.player = None
            self._unavailable(_describe(exc))
            return
        states = qtm.QMediaPlayer.PlaybackState
        self._playing_state = states.PlayingState
        self._stopped_state = states.StoppedState
        self._end_status = qtm.QMediaPlayer.MediaStatus.EndOfMedia
        self._loaded_status = qtm.QMediaPlayer.MediaStatus.LoadedMedia
        self._poster_pending = False

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
        self.player.mediaStatusChanged.connect(self._media_status)
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
            if self.player.mediaStatus() == self._end_status:
                self.player.setPosition(0)  # Play after the end plays it again
            self.player.play()

    def shown_image(self) -> QImage:
        """The frame on screen now (null before the first one)."""
        return self.video.image if self.available else QImage()

    def seek(self, ms: int) -> None:
        """Show the frame at `ms`; a stopped player (never played, or at the end) is
        paused there first, so a seek renders a frame instead of nothing."""
        if self.player is None:
            return
        if self.player.playbackState() == self._stopped_state:
            self.player.play()
            self.player.pause()
        self.player.setPosition(ms)

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
        self._poster_pending = True  # the first frame shows before Play
        self.player.setSource(QUrl.fromLocalFile(str(path)))
        self.finished.emit(True)

    def _media_status(self, status: Any) -> None:
        if status == self._loaded_status and self._poster_pending:
            self._poster_pending = False
            self.seek(0)
        elif status == self._end_status:  # hold the last frame; the slider stays at the end
            self.slider.setValue(self.slider.maximum())

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
        if self.player.playbackState() != self._playing_state:
            self.seek(ms)  # paused or stopped: show the frame under the slider now

    def _scrub_end(self) -> None:
        self._scrubbing = False
        self.seek(self.slider.value())


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ImportError):
        return f"QtMultimedia could not be loaded ({text}); install the libpulse0 package."
    return text
