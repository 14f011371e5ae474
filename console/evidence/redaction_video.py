"""Frame-range redaction of a video for disclosure: boxes, pixelation or a black frame over
time ranges, and the sound muted there if asked, rendered to a new H.264 MP4
(docs/evidence.md, "Rendering a video redaction"). The package's video is never changed.

The WHOLE video is decoded and re-encoded, not only the ranges: the derived file is a new
file, every frame of it re-encoded, so none of its frames is byte for byte the original's
(frames outside the ranges look the same, up to codec loss). In exchange nothing of the
original bitstream survives: no redacted frame can leak through a reference frame, no
container or stream metadata (creation time, location, camera) is carried, and only the
first video stream and the first audio stream go in (a subtitle or a GPS track does not).

Pure of widgets (PyAV and numpy; a frame for the dialog becomes a QImage), so the export
and the dialog run it off the GUI thread. Bounded before decoding: the live console's
size and type checks (`backend_client.limits`, the contract's magic-byte test), the image
pixel limit per frame, and a duration and frame count of its own (the console plays any
length; re-encoding takes time).
"""

from __future__ import annotations

import io
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import av
import numpy as np
from PySide6.QtGui import QImage

from backend_client.limits import MAX_IMAGE_PIXELS, MAX_MEDIA_BYTES
from backend_client.media_types import SNIFF_BYTES, sniff_mime
from evidence import format as fmt

#: Longest video this redacts (seconds): a report's clip is short; minutes of re-encoding
#: on the analyst's laptop would be a surprise.
MAX_SECONDS: Final = 600.0
#: Most frames (a lying header, or a very high frame rate, must not make the work unbounded).
MAX_FRAMES: Final = 36_000
MUTED, KEPT, NONE = "muted", "kept", "none"
_ENCODER: Final = "libx264"


class VideoRejected(ValueError):
    """A video that cannot be redacted; the message is for the analyst."""


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: Fraction
    duration: float
    has_audio: bool


def operation(
    ranges: Sequence[tuple[float, float]],
    regions: Sequence[dict[str, Any]] = (),
    *,
    whole_frame: bool = False,
    audio: str = KEPT,
) -> dict[str, Any]:
    """The manifest's `redact-video` operation (times rounded to the millisecond)."""
    op: dict[str, Any] = {
        "type": fmt.REDACT_VIDEO,
        "ranges": [{"start_s": round(a, 3), "end_s": round(b, 3)} for a, b in ranges],
        "audio": audio,
    }
    if whole_frame:
        op["whole_frame"] = True
    else:
        op["regions"] = list(regions)
    return op


# ------------------------------------------------------------------ checks


def check(data: bytes, *, max_bytes: int | None = None) -> None:
    """The live console's checks before anything is decoded: size, then magic bytes."""
    max_bytes = MAX_MEDIA_BYTES if max_bytes is None else max_bytes
    if not data:
        raise VideoRejected("The video file is empty.")
    if len(data) > max_bytes:
        raise VideoRejected(
            f"The video is {len(data):,} bytes, more than the {max_bytes:,} the console "
            "accepts; it cannot be redacted (withhold it)."
        )
    if sniff_mime(data[:SNIFF_BYTES]) != "video/mp4":
        raise VideoRejected("The file is not an MP4 video; it cannot be redacted.")


def probe(
    data: bytes,
    *,
    max_bytes: int | None = None,
    max_seconds: float | None = None,
) -> VideoInfo:
    """Size, frame rate, duration and whether there is sound, from the headers; refuses
    what the renderer will not take (VideoRejected), before a frame is decoded."""
    check(data, max_bytes=max_bytes)
    try:
        with av.open(io.BytesIO(data), mode="r") as src:
            return _info(src, MAX_SECONDS if max_seconds is None else max_seconds)
    except av.FFmpegError as exc:
        raise VideoRejected(f"The video cannot be read ({exc}).") from None


def _info(src: Any, max_seconds: float) -> VideoInfo:
    if not src.streams.video:
        raise VideoRejected("The file has no video stream.")
    v = src.streams.video[0]
    width, height = int(v.codec_context.width), int(v.codec_context.height)
    if width <= 0 or height <= 0:
        raise VideoRejected("The video gives no frame size.")
    if width * height > MAX_IMAGE_PIXELS:
        raise VideoRejected(
            f"The video's frames are {width} x {height}, more than the "
            f"{MAX_IMAGE_PIXELS:,} pixels the console decodes."
        )
    if width % 2 or height % 2:
        raise VideoRejected(f"The video's frame size {width} x {height} is odd: not supported.")
    fps = v.average_rate or v.guessed_rate
    if not fps or fps <= 0:
        raise VideoRejected("The video gives no frame rate.")
    if v.duration is not None and v.time_base is not None:
        duration = float(v.duration * v.time_base)
    elif src.duration is not None:
        duration = src.duration / av.time_base
    else:
        raise VideoRejected("The video gives no duration.")
    if not math.isfinite(duration) or duration > max_seconds:
        raise VideoRejected(
            f"The video is {duration:.0f} s long, more than the {max_seconds:.0f} s this "
            "workspace redacts; withhold it, or cut it with other tools first."
        )
    if duration * float(fps) > MAX_FRAMES:
        raise VideoRejected(f"The video has more than {MAX_FRAMES:,} frames.")
    return VideoInfo(width, height, Fraction(fps), duration, bool(src.streams.audio))


def _upright(frame: Any) -> None:
    if getattr(frame, "rotation", 0):
        raise VideoRejected(
            f"The video is shown rotated ({frame.rotation}°): redacting rotated video is "
            "not supported yet; withhold it or include it unchanged."
        )


# ------------------------------------------------------------------ one frame, for the dialog


def frame_at(data: bytes, t: float) -> tuple[float, QImage]:
    """The frame shown at `t` seconds (the last one starting at or before it) and its time.
    Blocking: run it off the GUI thread. Call `probe` first."""
    with av.open(io.BytesIO(data), mode="r") as src:
        v = src.streams.video[0]
        if t > 0 and v.time_base is not None:
            src.seek(int(t / v.time_base), stream=v, backward=True, any_frame=False)
        shown: Any = None
        for frame in src.decode(v):
            if shown is not None and frame.time is not None and frame.time > t + 1e-6:
                break
            shown = frame
        if shown is None:
            raise VideoRejected("No frame could be decoded.")
        _upright(shown)
        rgb = np.ascontiguousarray(shown.to_ndarray(format="rgb24"))
        h, w, _ = rgb.shape
        image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        return float(shown.time or 0.0), image


# ------------------------------------------------------------------ rendering


def in_ranges(t: float, duration: float, ranges: Sequence[dict[str, Any]]) -> bool:
    """A frame shown from `t` for `duration` seconds is redacted when that overlaps a
    range [start_s, end_s] at all (a frame half inside is redacted)."""
    return any(t <= r["end_s"] and t + duration > r["start_s"] for r in ranges)


def paint(rgb: np.ndarray, op: dict[str, Any]) -> None:
    """Redact one frame (H x W x 3, uint8) in place: black, or each region boxed or
    pixelated exactly as a photo's (the photo renderer's rules, in numpy)."""
    if op.get("whole_frame"):
        rgb[:] = 0
        return
    h, w, _ = rgb.shape
    for r in op.get("regions") or []:
        x0, y0 = max(0, r["x"]), max(0, r["y"])
        x1, y1 = min(w, r["x"] + r["w"]), min(h, r["y"] + r["h"])
        if x0 >= x1 or y0 >= y1:
            continue
        if r["mode"] == "box":
            rgb[y0:y1, x0:x1] = 0
            continue
        b = int(r["block"])
        # every cell's mean is read before any is painted: the cells do not overlap and
        # each reads only its own pixels, so painting in turn is the same
        for by in range(y0, y1, b):
            for bx in range(x0, x1, b):
                cell = rgb[by : min(by + b, y1), bx : min(bx + b, x1)]
                cell[:] = np.round(cell.reshape(-1, 3).mean(axis=0)).astype(np.uint8)


def redacted_mp4(
    data: bytes,
    op: dict[str, Any],
    *,
    max_bytes: int | None = None,
    max_seconds: float | None = None,
) -> bytes:
    """Decode the whole video, redact the frames in `op`'s ranges (and silence the sound
    there if `audio` is "muted"), re-encode to H.264 yuv420p (same size and frame times)
    with AAC sound (none if the original has none), in a fresh MP4 without metadata.
    Blocking (seconds): run it off the GUI thread. Raises VideoRejected."""
    if problem := fmt.check_operation(op):
        raise ValueError(problem)
    info = probe(data, max_bytes=max_bytes, max_seconds=max_seconds)
    if op["audio"] == NONE and info.has_audio:
        raise ValueError('the video has sound: the operation\'s audio is "muted" or "kept"')
    if op["audio"] != NONE and not info.has_audio:
        raise ValueError('the video has no sound: the operation\'s audio is "none"')
    with tempfile.TemporaryDirectory(prefix="lookout-redact-") as tmp:  # mode 0700
        out_path = Path(tmp) / "redacted.mp4"
        try:
            _render(data, op, info, out_path)
        except av.FFmpegError as exc:
            raise VideoRejected(f"The video could not be re-encoded ({exc}).") from None
        return out_path.read_bytes()


def _render(data: bytes, op: dict[str, Any], info: VideoInfo, out_path: Path) -> None:
    ranges = op["ranges"]
    frame_s = 1 / float(info.fps)
    with (
        av.open(io.BytesIO(data), mode="r") as src,
        # faststart: `moov` before `mdat`, as a phone writes it (needs a real file)
        av.open(str(out_path), mode="w", format="mp4", options={"movflags": "+faststart"}) as out,
    ):
        v_in = src.streams.video[0]
        v_in.thread_type = "AUTO"
        v_out = out.add_stream(_ENCODER, rate=info.fps)
        assert isinstance(v_out, av.video.stream.VideoStream)
        v_out.width, v_out.height, v_out.pix_fmt = info.width, info.height, "yuv420p"
        v_out.options = {"preset": "veryfast", "crf": "18"}
        if v_in.time_base is not None:  # the original's frame times, kept
            v_out.codec_context.time_base = v_in.time_base
        a_in = src.streams.audio[0] if info.has_audio else None
        audio = _Audio(out, a_in, ranges, muted=op["audio"] == MUTED) if a_in else None
        streams = [s for s in (v_in, a_in) if s is not None]
        frames = 0
        for packet in src.demux(*streams):
            if packet.stream is a_in:
                assert audio is not None
                for aframe in packet.decode():
                    audio.put(aframe)
                continue
            for frame in packet.decode():
                assert isinstance(frame, av.VideoFrame)
                frames += 1
                if frames > MAX_FRAMES:
                    raise VideoRejected(f"The video has more than {MAX_FRAMES:,} frames.")
                _upright(frame)
                t = float(frame.time or 0.0)
                if in_ranges(t, frame_s, ranges):
                    rgb = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
                    paint(rgb, op)
                    new = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
                else:
                    new = frame.reformat(format="yuv420p")
                new.pts, new.time_base = frame.pts, frame.time_base
                for p in v_out.encode(new):
                    out.mux(p)
        for p in v_out.encode(None):
            out.mux(p)
        if audio is not None:
            audio.close()


class _Audio:
    """The first audio stream, resampled to AAC's planar float in 1,024-sample frames,
    zeroed where a muted range covers it, encoded to AAC at the original rate and layout."""

    def __init__(self, out: Any, a_in: Any, ranges: Sequence[dict[str, Any]], *, muted: bool):
        self.out = out
        self.rate = int(a_in.codec_context.sample_rate)
        layout = a_in.codec_context.layout.name
        self.stream = out.add_stream("aac", rate=self.rate)
        self.stream.codec_context.layout = layout
        self.resampler = av.AudioResampler(
            format="fltp", layout=layout, rate=self.rate, frame_size=1024
        )
        self.spans = [(r["start_s"], r["end_s"]) for r in ranges] if muted else []
        self.layout = layout
        self.first: float | None = None
        self.samples = 0  # samples handed to the encoder so far

    def put(self, frame: Any) -> None:
        if self.first is None:
            self.first = float(frame.time or 0.0)
        for f in self.resampler.resample(frame):
            self._encode(f)

    def _encode(self, f: Any) -> None:
        assert self.first is not None
        arr = f.to_ndarray()  # (channels, samples), float32
        start = self.first + self.samples / self.rate
        if self.spans:
            t = start + np.arange(arr.shape[1]) / self.rate
            quiet = np.zeros(arr.shape[1], dtype=bool)
            for a, b in self.spans:
                quiet |= (t >= a) & (t <= b)
            if quiet.any():
                arr = arr.copy()
                arr[:, quiet] = 0.0
        new = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(arr), format="fltp", layout=self.layout
        )
        new.sample_rate = self.rate
        new.pts = round(start * self.rate)
        new.time_base = Fraction(1, self.rate)
        self.samples += arr.shape[1]
        for p in self.stream.encode(new):
            self.out.mux(p)

    def close(self) -> None:
        for f in self.resampler.resample(None):
            self._encode(f)
        for p in self.stream.encode(None):
            self.out.mux(p)
