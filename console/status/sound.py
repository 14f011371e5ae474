"""The sound of a HIGH report: a short two-tone chime, muted by the officer's choice.

The WAV is made here with the standard library (no binary file in the repository) and
written once to the console's cache folder. QtMultimedia needs a sound system
(PulseAudio's library): without one (a headless run, a server) the console stays silent
and says so once in the log, never an error.
"""

from __future__ import annotations

import io
import logging
import math
import os
import struct
import time
import wave
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QStandardPaths, QUrl

log = logging.getLogger(__name__)

RATE = 22_050
#: seconds between two chimes at most: a burst of HIGH reports rings once
MIN_GAP_S = 3.0
VOLUME = 0.6


def chime_wav(rate: int = RATE) -> bytes:
    """Two short tones (880 Hz then 660 Hz, 0.15 s each), 16-bit mono: about 13 KB."""
    frames = bytearray()
    for freq in (880.0, 660.0):
        n = int(rate * 0.15)
        for i in range(n):
            fade = min(1.0, i / 200, (n - i) / 200)  # no click at either end
            sample = int(12_000 * fade * math.sin(2 * math.pi * freq * i / rate))
            frames += struct.pack("<h", sample)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return out.getvalue()


def _wav_file(folder: Path | None) -> Path:
    base = folder or Path(
        QStandardPaths.writableLocation(QStandardPaths.StandardLocation.CacheLocation)
        or os.path.expanduser("~/.cache/lookout")
    )
    base.mkdir(parents=True, exist_ok=True)
    path = base / "high-priority.wav"
    data = chime_wav()
    if not path.is_file() or path.read_bytes() != data:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


class HighSound(QObject):
    """Rings for a HIGH report unless muted; silent (logged once) without audio."""

    def __init__(self, muted: bool = False, folder: Path | None = None) -> None:
        super().__init__()
        self.muted = muted
        self._folder = folder
        self._effect: Any = None
        self._unavailable = False
        self._last = -math.inf
        #: chimes asked for while not muted, and those that reached a sound device
        self.requests = 0
        self.rung = 0

    @property
    def available(self) -> bool:
        return not self._unavailable

    def ring(self) -> bool:
        """Ring now if not muted and not rung in the last MIN_GAP_S; True if it rang."""
        if self.muted:
            return False
        self.requests += 1
        if self._unavailable:
            return False
        now = time.monotonic()
        if now - self._last < MIN_GAP_S:
            return False
        effect = self._effect or self._make()
        if effect is None:
            return False
        self._last = now
        effect.play()
        self.rung += 1
        return True

    def _make(self) -> Any:
        try:
            from PySide6.QtMultimedia import QMediaDevices, QSoundEffect

            if not QMediaDevices.audioOutputs():
                raise RuntimeError("no audio output device")
            effect = QSoundEffect(self)
            effect.setSource(QUrl.fromLocalFile(str(_wav_file(self._folder))))
            effect.setVolume(VOLUME)
        except Exception as exc:  # no libpulse, no device, no writable cache folder
            self._unavailable = True
            log.info("no sound for HIGH reports: %s", exc)
            return None
        self._effect = effect
        return effect
