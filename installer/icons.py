"""Render the Lookout icon (installer/icons/lookout.svg) to the PNG sizes of an icon theme.

`python installer/icons.py OUT_DIR` writes OUT_DIR/<size>x<size>.png for every size in
SIZES. Qt's QSvgRenderer (PySide6, already in the project's environment) does the drawing
offscreen, so building the .deb needs no extra system package (rsvg-convert would need
librsvg2-bin); the SVG keeps to SVG Tiny 1.2, which QtSvg implements fully, so it looks
the same in librsvg, which desktops use for the scalable icon.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

SVG = Path(__file__).resolve().parent / "icons" / "lookout.svg"
#: the hicolor sizes the .deb installs, besides scalable/
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(out_dir: Path, svg: Path = SVG, sizes: tuple[int, ...] = SIZES) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not an SVG Qt can draw")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        path = out_dir / f"{size}x{size}.png"
        if not image.save(str(path), "PNG"):
            raise SystemExit(f"could not write {path}")
        written.append(path)
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Render the Lookout icon's PNG sizes.")
    parser.add_argument("out_dir", type=Path, help="where <size>x<size>.png are written")
    for p in render(parser.parse_args().out_dir):
        print(p)
