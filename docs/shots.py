"""What the console's screenshot scripts share (docs/make_*_screenshots.py).

`run_in_qt(shoot)` runs `await shoot(app)` in a QApplication on qasync's loop, offscreen
when there is no display (a 1600x1000 screen, as `lookout --screenshot` has), with the
map's tiles scheme registered first. `save_png(png, name)` writes docs/images/<name>
optimised, falling back to a 256-colour palette above `max_bytes` (UI: no visible loss);
`qimage_png(image)` gives a QImage's PNG bytes for it.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

OUT = Path(__file__).resolve().parent / "images"
#: a screenshot bigger than this is stored with a 256-colour palette
MAX_BYTES = 400_000


def save_png(png: bytes, name: str, max_bytes: int = MAX_BYTES, out: Path = OUT) -> Path:
    """PNG bytes as `out/<name>`, optimised to stay small; prints what it wrote."""
    from PIL import Image

    im = Image.open(io.BytesIO(png)).convert("RGB")
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    if buf.tell() > max_bytes:
        buf = io.BytesIO()
        im.quantize(256, method=Image.Quantize.MEDIANCUT).save(buf, "PNG", optimize=True)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_bytes(buf.getvalue())
    print(f"wrote {path.relative_to(out.parent.parent)} ({buf.tell() // 1024} KiB)", flush=True)
    return path


def qimage_png(image: Any) -> bytes:
    """A QImage (or QPixmap) as PNG bytes."""
    from PySide6.QtCore import QBuffer, QIODevice

    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return bytes(buf.data().data())


def run_in_qt(shoot: Callable[[Any], Coroutine[Any, Any, None]]) -> None:
    """`await shoot(app)` on qasync's loop in a new QApplication (offscreen without a
    display)."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        from console.app import _offscreen_screen

        os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_offscreen_screen()}"
    import qasync
    from PySide6.QtWidgets import QApplication

    import console.map.tiles  # noqa: F401 - registers the tiles URL scheme before the app

    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(shoot(app))
