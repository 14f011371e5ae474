"""Checks a citizen's media file must pass before the console decodes or plays it.

Citizen files are hostile until proven otherwise: the type comes from the leading bytes
(never from the declared type or a file name), the size is bounded before anything is
read, and an image's pixel count is read from its header before a single pixel is
decoded (decompression bombs). The type test is the contract's own
(`backend_client.media_types`), the same one the relay applies to uploads. Everything here is pure and thread-safe apart from
`QImage` construction, which Qt allows off the GUI thread; nothing here touches a widget.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import tempfile
from pathlib import Path
from typing import Final

from PIL import Image, UnidentifiedImageError
from PySide6.QtGui import QImage

from backend_client.limits import MAX_IMAGE_PIXELS, MAX_MEDIA_BYTES
from backend_client.media_types import SNIFF_BYTES, sniff_mime

IMAGE_MIMES: Final = frozenset({"image/jpeg", "image/png", "image/webp"})
VIDEO_MIMES: Final = frozenset({"video/mp4"})

_PIL_FORMATS: Final = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


class MediaRejected(Exception):
    """A file the console refuses to show; the message is for the officer."""


def human_type(mime: str) -> str:
    return {
        "image/jpeg": "JPEG image",
        "image/png": "PNG image",
        "image/webp": "WebP image",
        "video/mp4": "MP4 video",
    }.get(mime, mime)


def check_bytes(declared: str, data: bytes) -> str:
    """Size and magic-byte checks shared by images and video; returns the proven type."""
    if not data:
        raise MediaRejected("The file is empty.")
    if len(data) > MAX_MEDIA_BYTES:
        raise MediaRejected(
            f"The file is {len(data):,} bytes, more than the {MAX_MEDIA_BYTES:,} allowed; not shown."
        )
    actual = sniff_mime(data[:SNIFF_BYTES])
    if actual is None:
        raise MediaRejected(
            f"The file is declared as {human_type(declared)} but its content is not a "
            "recognised image or video; not shown."
        )
    if actual != declared:
        raise MediaRejected(
            f"Type mismatch: declared as {human_type(declared)}, but the content is "
            f"{human_type(actual)}; not shown."
        )
    return actual


def check_image(declared: str, data: bytes) -> tuple[int, int]:
    """Every check short of decoding; returns (width, height) read from the header only."""
    if declared not in IMAGE_MIMES:
        raise MediaRejected(f"{human_type(declared)} is not an image type.")
    check_bytes(declared, data)
    try:
        with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[declared]]) as img:
            width, height = img.size  # header only: Image.open does not decode pixels
    except Image.DecompressionBombError:
        raise MediaRejected(_too_many_pixels(None, None)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error) as exc:
        raise MediaRejected(f"The image header is damaged ({exc}); not shown.") from None
    if width <= 0 or height <= 0:
        raise MediaRejected("The image header gives no size; not shown.")
    if width * height > MAX_IMAGE_PIXELS:
        raise MediaRejected(_too_many_pixels(width, height))
    return width, height


def _too_many_pixels(width: int | None, height: int | None) -> str:
    size = f" ({width} x {height})" if width is not None else ""
    return (
        f"The image is too large to show{size}: more than {MAX_IMAGE_PIXELS:,} pixels. "
        "It may be a decompression bomb; not decoded."
    )


def decode_image(declared: str, data: bytes) -> QImage:
    """Check, then decode. Blocking: call it off the GUI thread (touches no widget)."""
    check_image(declared, data)
    return _decode(declared, data)


def _decode(declared: str, data: bytes) -> QImage:
    try:
        with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[declared]]) as img:
            img.load()  # raises on truncated or corrupt data (LOAD_TRUNCATED_IMAGES is off)
            rgba = img.convert("RGBA")
    except Image.DecompressionBombError:
        raise MediaRejected(_too_many_pixels(None, None)) from None
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise MediaRejected(f"The image is damaged or incomplete ({exc}); not shown.") from None
    raw = rgba.tobytes()
    image = QImage(raw, rgba.width, rgba.height, 4 * rgba.width, QImage.Format.Format_RGBA8888)
    return image.copy()  # own the pixels: `raw` goes away with this frame


def check_video(declared: str, data: bytes) -> None:
    if declared not in VIDEO_MIMES:
        raise MediaRejected(f"{human_type(declared)} is not a video type.")
    check_bytes(declared, data)


class PrivateMediaDir:
    """A temp directory only this user can read, for handing video bytes to the player.

    File names are the file's SHA-256 (never anything the citizen chose); files are 0600.
    """

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="lookout-media-"))  # mode 0700
        os.chmod(self.path, 0o700)

    def write(self, sha256: str, data: bytes, suffix: str = ".mp4") -> Path:
        if not all(c in "0123456789abcdef" for c in sha256) or len(sha256) != 64:
            raise ValueError("not a SHA-256 hex digest")
        target = self.path / f"{sha256}{suffix}"
        if target.exists():
            return target
        tmp = self.path / f".{sha256}.partial"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, target)
        return target

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
