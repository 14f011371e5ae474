"""Generated media a simulated phone attaches to its reports: a JPEG photo or a short MP4.

The relay verifies every upload (magic bytes, hash, size, a real decode for images, the
ISO BMFF box layout for video), so the simulator makes real files, not random bytes. They
are small on purpose: hundreds of devices share one process. Video uses PyAV, whose wheel
carries its own FFmpeg, so no system ffmpeg is needed; the MP4 is written with
`+faststart` so the `moov` box sits right after `ftyp`, as a phone's camera app would do.
"""

from __future__ import annotations

import hashlib
import io
import random
import tempfile
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["GeneratedMedia", "photo", "video"]

Mime = Literal["image/jpeg", "video/mp4"]


@dataclass(frozen=True)
class GeneratedMedia:
    data: bytes
    mime: Mime

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)


def _scene(rng: random.Random, width: int, height: int, caption: str) -> Image.Image:
    """A street at dusk: gradient sky, ground, a few buildings with lit windows, a car."""
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    horizon = int(height * rng.uniform(0.55, 0.7))
    top = (rng.randint(10, 60), rng.randint(20, 80), rng.randint(80, 160))
    low = (rng.randint(180, 250), rng.randint(110, 170), rng.randint(60, 120))
    for y in range(horizon):
        t = y / max(1, horizon - 1)
        colour = tuple(int(a + (b - a) * t) for a, b in zip(top, low, strict=True))
        draw.line([(0, y), (width, y)], fill=colour)
    draw.rectangle([0, horizon, width, height], fill=(60, 62, 66))
    x = 0
    while x < width:
        w = rng.randint(width // 10, width // 4)
        h = rng.randint(height // 6, horizon - height // 12)
        shade = rng.randint(30, 90)
        draw.rectangle([x, horizon - h, x + w, horizon], fill=(shade, shade - 10, shade - 5))
        for wy in range(horizon - h + 8, horizon - 12, 22):
            for wx in range(x + 6, x + w - 10, 18):
                if rng.random() < 0.35:
                    draw.rectangle([wx, wy, wx + 8, wy + 10], fill=(250, 220, 120))
        x += w + rng.randint(0, 12)
    cx = rng.randint(0, max(1, width - width // 4))
    cy = horizon + (height - horizon) // 3
    car = (rng.randint(40, 220), rng.randint(20, 80), rng.randint(20, 200))
    draw.rounded_rectangle([cx, cy, cx + width // 4, cy + height // 10], radius=8, fill=car)
    for wheel in (cx + width // 20, cx + width // 4 - width // 20):
        r = height // 40
        draw.ellipse(
            [wheel - r, cy + height // 10 - r, wheel + r, cy + height // 10 + r], fill=(15, 15, 15)
        )
    draw.rectangle([0, height - 22, width, height], fill=(0, 0, 0))
    draw.text((8, height - 18), caption, fill=(255, 255, 255))
    return img


def _caption(when: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() if when is None else when))


def photo(
    rng: random.Random | None = None,
    *,
    width: int = 640,
    height: int = 480,
    when: float | None = None,
    quality: int = 70,
) -> GeneratedMedia:
    """A JPEG of a plausible street scene with a timestamp burnt in (well under 100 kB)."""
    rng = rng or random.Random()
    buf = io.BytesIO()
    _scene(rng, width, height, _caption(when)).save(buf, "JPEG", quality=quality, optimize=True)
    return GeneratedMedia(buf.getvalue(), "image/jpeg")


def video(
    rng: random.Random | None = None,
    *,
    width: int = 320,
    height: int = 240,
    seconds: float = 1.5,
    fps: int = 12,
    when: float | None = None,
) -> GeneratedMedia:
    """A short H.264 MP4: the scene with a car crossing it, `moov` before `mdat`."""
    rng = rng or random.Random()
    base = _scene(rng, width, height, _caption(when))
    # faststart rewrites the finished file to move `moov` forward: it needs a real file.
    with tempfile.TemporaryDirectory(prefix="lookout-sim-") as tmp:
        path = f"{tmp}/clip.mp4"
        _encode(base, path, width, height, seconds, fps)
        with open(path, "rb") as f:
            return GeneratedMedia(f.read(), "video/mp4")


def _encode(
    base: Image.Image, path: str, width: int, height: int, seconds: float, fps: int
) -> None:
    import av  # heavy import; only devices that film pay for it

    with av.open(path, mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream(_codec(), rate=fps)
        assert isinstance(stream, av.video.stream.VideoStream)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        if stream.codec_context.name == "libx264":
            stream.options = {"preset": "ultrafast", "crf": "32"}
        frames = max(1, int(seconds * fps))
        for i in range(frames):
            img = base.copy()
            draw = ImageDraw.Draw(img)
            x = int((width + 60) * i / frames) - 60
            y = int(height * 0.8)
            draw.rounded_rectangle([x, y, x + 60, y + 20], radius=5, fill=(200, 30, 30))
            frame = av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _codec() -> str:
    """H.264 when the bundled FFmpeg has an encoder for it (PyPI wheels do), else MPEG-4 Part 2."""
    import av

    for name in ("libx264", "libopenh264", "mpeg4"):
        if name in av.codecs_available:
            return name
    raise RuntimeError(
        "this PyAV build has no H.264 or MPEG-4 encoder; install the PyPI wheel of `av`"
    )
